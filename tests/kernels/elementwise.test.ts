import { afterAll, beforeAll, describe, it } from 'vitest';
import { elementwise, ELEMENTWISE_WG_SIZES } from '../../kernels/elementwise.ts';
import { elementwiseRef, type ElementwiseOp } from '../../kernels/elementwise.ref.ts';
import { adapterLine, expectClose, gpuFixture, randomF32, type GpuFixture } from './harness.ts';

let gpu: GpuFixture;
beforeAll(async () => {
  gpu = await gpuFixture();
  console.log(adapterLine(gpu.ctx));
});
afterAll(() => gpu?.release());

const OPS: readonly ElementwiseOp[] = ['add', 'mul', 'silu_mul', 'scale_add'];
const SIZES = [1, 3, 255, 257, 1000, 4099];

describe('elementwise', () => {
  for (const op of OPS)
    for (const wg of ELEMENTWISE_WG_SIZES)
      it(`${op} wg${wg} at sizes ${SIZES.join(',')} with offsets`, async () => {
        const { ctx } = gpu;
        for (const n of SIZES) {
          const off = n % 7;
          const a = randomF32(n + off, n * 31 + 1, 4);
          const b = randomF32(n + off, n * 31 + 2, 4);
          const ya = ctx.storage(a);
          const yb = ctx.storage(b);
          const y = ctx.storage((n + 3) * 4);
          ctx.run([elementwise(ctx, { op, n, a: ya, b: yb, y, aOffset: off, bOffset: off, yOffset: 3, scale: 0.22, workgroupSize: wg })]);
          const got = await ctx.readF32(y, n, 3);
          const want = elementwiseRef(op, a.subarray(off), b.subarray(off), 0.22);
          expectClose(`${op} wg${wg} n=${n}`, got, want, { nmse: 1e-12, maxAbs: 1e-5 });
          for (const buf of [ya, yb, y]) buf.destroy();
        }
      });

  // A bias row broadcast over token rows (the engine's batched prefill): odd row widths, a partial last row.
  for (const op of OPS)
    it(`${op} with b broadcast (bPeriod) at odd widths`, async () => {
      const { ctx } = gpu;
      for (const [n, period] of [[7, 3], [1000, 37], [4099, 256], [12, 12], [5, 9]] as const) {
        const a = randomF32(n + 2, n * 17 + 5, 4);
        const b = randomF32(Math.min(n, period) + 1, n * 17 + 6, 4);
        const ya = ctx.storage(a);
        const yb = ctx.storage(b);
        const y = ctx.storage(n * 4);
        ctx.run([elementwise(ctx, { op, n, a: ya, b: yb, y, aOffset: 2, bOffset: 1, bPeriod: period, scale: -0.7 })]);
        const got = await ctx.readF32(y, n);
        const want = elementwiseRef(op, a.subarray(2), b.subarray(1), -0.7, period);
        expectClose(`${op} n=${n} period=${period}`, got, want, { nmse: 1e-12, maxAbs: 1e-5 });
        for (const buf of [ya, yb, y]) buf.destroy();
      }
    });
});
