/**
 * @file CPU references for kernels/matvec.wgsl and kernels/matmul.wgsl: dequantize the GGUF rows with
 * workers/quant (bit-exact ggml values), then plain float64 dot products.
 */
import { dequantize } from '../workers/quant/quant.ts';
import { GgmlTypeId, type GpuWeightType } from './lib/weights.ts';
import { normRef, type NormKind } from './norm.ref.ts';

/** GGUF-layout rows of `type` → f32, (rows, nIn) row-major. */
export function dequantizeRows(type: GpuWeightType, ggufBytes: Uint8Array, nIn: number, rows: number): Float32Array {
  return dequantize(GgmlTypeId[type], ggufBytes, nIn * rows);
}

/** y[r] = Σ_i W[r, i] · x[i]; W is (rows, nIn) row-major f32. `acc` is added (ACCUMULATE). */
export function matvecRef(w: Float32Array, nIn: number, x: Float32Array, acc?: Float32Array): Float32Array {
  const rows = w.length / nIn;
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let i = 0; i < nIn; i++) s += w[r * nIn + i] * x[i];
    y[r] = s + (acc ? acc[r] : 0);
  }
  return y;
}

/** matvec with a folded norm (matvec.wgsl NORM): the norm reference, then the matvec reference. */
export function normMatvecRef(
  kind: NormKind,
  w: Float32Array,
  nIn: number,
  x: Float32Array,
  g: Float32Array,
  eps: number,
  acc?: Float32Array,
): Float32Array {
  return matvecRef(w, nIn, normRef(kind, x.subarray(0, nIn), g.subarray(0, nIn), { n: nIn, eps }), acc);
}

/** Y[t, r] = Σ_i W[r, i] · X[t, i]; X is (tokens, nIn), Y (tokens, rows). */
export function matmulRef(w: Float32Array, nIn: number, xs: Float32Array, acc?: Float32Array): Float32Array {
  const rows = w.length / nIn;
  const tokens = xs.length / nIn;
  const y = new Float32Array(rows * tokens);
  for (let t = 0; t < tokens; t++)
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let i = 0; i < nIn; i++) s += w[r * nIn + i] * xs[t * nIn + i];
      y[t * rows + r] = s + (acc ? acc[t * rows + r] : 0);
    }
  return y;
}

