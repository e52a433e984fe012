/**
 * @file Engine slice: one engine worker per loaded model. Loading a model starts a fresh worker and retires
 * the old one (unload, then terminate), so a model switch always frees the previous model's GPU memory. Load
 * progress is throttled before it reaches React. `ensureEngine` is what a chat turn awaits: the ready engine,
 * the load in flight, or a new load of the selected model.
 */
import { AbortError, EngineStateError } from '../../../workers/errors.ts';
import type { SerializedError } from '../../../workers/errors.ts';
import type { LoadProgress, ModelInfo } from '../../../workers/protocol.ts';
import { toSerialized } from '../../lib/errorHelp.ts';
import { TimeoutError } from '../../lib/errors.ts';
import type { EngineHandle, SliceCreator } from '../../store.ts';
import type { ModelEntry } from './catalog.ts';
import type { GpuProbe } from './fit.ts';

export type LoadState =
  | { readonly kind: 'idle' }
  | {
      readonly kind: 'loading';
      readonly modelId: string;
      readonly modelName: string;
      readonly progress: LoadProgress | null;
      readonly startedAt: number;
    }
  | { readonly kind: 'ready'; readonly modelId: string; readonly modelName: string; readonly info: ModelInfo; readonly loadMs: number }
  | { readonly kind: 'error'; readonly modelId: string; readonly modelName: string; readonly error: SerializedError };

export interface ReadyEngine {
  readonly engine: EngineHandle;
  readonly modelName: string;
  readonly info: ModelInfo;
}

export interface EngineSlice {
  readonly engine: EngineHandle | null;
  readonly load: LoadState;
  readonly gpu: GpuProbe;
  /** Loads a model in a new worker (stopping any answer in progress and retiring the old worker). Never throws: see `load`. */
  loadModel(id: string): Promise<void>;
  cancelLoad(): void;
  unloadModel(): Promise<void>;
  /** The ready engine, after loading the selected model if needed; rejects with the load's error or on abort. */
  ensureEngine(signal?: AbortSignal): Promise<ReadyEngine>;
  /** The engine died under a request (worker crash, device lost): drop it, keep the error. */
  engineFailed(error: unknown): void;
  /** Asks a worker which adapter it gets (for the fit check); cached unless forced. */
  probeGpu(force?: boolean): Promise<void>;
}

const PROGRESS_INTERVAL_MS = 100;
const UNLOAD_GRACE_MS = 2000;
const PING_TIMEOUT_MS = 30_000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new TimeoutError(`${what} did not answer in ${ms / 1000} s`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** Resolves like `p`, or rejects with AbortError as soon as `signal` aborts (p itself goes on). */
function raceAbort<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(new AbortError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortError());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Best-effort unload (frees GPU buffers in order), then the worker goes regardless. */
function retire(engine: EngineHandle): void {
  void withTimeout(engine.unload(), UNLOAD_GRACE_MS, 'unload')
    .catch(() => undefined)
    .finally(() => engine.terminate());
}

export const createEngineSlice: SliceCreator<EngineSlice> = (set, get, deps) => {
  let seq = 0;
  let loadAbort: AbortController | null = null;
  let pending: Promise<ReadyEngine> | null = null;

  function startLoad(entry: ModelEntry): Promise<ReadyEngine> {
    const mySeq = ++seq;
    loadAbort?.abort();
    const old = get().engine;
    if (old) retire(old);
    const startedAt = deps.now();
    set({ engine: null, load: { kind: 'loading', modelId: entry.id, modelName: entry.name, progress: null, startedAt } });
    get().setSelectedModel(entry.id);
    const ac = new AbortController();
    loadAbort = ac;

    let lastEmit = 0;
    let lastPhase = '';
    const onProgress = (p: LoadProgress): void => {
      if (mySeq !== seq) return;
      const t = deps.now();
      if (p.phase === lastPhase && t - lastEmit < PROGRESS_INTERVAL_MS && p.loaded < p.total) return;
      lastEmit = t;
      lastPhase = p.phase;
      const cur = get().load;
      if (cur.kind === 'loading') set({ load: { ...cur, progress: p } });
    };

    const run = async (): Promise<ReadyEngine> => {
      let engine: EngineHandle | undefined;
      try {
        engine = deps.startEngine();
        const resolved = await deps.resolveSource(entry);
        ac.signal.throwIfAborted();
        const info = await engine.load(resolved.source, deps.loadOptions(), onProgress, ac.signal);
        if (mySeq !== seq) throw new AbortError('another model was chosen');
        set({ engine, load: { kind: 'ready', modelId: entry.id, modelName: entry.name, info, loadMs: deps.now() - startedAt } });
        void get().refreshStorage();
        return { engine, modelName: entry.name, info };
      } catch (e) {
        engine?.terminate();
        if (mySeq === seq) {
          set({
            engine: null,
            load: ac.signal.aborted ? { kind: 'idle' } : { kind: 'error', modelId: entry.id, modelName: entry.name, error: toSerialized(e) },
          });
        }
        throw ac.signal.aborted && !(e instanceof AbortError) ? new AbortError('loading was cancelled') : e;
      } finally {
        if (loadAbort === ac) loadAbort = null;
      }
    };
    const p = run();
    pending = p;
    p.catch(() => undefined); // the state holds the outcome; awaiting callers see the rejection
    return p;
  }

  function entryOf(id: string): ModelEntry | undefined {
    return get().models.find((m) => m.id === id);
  }

  return {
    engine: null,
    load: { kind: 'idle' },
    gpu: { kind: 'unknown' },

    async loadModel(id) {
      const entry = entryOf(id);
      if (!entry) {
        set({ load: { kind: 'error', modelId: id, modelName: id, error: { name: 'Error', message: `no model "${id}" in the list` } } });
        return;
      }
      get().stop();
      await startLoad(entry).catch(() => undefined);
    },

    cancelLoad() {
      loadAbort?.abort();
    },

    async unloadModel() {
      get().stop();
      seq++;
      loadAbort?.abort();
      const old = get().engine;
      set({ engine: null, load: { kind: 'idle' } });
      if (old) retire(old);
      return Promise.resolve();
    },

    ensureEngine(signal) {
      const { load, engine } = get();
      if (load.kind === 'ready' && engine) return Promise.resolve({ engine, modelName: load.modelName, info: load.info });
      if (load.kind === 'loading' && pending) return raceAbort(pending, signal);
      const entry = entryOf(get().selectedModelId);
      if (!entry) return Promise.reject(new EngineStateError('no model is selected: pick one in the model picker'));
      return raceAbort(startLoad(entry), signal);
    },

    engineFailed(error) {
      const { engine, load } = get();
      if (!engine || load.kind !== 'ready') return;
      seq++;
      engine.terminate();
      set({ engine: null, load: { kind: 'error', modelId: load.modelId, modelName: load.modelName, error: toSerialized(error) } });
    },

    async probeGpu(force = false) {
      if (!force && get().gpu.kind !== 'unknown') return;
      const existing = get().engine;
      const worker = existing ?? deps.startEngine();
      try {
        const r = await withTimeout(worker.ping('fit'), PING_TIMEOUT_MS, 'the engine worker');
        set({ gpu: r.gpu ? { kind: 'ok', info: r.gpu } : { kind: 'none', message: r.gpuError?.message ?? 'the engine worker got no WebGPU adapter' } });
      } catch (e) {
        set({ gpu: { kind: 'none', message: toSerialized(e).message } });
      } finally {
        if (!existing) worker.terminate();
      }
    },
  };
};
