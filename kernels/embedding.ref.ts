/** @file CPU reference for kernels/embedding.wgsl: rows of the dequantized table (workers/quant), scaled; bad ids give zeros. */

/** `table` is the dequantized (rows, nEmbd) table; returns (ids.length, nEmbd). */
export function embeddingRef(table: Float32Array, nEmbd: number, ids: ArrayLike<number>, scale = 1): Float32Array {
  const rows = table.length / nEmbd;
  const out = new Float32Array(ids.length * nEmbd);
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t];
    if (id >= rows) continue;
    for (let i = 0; i < nEmbd; i++) out[t * nEmbd + i] = Math.fround(scale * table[id * nEmbd + i]);
  }
  return out;
}
