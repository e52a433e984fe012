/**
 * @file Generation slice: a chat turn from the user's message to the committed answer, run by the same turn
 * runner as every Compare pane (app/engines/turn.ts). The answer streams into `streaming` (its own state, so
 * only the streaming message re-renders per token) and is written into the conversation once, when it ends:
 * finished, stopped (Stop/Esc keeps what came), or failed (the error is kept with whatever text came before it).
 * Regenerate adds a version to the answer and Edit one to the user message (versions.ts); Continue extends a
 * cut-off answer (finish reason `length`) in place. Sampling is the conversation's "Chat settings" over the
 * global ones.
 */
import type { ChatMessage, SamplingParams } from '../../../workers/protocol.ts';
import { runTurn } from '../../engines/turn.ts';
import type { SliceCreator } from '../../store.ts';
import type { ReadyEngine } from '../models/engineSlice.ts';
import { distinctTitle, titleFrom, type ChatMessageRecord, type ChatSettings, type Conversation, type MessageVersion } from './types.ts';
import { addVersion, switchVersion, updateShown, versionOf } from './versions.ts';

export interface StreamingState {
  readonly conversationId: string;
  readonly messageId: string;
  readonly text: string;
  /** Waiting for the model to load, or generating. */
  readonly phase: 'loading' | 'generating';
  readonly model: string;
  readonly startedAt: number;
  /** Regenerate / Continue: the message this answer becomes a version of (hidden while it streams). */
  readonly replaces?: string;
  /** Continue: the text the answer extends (shown before the streamed text). */
  readonly prefix?: string;
}

export interface GenerationSlice {
  readonly streaming: StreamingState | null;
  /** Adds the user's message to the open conversation (a new one if none) and answers it. */
  send(text: string): Promise<void>;
  /** Stops the answer in progress (keeps what was generated). */
  stop(): void;
  /** Answers the last user message again, as a new version of the last answer. */
  regenerate(): Promise<void>;
  /** A new version of a user message: what followed the old text stays with the old version; then answers it. */
  editAndResend(messageId: string, text: string): Promise<void>;
  /** Extends the last answer where it was cut off (finish reason `length`), in the same message. */
  continueAnswer(messageId: string): Promise<void>;
  /** Shows another version of a message ("Previous version" / "Next version"). */
  showVersion(messageId: string, index: number): void;
  /** The conversation's own sampling ("Chat settings"); undefined fields follow the global settings. */
  setChatSettings(conversationId: string, settings: ChatSettings): void;
}

/** What the engine sees: the system prompt, then every turn that has content (failed empty answers are left out). */
export function engineMessages(c: Conversation, messages: readonly ChatMessageRecord[] = c.messages): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (c.systemPrompt.trim() !== '') out.push({ role: 'system', content: c.systemPrompt });
  for (const m of messages) {
    if (m.role === 'assistant' && m.content === '') continue;
    out.push({ role: m.role, content: m.content });
  }
  return out;
}

/** The global sampling with the conversation's overrides on top. */
export function chatSampling(global: SamplingParams, settings: ChatSettings | undefined): SamplingParams {
  if (!settings) return global;
  return {
    ...global,
    temperature: settings.temperature ?? global.temperature,
    topP: settings.topP ?? global.topP,
    topK: settings.topK ?? global.topK,
    repetitionPenalty: settings.repetitionPenalty ?? global.repetitionPenalty,
    maxTokens: settings.maxTokens ?? global.maxTokens,
  };
}

const CHAT_SETTING_KEYS = ['temperature', 'topP', 'topK', 'repetitionPenalty', 'maxTokens'] as const;

type Mode = { readonly kind: 'new' } | { readonly kind: 'regenerate'; readonly id: string } | { readonly kind: 'continue'; readonly id: string };

export const createGenerationSlice: SliceCreator<GenerationSlice> = (set, get, deps) => {
  let abort: AbortController | null = null;

  /** Writes the answer into the conversation as it is now (it may have been renamed meanwhile; gone = dropped). */
  function commit(conversationId: string, messageId: string, mode: Mode, v: MessageVersion): void {
    const c = get().conversations[conversationId];
    if (!c) return;
    if (mode.kind === 'new') {
      get().putConversation({ ...c, messages: [...c.messages, { id: messageId, role: 'assistant', ...v }] });
      return;
    }
    const messages = c.messages.map((m) => {
      if (m.id !== mode.id) return m;
      return mode.kind === 'regenerate' ? addVersion(m, v) : updateShown(m, v);
    });
    get().putConversation({ ...c, messages });
  }

  async function answer(conversationId: string, mode: Mode = { kind: 'new' }): Promise<void> {
    const ac = new AbortController();
    abort = ac;
    const messageId = mode.kind === 'new' ? deps.newId() : mode.id;
    const startedAt = deps.now();
    const target = mode.kind === 'new' ? undefined : get().conversations[conversationId]?.messages.find((m) => m.id === mode.id);
    const prefix = mode.kind === 'continue' ? (target?.content ?? '') : undefined;
    const extra = { ...(mode.kind !== 'new' ? { replaces: mode.id } : {}), ...(prefix !== undefined ? { prefix } : {}) };
    set({ streaming: { conversationId, messageId, text: '', phase: 'loading', model: '', startedAt, ...extra } });

    let model = '';
    let sampling: SamplingParams | undefined;
    let ready: ReadyEngine | undefined;
    let sources: ChatMessageRecord['sources'];
    const out = await runTurn<ReadyEngine['engine']>({
      signal: ac.signal,
      engine: async (signal) => {
        ready = await get().ensureEngine(signal);
        model = ready.modelName;
        return ready.engine;
      },
      request: async () => {
        const conv = get().conversations[conversationId];
        if (!conv) return undefined;
        const s = chatSampling(deps.sampling(), conv.settings);
        sampling = s;
        if (mode.kind === 'new') {
          const messages = engineMessages(conv);
          // Attached files: the best passages that fit go into the last user message (app/features/docs).
          if (!deps.retrieve || !ready) return { messages, sampling: s };
          const counter = ready.engine.countPromptTokens;
          const r = await deps.retrieve(conversationId, messages, { countPromptTokens: counter && ((p) => counter.call(ready?.engine, p)) }, ready.info.contextSize, s.maxTokens);
          if (r.sources.length > 0) sources = r.sources;
          return { messages: r.messages, sampling: s };
        }
        const i = conv.messages.findIndex((m) => m.id === mode.id);
        if (i < 0) return undefined;
        if (mode.kind === 'regenerate') return { messages: engineMessages(conv, conv.messages.slice(0, i)), sampling };
        return { messages: engineMessages(conv, conv.messages.slice(0, i + 1)), sampling, continueFinal: true };
      },
      onGenerating: () => set({ streaming: { conversationId, messageId, text: '', phase: 'generating', model, startedAt, ...extra } }),
      onText: (text) => {
        const s = get().streaming;
        if (s && s.messageId === messageId) set({ streaming: { ...s, text } });
      },
    });
    if (abort === ac) abort = null;
    if (get().streaming?.messageId === messageId) set({ streaming: null });

    const seed = sampling?.seed;
    const whole = (text: string): string => (prefix ?? '') + text;
    const base = { createdAt: deps.now(), ...(model !== '' ? { model } : {}), ...(seed !== undefined ? { seed } : {}) };
    if (out.kind === 'done') {
      const stats = prefix !== undefined && target?.stats ? { ...out.stats, generatedTokens: target.stats.generatedTokens + out.stats.generatedTokens } : out.stats;
      commit(conversationId, messageId, mode, { ...base, content: whole(out.text), stats, finishReason: out.stats.finishReason, ...(sources ? { sources } : {}) });
    } else if (out.kind === 'stopped') {
      // Stopped while waiting for the model: nothing to keep.
      if (out.stage === 'generate') commit(conversationId, messageId, mode, { ...base, content: whole(out.text), finishReason: 'abort', ...(sources ? { sources } : {}) });
    } else {
      // A failed load shows in the load status and in the answer.
      if (mode.kind === 'continue') commit(conversationId, messageId, mode, { ...(target ? versionOf(target) : base), content: whole(out.text), error: out.error });
      else commit(conversationId, messageId, mode, { ...base, content: out.text, error: out.error });
      if (out.fatal) get().engineFailed(Object.assign(new Error(out.error.message), { name: out.error.name }));
    }
  }

  /** The title the first message gives a conversation, distinct from every other conversation's. */
  const firstTitle = (id: string, text: string): string =>
    distinctTitle(
      titleFrom(text),
      Object.values(get().conversations)
        .filter((o) => o.id !== id)
        .map((o) => o.title),
    );

  const open = (): Conversation | undefined => {
    const id = get().activeId;
    return id === null ? undefined : get().conversations[id];
  };

  return {
    streaming: null,

    async send(text) {
      const t = text.trim();
      if (t === '' || get().streaming) return;
      let id = get().activeId;
      if (id === null || !get().conversations[id]) id = get().newConversation();
      const c = get().conversations[id];
      const msg: ChatMessageRecord = { id: deps.newId(), role: 'user', content: t, createdAt: deps.now() };
      const title = c.titleEdited || c.messages.some((m) => m.role === 'user') ? c.title : firstTitle(id, t);
      get().putConversation({ ...c, title, messages: [...c.messages, msg] });
      await answer(id);
    },

    stop() {
      abort?.abort();
    },

    async regenerate() {
      const c = open();
      if (!c || get().streaming) return;
      const last = c.messages.at(-1);
      if (last?.role === 'assistant') {
        if (c.messages.at(-2)?.role !== 'user') return;
        await answer(c.id, { kind: 'regenerate', id: last.id });
        return;
      }
      if (last?.role !== 'user') return;
      await answer(c.id);
    },

    async editAndResend(messageId, text) {
      const c = open();
      const t = text.trim();
      if (!c || get().streaming || t === '') return;
      const i = c.messages.findIndex((m) => m.id === messageId);
      if (i < 0 || c.messages[i].role !== 'user') return;
      const edited = addVersion(c.messages[i], { content: t, createdAt: deps.now() }, c.messages.slice(i + 1));
      const firstUser = c.messages.findIndex((m) => m.role === 'user') === i;
      get().putConversation({
        ...c,
        title: firstUser && !c.titleEdited ? firstTitle(c.id, t) : c.title,
        messages: [...c.messages.slice(0, i), edited],
      });
      await answer(c.id);
    },

    async continueAnswer(messageId) {
      const c = open();
      if (!c || get().streaming) return;
      const m = c.messages.at(-1);
      if (!m || m.id !== messageId || m.role !== 'assistant' || m.finishReason !== 'length') return;
      await answer(c.id, { kind: 'continue', id: messageId });
    },

    showVersion(messageId, index) {
      const c = open();
      if (!c || get().streaming) return;
      const next = switchVersion(c, messageId, index);
      if (next !== c) get().putConversation(next, { touch: false });
    },

    setChatSettings(conversationId, settings) {
      const c = get().conversations[conversationId];
      if (!c) return;
      const clean: { -readonly [K in keyof ChatSettings]: ChatSettings[K] } = {};
      for (const k of CHAT_SETTING_KEYS) {
        const v = settings[k];
        if (typeof v === 'number' && Number.isFinite(v)) clean[k] = v;
      }
      const { settings: _old, ...rest } = c;
      get().putConversation(Object.keys(clean).length > 0 ? { ...rest, settings: clean } : rest, { touch: false });
    },
  };
};
