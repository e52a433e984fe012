/**
 * @file Generation slice: a chat turn from the user's message to the committed answer. The answer streams
 * into `streaming` (its own state, so only the streaming message re-renders per token) and is written into
 * the conversation once, when it ends: finished, stopped (Stop/Esc keeps what came), or failed (the error is
 * kept with whatever text came before it). Edit-and-resend drops everything after the edited message.
 */
import type { ChatMessage } from '../../../workers/protocol.ts';
import { toSerialized } from '../../lib/errorHelp.ts';
import type { SliceCreator } from '../../store.ts';
import type { ReadyEngine } from '../models/engineSlice.ts';
import { titleFrom, type ChatMessageRecord, type Conversation } from './types.ts';

export interface StreamingState {
  readonly conversationId: string;
  readonly messageId: string;
  readonly text: string;
  /** Waiting for the model to load, or generating. */
  readonly phase: 'loading' | 'generating';
  readonly model: string;
  readonly startedAt: number;
}

export interface GenerationSlice {
  readonly streaming: StreamingState | null;
  /** Adds the user's message to the open conversation (a new one if none) and answers it. */
  send(text: string): Promise<void>;
  /** Stops the answer in progress (keeps what was generated). */
  stop(): void;
  /** Answers the last user message again, replacing the last answer. */
  regenerate(): Promise<void>;
  /** Replaces a user message, drops everything after it, and answers it. */
  editAndResend(messageId: string, text: string): Promise<void>;
}

/** Errors after which the worker is unusable. */
const FATAL = new Set(['WorkerDiedError', 'GpuDeviceLostError']);

/** What the engine sees: the system prompt, then every turn that has content (failed empty answers are left out). */
export function engineMessages(c: Conversation): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (c.systemPrompt.trim() !== '') out.push({ role: 'system', content: c.systemPrompt });
  for (const m of c.messages) {
    if (m.role === 'assistant' && m.content === '') continue;
    out.push({ role: m.role, content: m.content });
  }
  return out;
}

export const createGenerationSlice: SliceCreator<GenerationSlice> = (set, get, deps) => {
  let abort: AbortController | null = null;

  /** Appends the answer to the conversation as it is now (it may have been renamed meanwhile; gone = dropped). */
  function commit(conversationId: string, msg: ChatMessageRecord): void {
    const c = get().conversations[conversationId];
    if (c) get().putConversation({ ...c, messages: [...c.messages, msg] });
  }

  async function answer(conversationId: string): Promise<void> {
    const ac = new AbortController();
    abort = ac;
    const messageId = deps.newId();
    const startedAt = deps.now();
    set({ streaming: { conversationId, messageId, text: '', phase: 'loading', model: '', startedAt } });
    const base = { id: messageId, role: 'assistant' as const };

    let ready: ReadyEngine;
    try {
      ready = await get().ensureEngine(ac.signal);
    } catch (e) {
      if (abort === ac) abort = null;
      set({ streaming: null });
      // Stopped while waiting: nothing to keep. A failed load shows in the load status and in the answer.
      if (!ac.signal.aborted) commit(conversationId, { ...base, content: '', createdAt: deps.now(), error: toSerialized(e) });
      return;
    }
    const conv = get().conversations[conversationId];
    if (ac.signal.aborted || !conv) {
      if (abort === ac) abort = null;
      set({ streaming: null });
      return;
    }

    const model = ready.modelName;
    set({ streaming: { conversationId, messageId, text: '', phase: 'generating', model, startedAt } });
    const sampling = deps.sampling();
    let text = '';
    let sources: ChatMessageRecord['sources'];
    try {
      let messages: readonly ChatMessage[] = engineMessages(conv);
      if (deps.retrieve) {
        const r = await deps.retrieve(conversationId, messages, ready.engine, ready.info.contextSize, sampling.maxTokens);
        messages = r.messages;
        if (r.sources.length > 0) sources = r.sources;
      }
      const result = await ready.engine.generate(
        { messages, sampling },
        (d) => {
          text += d.text;
          const s = get().streaming;
          if (s && s.messageId === messageId) set({ streaming: { ...s, text } });
        },
        ac.signal,
      );
      commit(conversationId, {
        ...base,
        content: result.text,
        createdAt: deps.now(),
        model,
        stats: result.stats,
        finishReason: result.stats.finishReason,
        seed: sampling.seed,
        ...(sources ? { sources } : {}),
      });
    } catch (e) {
      const aborted = ac.signal.aborted || (e instanceof Error && e.name === 'AbortError');
      commit(conversationId, {
        ...base,
        content: text,
        createdAt: deps.now(),
        model,
        seed: sampling.seed,
        ...(sources ? { sources } : {}),
        ...(aborted ? { finishReason: 'abort' as const } : { error: toSerialized(e) }),
      });
      if (!aborted && e instanceof Error && FATAL.has(e.name)) get().engineFailed(e);
    } finally {
      if (abort === ac) abort = null;
      if (get().streaming?.messageId === messageId) set({ streaming: null });
    }
  }

  return {
    streaming: null,

    async send(text) {
      const t = text.trim();
      if (t === '' || get().streaming) return;
      let id = get().activeId;
      if (id === null || !get().conversations[id]) id = get().newConversation();
      const c = get().conversations[id];
      const msg: ChatMessageRecord = { id: deps.newId(), role: 'user', content: t, createdAt: deps.now() };
      const title = c.titleEdited || c.messages.some((m) => m.role === 'user') ? c.title : titleFrom(t);
      get().putConversation({ ...c, title, messages: [...c.messages, msg] });
      await answer(id);
    },

    stop() {
      abort?.abort();
    },

    async regenerate() {
      const id = get().activeId;
      const c = id === null ? undefined : get().conversations[id];
      if (!c || get().streaming) return;
      const messages = c.messages.at(-1)?.role === 'assistant' ? c.messages.slice(0, -1) : c.messages;
      if (messages.at(-1)?.role !== 'user') return;
      get().putConversation({ ...c, messages });
      await answer(c.id);
    },

    async editAndResend(messageId, text) {
      const id = get().activeId;
      const c = id === null ? undefined : get().conversations[id];
      const t = text.trim();
      if (!c || get().streaming || t === '') return;
      const i = c.messages.findIndex((m) => m.id === messageId);
      if (i < 0 || c.messages[i].role !== 'user') return;
      const edited: ChatMessageRecord = { ...c.messages[i], content: t, createdAt: deps.now() };
      const firstUser = c.messages.findIndex((m) => m.role === 'user') === i;
      get().putConversation({
        ...c,
        title: firstUser && !c.titleEdited ? titleFrom(t) : c.title,
        messages: [...c.messages.slice(0, i), edited],
      });
      await answer(c.id);
    },
  };
};
