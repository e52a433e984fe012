/** @file CPU reference for kernels/embedding.wgsl: rows of a dequantized table, scaled. */
export function embeddingRef(table: Float32Array, nEmbd: number, ids: readonly number[], scale = 1): Float32Array {
  const out = new Float32Array(ids.length * nEmbd);
  ids.forEach((id, t) => {
    for (let i = 0; i < nEmbd; i++) out[t * nEmbd + i] = table[id * nEmbd + i] * scale;
  });
  return out;
}
