import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { norm, qkNorm, NORM_WG_SIZES } from '../../kernels/norm.ts';
import { normRef, type NormKind } from '../../kernels/norm.ref.ts';
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

const KINDS: readonly NormKind[] = ['layer', 'rms'];
const SIZES = [1, 7, 255, 257, 1000, 6144];
const TOL = { nmse: 1e-11, maxAbs: 2e-5 };

function fixtures(): [string, GpuFixture][] {
  return [
    [sg.ctx.subgroups ? 'subgroups' : 'subgroups (absent)', sg],
    ['workgroup memory', nosg],
  ];
}

describe('norm', () => {
  for (const kind of KINDS)
    for (const wg of NORM_WG_SIZES)
      it(`${kind} wg${wg}, subgroups on/off, n up to 9000, T 1 and 3, offsets and strides`, async () => {
        for (const [name, f] of fixtures()) {
          const { ctx } = f;
          if (wg > ctx.info.limits.maxComputeInvocationsPerWorkgroup) {
            console.warn(`[norm] workgroup size ${wg} is over this device's limit; skipped`);
            continue;
          }
          // Big workgroups: sizes around their register path (n ≤ 8·WG) and past it, T = 3 only.
          const big = wg > 256;
          for (const n of big ? [257, 6144, 9000] : SIZES)
            for (const nTok of big ? [3] : [1, 3]) {
              const xOff = n % 5;
              const xStride = n + 3;
              const x = randomF32(xOff + nTok * xStride, n * 7 + nTok, 3);
              // A shifted mean makes LayerNorm's centring matter.
              for (let i = 0; i < x.length; i++) x[i] += 0.5;
              const w = randomF32(n + 2, n * 7 + 5, 1.5);
              const gx = ctx.storage(x);
              const gw = ctx.storage(w);
              const yOff = 5;
              const y = new Float32Array(yOff + nTok * n);
              const gy = ctx.storage(y);
              ctx.run([norm(ctx, { kind, n, nTok, x: gx, xOffset: xOff, xStride, w: gw, wOffset: 2, y: gy, yOffset: yOff, eps: 1e-5, workgroupSize: wg })]);
              const got = await ctx.readF32(gy);
              const want = normRef(kind, x, w, { n, nTok, xOff, xStride, wOff: 2, eps: 1e-5, y, yOff });
              expectClose(`${kind} ${name} wg${wg} n=${n} T=${nTok}`, got, want, TOL);
              for (const b of [gx, gw, gy]) b.destroy();
            }
        }
      });

  it('LayerNorm variance is two-pass: rows with mean 1e4 and unit spread', async () => {
    for (const [name, f] of fixtures()) {
      const { ctx } = f;
      const n = 4096;
      const x = randomF32(n, 99, 1);
      for (let i = 0; i < n; i++) x[i] += 1e4;
      const w = new Float32Array(n).fill(1);
      const gx = ctx.storage(x);
      const gw = ctx.storage(w);
      ctx.run([norm(ctx, { kind: 'layer', n, x: gx, w: gw, eps: 1e-5 })]);
      const got = await ctx.readF32(gx);
      const want = normRef('layer', x, w, { n, eps: 1e-5 });
      // Values are ~±1.7; a one-pass E[x²]−E[x]² in f32 would lose everything (1e8 vs a variance of 1/3), and a
      // mean rounded to f32 near 1e4 would shift every output by ~1e-3.
      expectClose(`layer mean 1e4 ${name}`, got, want, { nmse: 1e-11, maxAbs: 1e-5 });
      gx.destroy();
      gw.destroy();
    }
  });

  it('in place, per-head and full-width Q/K RMSNorm inside a fused QKV buffer', async () => {
    for (const [name, f] of fixtures()) {
      const { ctx } = f;
      for (const [nHead, nKv, hd] of [
        [8, 2, 32],
        [6, 6, 16],
        [12, 2, 128],
      ] as const)
        for (const mode of ['head', 'full'] as const)
          for (const nTok of [1, 5]) {
            const width = (nHead + 2 * nKv) * hd;
            const base = 3;
            const x = randomF32(base + nTok * width, nHead * 31 + hd + nTok, 2);
            const qw = randomF32(mode === 'head' ? hd : nHead * hd, 11, 1);
            const kw = randomF32(mode === 'head' ? hd : nKv * hd, 12, 1);
            const gx = ctx.storage(x);
            const gq = ctx.storage(qw);
            const gk = ctx.storage(kw);
            const qOffset = base;
            const kOffset = base + nHead * hd;
            ctx.run(
              qkNorm(ctx, { mode, nTok, nHead, nKv, headDim: hd, x: gx, qOffset, kOffset, qStride: width, kStride: width, qWeight: gq, kWeight: gk, eps: 1e-6 }),
            );
            const got = await ctx.readF32(gx);
            const per = mode === 'head';
            let want = normRef('rms', x, qw, { n: per ? hd : nHead * hd, heads: per ? nHead : 1, nTok, xOff: qOffset, xStride: width, eps: 1e-6 });
            want = normRef('rms', want, kw, { n: per ? hd : nKv * hd, heads: per ? nKv : 1, nTok, xOff: kOffset, xStride: width, eps: 1e-6 });
            expectClose(`qkNorm ${mode} ${name} ${nHead}/${nKv}x${hd} T=${nTok}`, got, want, TOL);
            // V and anything outside Q/K must be untouched.
            for (let t = 0; t < nTok; t++)
              for (let i = (nHead + nKv) * hd; i < width; i++) expect(got[base + t * width + i]).toBe(x[base + t * width + i]);
            expect(got[0]).toBe(x[0]);
            for (const b of [gx, gq, gk]) b.destroy();
          }
    }
  });

  it('binds a range of a buffer larger than the binding limit', async () => {
    const f = await gpuFixture({ maxBindingOverride: 64 * 1024 });
    try {
      const { ctx } = f;
      const n = 300;
      const total = 40_000; // 160 kB > 64 kB limit
      const x = randomF32(total, 5, 2);
      const w = randomF32(n, 6, 1);
      const gx = ctx.storage(x);
      const gw = ctx.storage(w);
      const xOffset = 30_001;
      ctx.run([norm(ctx, { kind: 'rms', n, nTok: 2, x: gx, xOffset, w: gw, eps: 1e-5 })]);
      const got = await ctx.readF32(gx);
      const want = normRef('rms', x, w, { n, nTok: 2, xOff: xOffset, eps: 1e-5 });
      expectClose('rms in a bound range', got, want, TOL);
      gx.destroy();
      gw.destroy();
    } finally {
      f.release();
    }
  });

  it('rejects bad shapes with KernelShapeError', () => {
    const { ctx } = sg;
    const x = ctx.storage(64 * 4);
    const w = ctx.storage(16 * 4);
    expect(() => norm(ctx, { kind: 'rms', n: 32, x, w, eps: 1e-5 })).toThrow(KernelShapeError); // w too short
    expect(() => norm(ctx, { kind: 'rms', n: 16, nTok: 5, x, w, eps: 1e-5 })).toThrow(KernelShapeError); // x too short
    expect(() => norm(ctx, { kind: 'rms', n: 16, x, w, eps: 1e-5, workgroupSize: 96 })).toThrow(KernelShapeError);
    expect(() => norm(ctx, { kind: 'rms', n: 0, x, w, eps: 1e-5 })).toThrow(KernelShapeError);
    expect(() => norm(ctx, { kind: 'rms', n: 16, x, w, y: x, yOffset: 16, eps: 1e-5 })).toThrow(KernelShapeError);
    x.destroy();
    w.destroy();
  });
});
