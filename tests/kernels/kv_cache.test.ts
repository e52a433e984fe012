import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvCacheWrite } from '../../kernels/kv_cache.ts';
import { kvCacheWriteRef } from '../../kernels/kv_cache.ref.ts';
import { KernelShapeError } from '../../kernels/lib/context.ts';
import { f16BitsToF32, roundF16 } from '../../workers/quant/half.ts';
import { adapterLine, gpuFixture, randomF32, type GpuFixture } from './harness.ts';

let gpu: GpuFixture;
beforeAll(async () => {
  gpu = await gpuFixture();
  console.log(adapterLine(gpu.ctx));
});
afterAll(() => gpu?.release());

describe('kvCacheWrite', () => {
  for (const f16 of [false, true])
    it(`${f16 ? 'f16' : 'f32'}: T 1/5, buffer and base positions, strided source, layer offsets, position past n_ctx skipped`, async (tc) => {
      const { ctx } = gpu;
      if (f16 && !ctx.f16) {
        console.warn('[kv] device has no shader-f16; f16 KV case skipped');
        tc.skip();
        return;
      }
      for (const [nKv, hd] of [
        [1, 16],
        [2, 64],
        [8, 128],
      ] as const)
        for (const nTok of [1, 5])
          for (const posBuf of [false, true]) {
            const nCtx = 24;
            const row = nKv * hd;
            const kStride = row + 5;
            const vStride = row;
            const kOffset = 3;
            const vOffset = kOffset + nTok * kStride + 1;
            const src = randomF32(vOffset + nTok * vStride, nKv * hd + nTok, 4);
            const positions = posBuf ? [20, 3, 30, 0, 23].slice(0, nTok) : Array.from({ length: nTok }, (_, t) => 7 + t);
            const layer = nKv * nCtx * hd;
            // Two layers in one buffer; write layer 1.
            const init = -1.5;
            const kInit = f16 ? new Uint16Array(2 * layer).fill(0xbe00) : new Float32Array(2 * layer).fill(init);
            const vInit = f16 ? new Uint16Array(2 * layer).fill(0xbe00) : new Float32Array(2 * layer).fill(init);
            const gsrc = ctx.storage(src);
            const gk = ctx.storage(kInit);
            const gv = ctx.storage(vInit);
            const gp = ctx.storage(new Uint32Array(positions));
            ctx.run([
              kvCacheWrite(ctx, {
                nTok,
                nKv,
                headDim: hd,
                nCtx,
                src: gsrc,
                kOffset,
                vOffset,
                kStride,
                vStride,
                kCache: gk,
                vCache: gv,
                kCacheOffset: layer,
                vCacheOffset: layer,
                positions: posBuf ? { buffer: gp } : { base: 7 },
                kvF16: f16,
              }),
            ]);
            const read = async (b: GPUBuffer) =>
              f16 ? Float32Array.from(new Uint16Array(await ctx.read(b)), f16BitsToF32) : await ctx.readF32(b);
            const want = kvCacheWriteRef({ nTok, nKv, hd, nCtx, src, kOff: kOffset, vOff: vOffset, kStride, vStride, positions });
            for (const [nm, got, ref] of [
              ['K', await read(gk), want.k],
              ['V', await read(gv), want.v],
            ] as const) {
              const bad: string[] = [];
              for (let i = 0; i < 2 * layer && bad.length < 8; i++) {
                const r = i < layer ? NaN : ref[i - layer];
                const exp = Number.isNaN(r) ? init : f16 ? roundF16(r) : r;
                if (got[i] !== exp) bad.push(`[${i}] ${got[i]} != ${exp}`);
              }
              expect(bad, `${nm} nKv=${nKv} hd=${hd} T=${nTok} posBuf=${posBuf}`).toEqual([]);
            }
            for (const b of [gsrc, gk, gv, gp]) b.destroy();
          }
    });

  it('rejects bad shapes with KernelShapeError', () => {
    const { ctx } = gpu;
    const b = ctx.storage(1024 * 4);
    const c = ctx.storage(1024 * 4);
    const ok = { nTok: 2, nKv: 2, headDim: 16, nCtx: 8, src: b, kOffset: 0, vOffset: 64, kCache: c, vCache: c, positions: { base: 0 } };
    expect(() => kvCacheWrite(ctx, { ...ok, nCtx: 64 })).toThrow(KernelShapeError);
    expect(() => kvCacheWrite(ctx, { ...ok, headDim: 18 })).toThrow(KernelShapeError);
    expect(() => kvCacheWrite(ctx, { ...ok, kStride: 16 })).toThrow(KernelShapeError);
    expect(() => kvCacheWrite(ctx, { ...ok, vOffset: 1000 })).toThrow(KernelShapeError);
    expect(() => kvCacheWrite(ctx, { ...ok, positions: { base: -1 } })).toThrow(KernelShapeError);
    b.destroy();
    c.destroy();
  });
});
