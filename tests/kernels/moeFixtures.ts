/**
 * @file Test data for the MoE kernel tests: random GGUF blocks of any weight type (random quant bytes with
 * sane f16 scales), uploaded with kernels/lib/weights.ts and dequantized on the CPU with workers/quant, so
 * every GPU result is checked against the same bytes; and "exact" router inputs (multiples of 1/16 whose
 * dot products are exact in f32), which make GPU and CPU logits bit-identical and produce ties.
 */
import { dequantize } from '../../workers/quant/dequant.ts';
import { f32ToBf16Bits, f32ToF16Bits } from '../../workers/quant/half.ts';
import { BLOCK_LAYOUT, GgmlTypeId, uploadWeight, type GpuWeight, type GpuWeightType } from '../../kernels/lib/weights.ts';
import type { KernelContext } from '../../kernels/lib/context.ts';
import { rng } from './harness.ts';

/** Byte offsets of the f16 scales in each GGUF block, and the typical |quant × sub-scale| they multiply. */
const SCALES: Partial<Record<GpuWeightType, { readonly at: readonly number[]; readonly mag: number }>> = {
  Q4_0: { at: [0], mag: 4.5 },
  Q4_1: { at: [0, 2], mag: 8 },
  Q5_0: { at: [0], mag: 9 },
  Q5_1: { at: [0, 2], mag: 16 },
  Q8_0: { at: [0], mag: 64 },
  Q2_K: { at: [80, 82], mag: 12 },
  Q3_K: { at: [108], mag: 64 },
  Q4_K: { at: [0, 2], mag: 240 },
  Q5_K: { at: [0, 2], mag: 500 },
  Q6_K: { at: [208], mag: 1000 },
  IQ4_NL: { at: [0], mag: 60 },
  IQ4_XS: { at: [0], mag: 1000 },
};

/** Random GGUF bytes for `nElems` elements of `type`, element magnitude about `scale`. */
export function randomGgufBytes(type: GpuWeightType, nElems: number, seed: number, scale: number): Uint8Array {
  const r = rng(seed);
  if (type === 'F32') {
    const f = new Float32Array(nElems);
    for (let i = 0; i < nElems; i++) f[i] = (r() * 2 - 1) * scale;
    return new Uint8Array(f.buffer);
  }
  if (type === 'F16' || type === 'BF16') {
    const h = new Uint16Array(nElems);
    for (let i = 0; i < nElems; i++) h[i] = (type === 'F16' ? f32ToF16Bits : f32ToBf16Bits)((r() * 2 - 1) * scale);
    return new Uint8Array(h.buffer);
  }
  const b = BLOCK_LAYOUT[type];
  const nBlocks = nElems / b.elems;
  const out = new Uint8Array(nBlocks * b.bytes);
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(r() * 256);
  const s = SCALES[type];
  if (type === 'MXFP4') {
    for (let k = 0; k < nBlocks; k++) out[k * b.bytes] = 120 + Math.floor(r() * 4);
  } else if (s) {
    for (let k = 0; k < nBlocks; k++)
      for (const at of s.at) {
        const h = f32ToF16Bits(((0.5 + r()) * scale) / s.mag);
        out[k * b.bytes + at] = h & 0xff;
        out[k * b.bytes + at + 1] = h >> 8;
      }
  }
  return out;
}

export interface TestWeight {
  readonly gpu: GpuWeight;
  /** Dequantized, row-major over dims reversed: (dims[2], dims[1], dims[0]). */
  readonly f32: Float32Array;
}

/** Uploads a random tensor of `type` with ggml dims `ne`; rows have magnitude ~ 1 / sqrt(ne[0]) per element. */
export function randomWeight(ctx: KernelContext, name: string, type: GpuWeightType, ne: readonly number[], seed: number, scale = 1): TestWeight {
  const n = ne.reduce((a, b) => a * b, 1);
  const bytes = randomGgufBytes(type, n, seed, scale / Math.sqrt(ne[0]));
  const gpu = uploadWeight(ctx, name, type, ne, bytes);
  return { gpu, f32: dequantize(GgmlTypeId[type], bytes, n) };
}

/** F32 values that are multiples of 1/16 in [-lim, lim]/16: products and sums stay exact in f32. */
export function exactF32(n: number, seed: number, lim: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (Math.floor(r() * (2 * lim + 1)) - lim) / 16;
  return out;
}

export function f32Bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
