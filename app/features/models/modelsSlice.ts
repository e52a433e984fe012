/**
 * @file Models slice: the models on offer (catalog, URLs the user added, files opened this session), which one
 * is selected, and the weight cache as the Models page shows it (cached models, downloads with pause/resume,
 * storage estimate, persistence). Added URLs and the selection persist in localStorage; opened files cannot
 * (a page cannot reopen a file by itself), so they last for the session.
 */
import type { CacheProgress } from '../../../workers/storage/index.ts';
import type { SerializedError } from '../../../workers/errors.ts';
import { toSerialized } from '../../lib/errorHelp.ts';
import type { SliceCreator } from '../../store.ts';
import { CATALOG, DEMO_MODEL_ID, checkModelUrl, nameFromUrl, uniqueName, type ModelEntry } from './catalog.ts';
import type { CachedModelSummary } from './modelCache.ts';
import { isExternalSelection } from './engineSlice.ts';

export interface DownloadState {
  readonly status: 'downloading' | 'paused' | 'error';
  readonly progress: CacheProgress | null;
  readonly error?: SerializedError;
}

export interface ModelsSlice {
  readonly models: readonly ModelEntry[];
  readonly selectedModelId: string;
  /** Model id → the URL the weight cache keys it by (resolved lazily for bundled models). */
  readonly cacheUrls: Readonly<Record<string, string>>;
  readonly cached: readonly CachedModelSummary[];
  readonly storage: { readonly usage: number; readonly quota: number } | null;
  readonly persisted: boolean | null;
  readonly downloads: Readonly<Record<string, DownloadState>>;
  /** Model id → reading its GGUF header (models added by URL), or why that failed. */
  readonly describing: Readonly<Record<string, { readonly status: 'reading' } | { readonly status: 'error'; readonly message: string }>>;
  /** The last failed management call (list, delete, persist…). */
  readonly modelsError: SerializedError | null;
  setSelectedModel(id: string): void;
  /** Adds a GGUF by URL (throws ModelUrlError for a bad one); returns the entry (the existing one for a known URL). */
  addModelUrl(url: string, init?: { readonly name?: string; readonly sizeBytes?: number }): ModelEntry;
  /** Adds a GGUF picked from disk (this session only). */
  addModelFile(file: Blob, fileName: string): ModelEntry;
  removeModel(id: string): void;
  /** Reads a URL model's GGUF header (ranged requests) into its details and size; once per session. */
  describeModel(id: string): Promise<void>;
  refreshStorage(): Promise<void>;
  resolveCacheUrl(id: string): Promise<string | undefined>;
  /** Downloads (or resumes) a model into the cache without loading it. */
  startDownload(id: string): Promise<void>;
  pauseDownload(id: string): void;
  /** Deletes a cached model by its cache URL. */
  deleteCached(url: string): Promise<void>;
  clearCache(): Promise<void>;
  requestPersist(): Promise<boolean>;
}

const SELECTED_KEY = 'brix.selectedModel';
const CUSTOM_KEY = 'brix.customModels';

interface StoredCustom {
  readonly id: string;
  readonly name: string;
  readonly url: string;
}

function readCustom(v: unknown): StoredCustom[] {
  if (!Array.isArray(v)) return [];
  const out: StoredCustom[] = [];
  for (const x of v) {
    if (typeof x !== 'object' || x === null) continue;
    const id: unknown = Reflect.get(x, 'id');
    const name: unknown = Reflect.get(x, 'name');
    const url: unknown = Reflect.get(x, 'url');
    if (typeof id === 'string' && typeof name === 'string' && typeof url === 'string') out.push({ id, name, url });
  }
  return out;
}

/** Absolute URL without fragment, as the cache keys files (relative URLs resolve against the page). */
export function cacheKey(url: string, base?: string): string | undefined {
  try {
    const u = new URL(url, base);
    u.hash = '';
    return u.href;
  } catch {
    return undefined;
  }
}

export const createModelsSlice: SliceCreator<ModelsSlice> = (set, get, deps) => {
  const custom = readCustom(deps.prefs.get(CUSTOM_KEY));
  const models: ModelEntry[] = [...CATALOG];
  for (const c of custom) if (!models.some((m) => m.id === c.id)) models.push({ id: c.id, name: uniqueName(c.name, models.map((m) => m.name)), origin: 'url', url: c.url });
  const storedSel = deps.prefs.get(SELECTED_KEY);
  const selectedModelId =
    typeof storedSel === 'string' && (models.some((m) => m.id === storedSel) || isExternalSelection(storedSel)) ? storedSel : DEMO_MODEL_ID;
  const cacheUrls: Record<string, string> = {};
  for (const m of models) {
    const k = m.origin !== 'bundled' && m.url ? cacheKey(m.url) : undefined;
    if (k) cacheUrls[m.id] = k;
  }
  const controllers = new Map<string, AbortController>();

  const saveCustom = (): void => {
    deps.prefs.set(
      CUSTOM_KEY,
      get()
        .models.filter((m) => m.origin === 'url' && m.url !== undefined)
        .map((m) => ({ id: m.id, name: m.name, url: m.url })),
    );
  };

  const setDownload = (id: string, d: DownloadState | null): void => {
    const { [id]: _old, ...rest } = get().downloads;
    set({ downloads: d ? { ...rest, [id]: d } : rest });
  };

  return {
    models,
    selectedModelId,
    cacheUrls,
    cached: [],
    storage: null,
    persisted: null,
    downloads: {},
    describing: {},
    modelsError: null,

    setSelectedModel(id) {
      if (!get().models.some((m) => m.id === id) && !isExternalSelection(id)) return;
      set({ selectedModelId: id });
      if (get().models.find((m) => m.id === id)?.origin !== 'file') deps.prefs.set(SELECTED_KEY, id);
    },

    addModelUrl(text, init) {
      const url = checkModelUrl(text);
      const key = cacheKey(url);
      const known = get().models.find((m) => m.url !== undefined && key !== undefined && cacheKey(m.url) === key);
      if (known) return known;
      const entry: ModelEntry = {
        id: `url:${deps.newId()}`,
        name: uniqueName(init?.name ?? nameFromUrl(url), get().models.map((m) => m.name)),
        origin: 'url',
        url,
        ...(init?.sizeBytes !== undefined ? { sizeBytes: init.sizeBytes } : {}),
      };
      set({ models: [...get().models, entry], cacheUrls: key ? { ...get().cacheUrls, [entry.id]: key } : get().cacheUrls });
      saveCustom();
      void get().describeModel(entry.id);
      return entry;
    },

    addModelFile(file, fileName) {
      const entry: ModelEntry = {
        id: `file:${deps.newId()}`,
        name: uniqueName(`${nameFromUrl(fileName)} (local file)`, get().models.map((m) => m.name)),
        origin: 'file',
        file,
        sizeBytes: file.size,
      };
      set({ models: [...get().models, entry] });
      return entry;
    },

    removeModel(id) {
      const m = get().models.find((x) => x.id === id);
      if (!m || m.origin === 'bundled' || m.origin === 'catalog') return;
      get().pauseDownload(id);
      const load = get().load;
      if ((load.kind === 'loading' || load.kind === 'ready') && load.modelId === id) void get().unloadModel();
      set({ models: get().models.filter((x) => x.id !== id) });
      if (get().selectedModelId === id) get().setSelectedModel(DEMO_MODEL_ID);
      saveCustom();
    },

    async describeModel(id) {
      const entry = get().models.find((m) => m.id === id);
      if (!deps.describeUrl || !entry || entry.origin !== 'url' || !entry.url || entry.details || get().describing[id]) return;
      set({ describing: { ...get().describing, [id]: { status: 'reading' } } });
      try {
        const d = await deps.describeUrl(entry.url);
        set({
          models: get().models.map((m) => (m.id === id ? { ...m, details: d.details, sizeBytes: d.sizeBytes, sizeApprox: false } : m)),
        });
        const { [id]: _done, ...rest } = get().describing;
        set({ describing: rest });
      } catch (e) {
        set({ describing: { ...get().describing, [id]: { status: 'error', message: toSerialized(e).message } } });
      }
    },

    async refreshStorage() {
      try {
        const [cached, storage, persisted] = await Promise.all([deps.cache.list(), deps.cache.estimate(), deps.cache.persisted()]);
        set({ cached, storage: storage ?? null, persisted });
      } catch (e) {
        set({ modelsError: toSerialized(e) });
      }
    },

    async resolveCacheUrl(id) {
      const known = get().cacheUrls[id];
      if (known) return known;
      const entry = get().models.find((m) => m.id === id);
      if (!entry || entry.origin === 'file') return undefined;
      try {
        const r = await deps.resolveSource(entry);
        if (!r.cacheUrl) return undefined;
        set({ cacheUrls: { ...get().cacheUrls, [id]: r.cacheUrl } });
        return r.cacheUrl;
      } catch {
        return undefined;
      }
    },

    async startDownload(id) {
      const entry = get().models.find((m) => m.id === id);
      if (!entry || entry.origin === 'file' || controllers.has(id)) return;
      const ac = new AbortController();
      controllers.set(id, ac);
      setDownload(id, { status: 'downloading', progress: get().downloads[id]?.progress ?? null });
      try {
        const r = await deps.resolveSource(entry);
        if (!r.cacheUrl) throw new Error(`${entry.name} has no download URL`);
        set({ cacheUrls: { ...get().cacheUrls, [id]: r.cacheUrl } });
        await deps.cache.download(r.cacheUrl, {
          ...(r.manifestUrl !== undefined ? { manifestUrl: r.manifestUrl } : {}),
          signal: ac.signal,
          onProgress: (p) => {
            if (!ac.signal.aborted) setDownload(id, { status: 'downloading', progress: p });
          },
        });
        setDownload(id, null);
      } catch (e) {
        const prev = get().downloads[id]?.progress ?? null;
        setDownload(id, ac.signal.aborted ? { status: 'paused', progress: prev } : { status: 'error', progress: prev, error: toSerialized(e) });
      } finally {
        controllers.delete(id);
        await get().refreshStorage();
      }
    },

    pauseDownload(id) {
      controllers.get(id)?.abort();
    },

    async deleteCached(url) {
      for (const [id, u] of Object.entries(get().cacheUrls)) {
        if (u === url) {
          get().pauseDownload(id);
          setDownload(id, null);
        }
      }
      try {
        await deps.cache.delete(url);
      } catch (e) {
        set({ modelsError: toSerialized(e) });
      }
      await get().refreshStorage();
    },

    async clearCache() {
      for (const ac of controllers.values()) ac.abort();
      set({ downloads: {} });
      try {
        await deps.cache.clear();
      } catch (e) {
        set({ modelsError: toSerialized(e) });
      }
      await get().refreshStorage();
    },

    async requestPersist() {
      try {
        const ok = await deps.cache.persist();
        set({ persisted: ok });
        return ok;
      } catch (e) {
        set({ modelsError: toSerialized(e) });
        return false;
      }
    },
  };
};
