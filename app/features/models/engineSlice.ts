/**
 * @file Engine slice: the chat's model, on any engine (Brix, wllama, WebLLM, an endpoint), held in the tab's engine
 * registry (app/engines/registry.ts) so a model Compare already loaded is reused, not loaded twice. Switching
 * models lets go of the old one, which is freed (unload, then the worker ends) unless a Compare pane still
 * holds it. Load progress is throttled before it reaches React. `ensureEngine` is what a chat turn awaits: the
 * ready engine, the load in flight, or a new load of the selected model.
 */
import { AbortError, EngineStateError } from '../../../workers/errors.ts';
import type { SerializedError } from '../../../workers/errors.ts';
import type { LoadProgress, ModelInfo } from '../../../workers/protocol.ts';
import { toSerialized } from '../../lib/errorHelp.ts';
import { TimeoutError } from '../../lib/errors.ts';
import type { EngineHandle, SliceCreator } from '../../store.ts';
import { BrixChatEngine, brixOption, brixProvider } from '../../engines/brix.ts';
import { createEngineRegistry } from '../../engines/registry.ts';
import type { ChatEngine, EngineKind, EngineProvider, ModelOption } from '../../engines/types.ts';
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
  readonly engine: ChatEngine;
  readonly modelName: string;
  readonly info: ModelInfo;
}

/** The chat's hold in the engine registry (Compare panes hold theirs by pane id). */
export const CHAT_HOLDER = 'chat';

/** Engines whose models the chat selects by option id (`<kind>:<ref>`); a Brix model is selected by its bare id. */
const EXTERNAL_KINDS: readonly EngineKind[] = ['wllama', 'webllm', 'openai'];

/** The engine of a chat selection naming another engine's model (`wllama:…`, `webllm:…`, `openai:…`). */
export function externalKindOf(id: string): EngineKind | undefined {
  return EXTERNAL_KINDS.find((k) => id.startsWith(`${k}:`));
}

/** A chat selection naming another engine's model; anything else is a Brix model id. */
export function isExternalSelection(id: string): boolean {
  return externalKindOf(id) !== undefined;
}

/** The engines whose lists the chat asks for at once: endpoints and wllama (cheap), WebLLM's (its library) only when it is selected. */
export function initialOptionKinds(selectedId: string): readonly EngineKind[] {
  return externalKindOf(selectedId) === 'webllm' ? EXTERNAL_KINDS : ['wllama', 'openai'];
}

/** Where the "use wllama" offer is remembered as dismissed (prefs). */
export const WLLAMA_OFFER_DISMISSED_KEY = 'brix.wllamaOfferDismissed';

export interface EngineSlice {
  /** The Brix worker of the loaded model (benchmark, adapter probe); null for other engines. */
  readonly engine: EngineHandle | null;
  /** The loaded model's engine, whichever kind it is. */
  readonly chatEngine: ChatEngine | null;
  readonly load: LoadState;
  readonly gpu: GpuProbe;
  /** Models of the other engines (wllama, WebLLM, endpoints) for the chat's picker. */
  readonly externalOptions: readonly ModelOption[];
  readonly optionErrors: readonly string[];
  /** Lists the other engines' models (only `kinds` when given; WebLLM's list loads its library, so the picker asks for it on focus). */
  refreshOptions(kinds?: readonly EngineKind[]): Promise<void>;
  /** What the picker offers for a selection id (Brix entries and the other engines' models). */
  optionOf(id: string): ModelOption | undefined;
  /** Loads a model (stopping any answer in progress and letting go of the old one). Never throws: see `load`. */
  loadModel(id: string): Promise<void>;
  cancelLoad(): void;
  unloadModel(): Promise<void>;
  /** The ready engine, after loading the selected model if needed; rejects with the load's error or on abort. */
  ensureEngine(signal?: AbortSignal): Promise<ReadyEngine>;
  /** The engine died under a request (worker crash, device lost): drop it, keep the error. */
  engineFailed(error: unknown): void;
  /** Asks a worker which adapter it gets (for the fit check); cached unless forced; callers at once share one probe. */
  probeGpu(force?: boolean): Promise<void>;
  /** The user dismissed the offer to use wllama on a software adapter (kept in prefs). */
  readonly wllamaOfferDismissed: boolean;
  dismissWllamaOffer(): void;
}

const PROGRESS_INTERVAL_MS = 100;
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

export const createEngineSlice: SliceCreator<EngineSlice> = (set, get, deps) => {
  let seq = 0;
  let loadAbort: AbortController | null = null;
  let pending: Promise<ReadyEngine> | null = null;
  const registry = deps.registry ?? createEngineRegistry(deps.now);
  const brix = brixProvider({ startEngine: deps.startEngine, resolveSource: deps.resolveSource, entries: () => get().models, loadOptions: deps.loadOptions });
  const providers = (): readonly EngineProvider[] => [brix, ...(deps.providers ?? [])];
  /** The option the chat holds in the registry. */
  let heldId: string | null = null;
  let probing: Promise<void> | null = null;

  function letGo(): void {
    if (heldId !== null) registry.release(CHAT_HOLDER, heldId);
    heldId = null;
  }

  function startLoad(option: ModelOption, selection: string): Promise<ReadyEngine> {
    const mySeq = ++seq;
    loadAbort?.abort();
    if (heldId !== option.id) letGo();
    const startedAt = deps.now();
    set({ engine: null, chatEngine: null, load: { kind: 'loading', modelId: selection, modelName: option.name, progress: null, startedAt } });
    get().setSelectedModel(selection);
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
      try {
        const provider = providers().find((p) => p.kind === option.kind);
        if (!provider) throw new EngineStateError(`no engine for ${option.kind} models`);
        heldId = option.id;
        const got = await registry.acquire(CHAT_HOLDER, option, provider, { onProgress, signal: ac.signal });
        if (mySeq !== seq) throw new AbortError('another model was chosen');
        const engine = got.engine instanceof BrixChatEngine ? (got.engine.handle ?? null) : null;
        const loadMs = got.shared ? got.loadMs : deps.now() - startedAt;
        set({ engine, chatEngine: got.engine, load: { kind: 'ready', modelId: selection, modelName: option.name, info: got.info, loadMs } });
        void get().refreshStorage();
        return { engine: got.engine, modelName: option.name, info: got.info };
      } catch (e) {
        if (mySeq === seq) {
          if (heldId === option.id) heldId = null;
          set({
            engine: null,
            chatEngine: null,
            load: ac.signal.aborted ? { kind: 'idle' } : { kind: 'error', modelId: selection, modelName: option.name, error: toSerialized(e) },
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

  function optionOf(id: string): ModelOption | undefined {
    if (isExternalSelection(id)) return get().externalOptions.find((o) => o.id === id);
    const entry = get().models.find((m) => m.id === id);
    return entry ? brixOption(entry) : undefined;
  }

  return {
    engine: null,
    chatEngine: null,
    load: { kind: 'idle' },
    gpu: { kind: 'unknown' },
    externalOptions: [],
    optionErrors: [],

    async refreshOptions(kinds) {
      const list = (deps.providers ?? []).filter((p) => !kinds || kinds.includes(p.kind));
      const results = await Promise.allSettled(list.map((p) => p.listModels()));
      const options: ModelOption[] = [];
      const errors: string[] = [];
      results.forEach((r, i) => {
        if (r.status === 'fulfilled') options.push(...r.value);
        else errors.push(`${list[i].kind} models could not be listed: ${toSerialized(r.reason).message}`);
      });
      const keep = kinds ? get().externalOptions.filter((o) => !kinds.includes(o.kind)) : [];
      set({ externalOptions: [...keep, ...options], optionErrors: errors });
    },

    optionOf,

    async loadModel(id) {
      const option = optionOf(id);
      if (!option) {
        set({ load: { kind: 'error', modelId: id, modelName: id, error: { name: 'Error', message: `no model "${id}" in the list` } } });
        return;
      }
      get().stop();
      await startLoad(option, id).catch(() => undefined);
    },

    cancelLoad() {
      loadAbort?.abort();
    },

    async unloadModel() {
      get().stop();
      seq++;
      loadAbort?.abort();
      set({ engine: null, chatEngine: null, load: { kind: 'idle' } });
      letGo();
      return Promise.resolve();
    },

    ensureEngine(signal) {
      const { load, chatEngine } = get();
      if (load.kind === 'ready' && chatEngine) return Promise.resolve({ engine: chatEngine, modelName: load.modelName, info: load.info });
      if (load.kind === 'loading' && pending) return raceAbort(pending, signal);
      const id = get().selectedModelId;
      const option = optionOf(id);
      if (!option) return Promise.reject(new EngineStateError('no model is selected: pick one in the model picker'));
      return raceAbort(startLoad(option, id), signal);
    },

    engineFailed(error) {
      const { engine, load } = get();
      if (!get().chatEngine || load.kind !== 'ready') return;
      seq++;
      engine?.terminate();
      if (heldId !== null) registry.fail(heldId);
      heldId = null;
      set({ engine: null, chatEngine: null, load: { kind: 'error', modelId: load.modelId, modelName: load.modelName, error: toSerialized(error) } });
    },

    probeGpu(force = false) {
      if (!force && get().gpu.kind !== 'unknown') return Promise.resolve();
      if (!force && probing) return probing;
      const existing = get().engine;
      const worker = existing ?? deps.startEngine();
      const run = async (): Promise<void> => {
        try {
          const r = await withTimeout(worker.ping('fit'), PING_TIMEOUT_MS, 'the engine worker');
          set({ gpu: r.gpu ? { kind: 'ok', info: r.gpu } : { kind: 'none', message: r.gpuError?.message ?? 'the engine worker got no WebGPU adapter' } });
        } catch (e) {
          set({ gpu: { kind: 'none', message: toSerialized(e).message } });
        } finally {
          if (!existing) worker.terminate();
        }
      };
      const p: Promise<void> = run().finally(() => {
        if (probing === p) probing = null;
      });
      probing = p;
      return p;
    },

    wllamaOfferDismissed: deps.prefs.get(WLLAMA_OFFER_DISMISSED_KEY) === true,

    dismissWllamaOffer() {
      deps.prefs.set(WLLAMA_OFFER_DISMISSED_KEY, true);
      set({ wllamaOfferDismissed: true });
    },
  };
};
