/**
 * @file The one-click benchmark: a fixed prompt, greedy decoding, a fixed number of tokens, and the engine's own
 * statistics (prefill and decode tok/s), so runs compare across devices and versions.
 */
import type { Engine } from '../../../workers/engine/types.ts';
import type { GpuInfo } from '../../../workers/gpu/device.ts';
import { DEFAULT_SAMPLING, type GenerationStats, type ModelInfo } from '../../../workers/protocol.ts';
import { formatTokPerSec } from '../../lib/format.ts';

export const BENCHMARK_PROMPT =
  'Write a short story about a lighthouse keeper who finds a message in a bottle. Describe the sea, the weather and the keeper in detail.';

export interface BenchmarkResult {
  readonly model: string;
  readonly architecture: string;
  readonly adapter: string;
  readonly stats: GenerationStats;
  readonly at: string;
}

export async function runBenchmark(engine: Engine, maxTokens: number, signal?: AbortSignal): Promise<GenerationStats> {
  const r = await engine.generate(
    {
      messages: [{ role: 'user', content: BENCHMARK_PROMPT }],
      sampling: { ...DEFAULT_SAMPLING, temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0, maxTokens },
    },
    undefined,
    signal,
  );
  return r.stats;
}

export function describeAdapter(gpu: GpuInfo | null): string {
  if (!gpu) return 'unknown adapter';
  const name = [gpu.vendor, gpu.architecture, gpu.device].filter((s) => s !== '').join(' / ') || gpu.description || 'unknown';
  return `${name}${gpu.isFallbackAdapter ? ' (software)' : ''}${gpu.features.f16 ? ', f16' : ''}`;
}

/** Plain text for the clipboard (and bug reports). */
export function benchmarkText(r: BenchmarkResult, info?: ModelInfo): string {
  const s = r.stats;
  return [
    `Brix benchmark, ${r.at}`,
    `model: ${r.model} (${r.architecture}${info ? `, ${info.nExpert > 0 ? `${info.nExpert} experts, top ${info.nExpertUsed}` : 'dense'}` : ''})`,
    `adapter: ${r.adapter}`,
    `prompt: ${s.promptTokens} tokens, prefill ${formatTokPerSec(s.prefillTokensPerSecond)} tok/s`,
    `decode: ${s.generatedTokens} tokens, ${formatTokPerSec(s.decodeTokensPerSecond)} tok/s`,
    `time to first token: ${Math.round(s.timeToFirstTokenMs)} ms; total ${Math.round(s.totalMs)} ms`,
    `browser: ${typeof navigator !== 'undefined' ? navigator.userAgent : 'n/a'}`,
  ].join('\n');
}
