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
});
