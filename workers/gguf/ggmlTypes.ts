/**
 * @file Every GGML tensor type id that can appear in a GGUF file (ggml/include/ggml.h, `enum ggml_type`),
 * with its block size (elements) and bytes per block (ggml/src/ggml-common.h `block_*` structs). The reader
 * needs the whole table, not just the types we can compute with, so that any file is described (sizes,
 * offsets, bounds) correctly and an unsupported type is named instead of misread.
 */
import { GgufError } from './errors.ts';

export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  // 4 (Q4_2) and 5 (Q4_3) were removed from ggml.
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  IQ1_M: 29,
  BF16: 30,
  // 31..33 (Q4_0_4_4, Q4_0_4_8, Q4_0_8_8) and 36..38 (IQ4_NL_4_4...) were removed from GGUF files.
  TQ1_0: 34,
  TQ2_0: 35,
  MXFP4: 39,
  NVFP4: 40,
  Q1_0: 41,
  Q2_0: 42,
} as const;

export type GgmlTypeName = keyof typeof GgmlType;
export type GgmlType = (typeof GgmlType)[GgmlTypeName];

export interface GgmlTypeInfo {
  readonly id: GgmlType;
  readonly name: GgmlTypeName;
  /** Elements per block (1 for plain scalar types). */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
  readonly quantized: boolean;
}

const QK_K = 256;

// [block size, bytes per block] from the static_asserts in ggml-common.h.
const LAYOUT: Record<GgmlTypeName, readonly [number, number]> = {
  F32: [1, 4],
  F16: [1, 2],
  Q4_0: [32, 18],
  Q4_1: [32, 20],
  Q5_0: [32, 22],
  Q5_1: [32, 24],
  Q8_0: [32, 34],
  Q8_1: [32, 36],
  Q2_K: [QK_K, 84],
  Q3_K: [QK_K, 110],
  Q4_K: [QK_K, 144],
  Q5_K: [QK_K, 176],
  Q6_K: [QK_K, 210],
  Q8_K: [QK_K, 292],
  IQ2_XXS: [QK_K, 66],
  IQ2_XS: [QK_K, 74],
  IQ3_XXS: [QK_K, 98],
  IQ1_S: [QK_K, 50],
  IQ4_NL: [32, 18],
  IQ3_S: [QK_K, 110],
  IQ2_S: [QK_K, 82],
  IQ4_XS: [QK_K, 136],
  I8: [1, 1],
  I16: [1, 2],
  I32: [1, 4],
  I64: [1, 8],
  F64: [1, 8],
  IQ1_M: [QK_K, 56],
  BF16: [1, 2],
  TQ1_0: [QK_K, 54],
  TQ2_0: [QK_K, 66],
  MXFP4: [32, 17],
  NVFP4: [64, 36],
  Q1_0: [128, 18],
  Q2_0: [64, 18],
};

const PLAIN = new Set<GgmlTypeName>(['F32', 'F16', 'BF16', 'I8', 'I16', 'I32', 'I64', 'F64']);

const BY_ID = new Map<number, GgmlTypeInfo>();
function isTypeName(s: string): s is GgmlTypeName {
  return s in GgmlType;
}
for (const name of Object.keys(GgmlType).filter(isTypeName)) {
  const [blockSize, typeSize] = LAYOUT[name];
  BY_ID.set(GgmlType[name], { id: GgmlType[name], name, blockSize, typeSize, quantized: !PLAIN.has(name) });
}

/** All known types, by id. */
export const GGML_TYPES: readonly GgmlTypeInfo[] = [...BY_ID.values()].sort((a, b) => a.id - b.id);
const BY_NAME = new Map<string, GgmlType>(GGML_TYPES.map((t) => [t.name, t.id]));

export function isGgmlType(id: number): id is GgmlType {
  return BY_ID.has(id);
}

/** Type info by id; throws `GgufError('unknown-type')` naming the id for ids ggml does not define (or removed). */
export function ggmlTypeInfo(type: number, where = ''): GgmlTypeInfo {
  const info = BY_ID.get(type);
  if (!info) {
    const removed = type === 4 || type === 5 || (type >= 31 && type <= 33) || (type >= 36 && type <= 38);
    throw new GgufError(
      'unknown-type',
      `unknown GGML tensor type ${type}${where ? ` (${where})` : ''}` +
        (removed ? ': this type was removed from ggml; re-convert the model' : ''),
    );
  }
  return info;
}

export function ggmlTypeName(type: number): string {
  return BY_ID.get(type)?.name ?? `type#${type}`;
}

/** Parses 'q4_k', 'Q4_K', 'f16'... into a type id, or undefined. */
export function parseGgmlTypeName(name: string): GgmlType | undefined {
  return BY_NAME.get(name.toUpperCase());
}

/** Number of elements of a tensor with these dims (ggml ne order). */
export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/**
 * Bytes of a contiguous tensor: rows of ne[0] elements, each a whole number of blocks.
 * Throws `GgufError('bad-shape')` when ne[0] is not a multiple of the block size.
 */
export function tensorBytes(type: number, dims: readonly number[]): number {
  const info = ggmlTypeInfo(type);
  const ne0 = dims.length > 0 ? dims[0] : 1;
  if (ne0 % info.blockSize !== 0) {
    throw new GgufError(
      'bad-shape',
      `row length ${ne0} is not a multiple of the ${info.name} block size ${info.blockSize} (dims [${dims.join(', ')}])`,
    );
  }
  return (elementCount(dims) / info.blockSize) * info.typeSize;
}

/** Bytes of one row (ne[0] elements). */
export function rowBytes(type: number, ne0: number): number {
  return tensorBytes(type, [ne0]);
}
