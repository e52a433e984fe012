/**
 * @file The one-click benchmark: the engine worker's `bench` method, i.e. the same measurement as the CLI
 * `bench` and `npm run bench:browser` (workers/bench/bench.ts): a deterministic prompt, one warm-up run, then
 * the median and spread of prefill and decode tok/s over the runs, and decode against the bandwidth roofline.
 */
import type { Engine } from '../../../workers/engine/types.ts';
import type { GpuInfo } from '../../../kernels/lib/gpuInfo.ts';
import { EngineStateError } from '../../../workers/errors.ts';
import type { BenchMeasurement, BenchParams, BenchRun, ModelInfo } from '../../../workers/protocol.ts';
import { formatTokPerSec } from '../../lib/format.ts';

/** Small enough for a phone or a software adapter; the CLI's defaults are 512/128/5. */
export const BENCHMARK_DEFAULTS: BenchParams = { promptTokens: 64, genTokens: 32, runs: 3 };
export const BENCHMARK_MAX_RUNS = 20;

export interface BenchmarkResult {
  readonly model: string;
  readonly architecture: string;
  readonly adapter: string;
  readonly measurement: BenchMeasurement;
  readonly at: string;
}

export async function runBenchmark(engine: Engine, params: BenchParams, onRun?: (r: BenchRun) => void, signal?: AbortSignal): Promise<BenchMeasurement> {
  if (!engine.bench) throw new EngineStateError('this engine cannot run the benchmark');
  return engine.bench(params, onRun, signal);
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
