import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { softmax, SOFTMAX_WG_SIZES } from '../../kernels/softmax.ts';
import { softmaxRef } from '../../kernels/softmax.ref.ts';
import { KernelShapeError } from '../../kernels/lib/context.ts';
import { adapterLine, expectClose, gpuFixture, randomF32, type GpuFixture } from './harness.ts';

let sg: GpuFixture;
let nosg: GpuFixture;
beforeAll(async () => {
  sg = await gpuFixture();
  nosg = await gpuFixture({ noSubgroups: true });
  console.log(adapterLine(sg.ctx));
});
afterAll(() => {
  sg?.release();
  nosg?.release();
});

describe('softmax', () => {
  for (const log of [false, true])
    it(`${log ? 'log-softmax' : 'softmax'}: n 1..100352, T 1 and 3, scale, strides, subgroups on/off, every workgroup size`, async () => {
      for (const [name, f] of [
        ['subgroups', sg],
        ['workgroup memory', nosg],
      ] as const) {
        const { ctx } = f;
        for (const wg of SOFTMAX_WG_SIZES.filter((w) => w <= ctx.info.limits.maxComputeInvocationsPerWorkgroup))
          for (const n of [1, 7, 257, 5000, 100352])
            for (const nRows of [1, 3]) {
              if (n === 100352 && (nRows > 1 || wg !== 256)) continue;
              const xOffset = 2;
              const xStride = n + 5;
              // Large logits (|s·x| up to 86): a softmax without max subtraction would overflow; f32 rounding of s·x
              // alone gives relative errors of ~5e-6 in the exponentials.
              const x = randomF32(xOffset + nRows * xStride, n + wg + nRows, 60);
              const gx = ctx.storage(x);
              const gy = ctx.storage((1 + nRows * n) * 4);
              ctx.run([softmax(ctx, { n, nRows, x: gx, xOffset, xStride, y: gy, yOffset: 1, scale: 1 / 0.7, log, workgroupSize: wg })]);
              const got = await ctx.readF32(gy, nRows * n, 1);
              const want = softmaxRef(x, { n, nRows, xOff: xOffset, xStride, scale: 1 / 0.7, log });
              expectClose(`${name} wg${wg} n=${n} T=${nRows}`, got, want, log ? { nmse: 1e-12, maxAbs: 2e-4 } : { nmse: 1e-10, maxAbs: 1e-5 });
              if (!log) for (let r = 0; r < nRows; r++) expect(Math.abs(got.subarray(r * n, (r + 1) * n).reduce((s, v) => s + v, 0) - 1)).toBeLessThan(1e-4);
              gx.destroy();
              gy.destroy();
            }
      }
    });

  it('in place', async () => {
    const { ctx } = sg;
    const x = randomF32(3 * 100, 5, 4);
    const gx = ctx.storage(x);
    ctx.run([softmax(ctx, { n: 100, nRows: 3, x: gx })]);
    expectClose('in place', await ctx.readF32(gx), softmaxRef(x, { n: 100, nRows: 3 }), { nmse: 1e-10, maxAbs: 1e-6 });
    gx.destroy();
  });

  it('rejects bad shapes with KernelShapeError', () => {
    const { ctx } = sg;
    const x = ctx.storage(100 * 4);
    expect(() => softmax(ctx, { n: 101, x })).toThrow(KernelShapeError);
    expect(() => softmax(ctx, { n: 50, nRows: 3, x })).toThrow(KernelShapeError);
    expect(() => softmax(ctx, { n: 10, x, workgroupSize: 32 })).toThrow(KernelShapeError);
    expect(() => softmax(ctx, { n: 10, x, y: x, yOffset: 10 })).toThrow(KernelShapeError);
    x.destroy();
  });
});
