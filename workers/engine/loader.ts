/**
 * @file Streams a GGUF model's tensors onto the GPU. Tensors are read by range in pieces of whole rows
 * (at most PIECE_BYTES), repacked into the kernels' aligned layout and written straight into GPU buffers, so
 * peak JS memory stays near one piece plus its repacked copy, never the model's size. Before any allocation it
 * checks that every tensor fits the adapter's limits and that its type has kernels, and says what does not.
 */
import type { GgufModel } from '../gguf/model.ts';
import type { GgufTensorInfo } from '../gguf/reader.ts';
import { ggmlTypeName } from '../gguf/ggmlTypes.ts';
import { AbortError, GpuOutOfMemoryError } from '../errors.ts';
import type { KernelContext } from '../../kernels/lib/context.ts';
import { unsupportedTypeReason } from '../../kernels/lib/weightTypes.ts';
import {
  createWeight,
  destroyWeight,
  ggufRowBytes,
  gpuRowStride,
  typeName,
  writeWeightRows,
  type GpuWeight,
} from '../../kernels/lib/weights.ts';

/** Largest read per step; the piece and its repacked copy are the loader's whole working set. */
export const PIECE_BYTES = 16 * 2 ** 20;

export class UnsupportedModelError extends Error {
  override name = 'UnsupportedModelError';
}

export interface UploadProgress {
  readonly loaded: number;
  readonly total: number;
}

export interface UploadPlan {
  readonly tensors: readonly GgufTensorInfo[];
  /** Bytes of GGUF tensor data to read. */
  readonly fileBytes: number;
  /** Bytes on the GPU after repacking. */
  readonly gpuBytes: number;
}

/**
 * Checks types (the type table: a type no kernel decodes is refused here, before any upload) and limits for the
 * named tensors; throws UnsupportedModelError / GpuOutOfMemoryError with specifics.
 */
export function planUpload(ctx: Pick<KernelContext, 'maxBinding'>, model: GgufModel, names: readonly string[]): UploadPlan {
  const tensors = names.map((n) => model.requireTensor(n));
  let fileBytes = 0;
  let gpuBytes = 0;
  for (const t of tensors) {
    const why = unsupportedTypeReason(t.type);
    const tn = typeName(t.type);
    if (why || !tn) throw new UnsupportedModelError(`tensor ${t.name} has type ${ggmlTypeName(t.type)}: ${why}`);
    const rowStride = gpuRowStride(tn, t.dims[0]);
    const rows = t.dims.slice(1).reduce((a, b) => a * b, 1);
    const group = t.dims.length >= 3 ? t.dims[1] : 1;
    if (group * rowStride > ctx.maxBinding) {
      throw new GpuOutOfMemoryError(
        `tensor ${t.name}: one ${group > 1 ? 'expert' : 'row'} is ${mib(group * rowStride)}, over this GPU's binding limit of ${mib(ctx.maxBinding)}`,
      );
    }
    fileBytes += t.nbytes;
    gpuBytes += rows * rowStride;
  }
  return { tensors, fileBytes, gpuBytes };
}

function mib(n: number): string {
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

/**
 * Uploads the planned tensors, reporting bytes read. On failure or abort, frees what it allocated.
 * Out-of-memory from the device surfaces as GpuOutOfMemoryError naming the tensor.
 */
export async function uploadTensors(
  ctx: KernelContext,
  model: GgufModel,
  plan: UploadPlan,
  onProgress?: (p: UploadProgress) => void,
  signal?: AbortSignal,
): Promise<Map<string, GpuWeight>> {
  const out = new Map<string, GpuWeight>();
  let loaded = 0;
  try {
    for (const t of plan.tensors) {
      if (signal?.aborted) throw new AbortError('model load aborted');
      const type = typeName(t.type);
      if (!type) throw new UnsupportedModelError(`tensor ${t.name}: no GPU kernels for ${ggmlTypeName(t.type)}`);
      ctx.device.pushErrorScope('out-of-memory');
      const w = createWeight(ctx, t.name, type, t.dims);
      const oom = await ctx.device.popErrorScope();
      if (oom) {
        destroyWeight(w);
        throw new GpuOutOfMemoryError(`out of GPU memory allocating ${t.name} (${mib(w.byteSize)}): ${oom.message}`);
      }
      out.set(t.name, w);
      const rowBytes = ggufRowBytes(type, t.dims[0]);
      const rowsPerPiece = Math.max(1, Math.floor(PIECE_BYTES / rowBytes));
      for (let row = 0; row < w.rows; row += rowsPerPiece) {
        const n = Math.min(rowsPerPiece, w.rows - row);
        const bytes = await model.readTensor(t, row * rowBytes, n * rowBytes, signal);
        writeWeightRows(ctx, w, row, bytes);
        loaded += bytes.byteLength;
        onProgress?.({ loaded, total: plan.fileBytes });
      }
      // Let queued writes drain so staging memory does not pile up on big models.
      if (loaded % (8 * PIECE_BYTES) < t.nbytes) await ctx.device.queue.onSubmittedWorkDone();
    }
    await ctx.device.queue.onSubmittedWorkDone();
    return out;
  } catch (e) {
    for (const w of out.values()) destroyWeight(w);
    throw e;
  }
}
