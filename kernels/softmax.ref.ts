/** @file CPU reference for kernels/softmax.wgsl (double precision). */

/** Softmax (or log-softmax) of scale·x over nRows rows of n at xOff + r·xStride; returns (nRows, n) packed. */
export function softmaxRef(x: Float32Array, o: { n: number; nRows?: number; xOff?: number; xStride?: number; scale?: number; log?: boolean }): Float32Array {
  const { n, nRows = 1, xOff = 0, scale = 1 } = o;
  const xStride = o.xStride ?? n;
  const y = new Float32Array(nRows * n);
  for (let r = 0; r < nRows; r++) {
    const b = xOff + r * xStride;
    let mx = -Infinity;
    for (let i = 0; i < n; i++) mx = Math.max(mx, scale * x[b + i]);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.exp(scale * x[b + i] - mx);
    for (let i = 0; i < n; i++) y[r * n + i] = o.log ? scale * x[b + i] - mx - Math.log(sum) : Math.exp(scale * x[b + i] - mx) / sum;
  }
  return y;
}
