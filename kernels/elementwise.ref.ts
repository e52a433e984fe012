/** @file CPU reference for kernels/elementwise.wgsl. */
export type ElementwiseOp = 'add' | 'mul' | 'silu_mul' | 'scale_add';

/** `bPeriod`: b[i % bPeriod] (b broadcast over rows of a). */
export function elementwiseRef(op: ElementwiseOp, a: Float32Array, b: Float32Array, scale = 1, bPeriod = a.length): Float32Array {
  const y = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const va = a[i];
    const vb = b[i % bPeriod];
    y[i] = op === 'add' ? va + vb : op === 'mul' ? va * vb : op === 'silu_mul' ? (va / (1 + Math.exp(-va))) * vb : va + scale * vb;
  }
  return y;
}
