/**
 * @file GPU layout of weight tensors. GGUF blocks are not 4-byte aligned (Q8_0 is 34 bytes, Q4_0 18, Q6_K 210),
 * and WGSL storage buffers are read as u32. We repack at upload: each block is padded to a multiple of 4 bytes
 * with the padding placed so that the quant bytes start u32-aligned (after the f16 scale for Q4_0/Q8_0/Q5_0/
 * IQ4_NL, after the E8M0 byte for MXFP4, at the end for Q6_K/Q3_K), and each row is padded to 4 bytes. Block
 * internals are otherwise byte-identical to GGUF, so kernels decode exactly ggml's formats.
 *
 * Tensors larger than the binding limit are split into chunks of whole rows (whole experts for 3-D expert
 * tensors); wrappers dispatch per chunk or bind every chunk.
 */
import { check, writeBytes, type KernelContext } from './context.ts';

import { WEIGHT_TYPES, weightTypeOf, type BlockLayout, type GpuWeightType } from './weightTypes.ts';

export type { BlockLayout, GpuWeightType };

/** GGML type ids by name (from the type table, weightTypes.ts). */
export const GgmlTypeId = Object.fromEntries(
  (Object.keys(WEIGHT_TYPES) as GpuWeightType[]).map((k) => [k, WEIGHT_TYPES[k].id]),
) as { readonly [K in GpuWeightType]: (typeof WEIGHT_TYPES)[K]['id'] };

/** GGUF block and GPU padding per type (from the type table). */
export const BLOCK_LAYOUT = Object.fromEntries(
  (Object.keys(WEIGHT_TYPES) as GpuWeightType[]).map((k) => [k, WEIGHT_TYPES[k].layout]),
) as Readonly<Record<GpuWeightType, BlockLayout>>;

export const typeName = weightTypeOf;

/** Bytes of one row on the GPU (padded to 4). */
export function gpuRowStride(type: GpuWeightType, rowElems: number): number {
  const b = BLOCK_LAYOUT[type];
  check(rowElems % b.elems === 0, () => `${type}: row of ${rowElems} is not a multiple of the block size ${b.elems}`);
  return Math.ceil(((rowElems / b.elems) * b.gpuBytes) / 4) * 4;
}

export function ggufRowBytes(type: GpuWeightType, rowElems: number): number {
  const b = BLOCK_LAYOUT[type];
  return (rowElems / b.elems) * b.bytes;
}

/** Repacks `nRows` GGUF rows into the GPU layout. */
export function repackRows(type: GpuWeightType, src: Uint8Array, rowElems: number, nRows: number): Uint8Array {
  const b = BLOCK_LAYOUT[type];
  const inRow = ggufRowBytes(type, rowElems);
  const outRow = gpuRowStride(type, rowElems);
  check(src.byteLength >= inRow * nRows, () => `${type}: ${src.byteLength} bytes < ${nRows} rows of ${inRow}`);
  if (inRow === outRow) return src.byteLength === inRow * nRows ? src : src.subarray(0, inRow * nRows);
  const out = new Uint8Array(outRow * nRows);
  const blocks = rowElems / b.elems;
  const pad = b.gpuBytes - b.bytes;
  for (let r = 0; r < nRows; r++) {
    let si = r * inRow;
    let di = r * outRow;
    if (pad === 0) {
      out.set(src.subarray(si, si + inRow), di);
      continue;
    }
    for (let k = 0; k < blocks; k++) {
      out.set(src.subarray(si, si + b.padAt), di);
      out.set(src.subarray(si + b.padAt, si + b.bytes), di + b.padAt + pad);
      si += b.bytes;
      di += b.gpuBytes;
    }
  }
  return out;
}

export interface WeightChunk {
  readonly buffer: GPUBuffer;
  readonly firstRow: number;
  readonly rows: number;
}

/** A weight tensor on the GPU. dims are ggml `ne` (innermost first): a row is dims[0] elements. */
export interface GpuWeight {
  readonly name: string;
  readonly type: GpuWeightType;
  readonly dims: readonly number[];
  readonly rowElems: number;
  readonly rows: number;
  /** Bytes per row on the GPU. */
  readonly rowStride: number;
  /** Rows per chunk boundary unit: dims[1] for 3-D expert tensors (chunks hold whole experts), else 1. */
  readonly rowGroup: number;
  readonly chunks: readonly WeightChunk[];
  readonly byteSize: number;
}

/**
 * Allocates a weight tensor, split into chunks of whole row groups each within the binding limit.
 * Fill it with writeWeightRows (streaming) or uploadWeight (all at once).
 */
export function createWeight(ctx: KernelContext, name: string, type: GpuWeightType, dims: readonly number[]): GpuWeight {
  const rowElems = dims[0];
  const rows = dims.slice(1).reduce((a, b) => a * b, 1);
  const rowStride = gpuRowStride(type, rowElems);
  const rowGroup = dims.length >= 3 ? dims[1] : 1;
  const groupBytes = rowGroup * rowStride;
  check(groupBytes <= ctx.maxBinding, () => `${name}: one row group (${groupBytes} B) exceeds the binding limit ${ctx.maxBinding}`);
  const groupsPerChunk = Math.max(1, Math.floor(ctx.maxBinding / groupBytes));
  const nGroups = rows / rowGroup;
  const chunks: WeightChunk[] = [];
  for (let g = 0; g < nGroups; g += groupsPerChunk) {
    const gs = Math.min(groupsPerChunk, nGroups - g);
    const buffer = ctx.storage(gs * groupBytes, `${name}#${chunks.length}`);
    chunks.push({ buffer, firstRow: g * rowGroup, rows: gs * rowGroup });
  }
  return { name, type, dims: [...dims], rowElems, rows, rowStride, rowGroup, chunks, byteSize: rows * rowStride };
}

/** Writes GGUF-layout rows [firstRow, firstRow + n) (repacked on the way); rows may span chunks. */
export function writeWeightRows(ctx: KernelContext, w: GpuWeight, firstRow: number, ggufBytes: Uint8Array): void {
  const inRow = ggufRowBytes(w.type, w.rowElems);
  check(ggufBytes.byteLength % inRow === 0, () => `${w.name}: ${ggufBytes.byteLength} bytes is not whole rows of ${inRow}`);
  const n = ggufBytes.byteLength / inRow;
  check(firstRow + n <= w.rows, () => `${w.name}: rows ${firstRow}+${n} > ${w.rows}`);
  let row = firstRow;
  while (row < firstRow + n) {
    const c = w.chunks.find((k) => row >= k.firstRow && row < k.firstRow + k.rows);
    if (!c) throw new RangeError(`${w.name}: no chunk for row ${row}`);
    const take = Math.min(firstRow + n - row, c.firstRow + c.rows - row);
    const src = ggufBytes.subarray((row - firstRow) * inRow, (row - firstRow + take) * inRow);
    writeBytes(ctx.device, c.buffer, (row - c.firstRow) * w.rowStride, repackRows(w.type, src, w.rowElems, take));
    row += take;
  }
}

export function uploadWeight(
  ctx: KernelContext,
  name: string,
  type: GpuWeightType,
  dims: readonly number[],
  ggufBytes: Uint8Array,
): GpuWeight {
  const w = createWeight(ctx, name, type, dims);
  writeWeightRows(ctx, w, 0, ggufBytes);
  return w;
}

export function destroyWeight(w: GpuWeight): void {
  for (const c of w.chunks) c.buffer.destroy();
}
