import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matmul, MATMUL_TOKEN_TILES, type MatmulTokenTile } from '../../kernels/matmul.ts';
import { matmulRef } from '../../kernels/matvec.ref.ts';
import { KernelShapeError, type KernelContext } from '../../kernels/lib/context.ts';
import { QUANT_GEOMETRY, QUANT_TYPES, type QuantType } from '../../kernels/lib/quant.ts';
import { destroyWeight, uploadWeight } from '../../kernels/lib/weights.ts';
import { adapterLine, expectClose, gpuFixture, randomF32, type GpuFixture } from './harness.ts';
import { testWeight } from './quantData.ts';

let gpu: GpuFixture;
beforeAll(async () => {
  gpu = await gpuFixture();
  console.log(adapterLine(gpu.ctx));
});
afterAll(() => gpu?.release());

/** As in matvec.test.ts: NMSE 1e-10, scaled up where the outputs are much smaller than their terms. */
function tolerance(w: Float32Array, nIn: number, xs: Float32Array, y: Float32Array): { nmse: number; maxAbs: number } {
  const rows = w.length / nIn;
  let terms = 0;
  let out = 0;
  for (let t = 0; t < xs.length / nIn; t++)
    for (let r = 0; r < rows; r++) {
      let a = 0;
      for (let i = 0; i < nIn; i++) a += Math.abs(w[r * nIn + i] * xs[t * nIn + i]);
      terms += a * a;
      out += y[t * rows + r] ** 2;
    }
  return { nmse: 1e-10 * Math.max(1, terms / (nIn * out)), maxAbs: 1e-3 };
}

interface Case {
  readonly rows: number;
  readonly nIn: number;
  readonly tokens: number;
  readonly xOff?: number;
  readonly xPad?: number;
  readonly yOff?: number;
  readonly yPad?: number;
  readonly accumulate?: boolean;
  readonly tokenTile?: MatmulTokenTile;
}

async function runCase(ctx: KernelContext, type: QuantType, c: Case, seed: number, expectChunks = 1): Promise<void> {
  const { rows, nIn, tokens, xOff = 0, xPad = 0, yOff = 0, yPad = 0 } = c;
  const t = testWeight(type, rows, nIn, seed);
  const w = uploadWeight(ctx, `w.${type}`, type, [nIn, rows], t.gguf);
  expect(w.chunks.length).toBeGreaterThanOrEqual(expectChunks);
  const xStride = nIn + xPad;
  const yStride = rows + yPad;
  const x = randomF32(xOff + tokens * xStride, seed + 1);
  const y0 = randomF32(yOff + tokens * yStride, seed + 2);
  const xb = ctx.storage(x);
  const yb = ctx.storage(y0);
  ctx.run(
    matmul(ctx, { weight: w, tokens, x: xb, xOffset: xOff, xStride, y: yb, yOffset: yOff, yStride, accumulate: c.accumulate, tokenTile: c.tokenTile }),
  );
  const got = await ctx.readF32(yb);
  // Dense (tokens, nIn) activations and (tokens, rows) outputs for the reference.
  const xs = new Float32Array(tokens * nIn);
  const acc = new Float32Array(tokens * rows);
  const gotDense = new Float32Array(tokens * rows);
  for (let k = 0; k < tokens; k++) {
    xs.set(x.subarray(xOff + k * xStride, xOff + k * xStride + nIn), k * nIn);
    acc.set(y0.subarray(yOff + k * yStride, yOff + k * yStride + rows), k * rows);
    gotDense.set(got.subarray(yOff + k * yStride, yOff + k * yStride + rows), k * rows);
    // Padding between token rows is untouched.
    for (let p = rows; p < yStride && yOff + k * yStride + p < got.length; p++)
      expect(got[yOff + k * yStride + p], `y padding after token ${k}`).toBe(y0[yOff + k * yStride + p]);
  }
  const want = matmulRef(t.deq, nIn, xs, c.accumulate ? acc : undefined);
  const tol = tolerance(t.deq, nIn, xs, c.accumulate ? matmulRef(t.deq, nIn, xs) : want);
  expectClose(`${type} ${rows}x${nIn} T=${tokens} tile=${c.tokenTile ?? 'default'}${c.accumulate ? ' +=' : ''}`, gotDense, want, tol);
  destroyWeight(w);
  xb.destroy();
  yb.destroy();
}

function inSize(type: QuantType): number {
  const b = QUANT_GEOMETRY[type].blockElems;
  return b === 256 ? 768 : b === 32 ? 96 : 25 * b;
}

describe('matmul', () => {
  for (const type of QUANT_TYPES) {
    it(`${type}: rows and tokens not multiples of the tile, strided and offset X/Y, accumulate`, async () => {
      const nIn = inSize(type);
      let seed = 10;
      // Two pipelines per type (lavapipe compiles each for seconds): unaligned X; aligned X with accumulate,
      // 16-token tiles (the other tiles are covered below).
      await runCase(gpu.ctx, type, { rows: 70, nIn, tokens: 5, xOff: 3, xPad: 1, yOff: 2, yPad: 3 }, seed++);
      await runCase(gpu.ctx, type, { rows: 1, nIn, tokens: 1, accumulate: true }, seed++);
      await runCase(gpu.ctx, type, { rows: 33, nIn: 2 * nIn, tokens: 21, xOff: 4, yOff: 1, accumulate: true, tokenTile: 16 }, seed++);
    });
  }

  it('every token tile, tokens straddling tiles', async () => {
    let seed = 50;
    for (const tokenTile of MATMUL_TOKEN_TILES)
      for (const tokens of [tokenTile - 1, tokenTile + 3]) await runCase(gpu.ctx, 'Q4_K', { rows: 65, nIn: 512, tokens, tokenTile }, seed++);
  });

  it('weights split into several chunks', async () => {
    const split = await gpuFixture({ maxBindingOverride: 4096 });
    try {
      await runCase(split.ctx, 'Q6_K', { rows: 45, nIn: 768, tokens: 9, yPad: 2 }, 60, 3);
      await runCase(split.ctx, 'Q4_0', { rows: 300, nIn: 256, tokens: 3, accumulate: true }, 61, 3);
    } finally {
      split.release();
    }
  });

  it('compact workgroup memory (software adapters: 16-row tiles): every weight family, rows not multiples of 16, tiles, chunks', async () => {
    const compact = await gpuFixture({ compactWorkgroupMemory: true });
    const split = await gpuFixture({ compactWorkgroupMemory: true, maxBindingOverride: 4096 });
    try {
      let seed = 70;
      for (const type of ['F32', 'Q8_0', 'Q4_K', 'Q6_K', 'IQ4_NL'] as const) {
        const nIn = inSize(type);
        await runCase(compact.ctx, type, { rows: 70, nIn, tokens: 5, xOff: 3, xPad: 1, yOff: 2, yPad: 3 }, seed++);
        await runCase(compact.ctx, type, { rows: 33, nIn: 2 * nIn, tokens: 21, xOff: 4, yOff: 1, accumulate: true }, seed++);
      }
      await runCase(compact.ctx, 'Q4_K', { rows: 17, nIn: 512, tokens: 67, tokenTile: 64 }, seed++);
      await runCase(split.ctx, 'Q6_K', { rows: 45, nIn: 768, tokens: 9, yPad: 2 }, seed++, 3);
    } finally {
      compact.release();
      split.release();
    }
  });

  it('rejects bad shapes with KernelShapeError', () => {
    const { ctx } = gpu;
    const t = testWeight('Q8_0', 4, 64, 1);
    const w = uploadWeight(ctx, 'w.bad', 'Q8_0', [64, 4], t.gguf);
    const x = ctx.storage(2 * 64 * 4);
    const y = ctx.storage(2 * 4 * 4);
    expect(() => matmul(ctx, { weight: w, tokens: 3, x, y })).toThrow(KernelShapeError);
    expect(() => matmul(ctx, { weight: w, tokens: 0, x, y })).toThrow(KernelShapeError);
    expect(() => matmul(ctx, { weight: w, tokens: 2, x, y, xStride: 32 })).toThrow(KernelShapeError);
    expect(() => matmul(ctx, { weight: w, tokens: 2, x, y: x })).toThrow(KernelShapeError);
    expect(matmul(ctx, { weight: w, tokens: 2, x, y })).toHaveLength(1);
  });
});
