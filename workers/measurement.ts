/**
 * @file The benchmark's data shapes as they cross the worker boundary (the `bench` method's params, its result,
 * the `benchRun` and `benchStep` events), and the check of its params. Plain data, no benchmark code:
 * workers/protocol.ts, the engine (bench/bench.ts measures) and the UI share these.
 */
import type { GpuInfo } from '../kernels/lib/gpuInfo.ts';

export interface BenchParams {
  readonly promptTokens: number;
  readonly genTokens: number;
  /** Measured runs, after one warm-up run. */
  readonly runs: number;
}

export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export interface Roofline {
  /** The KV cache's element type (f16 where the device has shader-f16). */
  readonly kvCache: 'f16' | 'f32';
  readonly activeWeightBytesPerToken: number;
  readonly kvBytesPerToken: number;
  readonly bytesPerToken: number;
  readonly measuredReadGBps: number;
  readonly rooflineTokensPerSecond: number;
  readonly percentOfRoofline: number;
}

/** One finished run, reported as it ends (run 0 is the warm-up). */
export interface BenchRun {
  readonly run: number;
  readonly runs: number;
  readonly prefillTokensPerSecond: number;
  readonly decodeTokensPerSecond: number;
  readonly timeToFirstTokenMs: number;
}

/**
 * Where the benchmark is, reported as it goes (the `benchStep` events): a run's prefill starting (done 0), its
 * decode starting (done 0) and each decoded token; then 'bandwidth' once, after the last run (run = runs).
 * Run 0 is the warm-up. The UI turns these into progress and time left.
 */
export interface BenchStep {
  readonly run: number;
  readonly runs: number;
  readonly phase: 'prefill' | 'decode' | 'bandwidth';
  /** Tokens of this phase done so far. */
  readonly done: number;
  /** Tokens of this phase in all (0 for 'bandwidth'). */
  readonly total: number;
}

/** What the engine measures on a loaded model (the worker's `bench` result). */
export interface BenchMeasurement {
  readonly architecture: string;
  /** describeGpu() of the adapter the model runs on. */
  readonly adapter: string;
  readonly gpu: GpuInfo;
  readonly promptTokens: number;
  readonly genTokens: number;
  readonly runs: number;
  readonly prefillTokensPerSecond: Spread;
  readonly decodeTokensPerSecond: Spread;
  readonly decodeMsPerToken: Spread;
  readonly timeToFirstTokenMs: Spread;
  readonly gpuMemoryBytes: number;
  readonly roofline: Roofline;
}

/** What is wrong with the parameters, or undefined: each must be a positive integer. */
export function benchParamsProblem(p: unknown): string | undefined {
  if (typeof p !== 'object' || p === null) return 'benchmark parameters must be an object';
  for (const k of ['promptTokens', 'genTokens', 'runs'] as const) {
    const v: unknown = k in p ? Reflect.get(p, k) : undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) return `benchmark ${k} must be a positive integer, got ${String(v)}`;
  }
  return undefined;
}
