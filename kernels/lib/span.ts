/**
 * @file `bindSpan`: binds the part of a buffer a kernel reads when the whole buffer is larger than the binding
 * limit (KV caches, logits, big activations). Used by the attention, kv_cache, rope, norm and sample wrappers.
 */
import { check, type KernelContext } from './context.ts';

export interface Span {
  readonly resource: GPUBufferBinding;
  /** Elements to subtract from offsets into the buffer to get offsets into the binding. */
  readonly shift: number;
}

/**
 * Binds the whole buffer when it is within the binding limit; otherwise a range starting at the largest
 * `minStorageBufferOffsetAlignment` multiple at or below element `lo` and ending at element `hi`.
 */
export function bindSpan(ctx: KernelContext, buffer: GPUBuffer, lo: number, hi: number, elemBytes: number, what: string): Span {
  check(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 0 && hi >= lo, () => `${what}: bad element range [${lo}, ${hi})`);
  check(hi * elemBytes <= buffer.size, () => `${what}: needs ${hi * elemBytes} bytes, buffer ${buffer.label || ''} holds ${buffer.size}`);
  if (buffer.size <= ctx.maxBinding) return { resource: { buffer }, shift: 0 };
  const align = ctx.device.limits.minStorageBufferOffsetAlignment;
  const start = Math.floor((lo * elemBytes) / align) * align;
  const size = Math.min(Math.ceil((hi * elemBytes - start) / 4) * 4, buffer.size - start);
  check(size <= ctx.maxBinding, () => `${what}: range of ${size} bytes exceeds the binding limit ${ctx.maxBinding}`);
  check(start % elemBytes === 0, () => `${what}: offset alignment ${align} is not a multiple of ${elemBytes}`);
  return { resource: { buffer, offset: start, size: Math.max(size, 4) }, shift: start / elemBytes };
}
