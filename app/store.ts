/**
 * @file The app's runtime state: one zustand store built from feature slices (conversations, generation,
 * engine, models). Components read it through atomic selectors (`useApp((s) => s.streaming)`), so a streamed
 * token re-renders only what shows the streaming answer. Everything the store touches outside itself (IndexedDB,
 * the engine worker, the weight cache, localStorage, clocks) comes in as `AppDeps`, so tests build a store on
 * fakes with `createAppStore(deps)`; app/appStore.ts builds the real one.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { Engine } from '../workers/engine/types.ts';
import type { EngineRegistry } from './engines/registry.ts';
import type { EngineProvider } from './engines/types.ts';
import type { ChatMessage, LoadOptions, ModelSource, PingResult, SamplingParams } from '../workers/protocol.ts';
import type { PromptCounter, SourceRef } from '../workers/retrieval/context.ts';
import { createConversationsSlice, type ConversationsSlice } from './features/chat/conversationsSlice.ts';
import { createGenerationSlice, type GenerationSlice } from './features/chat/generationSlice.ts';
import type { ConversationRepo } from './features/chat/repo.ts';
import type { ModelDetails, ModelEntry } from './features/models/catalog.ts';
import { createEngineSlice, type EngineSlice } from './features/models/engineSlice.ts';
import type { ModelCache } from './features/models/modelCache.ts';
import { createModelsSlice, type ModelsSlice } from './features/models/modelsSlice.ts';

/** An engine in its own worker: the Engine interface plus the worker's ping and terminate. */
export interface EngineHandle extends Engine {
  ping(payload: string): Promise<PingResult>;
  terminate(): void;
}

/** How to feed a model entry to the engine and which cache key its bytes live under. */
export interface ResolvedSource {
  readonly source: ModelSource;
  /** Absolute URL the weight cache keys the model by (url sources only). */
  readonly cacheUrl?: string;
  /** Our manifest for it (bundled models), for verified downloads. */
  readonly manifestUrl?: string;
}

/** A small synchronous key-value store for preferences (localStorage in the app). */
export interface Prefs {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
}

export interface AppDeps {
  readonly repo: ConversationRepo;
  readonly cache: ModelCache;
  readonly startEngine: () => EngineHandle;
  readonly resolveSource: (entry: ModelEntry) => Promise<ResolvedSource>;
  /** Sampling for one request (from Settings; a fresh seed when asked for). */
  readonly sampling: () => SamplingParams;
  readonly loadOptions: () => LoadOptions;
  readonly prefs: Prefs;
  /** Storage estimate etc. for the fit check; navigator.deviceMemory in the app. */
  readonly deviceMemoryGb?: () => number | undefined;
  readonly now: () => number;
  readonly newId: () => string;
  /**
   * Attached files (app/features/docs): the messages for this answer with the best passages that fit put into
   * the last user message, and those passages for the answer's "Sources". Absent: no retrieval.
   */
  readonly retrieve?: (
    conversationId: string,
    messages: readonly ChatMessage[],
    engine: { countPromptTokens?: PromptCounter },
    contextSize: number,
    maxTokens: number,
  ) => Promise<{ readonly messages: readonly ChatMessage[]; readonly sources: readonly SourceRef[] }>;
  /** The tab's loaded engines, shared with Compare; a private one when absent. */
  readonly registry?: EngineRegistry;
  /** Reads a GGUF's header at a URL by ranged requests (models added by URL); absent: they stay undescribed. */
  readonly describeUrl?: (url: string, signal?: AbortSignal) => Promise<{ readonly details: ModelDetails; readonly sizeBytes: number }>;
  /** Engines besides Brix the chat can use (WebLLM, the endpoints). */
  readonly providers?: readonly EngineProvider[];
}

export type AppState = ConversationsSlice & GenerationSlice & EngineSlice & ModelsSlice;
export type SetState = StoreApi<AppState>['setState'];
export type GetState = StoreApi<AppState>['getState'];
/** A feature slice: its part of the state and actions, with access to the whole store and the deps. */
export type SliceCreator<T> = (set: SetState, get: GetState, deps: AppDeps) => T;

export type AppStore = StoreApi<AppState>;

export function createAppStore(deps: AppDeps): AppStore {
  return createStore<AppState>()((set, get) => ({
    ...createConversationsSlice(set, get, deps),
    ...createGenerationSlice(set, get, deps),
    ...createEngineSlice(set, get, deps),
    ...createModelsSlice(set, get, deps),
  }));
}
