/**
 * @file The TypeScript side of kernels/lib/quant.wgsl: which weight types the WGSL decoders cover, the defines
 * that select one (`quantDefines`), and each type's block/part geometry, so wrappers size grids and check
 * shapes from the same numbers the WGSL uses. Every kernel that reads GGUF weights (matvec, matmul,
 * embedding, MoE) includes quant.wgsl through `QUANT_INCLUDES` and these defines.
 */
import quantWgsl from './quant.wgsl?raw';
import quantFloatWgsl from './quant_float.wgsl?raw';
import quantQ32Wgsl from './quant_q32.wgsl?raw';
import quantCodebookWgsl from './quant_codebook.wgsl?raw';
import quantKWgsl from './quant_k.wgsl?raw';
import weightBindingWgsl from './weight_binding.wgsl?raw';
import xq8Wgsl from './xq8.wgsl?raw';
import { check } from './context.ts';
import type { Defines } from './preprocess.ts';
import { QUANT_GEOMETRY, QUANT_TYPES, isQuantType, type GpuWeightType, type QuantGeometry } from './weightTypes.ts';

/** Include map for `ctx.pipeline({ includes })`. `quant`: block decoding (it includes its per-family parts
 * `quant_float`, `quant_q32`, `quant_codebook`, `quant_k`); `weight_binding`: binding 1 + accessors for kernels reading one weight chunk; `xq8`:
 * accessors of act_quant's int8 activations. */
export const QUANT_INCLUDES: Readonly<Record<string, string>> = {
  quant: quantWgsl,
  quant_float: quantFloatWgsl,
  quant_q32: quantQ32Wgsl,
  quant_codebook: quantCodebookWgsl,
  quant_k: quantKWgsl,
  weight_binding: weightBindingWgsl,
  xq8: xq8Wgsl,
};

export { QUANT_GEOMETRY, QUANT_TYPES, isQuantType, type QuantGeometry, type QuantType } from './weightTypes.ts';

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

