/**
 * @file Human-readable numbers for the UI and exports: byte sizes (decimal units, as model hubs list them),
 * transfer rates, durations and the one-line generation statistics shown under each answer.
 */
import type { FinishReason, GenerationStats } from '../../workers/protocol.ts';

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'] as const;

/** 28554880 → "28.6 MB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '—';
  let v = n;
  let u = 0;
  while (v >= 1000 && u < UNITS.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${UNITS[u]}`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** 75 → "1 min 15 s"; 3725 → "1 h 2 min"; 4.2 → "4 s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function formatTokPerSec(x: number): string {
  if (!Number.isFinite(x)) return '—';
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

const FINISH_TEXT: Record<FinishReason, string> = {
  eog: 'finished',
  length: 'hit the token limit',
  stop: 'stop string',
  abort: 'stopped',
  context: 'context full',
};

export function finishText(r: FinishReason): string {
  return FINISH_TEXT[r];
}

/** "312 ms to first token · prefill 95.1 tok/s · decode 21.4 tok/s · 14 prompt + 16 generated tokens". */
export function formatStatsLine(s: GenerationStats): string {
  const parts = [
    `${Math.round(s.timeToFirstTokenMs)} ms to first token`,
    `prefill ${formatTokPerSec(s.prefillTokensPerSecond)} tok/s`,
    `decode ${formatTokPerSec(s.decodeTokensPerSecond)} tok/s`,
    `${s.promptTokens} prompt + ${s.generatedTokens} generated tokens`,
  ];
  if (s.finishReason !== 'eog') parts.push(finishText(s.finishReason));
  if (s.truncatedTokens > 0) parts.push(`${s.truncatedTokens} early tokens dropped to fit the context`);
  return parts.join(' · ');
}

/** Model parameter counts: 29.7M, 1.3B, 132B. */
export function formatParams(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(n >= 1e10 ? 0 : 1)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e8 ? 0 : 1)}M`;
  return `${Math.round(n / 1e3)}K`;
}

/**
 * A model's download size, the one way every page writes it: "28.6 MB", or "about 820 MB" for a model card's
 * estimate.
 */
export function formatModelSize(bytes: number, approx = false): string {
  return `${approx ? 'about ' : ''}${formatBytes(bytes)}`;
}
