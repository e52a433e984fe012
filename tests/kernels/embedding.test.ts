import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embedding, EMBEDDING_WG_SIZES } from '../../kernels/embedding.ts';
import { embeddingRef } from '../../kernels/embedding.ref.ts';
import { KernelShapeError, type KernelContext } from '../../kernels/lib/context.ts';
import { destroyWeight, uploadWeight } from '../../kernels/lib/weights.ts';
import type { QuantType } from '../../kernels/lib/quant.ts';
import { adapterLine, expectClose, gpuFixture, rng, type GpuFixture } from './harness.ts';
import { testWeight } from './quantData.ts';

let gpu: GpuFixture;
beforeAll(async () => {
  gpu = await gpuFixture();
  console.log(adapterLine(gpu.ctx));
});
afterAll(() => gpu?.release());

const TYPES: readonly QuantType[] = ['Q4_0', 'Q8_0', 'Q4_K', 'Q6_K', 'F16', 'F32', 'Q5_K', 'BF16', 'IQ4_XS', 'Q2_K', 'Q3_K'];

async function runCase(ctx: KernelContext, type: QuantType, vocab: number, nEmbd: number, ids: number[], opts: { scale?: number; outOffset?: number; idsOffset?: number; wg?: 64 | 256; chunks?: number }, seed: number): Promise<void> {
  const { scale = 1, outOffset = 0, idsOffset = 0 } = opts;
  const t = testWeight(type, vocab, nEmbd, seed);
  const w = uploadWeight(ctx, `emb.${type}`, type, [nEmbd, vocab], t.gguf);
  expect(w.chunks.length).toBeGreaterThanOrEqual(opts.chunks ?? 1);
  const idBuf = ctx.storage(new Uint32Array([...new Array<number>(idsOffset).fill(7), ...ids]));
  const sentinel = -123.5;
  const out = ctx.storage(new Float32Array(outOffset + ids.length * nEmbd + 3).fill(sentinel));
  ctx.run(embedding(ctx, { table: w, ids: idBuf, idsOffset, tokens: ids.length, out, outOffset, scale, workgroupSize: opts.wg }));
  const got = await ctx.readF32(out);
  // Exactly the dequantized values times the scale (one f32 rounding, as in the reference).
  expectClose(`${type} ${vocab}x${nEmbd} ids=${ids.length} scale=${scale}`, got.subarray(outOffset, outOffset + ids.length * nEmbd), embeddingRef(t.deq, nEmbd, ids, scale), { nmse: 0, maxAbs: 0 });
  expect(got[outOffset - 1] ?? sentinel, 'before out').toBe(sentinel);
  expect(got[outOffset + ids.length * nEmbd], 'after out').toBe(sentinel);
  destroyWeight(w);
  idBuf.destroy();
  out.destroy();
}

describe('embedding (get_rows)', () => {
  for (const type of TYPES)
    it(`${type}: repeated, first and last ids, scale, offsets`, async () => {
      const nEmbd = type === 'F32' ? 36 : type === 'F16' || type === 'BF16' ? 40 : type.endsWith('_K') || type === 'IQ4_XS' ? 512 : 96;
      const r = rng(5);
      const ids = [0, 40, 3, 3, 40 - 1, ...Array.from({ length: 6 }, () => Math.floor(r() * 41))];
      await runCase(gpu.ctx, type, 41, nEmbd, ids, { scale: 12, outOffset: 5, idsOffset: 2 }, 20);
      await runCase(gpu.ctx, type, 41, nEmbd, [17], { wg: 256 }, 21);
    });

  for (const wg of EMBEDDING_WG_SIZES)
    it(`table split into chunks, ids past the table give zeros (wg ${wg})`, async () => {
      const split = await gpuFixture({ maxBindingOverride: 2048 });
      try {
        await runCase(split.ctx, 'Q4_0', 200, 256, [0, 199, 57, 1000, 200, 120, 0xffffffff], { scale: 0.5, outOffset: 1, wg }, 30 + wg);
      } finally {
        split.release();
      }
    });

  it('rejects bad arguments with KernelShapeError', () => {
    const { ctx } = gpu;
    const w = uploadWeight(ctx, 'emb.bad', 'Q8_0', [64, 4], testWeight('Q8_0', 4, 64, 1).gguf);
    const ids = ctx.storage(new Uint32Array([1, 2]));
    const out = ctx.storage(2 * 64 * 4);
    expect(() => embedding(ctx, { table: w, ids, tokens: 3, out })).toThrow(KernelShapeError);
    expect(() => embedding(ctx, { table: w, ids, tokens: 2, out, outOffset: 1 })).toThrow(KernelShapeError);
    expect(() => embedding(ctx, { table: w, ids, tokens: 2, out, scale: NaN })).toThrow(KernelShapeError);
    expect(() => embedding(ctx, { table: w, ids, tokens: 0, out })).toThrow(KernelShapeError);
  });
});
