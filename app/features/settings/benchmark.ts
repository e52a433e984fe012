/**
 * @file The one-click benchmark: the engine worker's `bench` method, i.e. the same measurement as the CLI
 * `bench` and `npm run bench:browser` (workers/bench/bench.ts): a deterministic prompt, one warm-up run, then
 * the median and spread of prefill and decode tok/s over the runs, and decode against the bandwidth roofline.
 * Here too: the default run sized to the adapter, and progress with time left from the `benchStep` events.
 */
import type { Engine } from '../../../workers/engine/types.ts';
import type { GpuInfo } from '../../../kernels/lib/gpuInfo.ts';
import { EngineStateError } from '../../../workers/errors.ts';
import type { BenchMeasurement, BenchParams, BenchRun, BenchStep, ModelInfo } from '../../../workers/protocol.ts';
import { isSoftwareAdapter, type AdapterFacts } from '../../../workers/gpu/software.ts';
import { formatDuration, formatTokPerSec } from '../../lib/format.ts';

/** A real GPU's default, small enough for a phone; the CLI's defaults are 512/128/5. */
export const BENCHMARK_DEFAULTS: BenchParams = { promptTokens: 64, genTokens: 32, runs: 3 };
/**
 * A software adapter's (SwiftShader, lavapipe): there the demo model takes 1–6 s per token, prefill too, and the
 * GPU default ran over 5 minutes; this (warm-up + 1 run of 4 + 2 tokens) takes under a minute.
 */
export const BENCHMARK_SOFTWARE_DEFAULTS: BenchParams = { promptTokens: 4, genTokens: 2, runs: 1 };
export const BENCHMARK_MAX_RUNS = 20;

/** The default run for the adapter the model runs on (the GPU default while it is unknown). */
export function benchmarkDefaults(adapter: AdapterFacts | undefined): BenchParams {
  return adapter && isSoftwareAdapter(adapter) ? BENCHMARK_SOFTWARE_DEFAULTS : BENCHMARK_DEFAULTS;
}

export interface BenchmarkResult {
  readonly model: string;
  readonly architecture: string;
  readonly adapter: string;
  readonly measurement: BenchMeasurement;
  readonly at: string;
}

export async function runBenchmark(
  engine: Engine,
  params: BenchParams,
  onRun?: (r: BenchRun) => void,
  signal?: AbortSignal,
  onStep?: (s: BenchStep) => void,
): Promise<BenchMeasurement> {
  if (!engine.bench) throw new EngineStateError('this engine cannot run the benchmark');
  return engine.bench(params, onRun, signal, onStep);
}

/**
 * What the page knows of a run in progress: the last step, when it and its phase began, and the latest
 * measured cost of a prompt token and of a decoded token (this run's so far, else an earlier run's).
 */
export interface BenchTrack {
  readonly params: BenchParams;
  readonly startedAt: number;
  readonly step: BenchStep | null;
  readonly phaseStartedAt: number;
  readonly prefillMsPerToken?: number;
  readonly decodeMsPerToken?: number;
}

export function startTrack(params: BenchParams, now: number): BenchTrack {
  return { params, startedAt: now, step: null, phaseStartedAt: now };
}

/** Folds in a step that arrived at `now`. */
export function trackStep(t: BenchTrack, step: BenchStep, now: number): BenchTrack {
  const prev = t.step;
  const samePhase = prev !== null && prev.run === step.run && prev.phase === step.phase;
  const phaseStartedAt = samePhase ? t.phaseStartedAt : now;
  let { prefillMsPerToken, decodeMsPerToken } = t;
  // The decode phase starts when the prefill ends: that span was the prefill.
  if (step.phase === 'decode' && step.done === 0 && prev?.phase === 'prefill' && prev.run === step.run && prev.total > 0) {
    prefillMsPerToken = (now - t.phaseStartedAt) / prev.total;
  }
  if (step.phase === 'decode' && step.done > 0 && samePhase) decodeMsPerToken = (now - t.phaseStartedAt) / step.done;
  return { ...t, step, phaseStartedAt, prefillMsPerToken, decodeMsPerToken };
}

/**
 * Milliseconds left of the runs at `now`, from the measured costs; undefined until both are measured (the
 * warm-up's prefill and first decoded token), and in the bandwidth probe that ends it (a few seconds).
 */
export function benchRemainingMs(t: BenchTrack, now: number): number | undefined {
  const { step, prefillMsPerToken: pf, decodeMsPerToken: dc } = t;
  const { promptTokens: P, genTokens: G, runs } = t.params;
  if (!step || step.phase === 'bandwidth' || pf === undefined || dc === undefined) return undefined;
  const perRun = P * pf + G * dc;
  const later = (runs - step.run) * perRun; // runs after this one (run 0 is the warm-up, `runs` the last)
  const inPhase = now - t.phaseStartedAt;
  const current = step.phase === 'prefill' ? Math.max(0, P * pf - inPhase) + G * dc : Math.max(0, (G - step.done) * dc - (inPhase - step.done * dc));
  return current + later;
}

/** Share of the work done, 0..1: by time where the time left is known, else by tokens. */
export function benchFraction(t: BenchTrack, now: number): number {
  const { step } = t;
  if (!step) return 0;
  if (step.phase === 'bandwidth') return 1;
  const left = benchRemainingMs(t, now);
  if (left !== undefined) {
    const spent = now - t.startedAt;
    return spent + left > 0 ? Math.min(1, spent / (spent + left)) : 0;
  }
  const { promptTokens: P, genTokens: G, runs } = t.params;
  const doneTokens = step.run * (P + G) + (step.phase === 'decode' ? P + step.done : 0);
  return Math.min(1, doneTokens / ((runs + 1) * (P + G)));
}

/** "Run 1 of 2 (warm-up) · decode, 3 of 4 tokens · about 5 s left". */
export function benchProgressText(t: BenchTrack, now: number): string {
  const { step } = t;
  if (!step) return 'Starting…';
  const total = step.runs + 1;
  if (step.phase === 'bandwidth') return "Measuring the GPU's read bandwidth";
  const parts = [`Run ${step.run + 1} of ${total}${step.run === 0 ? ' (warm-up)' : ''}`];
  parts.push(step.phase === 'prefill' ? `prefill of ${step.total} tokens` : `decode, ${step.done} of ${step.total} tokens`);
  const left = benchRemainingMs(t, now);
  parts.push(left === undefined ? 'estimating time left' : `about ${formatDuration(Math.max(1, left / 1000))} left`);
  return parts.join(' · ');
}

export function describeAdapter(gpu: GpuInfo | null): string {
  if (!gpu) return 'unknown adapter';
  const name = [gpu.vendor, gpu.architecture, gpu.device].filter((s) => s !== '').join(' / ') || gpu.description || 'unknown';
  return `${name}${gpu.isFallbackAdapter ? ' (software)' : ''}${gpu.features.f16 ? ', f16' : ''}`;
}

/** "12.3 (11.0–13.1)": median and range over the runs. */
export function formatSpread(s: { median: number; min: number; max: number }): string {
  return `${formatTokPerSec(s.median)} (${formatTokPerSec(s.min)}–${formatTokPerSec(s.max)})`;
}

/** "decode at 4.9 % of 29.5 tok/s (0.38 GB/s read, 12.3 MiB per token)". */
export function formatRoofline(m: BenchMeasurement): string {
  const r = m.roofline;
  return `${r.percentOfRoofline.toFixed(1)} % of ${formatTokPerSec(r.rooflineTokensPerSecond)} tok/s (${r.measuredReadGBps.toFixed(r.measuredReadGBps < 10 ? 2 : 0)} GB/s read, ${(r.bytesPerToken / 2 ** 20).toFixed(1)} MiB per token)`;
}

/** Plain text for the clipboard (and bug reports). */
export function benchmarkText(r: BenchmarkResult, info?: ModelInfo): string {
  const m = r.measurement;
  return [
    `Brix benchmark, ${r.at}`,
    `model: ${r.model} (${r.architecture}${info ? `, ${info.nExpert > 0 ? `${info.nExpert} experts, top ${info.nExpertUsed}` : 'dense'}` : ''})`,
    `adapter: ${m.adapter}`,
    `prompt: ${m.promptTokens} tokens, prefill ${formatTokPerSec(m.prefillTokensPerSecond.median)} tok/s`,
    `decode: ${m.genTokens} tokens, ${formatTokPerSec(m.decodeTokensPerSecond.median)} tok/s, ${m.decodeMsPerToken.median.toFixed(2)} ms/token`,
    `runs: ${m.runs} after a warm-up; prefill ${formatSpread(m.prefillTokensPerSecond)}, decode ${formatSpread(m.decodeTokensPerSecond)} tok/s (median, min–max)`,
    `time to first token: ${Math.round(m.timeToFirstTokenMs.median)} ms`,
    `roofline: decode at ${formatRoofline(m)}`,
    `GPU memory: ${(m.gpuMemoryBytes / 2 ** 20).toFixed(0)} MiB`,
    `browser: ${typeof navigator !== 'undefined' ? navigator.userAgent : 'n/a'}`,
  ].join('\n');
}
