/**
 * @file The KV cache layout and the binding checks shared by the kernels that write or read it (qkvRope in
 * rope.ts writes K/V of the new tokens, attention.ts reads them).
 *
 * Layout (chosen for attention reads): per layer, K and V each `(n_kv, n_ctx, head_dim)`, row-major, f32 or f16.
 * One KV head's positions are contiguous, so a decode workgroup that owns (KV head, chunk of positions) reads
 * one contiguous block of `chunk * head_dim` values with coalesced vec4 loads, and all query heads of a GQA group
 * share it. Layers may live in separate buffers or at element offsets (`kOffset`/`vOffset`, multiples of 4) in
 * one big buffer; a buffer larger than the binding limit is bound as a 256-byte-aligned range (lib/span.ts `bindSpan`).
 * f16 (`kvF16`) halves the bytes attention reads; it needs `ctx.f16` (`shader-f16`).
 *
 * API:
 *   kvCacheElems(nKv, nCtx, headDim): elements of one layer's K (or V).
 *   bindCache, bindPositions, checkHeads: argument checks and bindings for the cache and token positions.
 */
import { check, type KernelContext } from './lib/context.ts';
import { bindSpan, type Span } from './lib/span.ts';

/** Elements of one layer's K (or V) cache. */
export function kvCacheElems(nKv: number, nCtx: number, headDim: number): number {
  return nKv * nCtx * headDim;
}

/** Positions of the T tokens: a u32 buffer (pos[offset + t]) or `base + t`. */
export type Positions = { readonly buffer: GPUBuffer; readonly offset?: number } | { readonly base: number };

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
