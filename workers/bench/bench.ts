/**
 * @file The model benchmark, one code path for every host: the CLI `bench` (Node), the engine worker's `bench`
 * method (Settings → Benchmark, `npm run bench:browser`). A deterministic prompt of ordinary token ids, one
 * warm-up run then `runs` measured runs of prefill + `genTokens` greedy decode steps straight on the Runner, the
 * median and spread over the runs, and the bandwidth roofline: bytes read per decoded token (active weights from
 * the GGUF's tensor types and the architecture's k-of-E experts, plus the KV cache at the run's context) against
 * a read bandwidth measured in the same run by a streaming kernel (timing.ts) on the model's own device.
 *
 * What stays with the host: the load time (measured around `load`), the JS heap (Node's process heap; the
 * browser's page + worker heaps read over CDP) and the peer comparison (CLI only). No Node imports here.
 */
import type { GpuInfo } from '../../kernels/lib/gpuInfo.ts';
import { benchParamsProblem, type BenchMeasurement, type BenchParams, type BenchRun, type BenchStep, type Roofline, type Spread } from '../measurement.ts';
import { describeGpu } from '../gpu/device.ts';
import type { ModelConfig } from '../gguf/arch.ts';
import { GREEDY, type Runner } from '../engine/runner.ts';

/** The full report: the CLI's `--json` object (bench:browser adds `browser`); field order in benchResult. */
export interface BenchResult extends BenchMeasurement {
  readonly date: string;
  readonly model: string;
  readonly loadSeconds: number;
  /** Peak JS heap over load and runs; null where the host cannot read it. */
  readonly peakJsHeapBytes: number | null;
}

/** Joins the host's figures with the engine's measurement, in the field order of the CLI's JSON. */
export function benchResult(host: { date: string; model: string; loadSeconds: number; peakJsHeapBytes: number | null }, m: BenchMeasurement): BenchResult {
  return {
    date: host.date,
    model: host.model,
    architecture: m.architecture,
    adapter: m.adapter,
    gpu: m.gpu,
    promptTokens: m.promptTokens,
    genTokens: m.genTokens,
    runs: m.runs,
    loadSeconds: host.loadSeconds,
    prefillTokensPerSecond: m.prefillTokensPerSecond,
    decodeTokensPerSecond: m.decodeTokensPerSecond,
    decodeMsPerToken: m.decodeMsPerToken,
    timeToFirstTokenMs: m.timeToFirstTokenMs,
    gpuMemoryBytes: m.gpuMemoryBytes,
    peakJsHeapBytes: host.peakJsHeapBytes,
    roofline: m.roofline,
  };
}

/** Median, min and max; NaN for no values. */
export function spread(xs: readonly number[]): Spread {
  if (xs.length === 0) return { median: NaN, min: NaN, max: NaN };
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1] };
}

/** A deterministic prompt of ordinary token ids (no specials: the low ranks of any BPE vocabulary). */
export function benchPrompt(n: number, nVocab: number): number[] {
  const span = Math.max(1, Math.min(nVocab - 200, 20000));
  return Array.from({ length: n }, (_, i) => 100 + ((i * 7919) % span));
}

/** The part of a GGUF model the weight count needs. */
export interface WeightTable {
  readonly tensors: readonly { readonly name: string; readonly dims: readonly number[]; readonly nbytes: number }[];
}

/** Bytes of weights read to decode one token: every tensor once, expert tensors k/E of it, one embedding row. */
export function activeWeightBytes(model: WeightTable, hp: Pick<ModelConfig, 'nExpert' | 'nExpertUsed'>): number {
  let total = 0;
  const tiedOutput = !model.tensors.some((t) => t.name === 'output.weight');
  for (const t of model.tensors) {
    if (t.name === 'token_embd.weight') {
      // (n_embd, n_vocab): a tied table is also the output matrix, read whole.
      const rows = t.dims[1];
      total += tiedOutput ? t.nbytes : t.nbytes / rows;
    } else if (/_exps\.weight$/.test(t.name) && hp.nExpert > 0) {
      total += (t.nbytes * hp.nExpertUsed) / hp.nExpert;
    } else total += t.nbytes;
  }
  return total;
}

/** K and V of every layer for one cached position. */
export function kvBytesPerPosition(hp: Pick<ModelConfig, 'nLayer' | 'nHeadKv' | 'headDim'>, kvCache: 'f16' | 'f32'): number {
  return 2 * hp.nLayer * hp.nHeadKv * hp.headDim * (kvCache === 'f16' ? 2 : 4);
}

/**
 * Decode's bandwidth bound: each decoded token reads the active weights and the KV cache at its position; the
 * mean position over the run is promptTokens + genTokens/2.
 */
export function roofline(o: {
  readonly kvCache: 'f16' | 'f32';
  readonly activeWeightBytes: number;
  readonly kvBytesPerPosition: number;
  readonly promptTokens: number;
  readonly genTokens: number;
  readonly readGBps: number;
  readonly decodeTokensPerSecond: number;
}): Roofline {
  const kvBytesPerToken = o.kvBytesPerPosition * (o.promptTokens + o.genTokens / 2);
  const bytesPerToken = o.activeWeightBytes + kvBytesPerToken;
  const rooflineTokensPerSecond = (o.readGBps * 1e9) / bytesPerToken;
  return {
    kvCache: o.kvCache,
    activeWeightBytesPerToken: o.activeWeightBytes,
    kvBytesPerToken,
    bytesPerToken,
    measuredReadGBps: o.readGBps,
    rooflineTokensPerSecond,
    percentOfRoofline: (100 * o.decodeTokensPerSecond) / rooflineTokensPerSecond,
  };
}

/** A loaded model as the benchmark sees it. */
export interface BenchTarget {
  readonly runner: Runner;
  readonly gpu: GpuInfo;
  /** activeWeightBytes() of the model's tensors. */
  readonly activeWeightBytes: number;
}

export interface MeasureOptions {
  readonly now: () => number;
  /** The device's read bandwidth in GB/s (timing.ts `measureReadBandwidth` on the model's device). */
  readonly readGBps: () => Promise<number>;
  readonly onRun?: (r: BenchRun) => void;
  /** Progress within the runs: each phase's start and each decoded token. */
  readonly onStep?: (s: BenchStep) => void;
  readonly signal?: AbortSignal;
}

/**
 * Runs the benchmark on a loaded model. It writes the KV cache from position 0: the caller must forget any
 * cached prefix. Positions used: promptTokens + genTokens, which must fit the runner's context.
 */
export async function measureBench(t: BenchTarget, p: BenchParams, o: MeasureOptions): Promise<BenchMeasurement> {
  const problem = benchParamsProblem(p);
  if (problem) throw new RangeError(problem);
  const { runner } = t;
  const hp = runner.config;
  if (p.promptTokens + p.genTokens > runner.nCtx) {
    throw new RangeError(
      `the benchmark needs ${p.promptTokens + p.genTokens} positions (prompt ${p.promptTokens} + ${p.genTokens} generated) but the KV cache holds ${runner.nCtx}: use fewer tokens or load the model with a larger context`,
    );
  }
  const prompt = benchPrompt(p.promptTokens, hp.nVocab);
  const prefill: number[] = [];
  const decode: number[] = [];
  const decodeMs: number[] = [];
  const ttft: number[] = [];
  // One warm-up run compiles and pages everything in, then the measured runs.
  for (let run = 0; run <= p.runs; run++) {
    o.signal?.throwIfAborted();
    o.onStep?.({ run, runs: p.runs, phase: 'prefill', done: 0, total: p.promptTokens });
    const tp = o.now();
    // `next`: the following step may be submitted before this one is read back, as in a chat.
    let tok = await runner.evalAndSample(prompt, 0, { sampling: GREEDY, step: 0, next: p.genTokens > 0 });
    const tf = o.now();
    o.onStep?.({ run, runs: p.runs, phase: 'decode', done: 0, total: p.genTokens });
    for (let i = 0; i < p.genTokens; i++) {
      o.signal?.throwIfAborted();
      tok = await runner.evalAndSample([tok], p.promptTokens + i, { sampling: GREEDY, step: i + 1, next: i + 1 < p.genTokens });
      o.onStep?.({ run, runs: p.runs, phase: 'decode', done: i + 1, total: p.genTokens });
    }
    const td = o.now();
    const r: BenchRun = {
      run,
      runs: p.runs,
      prefillTokensPerSecond: p.promptTokens / ((tf - tp) / 1000),
      decodeTokensPerSecond: p.genTokens / ((td - tf) / 1000),
      timeToFirstTokenMs: tf - tp,
    };
    o.onRun?.(r);
    if (run === 0) continue;
    prefill.push(r.prefillTokensPerSecond);
    ttft.push(r.timeToFirstTokenMs);
    decode.push(r.decodeTokensPerSecond);
    decodeMs.push((td - tf) / p.genTokens);
  }
  o.signal?.throwIfAborted();
  o.onStep?.({ run: p.runs, runs: p.runs, phase: 'bandwidth', done: 0, total: 0 });
  const readGBps = await o.readGBps();
  const dec = spread(decode);
  const kvCache = runner.kvCache ?? 'f32';
  return {
    architecture: hp.arch,
    adapter: describeGpu(t.gpu),
    gpu: t.gpu,
    promptTokens: p.promptTokens,
    genTokens: p.genTokens,
    runs: p.runs,
    prefillTokensPerSecond: spread(prefill),
    decodeTokensPerSecond: dec,
    decodeMsPerToken: spread(decodeMs),
    timeToFirstTokenMs: spread(ttft),
    gpuMemoryBytes: runner.gpuBytes,
    roofline: roofline({
      kvCache,
      activeWeightBytes: t.activeWeightBytes,
      kvBytesPerPosition: kvBytesPerPosition(hp, kvCache),
      promptTokens: p.promptTokens,
      genTokens: p.genTokens,
      readGBps,
      decodeTokensPerSecond: dec.median,
    }),
  };
}

const f = (x: number, d = 1): string => x.toFixed(d);
const mib = (n: number, d = 0): string => f(n / 2 ** 20, d);

/** The measurement's lines of the report (the Settings panel copies these too). */
export function measurementLines(r: BenchMeasurement): string[] {
  const pf = r.prefillTokensPerSecond;
  const dc = r.decodeTokensPerSecond;
  const rf = r.roofline;
  return [
    `prefill      ${f(pf.median)} tok/s (${f(pf.min)}-${f(pf.max)}) over ${r.promptTokens} tokens, TTFT ${f(r.timeToFirstTokenMs.median)} ms`,
    `decode       ${f(dc.median)} tok/s (${f(dc.min)}-${f(dc.max)}), ${f(r.decodeMsPerToken.median, 3)} ms/token over ${r.genTokens} tokens, median of ${r.runs} run${r.runs === 1 ? '' : 's'}`,
    `roofline     ${mib(rf.bytesPerToken, 2)} MiB/token (weights ${mib(rf.activeWeightBytesPerToken, 2)} + ${rf.kvCache} KV ${mib(rf.kvBytesPerToken, 2)}) at ${f(rf.measuredReadGBps)} GB/s → ${f(rf.rooflineTokensPerSecond)} tok/s; decode at ${f(rf.percentOfRoofline)}% of it`,
  ];
}

/** The human-readable report of `bench` and `bench:browser`. */
export function benchReportLines(r: BenchResult): string[] {
  const heap = r.peakJsHeapBytes === null ? 'n/a' : `${mib(r.peakJsHeapBytes)} MiB`;
  return [
    `adapter      ${r.adapter}`,
    `model        ${r.model} (${r.architecture})`,
    `load         ${f(r.loadSeconds, 2)} s, GPU memory ${mib(r.gpuMemoryBytes)} MiB, peak JS heap ${heap}`,
    ...measurementLines(r),
  ];
}
