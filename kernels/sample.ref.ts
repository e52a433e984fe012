/**
 * @file CPU reference for kernels/sample.wgsl: the same RNG (PCG hash of (seed, step)), the same candidate order
 * (logit desc, id asc; NaN last), and the same chain: penalty → top-k → top-p → min-p → temperature → draw.
 */

/** PCG hash (Jarzynski & Olano 2020), u32 → u32. */
export function pcgHash(v: number): number {
  const s = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul(((s >>> ((s >>> 28) + 4)) ^ s) >>> 0, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/** Uniform in [0, 1) with 24 bits from (seed, step), as the kernel draws it. */
export function uniform01(seed: number, step: number): number {
  return (pcgHash((pcgHash(seed) ^ step) >>> 0) >>> 8) / 16777216;
}

/** Greedy pick: the largest logit, the lowest id on ties, NaN never wins (0 when everything is NaN). */
export function argmaxRef(logits: Float32Array): number {
  let best = -1;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (Number.isNaN(v)) continue;
    if (best < 0 || v > logits[best]) best = i;
  }
  return Math.max(best, 0);
}

/** llama.cpp's repetition penalty, once per distinct id < vocab: logit ≤ 0 multiplied, > 0 divided (f32). */
export function applyPenalty(logits: Float32Array, recent: readonly number[], penalty: number): Float32Array {
  const out = logits.slice();
  for (const id of new Set(recent)) {
    if (id < 0 || id >= logits.length) continue;
    const v = out[id];
    out[id] = Math.fround(v <= 0 ? v * penalty : v / penalty);
  }
  return out;
}

export interface SampleRefConfig {
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly minP?: number;
  readonly repeatPenalty?: number;
  readonly seed: number;
}

export interface SampleRefResult {
  readonly token: number;
  readonly prob: number;
  /** Candidate ids after top-k, best first. */
  readonly candidates: readonly number[];
  /** Candidates kept after top-p and min-p. */
  readonly keep: number;
  /** Final probabilities of the kept candidates. */
  readonly probs: readonly number[];
  /** Distance of the draw from the nearest boundary of the cumulative distribution (0..1 scale). */
  readonly margin: number;
}

export const SAMPLE_REF_MAX_K = 256;

export function sampleRef(logits: Float32Array, recent: readonly number[], c: SampleRefConfig, step: number): SampleRefResult {
  const pen = applyPenalty(logits, recent, c.repeatPenalty ?? 1);
  const k = Math.min(c.topK > 0 ? c.topK : SAMPLE_REF_MAX_K, SAMPLE_REF_MAX_K, logits.length);
  const order = Array.from({ length: pen.length }, (_, i) => i);
  const rank = (i: number) => (Number.isNaN(pen[i]) ? -Infinity : pen[i]);
  order.sort((a, b) => {
    const na = Number.isNaN(pen[a]);
    const nb = Number.isNaN(pen[b]);
    if (na !== nb) return na ? 1 : -1;
    return rank(b) - rank(a) || a - b;
  });
  const cand = order.slice(0, k);
  const v0 = pen[cand[0]];
  const rel = (i: number, invT: number) => (i === 0 ? 1 : Number.isNaN(pen[cand[i]]) || pen[cand[i]] === -Infinity ? 0 : Math.exp((pen[cand[i]] - v0) * invT));
  const p = cand.map((_, i) => rel(i, 1));
  const total = p.reduce((s, x) => s + x, 0);
  let keep = k;
  let cum = 0;
  for (let i = 0; i < k; i++) {
    cum += p[i];
    if (cum >= c.topP * total) {
      keep = i + 1;
      break;
    }
  }
  const minP = c.minP ?? 0;
  if (minP > 0) for (let i = 1; i < keep; i++) if (p[i] < minP) keep = i;
  if (c.temperature <= 0) return { token: cand[0], prob: 1, candidates: cand, keep, probs: [1], margin: 1 };
  const q = cand.slice(0, keep).map((_, i) => rel(i, 1 / c.temperature));
  const qTotal = q.reduce((s, x) => s + x, 0);
  const probs = q.map((x) => x / qTotal);
  const u = uniform01(c.seed, step);
  let acc = 0;
  let pick = keep - 1;
  let margin = 1;
  for (let i = 0; i < keep; i++) {
    acc += probs[i];
    margin = Math.min(margin, Math.abs(u - acc));
    if (u < acc) {
      pick = i;
      break;
    }
  }
  return { token: cand[pick], prob: probs[pick], candidates: cand, keep, probs, margin };
}
