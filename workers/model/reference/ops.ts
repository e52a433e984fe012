/**
 * @file The handful of tensor operations the CPU reference forward pass is made of, written out plainly
 * (llama2.c style) on Float32Arrays so that each one can be read and checked against its formula. Products and
 * reductions accumulate in double precision and store float32, which keeps the reference at least as accurate
 * as any f32 engine it judges. Nothing here allocates per element; callers own every buffer.
 *
 * Weight convention (ggml's): a matrix W with ne = [cols, rows] stores row r as `cols` contiguous values, and
 * y = W·x means y[r] = Σ_c W[r·cols + c]·x[c].
 */
import type { RopeStyle } from '../config.ts';


/**
 * out[r] = Σ_c W[wOff + r·cols + c] · x[xOff + c] for r < rows.   W: (rows, cols) at wOff, x: (cols) at xOff.
 * `wOff` selects one expert's slab inside a (n_expert, rows, cols) tensor.
 */
export function matVec(
  out: Float32Array,
  w: Float32Array,
  x: Float32Array,
  rows: number,
  cols: number,
  wOff = 0,
  xOff = 0,
  outOff = 0,
): void {
  const c4 = cols - (cols % 4);
  for (let r = 0; r < rows; r++) {
    const base = wOff + r * cols;
    // Four partial sums: fewer dependent adds per step (speed), same double precision.
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let c = 0;
    for (; c < c4; c += 4) {
      s0 += w[base + c] * x[xOff + c];
      s1 += w[base + c + 1] * x[xOff + c + 1];
      s2 += w[base + c + 2] * x[xOff + c + 2];
      s3 += w[base + c + 3] * x[xOff + c + 3];
    }
    for (; c < cols; c++) s0 += w[base + c] * x[xOff + c];
    out[outOff + r] = s0 + s1 + s2 + s3;
  }
}

/** x[i] += b[i] for i < n.   x: (n), b: (n) */
export function addInPlace(x: Float32Array, b: Float32Array, n = b.length, xOff = 0): void {
  for (let i = 0; i < n; i++) x[xOff + i] += b[i];
}

/**
 * LayerNorm with weight and optional bias (ggml_norm then ·w (+b)): y = (x − mean) / sqrt(var + eps) · w + b,
 * with the biased variance (divide by n).   x, out: (n) at off; w, b: (n)
 */
export function layerNorm(out: Float32Array, x: Float32Array, w: Float32Array, b: Float32Array | undefined, eps: number, n: number, off = 0): void {
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[off + i];
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = x[off + i] - mean;
    v += d * d;
  }
  const inv = 1 / Math.sqrt(v / n + eps);
  for (let i = 0; i < n; i++) out[off + i] = (x[off + i] - mean) * inv * w[i] + (b ? b[i] : 0);
}

/** RMSNorm (ggml_rms_norm then ·w): y = x / sqrt(mean(x²) + eps) · w.   x, out: (n) at off; w: (n) */
export function rmsNorm(out: Float32Array, x: Float32Array, w: Float32Array, eps: number, n: number, off = 0): void {
  let ss = 0;
  for (let i = 0; i < n; i++) ss += x[off + i] * x[off + i];
  const inv = 1 / Math.sqrt(ss / n + eps);
  for (let i = 0; i < n; i++) out[off + i] = x[off + i] * inv * w[i];
}

/** Clamp every value of x[0..n) to [−limit, limit]. */
export function clampInPlace(x: Float32Array, limit: number, n = x.length): void {
  for (let i = 0; i < n; i++) {
    if (x[i] > limit) x[i] = limit;
    else if (x[i] < -limit) x[i] = -limit;
  }
}

export interface RopeParams {
  readonly style: RopeStyle;
  /** Rotated dimensions of each head (n_rot ≤ head_dim); the rest pass through. */
  readonly nRot: number;
  readonly freqBase: number;
  /** Linear position scaling: θ uses pos·freqScale (1 = none). */
  readonly freqScale: number;
  /** Optional per-pair divisors of θ (llama3 `rope_freqs.weight`), length nRot/2. */
  readonly freqFactors?: Float32Array;
}

/**
 * Rotary position embedding of nHeads heads of headDim values each, in place, at position `pos`.
 * Pair i (0 ≤ i < nRot/2) is rotated by θ_i = pos·freqScale·base^(−2i/nRot) / factor_i.
 * 'normal' (GPT-J / llama) pairs adjacent values (2i, 2i+1); 'neox' (rotate-half) pairs (i, i + nRot/2).
 *   x: (nHeads, headDim) at off
 */
export function rope(x: Float32Array, off: number, nHeads: number, headDim: number, pos: number, p: RopeParams): void {
  const half = p.nRot / 2;
  for (let i = 0; i < half; i++) {
    let theta = pos * p.freqScale * Math.pow(p.freqBase, (-2 * i) / p.nRot);
    if (p.freqFactors) theta /= p.freqFactors[i];
    const cos = Math.cos(theta);
    const sin = Math.sin(theta);
    for (let h = 0; h < nHeads; h++) {
      const base = off + h * headDim;
      const a = p.style === 'neox' ? base + i : base + 2 * i;
      const b = p.style === 'neox' ? base + i + half : base + 2 * i + 1;
      const x0 = x[a];
      const x1 = x[b];
      x[a] = x0 * cos - x1 * sin;
      x[b] = x0 * sin + x1 * cos;
    }
  }
}

/** Numerically stable softmax of x[off..off+n) in place (max subtracted first). */
export function softmaxInPlace(x: Float32Array | Float64Array, n: number, off = 0): void {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (x[off + i] > max) max = x[off + i];
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp(x[off + i] - max);
    x[off + i] = e;
    sum += e;
  }
  for (let i = 0; i < n; i++) x[off + i] /= sum;
}

/** silu(x) = x·sigmoid(x) = x / (1 + e^−x). */
export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * Indices of the k largest values of x[0..n), largest first; ties go to the lower index (a stable sort, as
 * ggml's argsort keeps equal values in index order). Returns into `out` (length ≥ k).
 */
export function topK(x: Float32Array | Float64Array, n: number, k: number, out: Int32Array): void {
  for (let j = 0; j < k; j++) out[j] = -1;
  for (let i = 0; i < n; i++) {
    const v = x[i];
    // Insertion into the running top-k list; strict > keeps the earlier index ahead on ties.
    let j = k - 1;
    if (out[j] !== -1 && !(v > x[out[j]])) continue;
    while (j > 0 && (out[j - 1] === -1 || v > x[out[j - 1]])) {
      out[j] = out[j - 1];
      j--;
    }
    out[j] = i;
  }
}

/** Index of the largest value (first one on ties). */
export function argmax(x: Float32Array | readonly number[]): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** log-softmax of logits in double precision: log p_i = x_i − max − log Σ e^(x_j − max). */
export function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - lse;
  return out;
}
