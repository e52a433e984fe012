/** @file CPU reference for kernels/kv_cache.wgsl. */

/** K and V caches (n_kv, n_ctx, hd) with the T new rows written and NaN everywhere else. */
export function kvCacheWriteRef(a: {
  nTok: number;
  nKv: number;
  hd: number;
  nCtx: number;
  src: Float32Array;
  kOff: number;
  vOff: number;
  kStride: number;
  vStride: number;
  positions: readonly number[];
}): { k: Float32Array; v: Float32Array } {
  const n = a.nKv * a.nCtx * a.hd;
  const k = new Float32Array(n).fill(NaN);
  const v = new Float32Array(n).fill(NaN);
  for (let t = 0; t < a.nTok; t++) {
    const p = a.positions[t];
    if (p >= a.nCtx) continue;
    for (let h = 0; h < a.nKv; h++)
      for (let i = 0; i < a.hd; i++) {
        k[(h * a.nCtx + p) * a.hd + i] = a.src[a.kOff + t * a.kStride + h * a.hd + i];
        v[(h * a.nCtx + p) * a.hd + i] = a.src[a.vOff + t * a.vStride + h * a.hd + i];
      }
  }
  return { k, v };
}
