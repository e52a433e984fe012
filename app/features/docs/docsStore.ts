/**
 * @file What the chat shows about attached files: per conversation the indexed files, the file being read
 * (with progress) and the last failure. The files themselves live in the docs worker's IndexedDB index; this
 * store only mirrors its answers. `retrieveForAnswer` is the generation slice's hook: the best passages that
 * fit the engine's prompt budget go into the last user message (workers/retrieval/context.ts).
 */
import { createStore } from 'zustand/vanilla';
import { useStore } from 'zustand';
import type { SerializedError } from '../../../workers/errors.ts';
import type { ChatMessage } from '../../../workers/protocol.ts';
import { promptBudget } from '../../../workers/engine/contextPolicy.ts';
import { fitSources, type PromptCounter, type SourceRef } from '../../../workers/retrieval/context.ts';
import type { DocsProgress, IndexedFile } from '../../../workers/retrieval/protocol.ts';
import { toSerialized } from '../../lib/errorHelp.ts';
import type { DocsClient } from './docsClient.ts';

/** Passages considered per question, best first; as many as fit go in. */
export const RETRIEVE_TOP = 8;

export interface DocsState {
  readonly files: Readonly<Record<string, readonly IndexedFile[]>>;
  readonly progress: Readonly<Record<string, DocsProgress | null>>;
  readonly errors: Readonly<Record<string, readonly SerializedError[]>>;
}

export interface DocsActions {
  refresh(conversationId: string): Promise<void>;
  attach(conversationId: string, files: readonly File[]): Promise<void>;
  remove(conversationId: string, name: string): Promise<void>;
  /** The conversation is gone: its index goes too. */
  forget(conversationId: string): Promise<void>;
  dismissErrors(conversationId: string): void;
}

export type DocsStore = ReturnType<typeof createDocsStore>;

export function createDocsStore(client: () => DocsClient) {
  return createStore<DocsState & DocsActions>()((set, get) => {
    function put(key: 'files', id: string, value: readonly IndexedFile[]): void;
    function put(key: 'progress', id: string, value: DocsProgress | null): void;
    function put(key: 'errors', id: string, value: readonly SerializedError[]): void;
    function put(key: keyof DocsState, id: string, value: unknown): void {
      set((s) => ({ ...s, [key]: { ...s[key], [id]: value } }));
    }
    return {
      files: {},
      progress: {},
      errors: {},
      async refresh(id) {
        try {
          put('files', id, await client().list(id));
        } catch (e) {
          put('errors', id, [toSerialized(e)]);
        }
      },
      async attach(id, files) {
        if (files.length === 0) return;
        put('progress', id, { file: files[0].name, phase: 'read', done: 0, total: 1 });
        try {
          const r = await client().add(id, files.map((f) => ({ name: f.name, file: f })), (p) => put('progress', id, p));
          put('files', id, r.files);
          put('errors', id, r.failed.map((f) => ({ name: f.error.name, message: `${f.name}: ${f.error.message}` })));
        } catch (e) {
          put('errors', id, [toSerialized(e)]);
        } finally {
          put('progress', id, null);
        }
      },
      async remove(id, name) {
        try {
          put('files', id, await client().remove(id, name));
        } catch (e) {
          put('errors', id, [toSerialized(e)]);
        }
      },
      async forget(id) {
        await client().remove(id);
        set((s) => {
          const { [id]: _f, ...files } = s.files;
          return { files };
        });
      },
      dismissErrors(id) {
        put('errors', id, []);
      },
    };
  });
}

/** Without an engine tokenizer (other engines): one token per UTF-8 byte, an upper bound for BPE vocabularies. */
const byteCounter: PromptCounter = async (prompts) =>
  prompts.map((p) => p.reduce((n, m) => n + new TextEncoder().encode(m.content).length + 8, 8));

/**
 * The messages with the best passages that fit, and those passages; unchanged when the conversation has no
 * files or nothing matches.
 */
export async function retrieveForAnswer(
  client: DocsClient,
  conversationId: string,
  messages: readonly ChatMessage[],
  engine: { countPromptTokens?: PromptCounter },
  contextSize: number,
  maxTokens: number,
): Promise<{ messages: readonly ChatMessage[]; sources: readonly SourceRef[] }> {
  const question = messages.at(-1);
  if (!question || question.role !== 'user') return { messages, sources: [] };
  const hits = await client.search(conversationId, question.content, RETRIEVE_TOP);
  if (hits.length === 0) return { messages, sources: [] };
  const own = engine.countPromptTokens;
  const count: PromptCounter = own ? (p) => own.call(engine, p) : byteCounter;
  const fit = await fitSources(messages, hits, promptBudget(contextSize, maxTokens), count);
  return { messages: fit.messages, sources: fit.sources };
}

export function useDocs<T>(store: DocsStore, selector: (s: DocsState & DocsActions) => T): T {
  return useStore(store, selector);
}
