/**
 * @file The compare view's store on fake engines: the same conversation to every pane in parallel (each with
 * its own history), per-pane streaming text, Stop all keeping partial answers, a failing pane not stopping the
 * others (a dropped stream keeps its partial text), loads before send with progress, shared sampling with a
 * seed and per-pane overrides, pane limits and unloading on close, blind mode (shuffled labels, vote once per
 * turn, names revealed, tally persisted), the memory check, endpoint settings with the key kept apart, and the
 * JSON/Markdown exports.
 */
import { describe, expect, it } from 'vitest';
import { createCompareStore, paneMessages, type CompareDeps, type CompareStore } from '../../app/features/compare/compareStore.ts';
import { comparisonJson, comparisonMarkdown, comparisonFileName } from '../../app/features/compare/exportCompare.ts';
import { memoryTallyRepo, parseVotes, tallyOf, idbTallyRepo } from '../../app/features/compare/tally.ts';
import { fitAlongside } from '../../app/features/compare/memory.ts';
import { statsLine } from '../../app/features/compare/statsLine.ts';
import { API_KEYS_KEY, ENDPOINTS_KEY, isInsecureRemote, memoryStorage } from '../../app/features/compare/endpointSettings.ts';
import { StreamDroppedError } from '../../app/engines/errors.ts';
import { opaqueModelInfo, type ChatEngine, type EngineKind, type EngineProvider, type ModelOption } from '../../app/engines/types.ts';
import { DEFAULT_SAMPLING, type GenerateRequest, type GenerationResult, type LoadProgress, type TokenDelta } from '../../workers/protocol.ts';
import type { GpuInfo } from '../../kernels/lib/gpuInfo.ts';

interface Script {
  readonly pieces: readonly string[];
  /** Fail after the pieces with this error. */
  readonly fail?: Error;
  /** Wait for this before finishing (lets a test stop mid-answer). */
  readonly hold?: Promise<void>;
  readonly loadFail?: Error;
  readonly gpuBytes?: number;
}

class FakeEngine implements ChatEngine {
  readonly requests: GenerateRequest[] = [];
  disposed = false;
  loaded = false;
  constructor(
    readonly kind: EngineKind,
    readonly model: ModelOption,
    private readonly script: Script,
  ) {}

  async load(onProgress?: (p: LoadProgress, text?: string) => void) {
    onProgress?.({ phase: 'download', loaded: 5, total: 10 }, 'half');
    await Promise.resolve();
    if (this.script.loadFail) throw this.script.loadFail;
    this.loaded = true;
    return opaqueModelInfo(this.model.name, 'fake', this.script.gpuBytes ?? 1000);
  }

  async generate(request: GenerateRequest, onToken?: (d: TokenDelta) => void, signal?: AbortSignal): Promise<GenerationResult> {
    this.requests.push(request);
    let text = '';
    for (const p of this.script.pieces) {
      await Promise.resolve();
      if (signal?.aborted) break;
      text += p;
      onToken?.({ text: p, tokenIds: [] });
    }
    if (this.script.hold && !signal?.aborted) {
      await Promise.race([this.script.hold, new Promise<void>((r) => signal?.addEventListener('abort', () => r(), { once: true }))]);
    }
    if (this.script.fail && !signal?.aborted) throw this.script.fail;
    return {
      text,
      tokenIds: [],
      stats: {
        promptTokens: 3,
        generatedTokens: this.script.pieces.length,
        timeToFirstTokenMs: 5,
        prefillTokensPerSecond: 100,
        decodeTokensPerSecond: 20,
        totalMs: 9,
        finishReason: signal?.aborted ? 'abort' : 'eog',
        expertUsage: [],
        truncatedTokens: 0,
      },
    };
  }

  async unload() {}
  dispose() {
    this.disposed = true;
  }
}

function fakeProvider(kind: EngineKind, models: Record<string, Script & { estimate?: number }>): EngineProvider & { engines: FakeEngine[] } {
  const engines: FakeEngine[] = [];
  return {
    kind,
    engines,
    listModels: async () =>
      Object.entries(models).map(([ref, s]): ModelOption => ({ id: `${kind}:${ref}`, kind, ref, name: `${ref} name`, gpuBytesEstimate: s.estimate })),
    create(model) {
      const e = new FakeEngine(kind, model, models[model.ref]);
      engines.push(e);
      return e;
    },
  };
}

const GPU: GpuInfo = {
  vendor: 'google',
  architecture: 'swiftshader',
  device: '',
  description: '',
  isFallbackAdapter: true,
  subgroupMinSize: 4,
  subgroupMaxSize: 4,
  features: { f16: false, subgroups: false, timestampQuery: false },
  limits: {
    maxStorageBufferBindingSize: 2 ** 27,
    maxBufferSize: 2 ** 28,
    maxComputeWorkgroupStorageSize: 16384,
    maxStorageBuffersPerShaderStage: 8,
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupSizeX: 256,
    maxComputeWorkgroupsPerDimension: 65535,
  },
};

function setup(
  brix: Record<string, Script & { estimate?: number }>,
  webllm: Record<string, Script & { estimate?: number }> = {},
  over: Partial<CompareDeps> = {},
) {
  const b = fakeProvider('brix', brix);
  const w = fakeProvider('webllm', webllm);
  const tally = memoryTallyRepo();
  const storage = memoryStorage();
  let id = 0;
  let t = 0;
  // A fixed random sequence so blind shuffles are deterministic.
  const rnd = [0.1, 0.9, 0.3, 0.7];
  let r = 0;
  const store = createCompareStore({
    providers: [b, w],
    baseSampling: () => ({ ...DEFAULT_SAMPLING, seed: 123, maxTokens: 8 }),
    tally,
    storage,
    fetch: async () => new Response('{}'),
    probeGpu: async () => ({ kind: 'ok', info: GPU }),
    deviceMemoryGb: () => 8,
    now: () => (t += 1),
    newId: () => `id${++id}`,
    random: () => rnd[r++ % rnd.length],
    ...over,
  });
  return { store, b, w, tally, storage };
}

async function ready(store: CompareStore, models: readonly string[]): Promise<void> {
  await store.getState().refreshOptions();
  store.getState().panes.forEach((p, i) => {
    if (models[i] !== undefined) store.getState().pickModel(p.id, models[i]);
  });
}

describe('compare store', () => {
  it('sends one prompt to every pane in parallel, each answer in its own pane, each pane with its own history', async () => {
    const { store, b, w } = setup({ m1: { pieces: ['Hel', 'lo'] } }, { m2: { pieces: ['Bon', 'jour'] } });
    await ready(store, ['brix:m1', 'webllm:m2']);
    const [p1, p2] = store.getState().panes;
    const live: string[] = [];
    const unsub = store.subscribe((s) => {
      const t = s.live[p1.id];
      if (t !== undefined && live.at(-1) !== t) live.push(t);
    });
    await store.getState().send('  Hi  ');
    unsub();
    expect(live).toEqual(['Hel', 'Hello']);
    const t1 = store.getState().turns[0];
    expect(t1.prompt).toBe('Hi');
    expect(t1.answers[p1.id]).toMatchObject({ text: 'Hello', status: 'done', modelName: 'm1 name', engine: 'brix' });
    expect(t1.answers[p2.id]).toMatchObject({ text: 'Bonjour', status: 'done', engine: 'webllm' });
    expect(t1.answers[p1.id].stats?.decodeTokensPerSecond).toBe(20);
    expect(store.getState().running).toBe(false);
    expect(store.getState().panes.map((p) => p.load.kind)).toEqual(['ready', 'ready']);

    await store.getState().send('Again');
    expect(b.engines).toHaveLength(1);
    expect(w.engines).toHaveLength(1);
    expect(b.engines[0].requests[1].messages).toEqual([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' },
      { role: 'user', content: 'Again' },
    ]);
    expect(w.engines[0].requests[1].messages[1]).toEqual({ role: 'assistant', content: 'Bonjour' });
  });

  it('uses the shared sampling with the shared seed, and per-pane overrides', async () => {
    const { store, b, w } = setup({ m1: { pieces: ['a'] } }, { m2: { pieces: ['b'] } });
    await ready(store, ['brix:m1', 'webllm:m2']);
    const [p1, p2] = store.getState().panes;
    store.getState().setSeed(77);
    store.getState().setOverride(p2.id, { temperature: 0, maxTokens: 4 });
    await store.getState().send('x');
    expect(b.engines[0].requests[0].sampling).toEqual({ ...DEFAULT_SAMPLING, seed: 77, maxTokens: 8 });
    expect(w.engines[0].requests[0].sampling).toEqual({ ...DEFAULT_SAMPLING, seed: 77, maxTokens: 4, temperature: 0 });
    expect(store.getState().turns[0].answers[p1.id].sampling.seed).toBe(77);
    store.getState().setSeed(-1);
    expect(store.getState().seed).toBe(77);
  });

  it('Stop all stops every pane and keeps what each had', async () => {
    let release = (): void => undefined;
    const hold = new Promise<void>((r) => (release = r));
    const { store } = setup({ m1: { pieces: ['par', 'tial'], hold } }, { m2: { pieces: ['x'], hold } });
    await ready(store, ['brix:m1', 'webllm:m2']);
    const [p1, p2] = store.getState().panes;
    const sent = store.getState().send('go');
    await expect.poll(() => store.getState().live[p1.id]).toBe('partial');
    await expect.poll(() => store.getState().live[p2.id]).toBe('x');
    store.getState().stopAll();
    await sent;
    release();
    const t = store.getState().turns[0];
    expect(t.answers[p1.id]).toMatchObject({ text: 'partial', status: 'stopped' });
    expect(t.answers[p2.id]).toMatchObject({ text: 'x', status: 'stopped' });
    expect(store.getState().running).toBe(false);
  });

  it('a failing pane shows its error (a dropped stream keeps its partial text) while the other finishes', async () => {
    const { store } = setup({ ok: { pieces: ['fine'] } }, { bad: { pieces: ['half'], fail: new StreamDroppedError('dropped', 'half') } });
    await ready(store, ['brix:ok', 'webllm:bad']);
    const [p1, p2] = store.getState().panes;
    await store.getState().send('go');
    const t = store.getState().turns[0];
    expect(t.answers[p1.id]).toMatchObject({ text: 'fine', status: 'done' });
    expect(t.answers[p2.id]).toMatchObject({ text: 'half', status: 'error', error: { name: 'StreamDroppedError', message: 'dropped' } });
  });

  it('a load failure is the pane state and the answer error; a fatal error drops the engine', async () => {
    const died = Object.assign(new Error('worker gone'), { name: 'WorkerDiedError' });
    const { store, w } = setup({ nope: { pieces: [], loadFail: new Error('no adapter') } }, { crash: { pieces: ['a'], fail: died } });
    await ready(store, ['brix:nope', 'webllm:crash']);
    const [p1, p2] = store.getState().panes;
    await store.getState().send('go');
    expect(store.getState().panes[0].load).toEqual({ kind: 'error', error: { name: 'Error', message: 'no adapter' } });
    expect(store.getState().turns[0].answers[p1.id]).toMatchObject({ status: 'error', error: { message: 'no adapter' } });
    expect(store.getState().panes[1].load).toMatchObject({ kind: 'error', error: { name: 'WorkerDiedError' } });
    expect(w.engines[0].disposed).toBe(true);
    expect(store.getState().turns[0].answers[p2.id].status).toBe('error');
  });

  it('loadPane reports progress and readiness; picking another model or closing a pane disposes the engine', async () => {
    const { store, b } = setup({ m1: { pieces: [] }, m2: { pieces: [] } });
    await ready(store, ['brix:m1', 'brix:m2']);
    const [p1] = store.getState().panes;
    const phases: string[] = [];
    const unsub = store.subscribe((s) => {
      const l = s.panes[0].load;
      if (l.kind === 'loading' && l.progress) phases.push(`${l.progress.loaded}/${l.progress.total} ${l.text ?? ''}`);
    });
    await store.getState().loadPane(p1.id);
    unsub();
    expect(phases).toEqual(['5/10 half']);
    expect(store.getState().panes[0].load).toMatchObject({ kind: 'ready', info: { name: 'm1 name', gpuBytes: 1000 } });
    store.getState().pickModel(p1.id, 'brix:m2');
    expect(b.engines[0].disposed).toBe(true);
    expect(store.getState().panes[0].load.kind).toBe('none');
    await store.getState().loadPane(p1.id);
    store.getState().addPane();
    const third = store.getState().panes[2];
    store.getState().closePane(p1.id);
    expect(b.engines[1].disposed).toBe(true);
    expect(store.getState().panes.map((p) => p.id)).not.toContain(p1.id);
    expect(store.getState().order).not.toContain(p1.id);
    // Never fewer than two panes, never more than four.
    store.getState().closePane(third.id);
    expect(store.getState().panes).toHaveLength(2);
    store.getState().addPane();
    store.getState().addPane();
    store.getState().addPane();
    expect(store.getState().panes).toHaveLength(4);
    // Teardown releases every engine.
    const last = store.getState().panes[0];
    store.getState().pickModel(last.id, 'brix:m1');
    await store.getState().loadPane(last.id);
    store.getState().disposeAll();
    expect(b.engines.at(-1)?.disposed).toBe(true);
    expect(store.getState().panes.every((p) => p.load.kind === 'none')).toBe(true);
  });

  it('blind mode: shuffled labels, one vote per turn, names revealed, the tally persisted', async () => {
    const { store, tally } = setup({ m1: { pieces: ['one'] } }, { m2: { pieces: ['two'] } });
    await ready(store, ['brix:m1', 'webllm:m2']);
    const [p1, p2] = store.getState().panes;
    store.getState().setBlind(true);
    expect(store.getState().revealed).toBe(false);
    // random 0.1 with two panes: Fisher-Yates swaps, so pane 2 is shown first.
    expect(store.getState().order).toEqual([p2.id, p1.id]);
    await store.getState().send('q');
    const t = store.getState().turns[0];
    expect(t.labels).toEqual({ [p2.id]: 'A', [p1.id]: 'B' });
    await store.getState().vote(t.id, p1.id);
    expect(store.getState().revealed).toBe(true);
    expect(store.getState().turns[0].vote?.winner).toBe(p1.id);
    expect(tally.votes).toEqual([{ id: t.id, at: expect.any(Number), models: ['m2 name', 'm1 name'], winner: 'm1 name' }]);
    // A second vote on the same turn is ignored.
    await store.getState().vote(t.id, p2.id);
    expect(tally.votes).toHaveLength(1);
    await store.getState().send('q2');
    await store.getState().vote(store.getState().turns[1].id, 'tie');
    expect(tallyOf(store.getState().votes)).toEqual([
      { model: 'm1 name', wins: 1, losses: 0, ties: 1, votes: 2 },
      { model: 'm2 name', wins: 0, losses: 1, ties: 1, votes: 2 },
    ]);
    store.getState().newComparison();
    expect(store.getState().turns).toEqual([]);
    expect(store.getState().revealed).toBe(false);
    await store.getState().clearTally();
    expect(tally.votes).toEqual([]);
  });

  it('does not vote on a turn sent outside blind mode', async () => {
    const { store, tally } = setup({ m1: { pieces: ['one'] } }, { m2: { pieces: ['two'] } });
    await ready(store, ['brix:m1', 'webllm:m2']);
    await store.getState().send('q');
    await store.getState().vote(store.getState().turns[0].id, 'tie');
    expect(store.getState().turns[0].vote).toBeUndefined();
    expect(tally.votes).toEqual([]);
  });

  it('checks memory next to the loaded panes with their reported gpuBytes', async () => {
    const { store } = setup({ small: { pieces: [], gpuBytes: 1.5e9, estimate: 1.5e9 }, big: { pieces: [], estimate: 2e9 } });
    await ready(store, ['brix:small']);
    await store.getState().probeGpu();
    const [p1, p2] = store.getState().panes;
    await store.getState().loadPane(p1.id);
    const fit = store.getState().fitFor(p2.id, 'brix:big');
    expect(fit?.verdict).toBe('tight');
    expect(fit?.loadedBytes).toBe(1.5e9);
    expect(fit?.text).toMatch(/next to 1\.50 GB already loaded \(small name\)/);
    expect(store.getState().fitFor(p1.id, 'brix:small')?.verdict).toBe('fits');
  });

  it('keeps endpoint settings in storage with the API key apart, and lists each endpoint as a model', async () => {
    const { store, storage } = setup({ m1: { pieces: [] } });
    const id = store.getState().addEndpoint({ name: 'vLLM', baseUrl: 'http://gpu:8000/v1', model: 'databricks/dbrx-instruct' });
    store.getState().setEndpointKey(id, '  sk-secret  ');
    await store.getState().refreshOptions();
    expect(store.getState().options.map((o) => o.name)).toContain('vLLM (databricks/dbrx-instruct)');
    expect(store.getState().hasEndpointKey(id)).toBe(true);
    expect(storage.map.get(ENDPOINTS_KEY)).not.toContain('sk-secret');
    expect(JSON.parse(storage.map.get(API_KEYS_KEY) ?? '{}')).toMatchObject({ [id]: { key: 'sk-secret' } });
    store.getState().updateEndpoint(id, { model: 'dbrx' });
    expect(store.getState().endpoints[0].model).toBe('dbrx');
    store.getState().removeEndpoint(id);
    expect(store.getState().endpoints).toEqual([]);
    expect(store.getState().hasEndpointKey(id)).toBe(false);
  });

  it('warns about plain http:// to hosts other than this machine', () => {
    for (const u of ['http://gpu.example:8000/v1', 'http://10.0.0.5:8080/v1', 'http://192.168.1.2/v1']) expect(isInsecureRemote(u), u).toBe(true);
    for (const u of ['https://gpu.example/v1', 'http://127.0.0.1:8080/v1', 'http://localhost:8080/v1', 'http://[::1]:8080/v1', 'http://app.localhost/v1', 'not a url']) {
      expect(isInsecureRemote(u), u).toBe(false);
    }
  });

  it('lists what it can when one engine family fails to list', async () => {
    const broken: EngineProvider = {
      kind: 'webllm',
      listModels: () => Promise.reject(new Error('chunk failed to load')),
      create: () => {
        throw new Error('unused');
      },
    };
    const { store } = setup({ m1: { pieces: [] } }, {}, { providers: [fakeProvider('brix', { m1: { pieces: [] } }), broken] });
    await store.getState().refreshOptions();
    expect(store.getState().options.map((o) => o.id)).toEqual(['brix:m1']);
    expect(store.getState().optionErrors).toEqual(['webllm models could not be listed: chunk failed to load']);
  });
});

describe('exports', () => {
  it('JSON and Markdown hold prompts, both answers, stats and the vote, and no API key', async () => {
    const { store } = setup({ m1: { pieces: ['Answer ', 'one'] } }, { m2: { pieces: ['Answer two'] } });
    await ready(store, ['brix:m1', 'webllm:m2']);
    store.getState().setBlind(true);
    const id = store.getState().addEndpoint({ name: 'E', model: 'x' });
    store.getState().setEndpointKey(id, 'sk-never-exported');
    await store.getState().send('Compare me');
    const t = store.getState().turns[0];
    await store.getState().vote(t.id, 'tie');
    const now = new Date('2025-01-02T03:04:05Z');
    const json = comparisonJson(store.getState(), now);
    const j = JSON.parse(json) as { format: string; turns: { prompt: string; answers: { text: string; label: string; model: string; stats: { decodeTokensPerSecond: number } }[]; vote: { winner: string } }[] };
    expect(j.format).toBe('brix-comparison');
    expect(j.turns[0].prompt).toBe('Compare me');
    expect(j.turns[0].answers.map((a) => [a.label, a.model, a.text])).toEqual([
      ['Model A', 'm2 name', 'Answer two'],
      ['Model B', 'm1 name', 'Answer one'],
    ]);
    expect(j.turns[0].answers[0].stats.decodeTokensPerSecond).toBe(20);
    expect(j.turns[0].vote.winner).toBe('tie');
    expect(json).not.toContain('sk-never-exported');
    const md = comparisonMarkdown(store.getState(), now);
    expect(md).toContain('**User:** Compare me');
    expect(md).toContain('Answer one');
    expect(md).toContain('Answer two');
    expect(md).toMatch(/### Pane 1 — Model A: m2 name \(WebLLM\)/);
    expect(md).toContain('decode 20.0 tok/s');
    expect(md).toContain('**Vote:** tie');
    expect(md).not.toContain('sk-never-exported');
    expect(comparisonFileName('md', now)).toBe('brix-comparison-2025-01-02-03-04-05.md');
  });
});

describe('helpers', () => {
  it('paneMessages: system prompt, earlier turns with this pane\'s non-empty answers, then the prompt', () => {
    const turns = [
      { id: 't1', prompt: 'a', createdAt: 0, labels: {}, answers: { p: { modelId: 'x', modelName: 'x', engine: 'brix' as const, text: 'A', status: 'done' as const, sampling: DEFAULT_SAMPLING } } },
      { id: 't2', prompt: 'b', createdAt: 0, labels: {}, answers: { p: { modelId: 'x', modelName: 'x', engine: 'brix' as const, text: '', status: 'error' as const, sampling: DEFAULT_SAMPLING } } },
    ];
    expect(paneMessages(turns, 'p', 'c', 'sys')).toEqual([
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'a' },
      { role: 'assistant', content: 'A' },
      { role: 'user', content: 'c' },
    ]);
  });

  it('parseVotes skips malformed records; fitAlongside says remote for endpoints and no for a missing adapter', () => {
    expect(
      parseVotes([
        { id: 'a', at: 1, models: ['x', 'y'], winner: 'x' },
        { id: 'b', at: 1, models: ['x'], winner: null },
        { id: 'c', at: 1, models: ['x', 'y'], winner: 'z' },
        'junk',
      ]),
    ).toEqual([{ id: 'a', at: 1, models: ['x', 'y'], winner: 'x' }]);
    const remote: ModelOption = { id: 'openai:e', kind: 'openai', ref: 'e', name: 'E', gpuBytesEstimate: 0 };
    expect(fitAlongside(remote, [], { kind: 'unknown' }, undefined).verdict).toBe('remote');
    const local: ModelOption = { id: 'brix:m', kind: 'brix', ref: 'm', name: 'M', gpuBytesEstimate: 1e8 };
    expect(fitAlongside(local, [], { kind: 'none', message: 'no adapter' }, 8).verdict).toBe('no');
    expect(fitAlongside(local, [{ name: 'Big', gpuBytes: 5e9 }], { kind: 'ok', info: GPU }, 8)).toMatchObject({ verdict: 'no' });
    expect(fitAlongside({ ...local, gpuBytesEstimate: undefined }, [], { kind: 'ok', info: GPU }, 8).verdict).toBe('unknown');
    // The adapter's limits from the worker's ping: f16, buffer size, binding size.
    const ok = { kind: 'ok' as const, info: GPU };
    expect(fitAlongside({ ...local, needs: { f16: true } }, [], ok, 8).text).toMatch(/shader-f16/);
    expect(fitAlongside({ ...local, needs: { bufferBytes: 2 ** 29 } }, [], ok, 8)).toMatchObject({ verdict: 'no', text: expect.stringMatching(/buffer limit/) });
    expect(fitAlongside({ ...local, needs: { bindingBytes: 2 ** 28 } }, [], ok, 8).text).toMatch(/storage bindings/);
    expect(fitAlongside({ ...local, needs: { bufferBytes: 2 ** 20, bindingBytes: 2 ** 20 } }, [], ok, 8).verdict).toBe('fits');
  });

  it('statsLine leaves out what an engine did not report and always shows decode tok/s', () => {
    const base = { promptTokens: 12, generatedTokens: 8, timeToFirstTokenMs: 312.4, prefillTokensPerSecond: 95.1, decodeTokensPerSecond: 21.44, totalMs: 700, finishReason: 'eog' as const, expertUsage: [], truncatedTokens: 0 };
    expect(statsLine(base)).toBe('312 ms to first token · prefill 95.1 tok/s · decode 21.4 tok/s · 12 prompt + 8 generated tokens');
    expect(statsLine({ ...base, promptTokens: NaN, prefillTokensPerSecond: NaN, timeToFirstTokenMs: NaN, decodeTokensPerSecond: NaN, finishReason: 'length' })).toBe(
      'decode — tok/s · 8 generated tokens · hit the token limit',
    );
  });

  it('idbTallyRepo is constructible without touching IndexedDB until used', () => {
    // Node has no indexedDB; creating the repo with an explicit store function must not call it.
    let calls = 0;
    const repo = idbTallyRepo(async () => {
      calls++;
      throw new Error('no idb');
    });
    expect(calls).toBe(0);
    return expect(repo.load()).rejects.toThrow('no idb');
  });
});
