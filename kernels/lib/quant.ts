/**
 * @file The TypeScript side of kernels/lib/quant.wgsl: which weight types the WGSL decoders cover, the defines
 * that select one (`quantDefines`), and each type's block/part geometry, so wrappers size grids and check
 * shapes from the same numbers the WGSL uses. Every kernel that reads GGUF weights (matvec, matmul,
 * embedding, MoE) includes quant.wgsl through `QUANT_INCLUDES` and these defines.
 */
import quantWgsl from './quant.wgsl?raw';
import weightBindingWgsl from './weight_binding.wgsl?raw';
import xq8Wgsl from './xq8.wgsl?raw';
import { check } from './context.ts';
import type { Defines } from './preprocess.ts';
import type { GpuWeightType } from './weights.ts';

/** Include map for `ctx.pipeline({ includes })`: `#include "quant"`. */
/** `quant`: block decoding; `weight_binding`: binding 1 + accessors for kernels reading one weight chunk; `xq8`:
 * accessors of act_quant's int8 activations. */
export const QUANT_INCLUDES: Readonly<Record<string, string>> = { quant: quantWgsl, weight_binding: weightBindingWgsl, xq8: xq8Wgsl };

export interface QuantGeometry {
  /** Elements per block as quant.wgsl sees it (F32 blocks are 4 elements, F16/BF16 8). */
  readonly blockElems: number;
  /** u32 words per padded GPU block. */
  readonly blockWords: number;
  /** Parts per block: the unit one thread decodes. */
  readonly parts: number;
  /** Elements per part. */
  readonly partElems: number;
  /** Blocks are 16-byte aligned: kernels bind the weights as vec4<u32> (define W_VEC4). */
  readonly vec4: boolean;
  /** Non-linear codebook type (define W_CODEBOOK). */
  readonly codebook: boolean;
}

const G = (blockElems: number, blockWords: number, parts: number, vec4 = false, codebook = false): QuantGeometry => ({
  blockElems,
  blockWords,
  parts,
  partElems: blockElems / parts,
  vec4,
  codebook,
});

/** The types kernels/lib/quant.wgsl decodes. */
export const QUANT_TYPES = [
  'F32',
  'F16',
  'BF16',
  'Q4_0',
  'Q4_1',
  'Q5_0',
  'Q5_1',
  'Q8_0',
  'IQ4_NL',
  'MXFP4',
  'IQ4_XS',
  'Q2_K',
  'Q3_K',
  'Q4_K',
  'Q5_K',
  'Q6_K',
] as const satisfies readonly GpuWeightType[];
export type QuantType = (typeof QUANT_TYPES)[number];

export function isQuantType(type: string): type is QuantType {
  return QUANT_TYPES.some((t) => t === type);
}

export const QUANT_GEOMETRY: Readonly<Record<QuantType, QuantGeometry>> = {
  F32: G(4, 4, 1, true),
  F16: G(8, 4, 1, true),
  BF16: G(8, 4, 1, true),
  Q4_0: G(32, 5, 1),
  Q4_1: G(32, 5, 1),
  Q5_0: G(32, 6, 1),
  Q5_1: G(32, 6, 1),
  Q8_0: G(32, 9, 1),
  IQ4_NL: G(32, 5, 1, false, true),
  MXFP4: G(32, 5, 1, false, true),
  IQ4_XS: G(256, 34, 8, false, true),
  Q2_K: G(256, 21, 8),
  Q3_K: G(256, 28, 8),
  Q4_K: G(256, 36, 8, true),
  Q5_K: G(256, 44, 8, true),
  Q6_K: G(256, 53, 8),
};

export function quantGeometry(type: GpuWeightType, where: string): QuantGeometry {
  check(isQuantType(type), () => `${where}: weight type ${type} is not supported (supported: ${QUANT_TYPES.join(', ')})`);
  return QUANT_GEOMETRY[type];
}

/** Defines that select `type` in quant.wgsl. */
export function quantDefines(type: GpuWeightType, where = 'quant'): Defines {
  const g = quantGeometry(type, where);
  return { [`W_${type}`]: true, W_VEC4: g.vec4, W_CODEBOOK: g.codebook };
}

/** Checks that a row of `rowElems` elements is whole quant.wgsl blocks; returns the blocks per row. */
export function blocksPerRow(type: GpuWeightType, rowElems: number, where: string): number {
  const g = quantGeometry(type, where);
  check(
    Number.isInteger(rowElems) && rowElems > 0 && rowElems % g.blockElems === 0,
    () => `${where}: ${type} rows of ${rowElems} elements are not a whole number of ${g.blockElems}-element blocks`,
  );
  return rowElems / g.blockElems;
}

