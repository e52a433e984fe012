/**
 * @file CPU sampling over a logits row: repetition penalty (llama.cpp style: positive logits ÷ penalty,
 * negative × penalty, for recently seen ids), temperature, top-k, top-p, and a seeded draw. The RNG is a
 * counter-based hash of (seed, step), so the same seed gives the same text regardless of what ran before.
 * Used where logits are read back anyway (the CLI's logits path, tests) and as the fallback sampler.
 */
import type { RunnerSampling } from './runner.ts';

/** A uniform float in [0, 1) from (seed, step): splitmix-style integer hash, no state. */
export function hashUniform(seed: number, step: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(step >>> 0, 0x85ebca77) ^ 0x27d4eb2f) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return h / 4294967296;
}

export function argmaxRow(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** Samples one id; `logitScale` divides the logits first (Granite). Ties resolve to the lowest id. */
export function sampleCpu(logits: Float32Array, s: RunnerSampling, step: number, recent: readonly number[], logitScale = 1): number {
  const l = logits.slice();
  if (s.repetitionPenalty !== 1) {
    for (const id of new Set(recent)) {
      if (id < 0 || id >= l.length) continue;
      l[id] = l[id] > 0 ? l[id] / s.repetitionPenalty : l[id] * s.repetitionPenalty;
    }
  }
  if (s.temperature <= 0) return argmaxRow(l);
  const t = s.temperature * logitScale;
  const k = s.topK > 0 ? Math.min(s.topK, l.length) : l.length;
  // Candidates: the k largest, in descending order (stable on ties: lower id first).
  const idx = Array.from({ length: l.length }, (_, i) => i);
  idx.sort((a, b) => l[b] - l[a] || a - b);
  const cand = idx.slice(0, k);
  const max = l[cand[0]];
  const p = cand.map((i) => Math.exp((l[i] - max) / t));
  const sum = p.reduce((a, b) => a + b, 0);
  let keep = cand.length;
  if (s.topP < 1) {
    let acc = 0;
    for (let j = 0; j < cand.length; j++) {
      acc += p[j] / sum;
      if (acc >= s.topP) {
        keep = j + 1;
        break;
      }
    }
  }
  const kept = p.slice(0, keep);
  const ksum = kept.reduce((a, b) => a + b, 0);
  const u = hashUniform(s.seed, step) * ksum;
  let acc = 0;
  for (let j = 0; j < keep; j++) {
    acc += kept[j];
    if (u < acc) return cand[j];
  }
  return cand[keep - 1];
}
