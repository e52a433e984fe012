/** @file CPU reference for kernels/norm.wgsl (double-precision sums, f32 results). */
export type NormKind = 'layer' | 'rms';

/**
 * Normalises nTok·heads rows of n values: row (t, h) at x[xOff + t·xStride + h·n], result at the same place in
 * a copy of `y` (or of x when y is omitted), weight w[wOff ..+n).
 */
export function normRef(
  kind: NormKind,
  x: Float32Array,
  w: Float32Array,
  o: { n: number; nTok?: number; heads?: number; xOff?: number; xStride?: number; wOff?: number; eps: number; y?: Float32Array; yOff?: number; yStride?: number },
): Float32Array {
  const { n, nTok = 1, heads = 1, xOff = 0, wOff = 0, eps } = o;
  const xStride = o.xStride ?? heads * n;
  const y = (o.y ?? x).slice();
  const yOff = o.y ? (o.yOff ?? 0) : xOff;
  const yStride = o.y ? (o.yStride ?? heads * n) : xStride;
  for (let t = 0; t < nTok; t++)
    for (let h = 0; h < heads; h++) {
      const xb = xOff + t * xStride + h * n;
      const yb = yOff + t * yStride + h * n;
      let mean = 0;
      if (kind === 'layer') {
        for (let i = 0; i < n; i++) mean += x[xb + i];
        mean /= n;
      }
      let ss = 0;
      for (let i = 0; i < n; i++) ss += (x[xb + i] - mean) ** 2;
      const inv = 1 / Math.sqrt(ss / n + eps);
      for (let i = 0; i < n; i++) y[yb + i] = (x[xb + i] - mean) * inv * w[wOff + i];
    }
  return y;
}
