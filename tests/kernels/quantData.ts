/**
 * @file Test weights for the dequantizing kernels (matvec, matmul, embedding, quant): random floats quantized
 * with workers/quant `quantize` (real ggml blocks), or, for the types it cannot quantize (IQ4_NL, IQ4_XS,
 * MXFP4), random valid blocks (random quant bytes with sane scales). Both come with their exact CPU
 * dequantization, so GPU results are compared against the same bytes.
 */
import { dequantize, quantize, QUANTIZABLE_TYPES, f32ToF16Bits } from '../../workers/quant/quant.ts';
import { BLOCK_LAYOUT, GgmlTypeId, type GpuWeightType } from '../../kernels/lib/weights.ts';
import { rng } from './harness.ts';

export interface TestWeight {
  readonly type: GpuWeightType;
  readonly nIn: number;
  readonly rows: number;
  /** GGUF-layout bytes, (rows, row bytes). */
  readonly gguf: Uint8Array;
  /** Exact dequantized values, (rows, nIn). */
  readonly deq: Float32Array;
}

function setF16(b: Uint8Array, at: number, v: number): void {
  const h = f32ToF16Bits(v);
  b[at] = h & 0xff;
  b[at + 1] = h >> 8;
}

/** Random blocks of a codebook type: random nibbles and sub-scales, f16 scales near `scale`. */
function randomCodebookBytes(type: GpuWeightType, nElems: number, seed: number, scale: number): Uint8Array {
  const r = rng(seed);
  const lay = BLOCK_LAYOUT[type];
  const out = new Uint8Array((nElems / lay.elems) * lay.bytes);
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(r() * 256);
  for (let at = 0; at < out.length; at += lay.bytes) {
    if (type === 'IQ4_NL') setF16(out, at, (scale / 60) * (0.5 + r()));
    else if (type === 'IQ4_XS') setF16(out, at, (scale / 1000) * (0.5 + r()));
    else if (type === 'MXFP4') out[at] = 124 + Math.floor(r() * 6);
    else throw new Error(`no random block recipe for ${type}`);
  }
  return out;
}

/** A (rows, nIn) weight of `type` with values about ±scale. */
export function testWeight(type: GpuWeightType, rows: number, nIn: number, seed: number, scale = 1): TestWeight {
  const id = GgmlTypeId[type];
  let gguf: Uint8Array;
  if (QUANTIZABLE_TYPES.includes(id)) {
    const r = rng(seed);
    const v = new Float32Array(rows * nIn);
    for (let i = 0; i < v.length; i++) v[i] = (r() * 2 - 1) * scale;
    gguf = quantize(id, v);
  } else {
    gguf = randomCodebookBytes(type, rows * nIn, seed, scale);
  }
  return { type, nIn, rows, gguf, deq: dequantize(id, gguf, rows * nIn) };
}
