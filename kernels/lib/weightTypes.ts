/**
 * @file One table of weight types: for each GGML type the loader may meet, its GGUF block and GPU padding
 * (`layout`), whether the kernels decode it and how quant.wgsl sees its blocks (`geometry`; undefined: no
 * decoder, the loader refuses the tensor; with one, matvec, matmul, embedding and the MoE kernels all read it), ggml-cpu's rounding of a product's input for it (`rounding`, its vec_dot_type),
 * and the scale block of the int8-activation kernels where they exist (`int8`: matvec and MoE decode).
 * Everything else (GgmlTypeId, BLOCK_LAYOUT, QUANT_TYPES, QUANT_GEOMETRY, Q8_WEIGHT_TYPES, ggmlRoundingOf) is
 * derived from it, so adding a type is one row here plus its decoder in quant.wgsl.
 */

/** How ggml-cpu rounds a matrix product's input for a weight type (its vec_dot_type). */
export type GgmlRounding = 'q8_K' | 'q8_0' | 'f16' | 'bf16';

/** Elements per int8 activation scale: 256 (ggml's Q8_K) or 32 (Q8_0). */
export type Q8ScaleBlock = 32 | 256;

export interface BlockLayout {
  /** Elements per block. */
  readonly elems: number;
  /** Bytes per block in GGUF. */
  readonly bytes: number;
  /** Bytes per block on the GPU (multiple of 4). */
  readonly gpuBytes: number;
  /** Byte offset in the GGUF block where padding is inserted (== bytes: padding at the end). */
  readonly padAt: number;
}

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

export interface WeightTypeInfo {
  /** GGML type id. */
  readonly id: number;
  readonly layout: BlockLayout;
  /** quant.wgsl's view of a block; undefined: no kernel decodes the type (the loader refuses such a tensor). */
  readonly geometry: QuantGeometry | undefined;
  /** ggml-cpu's input rounding (undefined: it multiplies in f32). */
  readonly rounding?: GgmlRounding;
  /** The int8-activation kernels read it with activations quantized in blocks of this size. */
  readonly int8?: Q8ScaleBlock;
}

const L = (elems: number, bytes: number, gpuBytes: number, padAt = bytes): BlockLayout => ({ elems, bytes, gpuBytes, padAt });

const G = (blockElems: number, blockWords: number, parts: number, vec4 = false, codebook = false): QuantGeometry => ({
  blockElems,
  blockWords,
  parts,
  partElems: blockElems / parts,
  vec4,
  codebook,
});

const T = <Id extends number, Geo extends QuantGeometry | undefined, B extends Q8ScaleBlock | undefined = undefined>(
  id: Id,
  layout: BlockLayout,
  geometry: Geo,
  rounding?: GgmlRounding,
  int8?: B,
) => ({
  id,
  layout,
  geometry,
  rounding,
  int8,
});

// Padding places the quant bytes u32-aligned: after the f16 scale for Q4_0/Q8_0/Q5_0/IQ4_NL, after the E8M0 byte
// for MXFP4, at the end for Q6_K/Q3_K. F16/BF16 rows are padded as a whole; a "block" is one element.
// Q4_1/Q5_1 round like Q8_0 (Q8_1 adds an f16 sum for the min term; its q·d values are Q8_0's).
export const WEIGHT_TYPES = {
  F32: T(0, L(1, 4, 4), G(4, 4, 1, true)),
  F16: T(1, L(1, 2, 2), G(8, 4, 1, true), 'f16'),
  BF16: T(30, L(1, 2, 2), G(8, 4, 1, true), 'bf16'),
  Q4_0: T(2, L(32, 18, 20, 2), G(32, 5, 1), 'q8_0'),
  Q4_1: T(3, L(32, 20, 20), G(32, 5, 1), 'q8_0'),
  Q5_0: T(6, L(32, 22, 24, 2), G(32, 6, 1), 'q8_0'),
  Q5_1: T(7, L(32, 24, 24), G(32, 6, 1), 'q8_0'),
  Q8_0: T(8, L(32, 34, 36, 2), G(32, 9, 1), 'q8_0', 32),
  IQ4_NL: T(20, L(32, 18, 20, 2), G(32, 5, 1, false, true), 'q8_0'),
  MXFP4: T(39, L(32, 17, 20, 1), G(32, 5, 1, false, true), 'q8_0'),
  IQ4_XS: T(23, L(256, 136, 136), G(256, 34, 8, false, true), 'q8_K'),
  Q2_K: T(10, L(256, 84, 84), G(256, 21, 8), 'q8_K'),
  Q3_K: T(11, L(256, 110, 112), G(256, 28, 8), 'q8_K'),
  Q4_K: T(12, L(256, 144, 144), G(256, 36, 8, true), 'q8_K', 256),
  Q5_K: T(13, L(256, 176, 176), G(256, 44, 8, true), 'q8_K'),
  Q6_K: T(14, L(256, 210, 212), G(256, 53, 8), 'q8_K'),
} as const satisfies Record<string, WeightTypeInfo>;

export type GpuWeightType = keyof typeof WEIGHT_TYPES;

/** The types some kernel decodes (a row with a geometry). */
export type QuantType = { [K in GpuWeightType]: (typeof WEIGHT_TYPES)[K]['geometry'] extends QuantGeometry ? K : never }[GpuWeightType];

/** The decoded types, in table order. */
export const QUANT_TYPES: readonly QuantType[] = (Object.keys(WEIGHT_TYPES) as GpuWeightType[]).filter(
  (k): k is QuantType => WEIGHT_TYPES[k].geometry !== undefined,
);

export function isQuantType(type: string): type is QuantType {
  return QUANT_TYPES.some((t) => t === type);
}

/** quant.wgsl's geometry of each decoded type. */
export const QUANT_GEOMETRY = Object.fromEntries(QUANT_TYPES.map((k) => [k, WEIGHT_TYPES[k].geometry])) as Readonly<
  Record<QuantType, QuantGeometry>
>;

/** Types with int8-activation kernels, and the activation scale block each pairs with (ggml's vec_dot_type). */
export type Q8WeightType = { [K in GpuWeightType]: (typeof WEIGHT_TYPES)[K]['int8'] extends undefined ? never : K }[GpuWeightType];

export const Q8_WEIGHT_TYPES = Object.fromEntries(
  (Object.keys(WEIGHT_TYPES) as GpuWeightType[]).flatMap((k) => {
    const b: Q8ScaleBlock | undefined = WEIGHT_TYPES[k].int8;
    return b ? [[k, b]] : [];
  }),
) as Readonly<Record<Q8WeightType, Q8ScaleBlock>>;

export function isQ8WeightType(type: GpuWeightType): type is Q8WeightType {
  return type in Q8_WEIGHT_TYPES;
}

const BY_ID = new Map<number, GpuWeightType>(
  (Object.keys(WEIGHT_TYPES) as GpuWeightType[]).map((k) => [WEIGHT_TYPES[k].id, k]),
);

/** The table's name for a GGML type id (undefined: a type Brix does not know). */
export function weightTypeOf(id: number): GpuWeightType | undefined {
  return BY_ID.get(id);
}

/** Why a tensor of GGML type `id` cannot run, or undefined when the kernels decode it. */
export function unsupportedTypeReason(id: number): string | undefined {
  const t = weightTypeOf(id);
  if (t && isQuantType(t)) return undefined;
  return `Brix has no GPU kernels for it (supported: ${QUANT_TYPES.join(', ')})`;
}

/** ggml-cpu's rounding of a product's input for a weight of GGML type `id` (undefined: f32). */
export function ggmlRoundingOf(id: number): GgmlRounding | undefined {
  const t = weightTypeOf(id);
  return t && WEIGHT_TYPES[t].rounding;
}
