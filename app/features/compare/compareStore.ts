/**
 * @file The compare view's state: two to four panes, each with its own engine (a Brix worker, a WebLLM worker
 * or an endpoint) and model; one shared conversation sent to every pane at once, answers streaming in parallel
 * (each pane keeps its own history: the shared prompts and its own answers); Stop all; blind mode (panes
 * shuffled and labelled Model A/B/…, a vote per turn, names revealed after it, the tally kept in IndexedDB);
 * the same sampling for every pane by default (the app's settings plus a shared seed) with per-pane overrides;
 * a memory check before a model loads next to the others; endpoint settings. Streaming text lives in `live`,
 * apart from the turns, so a token re-renders only its own pane.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { SerializedError } from '../../../workers/errors.ts';
import type { GenerationStats, LoadProgress, ModelInfo, SamplingParams, ChatMessage } from '../../../workers/protocol.ts';
import { toSerialized } from '../../lib/errorHelp.ts';
import { endpointProvider, type EndpointConfig, type FetchLike } from '../../engines/openai.ts';
import { createEndpointsStore, type EndpointsStore } from '../../engines/endpointsStore.ts';
import { createEngineRegistry, type EngineRegistry } from '../../engines/registry.ts';
import { isAbortError, runTurn } from '../../engines/turn.ts';
import type { ChatEngine, EngineKind, EngineProvider, ModelOption } from '../../engines/types.ts';
import type { GpuProbe } from '../models/fit.ts';
import { fitAlongside, type LoadedModel, type MemoryFit } from './memory.ts';
import type { KeyValueStorage } from './endpointSettings.ts';
import { tallyOf, type TallyRepo, type TallyRow, type VoteRecord } from './tally.ts';

export const MIN_PANES = 2;
export const MAX_PANES = 4;
const PROGRESS_INTERVAL_MS = 100;

export interface CompareDeps {
  /** Brix and WebLLM; the endpoint provider is built here from the endpoint settings. */
  readonly providers: readonly EngineProvider[];
  /** The app's sampling settings (the seed is replaced by the compare view's shared seed). */
  readonly baseSampling: () => SamplingParams;
  readonly tally: TallyRepo;
  readonly storage: KeyValueStorage;
  readonly fetch: FetchLike;
  readonly probeGpu: () => Promise<GpuProbe>;
  readonly deviceMemoryGb: () => number | undefined;
  readonly now: () => number;
  readonly newId: () => string;
  readonly random: () => number;
  /** The tab's engines, shared with the chat (one per model); a private one when absent. */
  readonly registry?: EngineRegistry;
  /** The app's endpoint list (Settings → Endpoints); one over `storage` when absent. */
  readonly endpoints?: EndpointsStore;
}

export type PaneLoad =
  | { readonly kind: 'none' }
  | { readonly kind: 'loading'; readonly progress: LoadProgress | null; readonly text?: string }
  | { readonly kind: 'ready'; readonly info: ModelInfo; readonly loadMs: number; readonly shared?: boolean }
  | { readonly kind: 'error'; readonly error: SerializedError };

/** Per-pane sampling that differs from the shared settings; absent = shared. */
export interface SamplingOverrides {
  readonly temperature?: number;
  readonly topP?: number;
  readonly topK?: number;
  readonly maxTokens?: number;
  readonly seed?: number;
}

export interface PaneState {
  readonly id: string;
  readonly modelId: string | null;
  readonly load: PaneLoad;
  readonly overrides: SamplingOverrides;
}

export type AnswerStatus = 'loading' | 'streaming' | 'done' | 'stopped' | 'error';

export interface PaneAnswer {
  readonly modelId: string;
  readonly modelName: string;
  readonly engine: EngineKind;
  readonly text: string;
  readonly status: AnswerStatus;
  readonly sampling: SamplingParams;
  readonly stats?: GenerationStats;
  readonly error?: SerializedError;
}

export interface TurnVote {
  /** The winning pane's id, or 'tie'. */
  readonly winner: string;
  readonly at: number;
}

export interface Turn {
  readonly id: string;
  readonly prompt: string;
  readonly createdAt: number;
  /** Pane id → its answer (only panes that had a model when it was sent). */
  readonly answers: Readonly<Record<string, PaneAnswer>>;
  /** Pane id → blind label ("A", "B", …) when sent in blind mode. */
  readonly labels: Readonly<Record<string, string>>;
  readonly vote?: TurnVote;
}

export interface CompareState {
  readonly panes: readonly PaneState[];
  readonly options: readonly ModelOption[];
  readonly optionsLoading: boolean;
  readonly optionErrors: readonly string[];
  readonly turns: readonly Turn[];
  /** Pane id → text streamed so far in the running turn. */
  readonly live: Readonly<Record<string, string>>;
  readonly running: boolean;
  readonly blind: boolean;
  /** Pane ids in display order (shuffled in blind mode). */
  readonly order: readonly string[];
  /** Blind mode: names shown (after a vote). */
  readonly revealed: boolean;
  readonly seed: number;
  readonly systemPrompt: string;
  readonly votes: readonly VoteRecord[];
  readonly gpu: GpuProbe;
  readonly endpoints: readonly EndpointConfig[];

  refreshOptions(): Promise<void>;
  probeGpu(): Promise<void>;
  loadTally(): Promise<void>;
  addPane(): void;
  closePane(paneId: string): void;
  pickModel(paneId: string, modelId: string | null): void;
  /** Loads the pane's model (also done by send); never throws, the pane's `load` holds the outcome. */
  loadPane(paneId: string): Promise<void>;
  unloadPane(paneId: string): void;
  setOverride(paneId: string, patch: SamplingOverrides): void;
  clearOverrides(paneId: string): void;
  setSeed(seed: number): void;
  newSeed(): void;
  setSystemPrompt(text: string): void;
  send(prompt: string): Promise<void>;
  stopAll(): void;
  setBlind(on: boolean): void;
  /** Starts over: clears the turns (and reshuffles in blind mode). */
  newComparison(): void;
  vote(turnId: string, winner: string): Promise<void>;
  clearTally(): Promise<void>;
  addEndpoint(init?: Partial<Omit<EndpointConfig, 'id'>>): string;
  updateEndpoint(id: string, patch: Partial<Omit<EndpointConfig, 'id'>>): void;
  removeEndpoint(id: string): void;
  setEndpointKey(id: string, key: string): void;
  hasEndpointKey(id: string): boolean;
  /** `GET <baseUrl>/models` with the endpoint's saved key (baseUrl as typed, before it is committed). */
  listEndpointModels(id: string, baseUrl: string): Promise<string[]>;
  /** The memory check for putting `modelId` in `paneId`, next to the other panes' models. */
  fitFor(paneId: string, modelId: string): MemoryFit | undefined;
  /** Samples for a pane: shared settings, shared seed, then its overrides. */
  samplingFor(paneId: string): SamplingParams;
  /** Releases every engine (page teardown). */
  disposeAll(): void;
}

export type CompareStore = StoreApi<CompareState>;

export const LABELS = ['A', 'B', 'C', 'D'] as const;

export function labelOf(index: number): string {
  return LABELS[index] ?? String(index + 1);
}

/** Fisher–Yates with the injected random source. */
function shuffle<T>(xs: readonly T[], random: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** What a pane's engine sees: the system prompt, then each earlier turn's prompt and this pane's answer. */
export function paneMessages(turns: readonly Turn[], paneId: string, prompt: string, systemPrompt: string): ChatMessage[] {
  const out: ChatMessage[] = [];
  if (systemPrompt.trim() !== '') out.push({ role: 'system', content: systemPrompt });
  for (const t of turns) {
    const a = t.answers[paneId];
    if (!a || a.text === '') continue;
    out.push({ role: 'user', content: t.prompt });
    out.push({ role: 'assistant', content: a.text });
  }
  out.push({ role: 'user', content: prompt });
  return out;
}

export function createCompareStore(deps: CompareDeps): CompareStore {
  const registry = deps.registry ?? createEngineRegistry(deps.now);
  const endpointsStore = deps.endpoints ?? createEndpointsStore({ storage: deps.storage, fetch: deps.fetch, newId: deps.newId });
  /** Pane id → the model id it holds in the registry. */
  const held = new Map<string, string>();
  const runs = new Map<string, AbortController>();

  const store = createStore<CompareState>()((set, get) => {
    const endpoints = endpointProvider(() => endpointsStore.getState().endpoints, {
      fetch: deps.fetch,
      now: deps.now,
      apiKey: (id, url) => endpointsStore.getState().apiKey(id, url),
    });
    const providers = deps.providers.some((p) => p.kind === 'openai') ? deps.providers : [...deps.providers, endpoints];

    const newPane = (): PaneState => ({ id: deps.newId(), modelId: null, load: { kind: 'none' }, overrides: {} });
    const first = [newPane(), newPane()];

    const pane = (id: string): PaneState | undefined => get().panes.find((p) => p.id === id);
    const option = (id: string | null): ModelOption | undefined => (id === null ? undefined : get().options.find((o) => o.id === id));
    const patchPane = (id: string, patch: Partial<PaneState>): void =>
      set({ panes: get().panes.map((p) => (p.id === id ? { ...p, ...patch } : p)) });

    /** Lets go of the pane's engine (disposed by the registry when no other page or pane holds it). */
    function releaseEngine(paneId: string): void {
      runs.get(paneId)?.abort();
      held.delete(paneId);
      registry.release(paneId);
    }

    /** The pane's engine, loaded: the tab's engine for that model (loaded, loading, or a new load). */
    async function ensureEngine(paneId: string, signal?: AbortSignal): Promise<ChatEngine> {
      const p = pane(paneId);
      const opt = option(p?.modelId ?? null);
      if (!p || !opt) throw new Error('pick a model for this pane first');
      const provider = providers.find((x) => x.kind === opt.kind);
      if (!provider) throw new Error(`no engine for ${opt.kind} models`);
      const prev = held.get(paneId);
      if (prev !== undefined && prev !== opt.id) registry.release(paneId, prev);
      held.set(paneId, opt.id);
      if (registry.state(opt.id) !== 'ready' && pane(paneId)?.load.kind !== 'loading') patchPane(paneId, { load: { kind: 'loading', progress: null } });
      let lastEmit = 0;
      let lastPhase = '';
      try {
        const got = await registry.acquire(paneId, opt, provider, {
          signal,
          onProgress: (prog, text) => {
            const t = deps.now();
            if (prog.phase === lastPhase && t - lastEmit < PROGRESS_INTERVAL_MS && prog.loaded < prog.total) return;
            lastEmit = t;
            lastPhase = prog.phase;
            const cur = pane(paneId);
            if (cur?.modelId === opt.id && cur.load.kind === 'loading') patchPane(paneId, { load: { kind: 'loading', progress: prog, text } });
          },
        });
        if (pane(paneId)?.modelId !== opt.id) throw new DOMException('another model was picked', 'AbortError');
        if (pane(paneId)?.load.kind !== 'ready') patchPane(paneId, { load: { kind: 'ready', info: got.info, loadMs: got.loadMs, ...(got.shared ? { shared: true } : {}) } });
        return got.engine;
      } catch (e) {
        if (held.get(paneId) === opt.id) held.delete(paneId);
        if (pane(paneId)?.modelId === opt.id) {
          patchPane(paneId, { load: signal?.aborted || isAbortError(e) ? { kind: 'none' } : { kind: 'error', error: toSerialized(e) } });
        }
        throw e;
      }
    }

    function commitAnswer(turnId: string, paneId: string, patch: Partial<PaneAnswer>): void {
      set({
        turns: get().turns.map((t) => {
          const a = t.answers[paneId];
          return t.id === turnId && a ? { ...t, answers: { ...t.answers, [paneId]: { ...a, ...patch } } } : t;
        }),
      });
    }

    async function answer(turn: Turn, paneId: string, outer: AbortSignal): Promise<void> {
      const ac = new AbortController();
      runs.set(paneId, ac);
      const onOuter = (): void => ac.abort();
      outer.addEventListener('abort', onOuter, { once: true });
      try {
        const out = await runTurn({
          signal: ac.signal,
          engine: (signal) => ensureEngine(paneId, signal),
          request: () => {
            const earlier = get().turns.filter((t) => t.id !== turn.id);
            return { messages: paneMessages(earlier, paneId, turn.prompt, get().systemPrompt), sampling: turn.answers[paneId].sampling };
          },
          onGenerating: () => commitAnswer(turn.id, paneId, { status: 'streaming' }),
          onText: (text) => set({ live: { ...get().live, [paneId]: text } }),
        });
        if (out.kind === 'done') {
          commitAnswer(turn.id, paneId, { text: out.text, stats: out.stats, status: out.stats.finishReason === 'abort' ? 'stopped' : 'done' });
        } else if (out.kind === 'stopped') {
          commitAnswer(turn.id, paneId, { text: out.text, status: 'stopped' });
        } else {
          commitAnswer(turn.id, paneId, { text: out.text, status: 'error', error: out.error });
          if (out.fatal) {
            const id = held.get(paneId);
            if (id !== undefined) registry.fail(id);
            held.delete(paneId);
            patchPane(paneId, { load: { kind: 'error', error: out.error } });
          }
        }
      } finally {
        outer.removeEventListener('abort', onOuter);
        if (runs.get(paneId) === ac) runs.delete(paneId);
        const { [paneId]: _done, ...rest } = get().live;
        set({ live: rest });
      }
    }

    // Endpoint edits made anywhere (Settings → Endpoints) show here and refresh the model list.
    endpointsStore.subscribe((now, before) => {
      if (now.endpoints === before.endpoints) return;
      set({ endpoints: now.endpoints });
      void get().refreshOptions();
    });

    let sendAbort: AbortController | null = null;

    return {
      panes: first,
      options: [],
      optionsLoading: false,
      optionErrors: [],
      turns: [],
      live: {},
      running: false,
      blind: false,
      order: first.map((p) => p.id),
      revealed: true,
      seed: deps.baseSampling().seed,
      systemPrompt: '',
      votes: [],
      gpu: { kind: 'unknown' },
      endpoints: endpointsStore.getState().endpoints,

      async refreshOptions() {
        set({ optionsLoading: true });
        const results = await Promise.allSettled(providers.map((p) => p.listModels()));
        const options: ModelOption[] = [];
        const errors: string[] = [];
        results.forEach((r, i) => {
          if (r.status === 'fulfilled') options.push(...r.value);
          else errors.push(`${providers[i].kind} models could not be listed: ${toSerialized(r.reason).message}`);
        });
        set({ options, optionErrors: errors, optionsLoading: false });
      },

      async probeGpu() {
        try {
          set({ gpu: await deps.probeGpu() });
        } catch (e) {
          set({ gpu: { kind: 'none', message: toSerialized(e).message } });
        }
      },

      async loadTally() {
        try {
          set({ votes: await deps.tally.load() });
        } catch {
          // IndexedDB unavailable (private window): the tally starts empty and lives in memory
        }
      },

      addPane() {
        const { panes, order, blind, running } = get();
        if (panes.length >= MAX_PANES || running) return;
        const p = newPane();
        const ids = [...order, p.id];
        set({ panes: [...panes, p], order: blind ? shuffle(ids, deps.random) : ids });
      },

      closePane(paneId) {
        const { panes, order } = get();
        if (panes.length <= MIN_PANES || !pane(paneId)) return;
        releaseEngine(paneId);
        set({ panes: panes.filter((p) => p.id !== paneId), order: order.filter((id) => id !== paneId) });
      },

      pickModel(paneId, modelId) {
        const p = pane(paneId);
        if (!p || p.modelId === modelId || runs.has(paneId)) return;
        releaseEngine(paneId);
        patchPane(paneId, { modelId, load: { kind: 'none' } });
      },

      async loadPane(paneId) {
        await ensureEngine(paneId).catch(() => undefined);
      },

      unloadPane(paneId) {
        if (runs.has(paneId)) return;
        releaseEngine(paneId);
        patchPane(paneId, { load: { kind: 'none' } });
      },

      setOverride(paneId, patch) {
        const p = pane(paneId);
        if (p) patchPane(paneId, { overrides: { ...p.overrides, ...patch } });
      },

      clearOverrides(paneId) {
        patchPane(paneId, { overrides: {} });
      },

      setSeed(seed) {
        if (Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff) set({ seed });
      },

      newSeed() {
        set({ seed: Math.floor(deps.random() * 2 ** 32) >>> 0 });
      },

      setSystemPrompt(text) {
        set({ systemPrompt: text });
      },

      samplingFor(paneId) {
        const base = deps.baseSampling();
        const o = pane(paneId)?.overrides ?? {};
        return {
          ...base,
          seed: o.seed ?? get().seed,
          temperature: o.temperature ?? base.temperature,
          topP: o.topP ?? base.topP,
          topK: o.topK ?? base.topK,
          maxTokens: o.maxTokens ?? base.maxTokens,
        };
      },

      async send(prompt) {
        const text = prompt.trim();
        const s = get();
        if (text === '' || s.running) return;
        const active = s.panes.filter((p) => p.modelId !== null && option(p.modelId));
        if (active.length === 0) return;
        const ac = new AbortController();
        sendAbort = ac;
        const answers: Record<string, PaneAnswer> = {};
        for (const p of active) {
          const o = option(p.modelId);
          if (!o) continue;
          answers[p.id] = { modelId: o.id, modelName: o.name, engine: o.kind, text: '', status: 'loading', sampling: s.samplingFor(p.id) };
        }
        const labels: Record<string, string> = {};
        if (s.blind) s.order.forEach((id, i) => (labels[id] = labelOf(i)));
        const turn: Turn = { id: deps.newId(), prompt: text, createdAt: deps.now(), answers, labels };
        set({ turns: [...s.turns, turn], running: true, live: {} });
        try {
          await Promise.all(active.map((p) => answer(turn, p.id, ac.signal)));
        } finally {
          if (sendAbort === ac) sendAbort = null;
          set({ running: false, live: {} });
        }
      },

      stopAll() {
        sendAbort?.abort();
        for (const r of runs.values()) r.abort();
      },

      setBlind(on) {
        const ids = get().panes.map((p) => p.id);
        set(on ? { blind: true, order: shuffle(ids, deps.random), revealed: false } : { blind: false, order: ids, revealed: true });
      },

      newComparison() {
        if (get().running) return;
        const ids = get().panes.map((p) => p.id);
        set({ turns: [], live: {}, ...(get().blind ? { order: shuffle(ids, deps.random), revealed: false } : {}) });
      },

      async vote(turnId, winner) {
        const t = get().turns.find((x) => x.id === turnId);
        if (!t || t.vote || Object.keys(t.labels).length < 2) return;
        const ids = Object.keys(t.labels).sort((a, b) => t.labels[a].localeCompare(t.labels[b]));
        if (winner !== 'tie' && !ids.includes(winner)) return;
        if (ids.some((id) => t.answers[id]?.status === 'streaming' || t.answers[id]?.status === 'loading')) return;
        const at = deps.now();
        set({ turns: get().turns.map((x) => (x.id === turnId ? { ...x, vote: { winner, at } } : x)), revealed: true });
        const names = ids.map((id) => t.answers[id]?.modelName ?? '?');
        const record: VoteRecord = { id: turnId, at, models: names, winner: winner === 'tie' ? null : (t.answers[winner]?.modelName ?? null) };
        set({ votes: [...get().votes, record] });
        try {
          await deps.tally.add(record);
        } catch {
          // not persisted (IndexedDB unavailable); kept for this session
        }
      },

      async clearTally() {
        set({ votes: [] });
        await deps.tally.clear().catch(() => undefined);
      },

      addEndpoint(init = {}) {
        return endpointsStore.getState().add(init);
      },

      updateEndpoint(id, patch) {
        endpointsStore.getState().update(id, patch);
        // A pane on this endpoint reconnects with the new settings.
        for (const p of get().panes) if (p.modelId === `openai:${id}` && !runs.has(p.id)) get().unloadPane(p.id);
      },

      removeEndpoint(id) {
        for (const p of get().panes) if (p.modelId === `openai:${id}`) {
          releaseEngine(p.id);
          patchPane(p.id, { modelId: null, load: { kind: 'none' } });
        }
        endpointsStore.getState().remove(id);
      },

      setEndpointKey(id, key) {
        endpointsStore.getState().setKey(id, key);
        for (const p of get().panes) if (p.modelId === `openai:${id}` && !runs.has(p.id)) get().unloadPane(p.id);
      },

      hasEndpointKey(id) {
        return endpointsStore.getState().hasKey(id);
      },

      listEndpointModels(id, baseUrl) {
        return endpointsStore.getState().listModels(id, baseUrl);
      },

      fitFor(paneId, modelId) {
        const opt = option(modelId);
        if (!opt) return undefined;
        const others: LoadedModel[] = [];
        for (const p of get().panes) {
          if (p.id === paneId || p.modelId === null) continue;
          const o = option(p.modelId);
          if (p.load.kind === 'ready') others.push({ name: o?.name ?? p.load.info.name, gpuBytes: p.load.info.gpuBytes });
          else if (p.load.kind === 'loading' && o?.gpuBytesEstimate) others.push({ name: o.name, gpuBytes: o.gpuBytesEstimate });
        }
        return fitAlongside(opt, others.filter((o) => o.gpuBytes > 0), get().gpu, deps.deviceMemoryGb());
      },

      disposeAll() {
        get().stopAll();
        for (const p of get().panes) releaseEngine(p.id);
        set({ panes: get().panes.map((p) => ({ ...p, load: { kind: 'none' } })) });
      },
    };
  });
  return store;
}

/** Rows of the blind-vote tally from the recorded votes. */
export function tallyRows(votes: readonly VoteRecord[]): TallyRow[] {
  return tallyOf(votes);
}
