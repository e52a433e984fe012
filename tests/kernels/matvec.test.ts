import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matvec, MATVEC_ROWS, MATVEC_WG_SIZES, type MatvecVariant } from '../../kernels/matvec.ts';
import { matvecRef } from '../../kernels/matvec.ref.ts';
import { KernelShapeError, type KernelContext } from '../../kernels/lib/context.ts';
import { QUANT_GEOMETRY, QUANT_TYPES, type QuantType } from '../../kernels/lib/quant.ts';
import { destroyWeight, uploadWeight } from '../../kernels/lib/weights.ts';
import { adapterLine, expectClose, gpuFixture, randomF32, type GpuFixture } from './harness.ts';
import { testWeight } from './quantData.ts';

let gpu: GpuFixture;
let plain: GpuFixture;
beforeAll(async () => {
  gpu = await gpuFixture();
  plain = await gpuFixture({ noSubgroups: true });
  console.log(adapterLine(gpu.ctx));
});
afterAll(() => {
  gpu?.release();
  plain?.release();
});

/**
 * Exactly dequantized weights, f32 accumulation in another order: only rounding differences remain, NMSE about
 * 1e-13. The rounding error scales with Σ|w·x|, not with the result, so the limit grows where the outputs are
 * much smaller than their terms (a single row whose products cancel): 1e-10 · max(1, Σ_r (Σ_i |w·x|)² / (n_in ·
 * Σ_r y_r²)), which stays 1e-10 for typical random rows.
 */
function tolerance(w: Float32Array, nIn: number, x: Float32Array, y: Float32Array): { nmse: number; maxAbs: number } {
  let terms = 0;
  let out = 0;
  for (let r = 0; r < y.length; r++) {
    let a = 0;
    for (let i = 0; i < nIn; i++) a += Math.abs(w[r * nIn + i] * x[i]);
    terms += a * a;
    out += y[r] * y[r];
  }
  return { nmse: 1e-10 * Math.max(1, terms / (nIn * out)), maxAbs: 1e-3 };
}

/** Row lengths that are whole blocks but not multiples of the workgroup's reach. */
function inSizes(type: QuantType): number[] {
  const b = QUANT_GEOMETRY[type].blockElems;
  if (b === 256) return [256, 768, 2304];
  if (b === 32) return [64, 96, 288, 800];
  return [b, 9 * b, 101 * b];
}

interface Case {
  readonly rows: number;
  readonly nIn: number;
  readonly xOff: number;
  readonly yOff: number;
  readonly accumulate?: boolean;
  readonly variant?: MatvecVariant;
}

/** Runs one matvec on `ctx` and compares it with the CPU reference. */
async function runCase(ctx: KernelContext, type: QuantType, c: Case, seed: number, maxBindingSplit = false): Promise<void> {
  const t = testWeight(type, c.rows, c.nIn, seed);
  const w = uploadWeight(ctx, `w.${type}`, type, [c.nIn, c.rows], t.gguf);
  if (maxBindingSplit) expect(w.chunks.length, 'weight split into chunks').toBeGreaterThanOrEqual(3);
  const x = randomF32(c.xOff + c.nIn, seed + 1);
  const y0 = randomF32(c.yOff + c.rows, seed + 2);
  const xb = ctx.storage(x);
  const yb = ctx.storage(y0);
  ctx.run(matvec(ctx, { weight: w, x: xb, y: yb, xOffset: c.xOff, yOffset: c.yOff, accumulate: c.accumulate, variant: c.variant }));
  const got = await ctx.readF32(yb);
  const want = matvecRef(t.deq, c.nIn, x.subarray(c.xOff), c.accumulate ? y0.subarray(c.yOff) : undefined);
  const label = `${type} ${c.rows}x${c.nIn} xOff=${c.xOff} ${JSON.stringify(c.variant ?? 'default')}${c.accumulate ? ' +=' : ''}`;
  const noAcc = c.accumulate ? matvecRef(t.deq, c.nIn, x.subarray(c.xOff)) : want;
  expectClose(label, got.subarray(c.yOff, c.yOff + c.rows), want, tolerance(t.deq, c.nIn, x.subarray(c.xOff), noAcc));
  // Nothing outside [yOff, yOff + rows) is written.
  expect(Array.from(got.subarray(0, c.yOff)), `${label}: prefix untouched`).toEqual(Array.from(y0.subarray(0, c.yOff)));
  destroyWeight(w);
  xb.destroy();
  yb.destroy();
}

/** Variants that together take every workgroup size, row count and reduction path at least once. */
const COVER: readonly MatvecVariant[] = [
  { workgroupSize: 64, rows: 1, subgroups: true },
  { workgroupSize: 128, rows: 2, subgroups: false },
  { workgroupSize: 256, rows: 4, subgroups: true },
  { workgroupSize: 64, rows: 4, subgroups: false },
];
// Lavapipe compiles a matvec pipeline in about a second, so the full cover runs on representative types (the
// row and reduction code is type-independent; F32 below takes the whole cross product).
const COVER_TYPES: readonly QuantType[] = ['Q4_K', 'Q6_K', 'Q8_0', 'IQ4_XS'];

describe('matvec', () => {
  for (const type of QUANT_TYPES) {
    it(`${type}: shapes (rows 1..257, odd row lengths), offsets, default variant`, async () => {
      const sizes = inSizes(type);
      let seed = 100;
      for (const rows of [1, 7, 33, 257])
        for (const nIn of sizes) {
          // Alternate vec4-aligned and unaligned activation offsets (two pipelines).
          const xOff = seed % 2 ? 3 : 8;
          await runCase(gpu.ctx, type, { rows, nIn, xOff, yOff: 5 }, seed++);
        }
    });

    it(`${type}: other variants; accumulate on a device without subgroups`, async () => {
      const nIn = inSizes(type)[1];
      let seed = 200;
      const variants = COVER_TYPES.includes(type) ? COVER : [{ workgroupSize: 128, rows: 1, subgroups: false } as const];
      for (const variant of variants) {
        if (variant.subgroups && !gpu.ctx.subgroups) continue;
        await runCase(gpu.ctx, type, { rows: 37, nIn, xOff: 4, yOff: 0, variant }, seed++);
      }
      await runCase(plain.ctx, type, { rows: 21, nIn, xOff: 0, yOff: 2, accumulate: true }, seed++);
    });
  }

  it('F32: every variant (workgroup size × rows × reduction)', async () => {
    let seed = 300;
    for (const workgroupSize of MATVEC_WG_SIZES)
      for (const rows of MATVEC_ROWS)
        for (const subgroups of gpu.ctx.subgroups ? [true, false] : [false])
          await runCase(gpu.ctx, 'F32', { rows: 13, nIn: 36, xOff: 0, yOff: 0, variant: { workgroupSize, rows, subgroups } }, seed++);
  });

  it('weights split into several chunks (binding limit): one dispatch per chunk', async () => {
    // Each chunk holds a few rows, so rows land in at least 3 bindings.
    const split = await gpuFixture({ maxBindingOverride: 4096 });
    try {
      for (const type of ['Q4_K', 'Q8_0', 'F16'] as const) {
        await runCase(split.ctx, type, { rows: 41, nIn: 768, xOff: 0, yOff: 3 }, 400, true);
        await runCase(split.ctx, type, { rows: 41, nIn: 768, xOff: 0, yOff: 3, accumulate: true }, 401, true);
      }
    } finally {
      split.release();
    }
  });

  it('rejects bad shapes, offsets, buffers and variants with KernelShapeError', () => {
    const { ctx } = gpu;
    const t = testWeight('Q8_0', 4, 64, 1);
    const w = uploadWeight(ctx, 'w.bad', 'Q8_0', [64, 4], t.gguf);
    const x = ctx.storage(64 * 4);
    const y = ctx.storage(4 * 4);
    expect(() => matvec(ctx, { weight: w, x, y, xOffset: 1 })).toThrow(KernelShapeError);
    expect(() => matvec(ctx, { weight: w, x, y, yOffset: 1 })).toThrow(KernelShapeError);
    expect(() => matvec(ctx, { weight: w, x, y: x })).toThrow(KernelShapeError);
    expect(() => matvec(ctx, { weight: w, x, y, xOffset: -1 })).toThrow(KernelShapeError);
    const q2 = uploadWeight(ctx, 'w.q2k', 'Q2_K', [256, 1], new Uint8Array(84));
    expect(() => matvec(ctx, { weight: q2, x: ctx.storage(128 * 4), y })).toThrow(KernelShapeError);
    const f16 = uploadWeight(ctx, 'w.f16odd', 'F16', [12, 1], new Uint8Array(24));
    expect(() => matvec(ctx, { weight: f16, x, y })).toThrow(/not a whole number of 8-element blocks/);
  });
});
