/**
 * @file The shared model benchmark (workers/bench/bench.ts) without a GPU: median/spread, the roofline and the
 * active-weight count, the run loop on a scripted runner and clock (warm-up excluded, positions, context check,
 * abort), the report lines, and the worker's `bench` method through EngineClient ↔ FakeWorker ↔ the real handler
 * (benchRun and benchStep events, error names, malformed parameters).
 */
import { describe, expect, it } from 'vitest';
import {
  activeWeightBytes,
  benchPrompt,
  benchReportLines,
  benchResult,
  kvBytesPerPosition,
  measureBench,
  roofline,
  spread,
} from '../../workers/bench/bench.ts';
import { benchParamsProblem, type BenchMeasurement, type BenchParams, type BenchRun, type BenchStep } from '../../workers/measurement.ts';
import type { Runner, EvalOptions } from '../../workers/engine/runner.ts';
import type { ModelConfig } from '../../workers/gguf/arch.ts';
import type { GpuInfo } from '../../kernels/lib/gpuInfo.ts';
import { testGpuInfo } from '../helpers/gpuInfo.ts';
import type { Engine } from '../../workers/engine/types.ts';
import { AbortError, EngineStateError, ProtocolError } from '../../workers/errors.ts';
import type { GenerationResult, ModelInfo } from '../../workers/protocol.ts';
import { EngineClient } from '../../app/lib/engineClient.ts';
import { FakeWorker } from '../helpers/fakeWorker.ts';

const HP: ModelConfig = {
  arch: 'dbrx',
  nVocab: 1000,
  nEmbd: 64,
  nLayer: 3,
  nHead: 4,
  nHeadKv: 2,
  headDim: 16,
  nFf: 32,
  nFfShexp: 0,
  nExpert: 8,
  nExpertUsed: 2,
  nCtxTrain: 256,
  norm: 'layer',
  normEps: 1e-5,
  rope: { style: 'neox', nRot: 16, freqBase: 10000, freqScale: 1 },
  clampKqv: 8,
  qkNorm: 'none',
  normTopK: true,
  sharedExpertGated: false,
  embeddingScale: 1,
  attentionScale: 0.25,
  residualScale: 1,
  logitScale: 1,
  tiedOutput: false,
  fusedQkv: true,
  qkvBias: false,
  ffnNormName: 'attn_output_norm',
};

const GPU: GpuInfo = testGpuInfo({
  vendor: 'google',
  architecture: 'swiftshader',
  isFallbackAdapter: true,
  subgroupMinSize: 4,
  subgroupMaxSize: 4,
  features: { f16: false },
});

describe('spread', () => {
  it('median of odd and even counts, min and max, order-independent', () => {
    expect(spread([5, 1, 3])).toEqual({ median: 3, min: 1, max: 5 });
    expect(spread([4, 1, 3, 10])).toEqual({ median: 3.5, min: 1, max: 10 });
    expect(spread([7])).toEqual({ median: 7, min: 7, max: 7 });
    const none = spread([]);
    expect(Number.isNaN(none.median) && Number.isNaN(none.min) && Number.isNaN(none.max)).toBe(true);
  });
  it('does not reorder its input', () => {
    const xs = [3, 1, 2];
    spread(xs);
    expect(xs).toEqual([3, 1, 2]);
  });
});

describe('roofline', () => {
  it('bytes per token = active weights + KV at the mean position; roofline = bandwidth / bytes', () => {
    // 3 layers × 2 KV heads × 16 dims × f32, K and V: 768 bytes per position; half of it in f16.
    expect(kvBytesPerPosition(HP, 'f32')).toBe(768);
    expect(kvBytesPerPosition(HP, 'f16')).toBe(384);
    const r = roofline({ kvCache: 'f32', activeWeightBytes: 1e6, kvBytesPerPosition: 768, promptTokens: 100, genTokens: 50, readGBps: 2, decodeTokensPerSecond: 500 });
    expect(r.kvBytesPerToken).toBe(768 * 125);
    expect(r.bytesPerToken).toBe(1e6 + 96_000);
    expect(r.rooflineTokensPerSecond).toBeCloseTo(2e9 / 1_096_000, 9);
    expect(r.percentOfRoofline).toBeCloseTo((100 * 500 * 1_096_000) / 2e9, 9);
    expect(r.measuredReadGBps).toBe(2);
    expect(r.activeWeightBytesPerToken).toBe(1e6);
    expect(r.kvCache).toBe('f32');
  });

  it('active weights: dense tensors whole, experts k/E, one embedding row unless the output is tied', () => {
    const t = (name: string, dims: number[], nbytes: number) => ({ name, dims, nbytes });
    const layers = [t('blk.0.attn_qkv.weight', [64, 128], 8000), t('blk.0.ffn_gate_exps.weight', [64, 32, 8], 16000), t('output_norm.weight', [64], 256)];
    const untied = { tensors: [t('token_embd.weight', [64, 1000], 100_000), t('output.weight', [64, 1000], 50_000), ...layers] };
    expect(activeWeightBytes(untied, HP)).toBe(100 + 50_000 + 8000 + 16000 * (2 / 8) + 256);
    const tied = { tensors: [t('token_embd.weight', [64, 1000], 100_000), ...layers] };
    expect(activeWeightBytes(tied, HP)).toBe(100_000 + 8000 + 4000 + 256);
    // A dense model reads its (non-expert) FFN whole.
    expect(activeWeightBytes(tied, { nExpert: 0, nExpertUsed: 0 })).toBe(100_000 + 8000 + 16000 + 256);
  });
});

describe('parameters and prompt', () => {
  it('positive integers only, with the offending field named', () => {
    expect(benchParamsProblem({ promptTokens: 8, genTokens: 4, runs: 1 })).toBeUndefined();
    expect(benchParamsProblem({ promptTokens: 0, genTokens: 4, runs: 1 })).toMatch(/promptTokens/);
    expect(benchParamsProblem({ promptTokens: 8, genTokens: 1.5, runs: 1 })).toMatch(/genTokens/);
    expect(benchParamsProblem({ promptTokens: 8, genTokens: 4 })).toMatch(/runs/);
    expect(benchParamsProblem(null)).toMatch(/object/);
  });
  it('the prompt is deterministic ordinary ids inside the vocabulary, clear of the first 100', () => {
    const a = benchPrompt(300, 1000);
    expect(a).toEqual(benchPrompt(300, 1000));
    expect(a).toHaveLength(300);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(100);
    expect(Math.max(...a)).toBeLessThan(1000);
    expect(new Set(a).size).toBeGreaterThan(100);
  });
});

/** Evaluating costs `msPerToken` of fake clock per token; sampled ids count up. */
class ScriptedRunner implements Runner {
  readonly config = HP;
  readonly gpuBytes = 12345;
  kvCache: 'f16' | 'f32' | undefined = undefined;
  readonly calls: { n: number; pos: number; step: number; temperature: number }[] = [];
  constructor(
    readonly nCtx: number,
    private readonly clock: { t: number },
    private readonly msPerToken: (call: number, n: number) => number,
  ) {}
  async evalAndSample(tokens: readonly number[], pos: number, { sampling: s, step }: EvalOptions): Promise<number> {
    this.clock.t += this.msPerToken(this.calls.length, tokens.length);
    this.calls.push({ n: tokens.length, pos, step, temperature: s.temperature });
    return 500 + step;
  }
  async evalLogits(): Promise<Float32Array[]> {
    return [];
  }
  async expertUsage(): Promise<number[][]> {
    return [];
  }
  resetExpertUsage(): void {}
  destroy(): void {}
}

describe('measureBench', () => {
  const P: BenchParams = { promptTokens: 10, genTokens: 4, runs: 3 };
  // Calls per run: 1 prefill + 4 decode steps; run r (0 = warm-up) takes (r + 1) ms per prompt token and 10 ms
  // per decode step, except the warm-up, which is slow everywhere.
  const cost = (call: number, n: number): number => {
    const run = Math.floor(call / 5);
    if (run === 0) return 1000;
    return n > 1 ? n * (run + 1) : 10;
  };

  it('warm-up then the runs: prompt at 0, decode steps after it, greedy; median/spread over the runs only', async () => {
    const clock = { t: 0 };
    const runner = new ScriptedRunner(64, clock, cost);
    const seen: BenchRun[] = [];
    const m = await measureBench({ runner, gpu: GPU, activeWeightBytes: 1e6 }, P, { now: () => clock.t, readGBps: async () => 3, onRun: (r) => seen.push(r) });
    expect(runner.calls).toHaveLength(4 * 5);
    for (let run = 0; run < 4; run++) {
      const c = runner.calls.slice(run * 5, run * 5 + 5);
      expect(c.map((x) => [x.n, x.pos, x.step])).toEqual([
        [10, 0, 0],
        [1, 10, 1],
        [1, 11, 2],
        [1, 12, 3],
        [1, 13, 4],
      ]);
      expect(c.every((x) => x.temperature === 0)).toBe(true);
    }
    expect(seen.map((r) => r.run)).toEqual([0, 1, 2, 3]);
    expect(seen[0].prefillTokensPerSecond).toBeCloseTo(10 / 1, 9); // the slow warm-up, reported but not counted
    // Runs 1..3 prefill 10 tokens in 20, 30, 40 ms: 500, 333.3, 250 tok/s.
    expect(m.prefillTokensPerSecond.median).toBeCloseTo(1000 / 3, 6);
    expect(m.prefillTokensPerSecond.min).toBeCloseTo(250, 6);
    expect(m.prefillTokensPerSecond.max).toBeCloseTo(500, 6);
    expect(m.timeToFirstTokenMs).toEqual({ median: 30, min: 20, max: 40 });
    expect(m.decodeTokensPerSecond).toEqual({ median: 100, min: 100, max: 100 });
    expect(m.decodeMsPerToken.median).toBe(10);
    expect(m.gpuMemoryBytes).toBe(12345);
    expect(m.architecture).toBe('dbrx');
    expect(m.adapter).toMatch(/^google swiftshader \(fallback\); features \[subgroups,timestampQuery\]/);
    expect(m.roofline.measuredReadGBps).toBe(3);
    expect(m.roofline.kvBytesPerToken).toBe(768 * 12);
    expect(m.roofline.percentOfRoofline).toBeCloseTo((100 * 100 * (1e6 + 768 * 12)) / 3e9, 9);
    expect([m.promptTokens, m.genTokens, m.runs]).toEqual([10, 4, 3]);
    expect(m.roofline.kvCache).toBe('f32');
  });

  it("steps: each run's prefill start, decode start and every decoded token, as they happen; then the bandwidth probe", async () => {
    const clock = { t: 0 };
    const runner = new ScriptedRunner(64, clock, cost);
    const steps: { s: BenchStep; t: number }[] = [];
    let probedAt = -1;
    await measureBench({ runner, gpu: GPU, activeWeightBytes: 1 }, { ...P, runs: 1 }, {
      now: () => clock.t,
      readGBps: async () => ((probedAt = clock.t), 3),
      onStep: (s) => steps.push({ s, t: clock.t }),
    });
    const run = (r: number) => [
      { run: r, runs: 1, phase: 'prefill', done: 0, total: 10 },
      ...[0, 1, 2, 3, 4].map((done) => ({ run: r, runs: 1, phase: 'decode', done, total: 4 })),
    ];
    expect(steps.map((x) => x.s)).toEqual([...run(0), ...run(1), { run: 1, runs: 1, phase: 'bandwidth', done: 0, total: 0 }]);
    // Each step comes as its work ends: warm-up prefill 1000 ms, decode steps 1000 ms; run 1 prefill 20 ms, decode 10 ms.
    expect(steps.map((x) => x.t)).toEqual([0, 1000, 2000, 3000, 4000, 5000, 5000, 5020, 5030, 5040, 5050, 5060, 5060]);
    expect(probedAt).toBe(5060);
  });

  it("the KV bytes follow the runner's cache type", async () => {
    const clock = { t: 0 };
    const runner = new ScriptedRunner(64, clock, cost);
    runner.kvCache = 'f16';
    const m = await measureBench({ runner, gpu: GPU, activeWeightBytes: 1e6 }, { ...P, runs: 1 }, { now: () => clock.t, readGBps: async () => 3 });
    expect(m.roofline.kvCache).toBe('f16');
    expect(m.roofline.kvBytesPerToken).toBe(384 * 12);
  });

  it('refuses a run that does not fit the context, before touching the runner', async () => {
    const clock = { t: 0 };
    const runner = new ScriptedRunner(13, clock, cost);
    const err = await measureBench({ runner, gpu: GPU, activeWeightBytes: 1 }, P, { now: () => clock.t, readGBps: async () => 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RangeError);
    expect(String(err)).toMatch(/needs 14 positions .* holds 13/);
    expect(runner.calls).toHaveLength(0);
  });

  it('an aborted signal stops between steps with its reason', async () => {
    const clock = { t: 0 };
    const ac = new AbortController();
    const runner = new ScriptedRunner(64, clock, (call) => {
      if (call === 7) ac.abort(new AbortError('stop'));
      return 1;
    });
    const err = await measureBench({ runner, gpu: GPU, activeWeightBytes: 1 }, P, { now: () => clock.t, readGBps: async () => 1, signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(runner.calls).toHaveLength(8);
  });
});

const MEASUREMENT: BenchMeasurement = {
  architecture: 'dbrx',
  adapter: 'google swiftshader (fallback)',
  gpu: GPU,
  promptTokens: 64,
  genTokens: 16,
  runs: 1,
  prefillTokensPerSecond: { median: 2.5, min: 2.5, max: 2.5 },
  decodeTokensPerSecond: { median: 1.25, min: 1.25, max: 1.25 },
  decodeMsPerToken: { median: 800, min: 800, max: 800 },
  timeToFirstTokenMs: { median: 25600, min: 25600, max: 25600 },
  gpuMemoryBytes: 36 * 2 ** 20,
  roofline: { kvCache: 'f32', activeWeightBytesPerToken: 2 ** 20, kvBytesPerToken: 2 ** 19, bytesPerToken: 1.5 * 2 ** 20, measuredReadGBps: 0.8, rooflineTokensPerSecond: 500, percentOfRoofline: 0.25 },
};

describe('report', () => {
  it("the CLI's JSON fields in its order, and the report lines", () => {
    const r = benchResult({ date: 'd', model: 'm.gguf', loadSeconds: 1.5, peakJsHeapBytes: null }, MEASUREMENT);
    expect(Object.keys(r)).toEqual([
      'date', 'model', 'architecture', 'adapter', 'gpu', 'promptTokens', 'genTokens', 'runs', 'loadSeconds', 'prefillTokensPerSecond',
      'decodeTokensPerSecond', 'decodeMsPerToken', 'timeToFirstTokenMs', 'gpuMemoryBytes', 'peakJsHeapBytes', 'roofline',
    ]);
    expect(benchReportLines(r)).toEqual([
      'adapter      google swiftshader (fallback)',
      'model        m.gguf (dbrx)',
      'load         1.50 s, GPU memory 36 MiB, peak JS heap n/a',
      'prefill      2.5 tok/s (2.5-2.5) over 64 tokens, TTFT 25600.0 ms',
      'decode       1.3 tok/s (1.3-1.3), 800.000 ms/token over 16 tokens, median of 1 run',
      'roofline     1.50 MiB/token (weights 1.00 + f32 KV 0.50) at 0.8 GB/s → 500.0 tok/s; decode at 0.3% of it',
    ]);
  });
});

describe("the worker's bench method", () => {
  const INFO: ModelInfo = { name: 't', architecture: 'dbrx', nParams: 1, nLayer: 1, nExpert: 0, nExpertUsed: 0, contextSize: 64, vocabSize: 10, fileBytes: 1, gpuBytes: 1 };
  class BenchEngine implements Engine {
    params: BenchParams | undefined;
    fail: Error | undefined;
    waitForAbort = false;
    load = async (): Promise<ModelInfo> => INFO;
    generate = async (): Promise<GenerationResult> => {
      throw new Error('not here');
    };
    unload = async (): Promise<void> => undefined;
    async bench(p: BenchParams, onRun?: (r: BenchRun) => void, signal?: AbortSignal, onStep?: (s: BenchStep) => void): Promise<BenchMeasurement> {
      this.params = p;
      if (this.fail) throw this.fail;
      onStep?.({ run: 0, runs: 1, phase: 'decode', done: 1, total: 2 });
      onRun?.({ run: 0, runs: 1, prefillTokensPerSecond: 1, decodeTokensPerSecond: 2, timeToFirstTokenMs: 3 });
      if (this.waitForAbort) {
        await new Promise<void>((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }));
      }
      onRun?.({ run: 1, runs: 1, prefillTokensPerSecond: 4, decodeTokensPerSecond: 5, timeToFirstTokenMs: 6 });
      return MEASUREMENT;
    }
  }
  const setup = (engine: Engine) => {
    const worker = new FakeWorker({ engine: () => engine });
    return { client: new EngineClient(worker), worker };
  };

  it('round trip: the measurement as plain data, each run as a benchRun event before the result', async () => {
    const engine = new BenchEngine();
    const { client, worker } = setup(engine);
    const runs: BenchRun[] = [];
    const steps: BenchStep[] = [];
    const m = await client.bench({ promptTokens: 8, genTokens: 2, runs: 1 }, (r) => runs.push(r), undefined, (s) => steps.push(s));
    expect(m).toEqual(MEASUREMENT);
    expect(engine.params).toEqual({ promptTokens: 8, genTokens: 2, runs: 1 });
    expect(runs.map((r) => r.run)).toEqual([0, 1]);
    expect(steps).toEqual([{ run: 0, runs: 1, phase: 'decode', done: 1, total: 2 }]);
    expect(worker.received.map((e) => e.type)).toEqual(['benchStep', 'benchRun', 'benchRun', 'result']);
  });

  it('errors keep their names; an engine without bench says so; abort ends it with AbortError', async () => {
    const engine = new BenchEngine();
    const { client } = setup(engine);
    engine.fail = new RangeError('the benchmark needs 99 positions');
    const e1 = await client.bench({ promptTokens: 8, genTokens: 2, runs: 1 }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(Error);
    expect(e1).toMatchObject({ name: 'RangeError', message: expect.stringMatching(/99 positions/) });

    engine.fail = undefined;
    engine.waitForAbort = true;
    const ac = new AbortController();
    const p = client.bench({ promptTokens: 8, genTokens: 2, runs: 1 }, () => ac.abort(), ac.signal);
    await expect(p).rejects.toBeInstanceOf(AbortError);

    const plain: Engine = { load: async () => INFO, generate: engine.generate, unload: async () => undefined };
    await expect(setup(plain).client.bench({ promptTokens: 1, genTokens: 1, runs: 1 })).rejects.toBeInstanceOf(EngineStateError);
  });

  it('malformed parameters are a ProtocolError naming the field, and never reach the engine', async () => {
    const engine = new BenchEngine();
    const { client } = setup(engine);
    await expect(client.bench({ promptTokens: 8, genTokens: 0, runs: 1 })).rejects.toSatisfy(
      (e: unknown) => e instanceof ProtocolError && /genTokens/.test(e.message),
    );
    expect(engine.params).toBeUndefined();
  });
});
