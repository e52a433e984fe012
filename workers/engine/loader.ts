/**
 * @file Streams a GGUF model's tensors onto the GPU. Tensors are read by range in pieces of whole rows
 * (at most PIECE_BYTES), repacked into the kernels' aligned layout and written straight into GPU buffers, so
 * peak JS memory stays near one piece plus its repacked copy, never the model's size. Before any allocation it
 * checks that every tensor fits the adapter's limits and that its type has kernels, and says what does not.
 *
 * Q/K/V fusion: a layer's separate attn_q/attn_k/attn_v weights that are 2-D, of one GGML type and without
 * biases are uploaded as one `blk.N.attn_qkv.weight` (rows Q, then K, then V) when the concatenation fits one
 * storage binding, so decode reads the normalised input once and issues one matvec; else Q and K as
 * `attn_qk.weight`, or K and V as `attn_kv.weight` (V, or Q, stays alone). GPU bytes are the same as separate
 * uploads (same row stride). The layer program looks the fused names up (layerProgram.ts).
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
  type GpuWeightType,
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

/** One GPU weight: a file tensor, or fused Q/K/V rows stacked from several. */
export interface PlannedUpload {
  /** The GPU weight's name: the file tensor's, or blk.N.attn_qkv / attn_qk / attn_kv.weight. */
  readonly name: string;
  readonly type: GpuWeightType;
  /** ggml dims of the GPU weight. */
  readonly dims: readonly number[];
  /** The file tensors whose rows it holds, in order. */
  readonly parts: readonly GgufTensorInfo[];
}

export interface UploadPlan {
  /** The file tensors read. */
  readonly tensors: readonly GgufTensorInfo[];
  /** The GPU weights made of them. */
  readonly uploads: readonly PlannedUpload[];
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
  return { tensors, uploads: fuseQkv(ctx, model, tensors), fileBytes, gpuBytes };
}

const QKV = /^blk\.(\d+)\.attn_(q|k|v)\.weight$/;

/** The GPU weights of `tensors`: each alone, except a layer's Q/K/V (or two of them) that can be stacked. */
function fuseQkv(ctx: Pick<KernelContext, 'maxBinding'>, model: GgufModel, tensors: readonly GgufTensorInfo[]): PlannedUpload[] {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const alone = (t: GgufTensorInfo): PlannedUpload => ({ name: t.name, type: gpuType(t), dims: t.dims, parts: [t] });
  /** Stackable: 2-D, no bias, rows of one type and length, together within one binding. */
  const stack = (name: string, parts: readonly (GgufTensorInfo | undefined)[]): PlannedUpload | undefined => {
    const ps: GgufTensorInfo[] = [];
    for (const p of parts) {
      if (!p || p.dims.length !== 2 || model.tensor(p.name.replace(/\.weight$/, '.bias')) !== undefined) return undefined;
      ps.push(p);
    }
    const [first] = ps;
    if (ps.some((p) => p.type !== first.type || p.dims[0] !== first.dims[0]) || byName.has(name) || model.tensor(name) !== undefined) return undefined;
    const rows = ps.reduce((a, p) => a + p.dims[1], 0);
    if (rows * gpuRowStride(gpuType(first), first.dims[0]) > ctx.maxBinding) return undefined;
    return { name, type: gpuType(first), dims: [first.dims[0], rows], parts: ps };
  };
  const fused = new Map<string, PlannedUpload>();
  for (const t of tensors) {
    const m = QKV.exec(t.name);
    if (!m || m[2] !== 'q') continue;
    const p = `blk.${m[1]}.attn_`;
    const [q, k, v] = ['q', 'k', 'v'].map((x) => byName.get(`${p}${x}.weight`));
    const u = stack(`${p}qkv.weight`, [q, k, v]) ?? stack(`${p}qk.weight`, [q, k]) ?? stack(`${p}kv.weight`, [k, v]);
    if (u) for (const part of u.parts) fused.set(part.name, u);
  }
  const out: PlannedUpload[] = [];
  for (const t of tensors) {
    const u = fused.get(t.name);
    if (!u) out.push(alone(t));
    else if (u.parts[0] === t) out.push(u);
  }
  return out;
}

function gpuType(t: GgufTensorInfo): GpuWeightType {
  const tn = typeName(t.type);
  if (!tn) throw new UnsupportedModelError(`tensor ${t.name}: no GPU kernels for ${ggmlTypeName(t.type)}`);
  return tn;
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
    for (const u of plan.uploads) {
      if (signal?.aborted) throw new AbortError('model load aborted');
      ctx.device.pushErrorScope('out-of-memory');
      const w = createWeight(ctx, u.name, u.type, u.dims);
      const oom = await ctx.device.popErrorScope();
      if (oom) {
        destroyWeight(w);
        throw new GpuOutOfMemoryError(`out of GPU memory allocating ${u.name} (${mib(w.byteSize)}): ${oom.message}`);
      }
      out.set(u.name, w);
      const rowBytes = ggufRowBytes(u.type, u.dims[0]);
      const rowsPerPiece = Math.max(1, Math.floor(PIECE_BYTES / rowBytes));
      // Each part's rows follow the previous part's (fused Q/K/V).
      let first = 0;
      let nbytes = 0;
      for (const t of u.parts) {
        const rows = t.dims.slice(1).reduce((a, b) => a * b, 1);
        for (let row = 0; row < rows; row += rowsPerPiece) {
          const n = Math.min(rowsPerPiece, rows - row);
          const bytes = await model.readTensor(t, row * rowBytes, n * rowBytes, signal);
          writeWeightRows(ctx, w, first + row, bytes);
          loaded += bytes.byteLength;
          onProgress?.({ loaded, total: plan.fileBytes });
        }
        first += rows;
        nbytes += t.nbytes;
      }
      // Let queued writes drain so staging memory does not pile up on big models.
      if (loaded % (8 * PIECE_BYTES) < nbytes) await ctx.device.queue.onSubmittedWorkDone();
    }
    await ctx.device.queue.onSubmittedWorkDone();
    return out;
  } catch (e) {
    for (const w of out.values()) destroyWeight(w);
    throw e;
  }
}
