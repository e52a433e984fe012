/**
 * @file Dispatch wrapper for kernels/kv_cache.wgsl and the KV cache layout.
 *
 * Layout (chosen for attention reads): per layer, K and V each `(n_kv, n_ctx, head_dim)`, row-major, f32 or f16.
 * One KV head's positions are contiguous, so a decode workgroup that owns (KV head, chunk of positions) reads
 * one contiguous block of `chunk * head_dim` values with coalesced vec4 loads, and all query heads of a GQA group
 * share it. Layers may live in separate buffers or at element offsets (`kOffset`/`vOffset`, multiples of 4) in
 * one big buffer; a buffer larger than the binding limit is bound as a 256-byte-aligned range (lib/span.ts `bindSpan`).
 * f16 (`kvF16`) halves the bytes attention reads; it needs `ctx.f16` (`shader-f16`).
 *
 * API:
 *   kvCacheWrite(ctx, args): Dispatch — copies K and V of T new tokens, `(T, n_kv, head_dim)` at offsets/strides
 *     in `src`, to cache positions pos[t] (from a u32 buffer or `pos0 + t`). The fused `qkvRope` (rope.ts) does
 *     this write itself; this kernel is for engines that project K/V separately.
 *   kvCacheElems(nKv, nCtx, headDim): elements of one layer's K (or V).
 */
import source from './kv_cache.wgsl?raw';
import { check, grid2d, type Dispatch, type KernelContext } from './lib/context.ts';
import { wgslParamsStruct, type ParamValues } from './lib/params.ts';
import { bindSpan, type Span } from './lib/span.ts';

/** Elements of one layer's K (or V) cache. */
export function kvCacheElems(nKv: number, nCtx: number, headDim: number): number {
  return nKv * nCtx * headDim;
}

/** Positions of the T tokens: a u32 buffer (pos[offset + t]) or `base + t`. */
export type Positions = { readonly buffer: GPUBuffer; readonly offset?: number } | { readonly base: number };

export const KV_WRITE_PARAMS = [
  ['n_tok', 'u32'],
  ['n_kv', 'u32'],
  ['hd', 'u32'],
  ['n_ctx', 'u32'],
  ['k_off', 'u32'],
  ['k_stride', 'u32'],
  ['v_off', 'u32'],
  ['v_stride', 'u32'],
  ['kc_off', 'u32'],
  ['vc_off', 'u32'],
  ['pos_off', 'u32'],
  ['pos0', 'u32'],
] as const;

export interface KvCacheWriteArgs {
  readonly nTok: number;
  readonly nKv: number;
  readonly headDim: number;
  /** Cache capacity in positions; a position ≥ nCtx is not written. */
  readonly nCtx: number;
  /** Holds K and V of the new tokens: K of token t, head h at kOffset + t·kStride + h·headDim. */
  readonly src: GPUBuffer;
  readonly kOffset: number;
  readonly vOffset: number;
  /** Token strides in elements (default nKv·headDim). */
  readonly kStride?: number;
  readonly vStride?: number;
  readonly kCache: GPUBuffer;
  readonly vCache: GPUBuffer;
  readonly kCacheOffset?: number;
  readonly vCacheOffset?: number;
  readonly positions: Positions;
  /** f16 cache (needs ctx.f16). */
  readonly kvF16?: boolean;
}

/** Checks shared by every kernel that touches the cache; returns the bindings. */
export function bindCache(
  ctx: KernelContext,
  what: string,
  a: { nKv: number; nCtx: number; headDim: number; kCache: GPUBuffer; vCache: GPUBuffer; kCacheOffset?: number; vCacheOffset?: number; kvF16?: boolean },
): { k: Span; v: Span; kOff: number; vOff: number; elemBytes: number } {
  const { kCacheOffset = 0, vCacheOffset = 0 } = a;
  check(!a.kvF16 || ctx.f16, () => `${what}: f16 KV cache needs shader-f16, which this device lacks`);
  check(Number.isInteger(a.nCtx) && a.nCtx > 0, () => `${what}: nCtx must be a positive integer, got ${a.nCtx}`);
  check(kCacheOffset % 4 === 0 && vCacheOffset % 4 === 0, () => `${what}: cache offsets must be multiples of 4 elements`);
  const elemBytes = a.kvF16 ? 2 : 4;
  const n = kvCacheElems(a.nKv, a.nCtx, a.headDim);
  const k = bindSpan(ctx, a.kCache, kCacheOffset, kCacheOffset + n, elemBytes, `${what}: K cache`);
  const v = bindSpan(ctx, a.vCache, vCacheOffset, vCacheOffset + n, elemBytes, `${what}: V cache`);
  return { k, v, kOff: kCacheOffset - k.shift, vOff: vCacheOffset - v.shift, elemBytes };
}

/** Binding and params for the token positions. */
export function bindPositions(
  ctx: KernelContext,
  what: string,
  positions: Positions,
  nTok: number,
): { span?: Span; posOff: number; pos0: number } {
  if ('base' in positions) {
    check(Number.isInteger(positions.base) && positions.base >= 0, () => `${what}: base position must be a non-negative integer`);
    return { posOff: 0, pos0: positions.base };
  }
  const off = positions.offset ?? 0;
  const span = bindSpan(ctx, positions.buffer, off, off + nTok, 4, `${what}: positions`);
  return { span, posOff: off - span.shift, pos0: 0 };
}

export function checkHeads(what: string, nHead: number, nKv: number, headDim: number): void {
  check(Number.isInteger(nKv) && nKv > 0, () => `${what}: nKv must be a positive integer, got ${nKv}`);
  check(Number.isInteger(nHead) && nHead > 0 && nHead % nKv === 0, () => `${what}: nHead ${nHead} must be a positive multiple of nKv ${nKv}`);
  check(Number.isInteger(headDim) && headDim % 4 === 0 && headDim >= 4 && headDim <= 256, () => `${what}: headDim must be a multiple of 4 in [4, 256], got ${headDim}`);
}

export function kvCacheWrite(ctx: KernelContext, args: KvCacheWriteArgs): Dispatch {
  const what = 'kvCacheWrite';
  const { nTok, nKv, headDim: hd } = args;
  checkHeads(what, nKv, nKv, hd);
  check(Number.isInteger(nTok) && nTok > 0, () => `${what}: nTok must be a positive integer, got ${nTok}`);
  const kStride = args.kStride ?? nKv * hd;
  const vStride = args.vStride ?? nKv * hd;
  const row = nKv * hd;
  check(kStride >= row && vStride >= row, () => `${what}: token strides ${kStride}/${vStride} are shorter than a row of ${row}`);
  const kEnd = args.kOffset + (nTok - 1) * kStride + row;
  const vEnd = args.vOffset + (nTok - 1) * vStride + row;
  const lo = Math.min(args.kOffset, args.vOffset);
  const src = bindSpan(ctx, args.src, lo, Math.max(kEnd, vEnd), 4, `${what}: src`);
  const cache = bindCache(ctx, what, args);
  const pos = bindPositions(ctx, what, args.positions, nTok);
  const values: ParamValues<typeof KV_WRITE_PARAMS> = {
    n_tok: nTok,
    n_kv: nKv,
    hd,
    n_ctx: args.nCtx,
    k_off: args.kOffset - src.shift,
    k_stride: kStride,
    v_off: args.vOffset - src.shift,
    v_stride: vStride,
    kc_off: cache.kOff,
    vc_off: cache.vOff,
    pos_off: pos.posOff,
    pos0: pos.pos0,
  };
  const params = ctx.uniform(KV_WRITE_PARAMS, values, `${what}.params`);
  const pipeline = ctx.pipeline({
    family: 'kv_cache',
    source: source.replace('PARAMS_STRUCT', wgslParamsStruct(KV_WRITE_PARAMS)),
    defines: { KV_F16: !!args.kvF16, POS_PARAM: !pos.span },
    overrides: { WG: 256 },
  });
  const buffers: (GPUBuffer | GPUBufferBinding)[] = [params, src.resource, cache.k.resource, cache.v.resource];
  if (pos.span) buffers.push(pos.span.resource);
  const [gx, gy] = grid2d(Math.ceil((nTok * row) / 256), ctx.info.limits.maxComputeWorkgroupsPerDimension);
  return ctx.dispatch(pipeline, buffers, [gx, gy], params);
}
