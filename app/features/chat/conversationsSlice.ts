/**
 * @file Conversations slice: the list (newest first), the open one, and CRUD persisted to IndexedDB through
 * the repo. Writes are chained so they land in order, and counted (`saving`) so the UI (and the e2e test
 * before a reload) can tell when everything is on disk.
 */
import type { SerializedError } from '../../../workers/errors.ts';
import { toSerialized } from '../../lib/errorHelp.ts';
import type { SliceCreator } from '../../store.ts';
import { UNTITLED, type Conversation } from './types.ts';

export interface ConversationsSlice {
  readonly conversations: Readonly<Record<string, Conversation>>;
  /** Conversation ids, most recently updated first. */
  readonly order: readonly string[];
  readonly activeId: string | null;
  /** True once the stored conversations were read. */
  readonly hydrated: boolean;
  /** Writes in flight. */
  readonly saving: number;
  /** The last failed read or write (shown in the sidebar). */
  readonly storageError: SerializedError | null;
  hydrate(): Promise<void>;
  /** Opens an empty conversation (reusing the open one when it is still empty); returns its id. */
  newConversation(): string;
  selectConversation(id: string | null): void;
  renameConversation(id: string, title: string): void;
  deleteConversation(id: string): void;
  setSystemPrompt(id: string, text: string): void;
  /** Adds imported conversations (new ids where an id is taken); returns how many. */
  importConversations(list: readonly Conversation[]): number;
  /** Replaces a conversation (bumping updatedAt unless told not to) and persists it. */
  putConversation(c: Conversation, opts?: { touch?: boolean }): void;
  /** Resolves when every write so far is done. */
  flushWrites(): Promise<void>;
}

const ACTIVE_KEY = 'brix.activeChat';

function sortOrder(all: Readonly<Record<string, Conversation>>): string[] {
  return Object.values(all)
    .sort((a, b) => b.updatedAt - a.updatedAt || b.createdAt - a.createdAt)
    .map((c) => c.id);
}

export const createConversationsSlice: SliceCreator<ConversationsSlice> = (set, get, deps) => {
  let chain: Promise<void> = Promise.resolve();

  const write = (op: () => Promise<void>): void => {
    set((s) => ({ saving: s.saving + 1 }));
    chain = chain
      .then(op)
      .catch((e: unknown) => set({ storageError: toSerialized(e) }))
      .finally(() => set((s) => ({ saving: s.saving - 1 })));
  };

  const setActive = (id: string | null): void => {
    set({ activeId: id });
    deps.prefs.set(ACTIVE_KEY, id);
  };

  return {
    conversations: {},
    order: [],
    activeId: null,
    hydrated: false,
    saving: 0,
    storageError: null,

    async hydrate() {
      if (get().hydrated) return;
      try {
        const { conversations, skipped } = await deps.repo.loadAll();
        const all: Record<string, Conversation> = { ...get().conversations };
        for (const c of conversations) all[c.id] ??= c;
        const stored = deps.prefs.get(ACTIVE_KEY);
        const activeId = get().activeId ?? (typeof stored === 'string' && all[stored] ? stored : null);
        set({
          conversations: all,
          order: sortOrder(all),
          activeId,
          hydrated: true,
          storageError: skipped.length > 0 ? { name: 'CacheError', message: `${skipped.length} stored conversation(s) could not be read: ${skipped[0]}` } : null,
        });
      } catch (e) {
        set({ hydrated: true, storageError: toSerialized(e) });
      }
    },

    newConversation() {
      const { activeId, conversations } = get();
      const open = activeId ? conversations[activeId] : undefined;
      if (open && open.messages.length === 0 && get().streaming?.conversationId !== open.id) return open.id;
      const t = deps.now();
      const c: Conversation = { id: deps.newId(), title: UNTITLED, titleEdited: false, systemPrompt: '', createdAt: t, updatedAt: t, messages: [] };
      get().putConversation(c, { touch: false });
      setActive(c.id);
      return c.id;
    },

    selectConversation(id) {
      if (id !== null && !get().conversations[id]) return;
      setActive(id);
    },

    renameConversation(id, title) {
      const c = get().conversations[id];
      const t = title.trim().slice(0, 200);
      if (!c || t === '' || t === c.title) return;
      get().putConversation({ ...c, title: t, titleEdited: true }, { touch: false });
    },

    deleteConversation(id) {
      if (!get().conversations[id]) return;
      if (get().streaming?.conversationId === id) get().stop();
      const { [id]: _gone, ...rest } = get().conversations;
      set({ conversations: rest, order: sortOrder(rest) });
      if (get().activeId === id) setActive(get().order[0] ?? null);
      write(() => deps.repo.delete(id));
    },

    setSystemPrompt(id, text) {
      const c = get().conversations[id];
      if (!c || c.systemPrompt === text) return;
      get().putConversation({ ...c, systemPrompt: text }, { touch: false });
    },

    importConversations(list) {
      const ids: string[] = [];
      for (const c of list) {
        const id = get().conversations[c.id] ? deps.newId() : c.id;
        get().putConversation({ ...c, id }, { touch: false });
        ids.push(id);
      }
      if (ids.length > 0 && get().activeId === null) setActive(ids[0]);
      return ids.length;
    },

    putConversation(c, opts) {
      const next = opts?.touch === false ? c : { ...c, updatedAt: Math.max(deps.now(), c.updatedAt) };
      const all = { ...get().conversations, [next.id]: next };
      set({ conversations: all, order: sortOrder(all) });
      write(() => deps.repo.put(next));
    },

    flushWrites() {
      return chain;
    },
  };
};
