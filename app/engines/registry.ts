/**
 * @file The tab's loaded engines, one per model (keyed by `ModelOption.id`), shared by every page: Chat and each
 * Compare pane are *holders*. A holder asking for a model that is loaded gets that engine; one asking while it
 * loads joins the load (and its progress); only the first asks the provider for a new engine. The engine is
 * disposed when its last holder lets go, and a load is aborted when every holder waiting on it gave up, so one
 * page's Cancel never kills a load another page still waits for.
 */
import type { LoadProgress, ModelInfo } from '../../workers/protocol.ts';
import { AbortError } from '../../workers/errors.ts';
import type { ChatEngine, EngineProvider, ModelOption } from './types.ts';

export type ProgressListener = (p: LoadProgress, text?: string) => void;

export interface Acquired {
  readonly engine: ChatEngine;
  readonly info: ModelInfo;
  /** When the load that produced this engine started and ended (ms, the registry's clock). */
  readonly loadMs: number;
  /** True when another holder had it (loaded or loading) first: no load of its own. */
  readonly shared: boolean;
}

interface Entry {
  readonly model: ModelOption;
  readonly engine: ChatEngine;
  readonly holders: Set<string>;
  readonly listeners: Map<string, ProgressListener>;
  readonly abort: AbortController;
  readonly promise: Promise<{ info: ModelInfo; loadMs: number }>;
  /** Filled in as the load goes. */
  readonly s: { ready: { info: ModelInfo; loadMs: number } | null; last: { p: LoadProgress; text?: string } | null };
}

export interface AcquireOptions {
  readonly onProgress?: ProgressListener;
  /** Aborts this holder's wait (and the load itself once no holder waits for it). */
  readonly signal?: AbortSignal;
}

export interface EngineRegistry {
  /** The engine for `model`, loaded; `holder` keeps it alive until `release`. Rejects with the load's error or AbortError. */
  acquire(holder: string, model: ModelOption, provider: EngineProvider, opts?: AcquireOptions): Promise<Acquired>;
  /** `holder` lets go of `modelId` (of every model when absent); an engine nobody holds is disposed. */
  release(holder: string, modelId?: string): void;
  /** The engine broke (worker died, device lost): dispose it for every holder; the next acquire loads anew. */
  fail(modelId: string): void;
  /** The loaded engine for `modelId`, if any (no hold taken). */
  peek(modelId: string): ChatEngine | undefined;
  /** 'loading' | 'ready' for a model in the registry. */
  state(modelId: string): 'loading' | 'ready' | undefined;
  /** How many loads were started (a shared model counts once). */
  readonly loadsStarted: number;
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error && signal.reason.name === 'AbortError' ? signal.reason : new AbortError();
}

export function createEngineRegistry(now: () => number = () => Date.now()): EngineRegistry {
  const entries = new Map<string, Entry>();
  let loadsStarted = 0;

  function drop(id: string, e: Entry): void {
    if (entries.get(id) === e) entries.delete(id);
    e.abort.abort();
    e.engine.dispose();
  }

  function letGo(id: string, e: Entry, holder: string): void {
    e.holders.delete(holder);
    e.listeners.delete(holder);
    if (e.holders.size === 0) drop(id, e);
  }

  function start(model: ModelOption, provider: EngineProvider): Entry {
    const engine = provider.create(model);
    const abort = new AbortController();
    const started = now();
    loadsStarted++;
    const holders = new Set<string>();
    const listeners = new Map<string, ProgressListener>();
    const st: Entry['s'] = { ready: null, last: null };
    const promise = (async () => {
      const info = await engine.load((p, text) => {
        st.last = { p, text };
        for (const l of listeners.values()) l(p, text);
      }, abort.signal);
      abort.signal.throwIfAborted();
      const r = { info, loadMs: now() - started };
      st.ready = r;
      return r;
    })();
    const entry: Entry = { model, engine, holders, listeners, abort, promise, s: st };
    entry.promise.catch(() => {
      // A failed load leaves the registry: the next acquire tries again.
      if (entries.get(model.id) === entry) entries.delete(model.id);
      engine.dispose();
    });
    entries.set(model.id, entry);
    return entry;
  }

  return {
    get loadsStarted() {
      return loadsStarted;
    },

    acquire(holder, model, provider, opts = {}) {
      const { signal, onProgress } = opts;
      if (signal?.aborted) return Promise.reject(abortError(signal));
      // A holder holds one engine per model id; asking again (e.g. after a retry) is the same hold.
      let e = entries.get(model.id);
      const shared = e !== undefined && !(e.holders.size === 1 && e.holders.has(holder));
      if (!e) {
        try {
          e = start(model, provider);
        } catch (err) {
          return Promise.reject(err);
        }
      }
      const entry = e;
      entry.holders.add(holder);
      if (entry.s.ready) return Promise.resolve({ engine: entry.engine, ...entry.s.ready, shared });
      if (onProgress) {
        entry.listeners.set(holder, onProgress);
        if (entry.s.last) onProgress(entry.s.last.p, entry.s.last.text);
      }
      return new Promise<Acquired>((resolve, reject) => {
        const onAbort = (): void => {
          letGo(model.id, entry, holder);
          reject(signal ? abortError(signal) : new AbortError());
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        entry.promise.then(
          (r) => {
            signal?.removeEventListener('abort', onAbort);
            entry.listeners.delete(holder);
            if (!entry.holders.has(holder)) reject(new AbortError('released while loading'));
            else resolve({ engine: entry.engine, ...r, shared });
          },
          (err: unknown) => {
            signal?.removeEventListener('abort', onAbort);
            entry.holders.delete(holder);
            entry.listeners.delete(holder);
            reject(entry.abort.signal.aborted && !(err instanceof AbortError) ? new AbortError('loading was cancelled') : err);
          },
        );
      });
    },

    release(holder, modelId) {
      for (const [id, e] of [...entries]) {
        if (modelId !== undefined && id !== modelId) continue;
        if (e.holders.has(holder)) letGo(id, e, holder);
      }
    },

    fail(modelId) {
      const e = entries.get(modelId);
      if (e) drop(modelId, e);
    },

    peek(modelId) {
      const e = entries.get(modelId);
      return e?.s.ready ? e.engine : undefined;
    },

    state(modelId) {
      const e = entries.get(modelId);
      return e ? (e.s.ready ? 'ready' : 'loading') : undefined;
    },
  };
}
