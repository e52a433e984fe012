/** @file CPU reference for kernels/elementwise.wgsl. */
export type ElementwiseOp = 'add' | 'mul' | 'silu_mul' | 'scale_add';

export function elementwiseRef(op: ElementwiseOp, a: Float32Array, b: Float32Array, scale = 1): Float32Array {
  const y = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const va = a[i];
    const vb = b[i];
    y[i] = op === 'add' ? va + vb : op === 'mul' ? va * vb : op === 'silu_mul' ? (va / (1 + Math.exp(-va))) * vb : va + scale * vb;
  }
  return y;
}
