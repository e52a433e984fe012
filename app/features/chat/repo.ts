/**
 * @file Where conversations live between visits: one IndexedDB record per conversation in its own database
 * (`brix-chats`, store `conversations`; idb-keyval, so it never touches the weight cache's database). The
 * store talks to the `ConversationRepo` interface so unit tests run on the in-memory one.
 */
import { createStore, del, set, values, type UseStore } from 'idb-keyval';
import { parseConversation } from './exportImport.ts';
import type { Conversation } from './types.ts';

export interface ConversationRepo {
  /** Every stored conversation that still parses; broken records are skipped (and reported). */
  loadAll(): Promise<{ conversations: Conversation[]; skipped: string[] }>;
  put(c: Conversation): Promise<void>;
  delete(id: string): Promise<void>;
}

function parseAll(records: readonly unknown[]): { conversations: Conversation[]; skipped: string[] } {
  const conversations: Conversation[] = [];
  const skipped: string[] = [];
  for (const [i, r] of records.entries()) {
    try {
      conversations.push(parseConversation(r, `stored conversation ${i}`));
    } catch (e) {
      skipped.push(e instanceof Error ? e.message : String(e));
    }
  }
  return { conversations, skipped };
}

export const CHAT_DB = 'brix-chats';
export const CHAT_STORE = 'conversations';

export function idbConversationRepo(): ConversationRepo {
  let store: UseStore | undefined;
  const db = (): UseStore => (store ??= createStore(CHAT_DB, CHAT_STORE));
  return {
    async loadAll() {
      return parseAll(await values(db()));
    },
    put: (c) => set(c.id, c, db()),
    delete: (id) => del(id, db()),
  };
}

/** For tests: same contract, structured-clone semantics imitated with a JSON round trip. */
export function memoryConversationRepo(initial: readonly unknown[] = []): ConversationRepo & { readonly records: Map<string, unknown> } {
  const records = new Map<string, unknown>();
  for (const [i, r] of initial.entries()) records.set(`initial-${i}`, r);
  return {
    records,
    loadAll: () => Promise.resolve(parseAll([...records.values()])),
    put(c) {
      records.set(c.id, JSON.parse(JSON.stringify(c)));
      return Promise.resolve();
    },
    delete(id) {
      records.delete(id);
      return Promise.resolve();
    },
  };
}
