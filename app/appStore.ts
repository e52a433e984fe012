/**
 * @file The app's one store, wired to the browser: conversations in IndexedDB, an engine worker per model,
 * the weight cache, localStorage for preferences, settings for sampling. `useApp(selector)` is the hook
 * components use (atomic selectors: one value each).
 */
import { describeGgufUrl } from './features/models/describeGguf.ts';
import { useStore } from 'zustand';
import { fetchModelManifest } from '../workers/storage/index.ts';
import type { LoadOptions } from '../workers/protocol.ts';
import { startEngineWorker } from './lib/engineClient.ts';
import { idbConversationRepo, type ConversationRepo } from './features/chat/repo.ts';
import { docsStore } from './features/docs/docs.ts';
import { docsClient } from './features/docs/docsClient.ts';
import { retrieveForAnswer } from './features/docs/docsStore.ts';
import type { ModelEntry } from './features/models/catalog.ts';
import { deviceMemoryGb } from './features/models/fit.ts';
import { browserModelCache } from './features/models/modelCache.ts';
import { cacheKey } from './features/models/modelsSlice.ts';
import { samplingFor, useSettingsStore } from './features/settings/store.ts';
import { createAppStore, type AppState, type Prefs, type ResolvedSource } from './store.ts';
import { createEngineRegistry } from './engines/registry.ts';
import { createEndpointsStore } from './engines/endpointsStore.ts';
import { endpointProvider } from './engines/openai.ts';
import { webllmProvider } from './engines/webllm.ts';
import { browserWebLLMDeps } from './engines/webllmBrowser.ts';
import { wllamaProvider, type AdapterKind } from './engines/wllama.ts';
import { createWllama } from './engines/wllamaBrowser.ts';
import { isSoftwareAdapter } from '../workers/gpu/software.ts';
import { memoryStorage, type KeyValueStorage } from './features/compare/endpointSettings.ts';

const localPrefs: Prefs = {
  get(key) {
    try {
      const v = localStorage.getItem(key);
      return v === null ? undefined : JSON.parse(v);
    } catch {
      return undefined;
    }
  },
  set(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch {
      // storage full or disabled: preferences just do not persist
    }
  },
};

/** The app's base URL (vite's `base`), absolute. */
export function appBase(): string {
  return new URL(import.meta.env.BASE_URL, window.location.href).href;
}

/**
 * A bundled model's manifest names its files; the engine gets the first GGUF's URL. The first file's name is
 * remembered so the model still opens offline if the manifest cannot be fetched (the service worker also keeps
 * manifests, this is the second line).
 */
async function resolveBundled(entry: ModelEntry & { url: string }): Promise<ResolvedSource> {
  const manifestUrl = new URL(entry.url, appBase()).href;
  const rememberKey = `brix.bundledFirst.${entry.id}`;
  let first: string;
  try {
    const manifest = await fetchModelManifest(manifestUrl);
    first = manifest.files[0].name;
    localPrefs.set(rememberKey, first);
  } catch (e) {
    const remembered = localPrefs.get(rememberKey);
    if (typeof remembered !== 'string') throw e;
    first = remembered;
  }
  const url = new URL(encodeURIComponent(first), manifestUrl).href;
  return { source: { kind: 'url', url }, cacheUrl: url, manifestUrl };
}

export function resolveSource(entry: ModelEntry): Promise<ResolvedSource> {
  if (entry.origin === 'file') {
    if (!entry.file) return Promise.reject(new Error(`${entry.name}: the file is no longer open; pick it again`));
    return Promise.resolve({ source: { kind: 'file', file: entry.file, name: entry.name } });
  }
  const url = entry.url;
  if (url === undefined) return Promise.reject(new Error(`${entry.name} has no URL`));
  if (entry.origin === 'bundled') return resolveBundled({ ...entry, url });
  const abs = cacheKey(url, appBase());
  if (abs === undefined) return Promise.reject(new Error(`${entry.name}: "${url}" is not a valid URL`));
  return Promise.resolve({ source: { kind: 'url', url: abs }, cacheUrl: abs });
}

/** Deleting a conversation deletes its document index too. */
function withDocs(repo: ConversationRepo): ConversationRepo {
  return {
    ...repo,
    async delete(id) {
      await repo.delete(id);
      await docsStore.getState().forget(id);
    },
  };
}

function browserStorage(): KeyValueStorage {
  try {
    return window.localStorage;
  } catch {
    return memoryStorage();
  }
}

/** The tab's loaded engines, one per model, shared by Chat and Compare. */
export const engineRegistry = createEngineRegistry();

/** Settings → Endpoints: one list for Chat and Compare. */
export const endpointsStore = createEndpointsStore({ storage: browserStorage(), fetch: (url, init) => fetch(url, init), newId: () => crypto.randomUUID() });

export const webllmEngines = webllmProvider(browserWebLLMDeps);
export const endpointEngines = endpointProvider(() => endpointsStore.getState().endpoints, {
  fetch: (url, init) => fetch(url, init),
  now: () => performance.now(),
  apiKey: (id, url) => endpointsStore.getState().apiKey(id, url),
});

/** The adapter the engine worker reports, as wllama's backend choice needs it (probed once, shared with the fit check). */
async function wllamaAdapter(): Promise<AdapterKind> {
  await appStore.getState().probeGpu();
  const g = appStore.getState().gpu;
  return g.kind === 'ok' ? { webgpu: true, software: isSoftwareAdapter(g.info) } : { webgpu: false, software: true };
}

/**
 * wllama, one provider for Chat and Compare: the same GGUFs as Brix (the app's model list) through llama.cpp in
 * wasm: WebGPU on a real GPU, its wasm CPU path on a software adapter (there it is the faster engine; the picker's
 * note and the chat's offer say so).
 */
export const wllamaEngines = wllamaProvider({
  create: createWllama,
  adapter: wllamaAdapter,
  entries: () => appStore.getState().models,
  sourceOf: async (entry) => {
    if (entry.file) return { kind: 'blobs', blobs: [entry.file] };
    const r = await resolveSource(entry);
    return r.source.kind === 'url' ? { kind: 'url', url: new URL(r.source.url, location.href).href } : undefined;
  },
  contextSize: () => {
    const n = useSettingsStore.getState().contextSize;
    return n > 0 ? n : 2048;
  },
  now: () => performance.now(),
});

export function loadOptions(): LoadOptions {
  const { contextSize: n, activations } = useSettingsStore.getState();
  return { ...(n > 0 ? { contextSize: n } : {}), activations };
}

export const appStore = createAppStore({
  repo: withDocs(idbConversationRepo()),
  cache: browserModelCache(),
  startEngine: startEngineWorker,
  resolveSource,
  sampling: () => samplingFor(useSettingsStore.getState().sampling),
  loadOptions,
  prefs: localPrefs,
  deviceMemoryGb,
  now: () => Date.now(),
  newId: () => crypto.randomUUID(),
  describeUrl: describeGgufUrl,
  retrieve: (conversationId, messages, engine, contextSize, maxTokens) =>
    retrieveForAnswer(docsClient(), conversationId, messages, engine, contextSize, maxTokens),
  registry: engineRegistry,
  providers: [webllmEngines, wllamaEngines, endpointEngines],
});

// A model added or removed on the Models page (a URL, a picked file) is listed by wllama in the chat's picker too.
appStore.subscribe((now, before) => {
  if (now.models !== before.models) void appStore.getState().refreshOptions(['wllama']);
});

// An endpoint added, edited or removed in Settings shows in the chat's picker.
endpointsStore.subscribe((now, before) => {
  if (now.endpoints !== before.endpoints) void appStore.getState().refreshOptions(['openai']);
});

/** One value from the app store; re-renders only when that value changes. */
export function useApp<T>(selector: (s: AppState) => T): T {
  return useStore(appStore, selector);
}
