import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matvec, MATVEC_ROWS, MATVEC_WG_SIZES, type MatvecVariant } from '../../kernels/matvec.ts';
import { matvecRef, normMatvecRef } from '../../kernels/matvec.ref.ts';
import { normRef, type NormKind } from '../../kernels/norm.ref.ts';
import { createQ8Activations } from '../../kernels/act_quant.ts';
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

interface NormCase extends Case {
  readonly kind: NormKind;
  /** Norm weight offset (G_VEC4 when a multiple of 4). */
  readonly gOff: number;
  /** x = shift + scale · uniform(−1, 1): a large common offset tests LayerNorm's shift. */
  readonly shift?: number;
  readonly scale?: number;
}

/** One matvec with a folded norm against normRef → matvecRef. */
async function runNormCase(ctx: KernelContext, type: QuantType, c: NormCase, seed: number, maxBindingSplit = false): Promise<void> {
  const t = testWeight(type, c.rows, c.nIn, seed);
  const w = uploadWeight(ctx, `w.${type}`, type, [c.nIn, c.rows], t.gguf);
  if (maxBindingSplit) expect(w.chunks.length, 'weight split into chunks').toBeGreaterThanOrEqual(3);
  const x = randomF32(c.xOff + c.nIn, seed + 1, c.scale ?? 1).map((v) => v + (c.shift ?? 0));
  const g = randomF32(c.gOff + c.nIn, seed + 3, 0.5).map((v) => v + 1);
  const y0 = randomF32(c.yOff + c.rows, seed + 2);
  const eps = 1e-5;
  const xb = ctx.storage(x);
  const gb = ctx.storage(g);
  const yb = ctx.storage(y0);
  ctx.run(
    matvec(ctx, {
      weight: w,
      x: xb,
      y: yb,
      xOffset: c.xOff,
      yOffset: c.yOff,
      accumulate: c.accumulate,
      norm: { kind: c.kind, weight: gb, weightOffset: c.gOff, eps },
      variant: c.variant,
    }),
  );
  const got = await ctx.readF32(yb);
  const xs = x.subarray(c.xOff);
  const gs = g.subarray(c.gOff);
  const want = normMatvecRef(c.kind, t.deq, c.nIn, xs, gs, eps, c.accumulate ? y0.subarray(c.yOff) : undefined);
  const xn = normRef(c.kind, xs, gs, { n: c.nIn, eps });
  const label = `${type} ${c.kind} ${c.rows}x${c.nIn} xOff=${c.xOff} gOff=${c.gOff} shift=${c.shift ?? 0} ${JSON.stringify(c.variant ?? 'default')}${c.accumulate ? ' +=' : ''}`;
  expectClose(label, got.subarray(c.yOff, c.yOff + c.rows), want, tolerance(t.deq, c.nIn, xn, matvecRef(t.deq, c.nIn, xn)));
  expect(Array.from(got.subarray(0, c.yOff)), `${label}: prefix untouched`).toEqual(Array.from(y0.subarray(0, c.yOff)));
  destroyWeight(w);
  xb.destroy();
  gb.destroy();
  yb.destroy();
}

const NORM_KINDS: readonly NormKind[] = ['rms', 'layer'];
/** Types with each block family (K-quants with 16-byte and padded blocks, 32-blocks, floats); odd sizes where allowed. */
const NORM_TYPES: readonly QuantType[] = ['Q4_K', 'Q6_K', 'Q8_0', 'Q5_0', 'F32', 'F16'];

describe('matvec: fused rms/layer norm', () => {
  for (const type of NORM_TYPES) {
    it(`${type}: both norms; offsets (aligned and not); accumulate; both reductions`, async () => {
      const sizes = inSizes(type);
      let seed = 500;
      for (const kind of NORM_KINDS) {
        await runNormCase(gpu.ctx, type, { kind, rows: 33, nIn: sizes[1], xOff: 0, yOff: 3, gOff: 0 }, seed++);
        await runNormCase(gpu.ctx, type, { kind, rows: 7, nIn: sizes[2], xOff: 3, yOff: 0, gOff: 5 }, seed++);
        await runNormCase(gpu.ctx, type, { kind, rows: 1, nIn: sizes[0], xOff: 8, yOff: 1, gOff: 4, accumulate: true }, seed++);
        await runNormCase(plain.ctx, type, { kind, rows: 21, nIn: sizes[1], xOff: 4, yOff: 2, gOff: 1, accumulate: true }, seed++);
      }
    });
  }

  it('LayerNorm of a row with a large common offset (the x[0] shift) and RMS of a large-scale row', async () => {
    await runNormCase(gpu.ctx, 'Q8_0', { kind: 'layer', rows: 19, nIn: 800, xOff: 0, yOff: 0, gOff: 0, shift: 1000 }, 600);
    await runNormCase(gpu.ctx, 'F32', { kind: 'layer', rows: 19, nIn: 404, xOff: 1, yOff: 0, gOff: 0, shift: -300, scale: 0.01 }, 601);
    await runNormCase(gpu.ctx, 'Q4_K', { kind: 'rms', rows: 19, nIn: 768, xOff: 0, yOff: 0, gOff: 0, scale: 500 }, 602);
  });

  it('every workgroup size, row count and reduction (F32 and Q4_K)', async () => {
    let seed = 700;
    for (const type of ['F32', 'Q4_K'] as const)
      for (const kind of NORM_KINDS)
        for (const variant of COVER) {
          const ctx = variant.subgroups && gpu.ctx.subgroups ? gpu.ctx : plain.ctx;
          await runNormCase(ctx, type, { kind, rows: 37, nIn: inSizes(type)[1], xOff: 0, yOff: 0, gOff: 0, variant: { ...variant, subgroups: ctx.subgroups } }, seed++);
        }
    for (const workgroupSize of MATVEC_WG_SIZES)
      for (const rows of MATVEC_ROWS)
        await runNormCase(gpu.ctx, 'F32', { kind: 'layer', rows: 13, nIn: 36, xOff: 0, yOff: 0, gOff: 0, variant: { workgroupSize, rows } }, seed++);
  });

  it('weights split into several chunks: every chunk applies the norm', async () => {
    const split = await gpuFixture({ maxBindingOverride: 4096 });
    try {
      for (const kind of NORM_KINDS) await runNormCase(split.ctx, 'Q4_K', { kind, rows: 41, nIn: 768, xOff: 0, yOff: 3, gOff: 0 }, 800, true);
    } finally {
      split.release();
    }
  });

  it('rejects a norm with int8 activations and bad norm arguments with KernelShapeError', () => {
    const { ctx } = gpu;
    const t = testWeight('Q8_0', 4, 64, 1);
    const w = uploadWeight(ctx, 'w.norm.bad', 'Q8_0', [64, 4], t.gguf);
    const x = ctx.storage(64 * 4);
    const y = ctx.storage(4 * 4);
    const g = ctx.storage(64 * 4);
    const norm = { kind: 'rms', weight: g, eps: 1e-5 } as const;
    expect(() => matvec(ctx, { weight: w, x: createQ8Activations(ctx, 64, 32), y, norm })).toThrow(/f32 activations/);
    expect(() => matvec(ctx, { weight: w, x, y, norm: { ...norm, weightOffset: 1 } })).toThrow(KernelShapeError);
    expect(() => matvec(ctx, { weight: w, x, y, norm: { ...norm, eps: -1 } })).toThrow(KernelShapeError);
    expect(() => matvec(ctx, { weight: w, x, y: g, norm })).toThrow(KernelShapeError);
    expect(() => matvec(ctx, { weight: w, x, y, norm })).not.toThrow();
    destroyWeight(w);
  });
});
