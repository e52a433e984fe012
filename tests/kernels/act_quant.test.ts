/**
 * act_quant (int8 activations, ggml-cpu's Q8_K / Q8_0 rounding) against its CPU reference, and the int8
 * decode matvec (matvec with Q8Activations) against a float64 product of the exactly dequantized weights and
 * the activations the GPU quantized (read back), so each kernel is checked on its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Q8_WEIGHT_TYPES,
  createQ8Activations,
  ggmlRoundingFor,
  quantizeActivations,
  roundActivations,
  type GgmlRounding,
  type Q8ScaleBlock,
  type Q8WeightType,
} from '../../kernels/act_quant.ts';
import { ggmlActivationRounder } from '../../workers/model/reference/ggmlRounding.ts';
import { GgmlTypeId } from '../../kernels/lib/weights.ts';
import { actQuantRef, actQuantValues, normActQuantRef } from '../../kernels/act_quant.ref.ts';
import { normRef, type NormKind } from '../../kernels/norm.ref.ts';
import { matvec, type MatvecVariant } from '../../kernels/matvec.ts';
import { matvecRef } from '../../kernels/matvec.ref.ts';
import { KernelShapeError, type KernelContext } from '../../kernels/lib/context.ts';
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

async function readWords(ctx: KernelContext, buf: GPUBuffer): Promise<Uint32Array> {
  const f = await ctx.readF32(buf);
  return new Uint32Array(f.buffer, f.byteOffset, f.length);
}

/** The GPU's int8 activations decoded back to q·d floats. */
function decodeQ8(words: Uint32Array, n: number): Float32Array {
  const q = new Int8Array(words.buffer, words.byteOffset, n);
  const aux = new Float32Array(words.buffer, words.byteOffset + n, n / 8);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = q[i] * aux[4 * (i >> 5)];
  return out;
}

/** Inputs with the cases rounding must get right: an all-zero block, equal magnitudes of both signs. */
function testInput(n: number, off: number, seed: number): Float32Array {
  const x = randomF32(off + n, seed);
  if (n >= 64) x.fill(0, off + 32, off + 64);
  x[off + 3] = 2.5;
  x[off + 5] = -2.5;
  return x;
}

/**
 * Every quantized value within one step of the reference's (GPU division is not correctly rounded: 2.5 ulp in
 * WGSL, so a value right at a rounding tie may land one step away), and at most 1 % of them one step off.
 * Returns the number of values one step off.
 */
function expectQuantsWithinOneStep(got: Int8Array, want: Int8Array, n: number, label: string): number {
  let off1 = 0;
  for (let i = 0; i < n; i++) {
    const dq = Math.abs(got[i] - want[i]);
    expect(dq, `${label}: q[${i}] computed ${got[i]} expected ${want[i]}`).toBeLessThanOrEqual(1);
    off1 += dq;
  }
  expect(off1, `${label}: values one step off`).toBeLessThanOrEqual(Math.ceil(n / 100));
  return off1;
}

describe('act_quant', () => {
  for (const block of [256, 32] as const satisfies readonly Q8ScaleBlock[]) {
    it(`${block}-element scales: q, d and 16-element sums match ggml's rounding (odd sizes, offsets)`, async () => {
      const { ctx } = gpu;
      const sizes = block === 256 ? [256, 768, 2304] : [32, 96, 800];
      let seed = 10;
      for (const n of sizes)
        for (const off of [0, 3]) {
          const x = testInput(n, off, seed++);
          const xb = ctx.storage(x);
          const out = createQ8Activations(ctx, n, block);
          ctx.run([quantizeActivations(ctx, { x: xb, xOffset: off, out })]);
          const got = await readWords(ctx, out.buffer);
          const want = actQuantRef(x.subarray(off), block);
          const gq = new Int8Array(got.buffer, got.byteOffset, n);
          const label = `act_quant ${block} n=${n} off=${off}`;
          const off1 = expectQuantsWithinOneStep(gq, want.q, n, label);
          const gAux = new Float32Array(got.buffer, got.byteOffset + n, n / 8);
          const wAux = new Float32Array(want.words.buffer, n, n / 8);
          for (let b = 0; b < n / 32; b++) {
            expect(gAux[4 * b], `${label}: d of block ${b}`).toBeCloseTo(wAux[4 * b], 6);
            for (const k of [1, 2]) {
              const tol = Math.abs(wAux[4 * b]) * (off1 + 1e-3);
              expect(Math.abs(gAux[4 * b + k] - wAux[4 * b + k]), `${label}: sum ${k} of block ${b}`).toBeLessThanOrEqual(tol);
            }
          }
          // The zero block stays zero with d = 0.
          if (n >= 64) expect(Array.from(gq.subarray(32, 64))).toEqual(new Array(32).fill(0));
          xb.destroy();
          out.buffer.destroy();
        }
    });
  }

  // In place, several rows at a stride: the f32 values ggml-cpu's rounding gives (workers/model/reference/ggmlRounding.ts).
  const ROUNDINGS: readonly (readonly [GgmlRounding, 'Q4_K' | 'Q8_0' | 'F16' | 'BF16'])[] = [
    ['q8_K', 'Q4_K'],
    ['q8_0', 'Q8_0'],
    ['f16', 'F16'],
    ['bf16', 'BF16'],
  ];
  for (const [rounding, type] of ROUNDINGS) {
    it(`round in place (${rounding}, as for ${type} weights): 3 rows at a stride, equal to the CPU emulation`, async () => {
      const { ctx } = gpu;
      expect(ggmlRoundingFor(type)).toBe(rounding);
      const round = ggmlActivationRounder(GgmlTypeId[type]);
      if (!round) throw new Error(`no CPU rounder for ${type}`);
      for (const n of rounding === 'q8_K' ? [256, 768] : [32, 800]) {
        const rows = 3;
        const stride = n + 12;
        const off = 5;
        const x = testInput(off + rows * stride - off, off, 40 + n);
        const xb = ctx.storage(x);
        ctx.run([roundActivations(ctx, { x: xb, xOffset: off, n, rows, stride, rounding })]);
        const got = await ctx.readF32(xb);
        const want = Float32Array.from(x);
        for (let r = 0; r < rows; r++) round(want.subarray(off + r * stride, off + r * stride + n), n);
        let stepped = 0;
        for (let i = 0; i < want.length; i++) {
          // GPU division is not correctly rounded: d may be an ulp off (SwiftShader), and a value at a rounding
          // tie may land one step (d) away; nothing else may differ.
          if (Math.abs(got[i] - want[i]) <= 1e-6 * Math.abs(want[i])) continue;
          const inRow = i >= off && (i - off) % stride < n;
          expect(inRow && rounding.startsWith('q8'), `${rounding} n=${n}: [${i}] computed ${got[i]} expected ${want[i]}`).toBe(true);
          const blk = rounding === 'q8_K' ? 256 : 32;
          const j = (i - off) % stride;
          const start = i - (j % blk);
          let amax = 0;
          for (let k = start; k < start + blk; k++) amax = Math.max(amax, Math.abs(x[k]));
          expect(Math.abs(got[i] - want[i]), `${rounding} n=${n}: [${i}] off by more than one step`).toBeLessThanOrEqual((amax / 127) * 1.01);
          stepped++;
        }
        expect(stepped, `${rounding} n=${n}: values one step off`).toBeLessThanOrEqual(Math.ceil((rows * n) / 100));
        xb.destroy();
      }
    });
  }

  // A folded norm: x is a raw row; the kernel writes norm(x) (f32) to norm.out and quantizes that.
  for (const block of [256, 32] as const satisfies readonly Q8ScaleBlock[])
    for (const kind of ['rms', 'layer'] as const satisfies readonly NormKind[]) {
      it(`${block}-element scales with a folded ${kind} norm: norm(x) written out and quantized (offsets, shift)`, async () => {
        const { ctx } = gpu;
        const sizes = block === 256 ? [256, 2304] : [32, 800];
        let seed = 60;
        for (const n of sizes)
          for (const [off, outOff, gOff, shift] of [
            [0, 0, 0, 0],
            [3, 5, 2, kind === 'layer' ? 500 : 0],
          ]) {
            const x = testInput(n, off, seed++).map((v) => v * 3 + shift);
            const g = randomF32(gOff + n, seed++, 0.5).map((v) => v + 1);
            const eps = 1e-5;
            const xb = ctx.storage(x);
            const gb = ctx.storage(g);
            const ob = ctx.storage(randomF32(outOff + n + 3, seed++));
            const before = await ctx.readF32(ob);
            const out = createQ8Activations(ctx, n, block);
            ctx.run([quantizeActivations(ctx, { x: xb, xOffset: off, out, norm: { kind, weight: gb, weightOffset: gOff, eps, out: ob, outOffset: outOff } })]);
            const label = `act_quant ${block} ${kind} n=${n} off=${off} outOff=${outOff} gOff=${gOff} shift=${shift}`;
            const xnGot = await ctx.readF32(ob);
            const ref = normActQuantRef(kind, x.subarray(off, off + n), g.subarray(gOff), eps, block);
            expectClose(`${label}: norm(x)`, xnGot.subarray(outOff, outOff + n), ref.xn, { nmse: 1e-11, maxAbs: 1e-5 });
            expect(Array.from(xnGot.subarray(0, outOff)).concat(Array.from(xnGot.subarray(outOff + n))), `${label}: outside norm(x) untouched`).toEqual(
              Array.from(before.subarray(0, outOff)).concat(Array.from(before.subarray(outOff + n))),
            );
            // The int8 form is the quantization of the values written (ties: one step, as above).
            const got = await readWords(ctx, out.buffer);
            const want = actQuantRef(xnGot.slice(outOff, outOff + n), block);
            const gq = new Int8Array(got.buffer, got.byteOffset, n);
            const off1 = expectQuantsWithinOneStep(gq, want.q, n, label);
            // And close to the reference's own quantization of its norm.
            expectClose(`${label}: q·d`, decodeQ8(got, n), actQuantValues(ref.q8), { nmse: 1e-4, maxAbs: 0.05 });
            for (const b of [xb, gb, ob, out.buffer]) b.destroy();
          }
      });
    }

  for (const [rounding, type] of [
    ['q8_K', 'Q4_K'],
    ['q8_0', 'Q8_0'],
    ['f16', 'F16'],
    ['bf16', 'BF16'],
  ] as const)
    for (const kind of ['rms', 'layer'] as const satisfies readonly NormKind[]) {
      it(`round (${rounding}) with a folded ${kind} norm: the rounding of norm(x) into norm.out, x untouched`, async () => {
        const { ctx } = gpu;
        const round = ggmlActivationRounder(GgmlTypeId[type]);
        if (!round) throw new Error(`no CPU rounder for ${type}`);
        for (const n of rounding === 'q8_K' ? [256, 768] : [32, 800]) {
          const off = 3;
          const outOff = 7;
          const x = testInput(n, off, 80 + n).map((v) => v * 2 + (kind === 'layer' ? 40 : 0));
          const g = randomF32(n, 81 + n, 0.5).map((v) => v + 1);
          const eps = 1e-6;
          const xb = ctx.storage(x);
          const gb = ctx.storage(g);
          const ob = ctx.storage((outOff + n) * 4);
          ctx.run([roundActivations(ctx, { x: xb, xOffset: off, n, rounding, norm: { kind, weight: gb, eps, out: ob, outOffset: outOff } })]);
          const got = (await ctx.readF32(ob)).subarray(outOff, outOff + n);
          expect(Array.from(await ctx.readF32(xb)), `${rounding} ${kind} n=${n}: x untouched`).toEqual(Array.from(x));
          const xn = normRef(kind, x.subarray(off, off + n), g, { n, eps });
          const want = Float32Array.from(xn);
          round(want, n);
          // The GPU's norm(x) is within an ulp or so of the reference's: values at a rounding tie may land one
          // step away (q8: d = amax/127; f16/bf16: one unit of their last place), on at most 1 %.
          let stepped = 0;
          for (let i = 0; i < n; i++) {
            if (Math.abs(got[i] - want[i]) <= 2e-6 * Math.abs(want[i])) continue;
            let step: number;
            if (rounding.startsWith('q8')) {
              const blk = rounding === 'q8_K' ? 256 : 32;
              const start = i - (i % blk);
              let amax = 0;
              for (let k = start; k < start + blk; k++) amax = Math.max(amax, Math.abs(xn[k]));
              step = (amax / 127) * 1.01;
            } else step = Math.abs(want[i]) * (rounding === 'f16' ? 2 ** -10 : 2 ** -7) + 2 ** -24;
            expect(Math.abs(got[i] - want[i]), `${rounding} ${kind} n=${n}: [${i}] computed ${got[i]} expected ${want[i]}`).toBeLessThanOrEqual(step);
            stepped++;
          }
          expect(stepped, `${rounding} ${kind} n=${n}: values one step off`).toBeLessThanOrEqual(Math.ceil(n / 100));
          for (const b of [xb, gb, ob]) b.destroy();
        }
      });
    }

  it('rejects bad sizes, offsets and buffers with KernelShapeError', () => {
    const { ctx } = gpu;
    const g = ctx.storage(256 * 4);
    const xn = ctx.storage(256 * 4);
    const nrm = { kind: 'rms', weight: g, eps: 1e-5, out: xn } as const;
    expect(() => roundActivations(ctx, { x: ctx.storage(2048), n: 256, rows: 2, rounding: 'q8_K', norm: nrm })).toThrow(/one row/);
    const x256 = ctx.storage(256 * 4);
    expect(() => roundActivations(ctx, { x: x256, n: 256, rounding: 'q8_K', norm: { ...nrm, out: x256 } })).toThrow(KernelShapeError);
    expect(() => roundActivations(ctx, { x: x256, n: 256, rounding: 'q8_K', norm: { ...nrm, outOffset: 1 } })).toThrow(KernelShapeError);
    const q256 = createQ8Activations(ctx, 256, 256);
    expect(() => quantizeActivations(ctx, { x: x256, out: q256, norm: { ...nrm, weightOffset: 4 } })).toThrow(KernelShapeError);
    expect(() => quantizeActivations(ctx, { x: x256, out: q256, norm: { ...nrm, eps: Number.NaN } })).toThrow(KernelShapeError);
    expect(() => quantizeActivations(ctx, { x: x256, out: q256, norm: nrm })).not.toThrow();
    expect(() => roundActivations(ctx, { x: ctx.storage(1024), n: 100, rounding: 'q8_0' })).toThrow(KernelShapeError);
    expect(() => roundActivations(ctx, { x: ctx.storage(1024), n: 256, rows: 2, rounding: 'q8_K' })).toThrow(KernelShapeError);
    expect(() => createQ8Activations(ctx, 100, 32)).toThrow(KernelShapeError);
    expect(() => createQ8Activations(ctx, 288, 256)).toThrow(KernelShapeError);
    const out = createQ8Activations(ctx, 64, 32);
    const x = ctx.storage(64 * 4);
    expect(() => quantizeActivations(ctx, { x, xOffset: 1, out })).toThrow(KernelShapeError);
    expect(() => quantizeActivations(ctx, { x: out.buffer, out })).toThrow(KernelShapeError);
  });
});

/** Variants that take every workgroup size, row count and reduction path at least once. */
const COVER: readonly MatvecVariant[] = [
  { workgroupSize: 64, rows: 4, subgroups: true },
  { workgroupSize: 128, rows: 2, subgroups: false },
  { workgroupSize: 256, rows: 1, subgroups: true },
  { workgroupSize: 64, rows: 1, subgroups: false },
];

async function runInt8Case(
  ctx: KernelContext,
  type: Q8WeightType,
  rows: number,
  nIn: number,
  seed: number,
  opts: { variant?: MatvecVariant; accumulate?: boolean; yOff?: number; chunks?: number } = {},
): Promise<void> {
  const { yOff = 0 } = opts;
  const t = testWeight(type, rows, nIn, seed);
  const w = uploadWeight(ctx, `w.${type}`, type, [nIn, rows], t.gguf);
  if (opts.chunks) expect(w.chunks.length, 'weight split into chunks').toBeGreaterThanOrEqual(opts.chunks);
  const x = randomF32(nIn, seed + 1);
  const y0 = randomF32(yOff + rows, seed + 2);
  const xb = ctx.storage(x);
  const yb = ctx.storage(y0);
  const xq = createQ8Activations(ctx, nIn, Q8_WEIGHT_TYPES[type]);
  ctx.run([quantizeActivations(ctx, { x: xb, out: xq }), ...matvec(ctx, { weight: w, x: xq, y: yb, yOffset: yOff, accumulate: opts.accumulate, variant: opts.variant })]);
  const got = await ctx.readF32(yb);
  const xr = decodeQ8(await readWords(ctx, xq.buffer), nIn);
  const want = matvecRef(t.deq, nIn, xr, opts.accumulate ? y0.subarray(yOff) : undefined);
  const label = `int8 matvec ${type} ${rows}x${nIn} ${JSON.stringify(opts.variant ?? 'default')}${opts.accumulate ? ' +=' : ''}`;
  // Exact integer sums; only the f32 scaling and the order of the per-part sums round.
  let scale = 0;
  for (let r = 0; r < rows; r++) {
    let a = 0;
    for (let i = 0; i < nIn; i++) a += Math.abs(t.deq[r * nIn + i] * xr[i]);
    scale = Math.max(scale, a);
  }
  expectClose(label, got.subarray(yOff, yOff + rows), want, { nmse: 1e-9, maxAbs: 1e-5 * Math.max(1, scale) });
  expect(Array.from(got.subarray(0, yOff)), `${label}: prefix untouched`).toEqual(Array.from(y0.subarray(0, yOff)));
  destroyWeight(w);
  xb.destroy();
  yb.destroy();
  xq.buffer.destroy();
}

describe('int8 matvec (X_Q8)', () => {
  for (const type of Object.keys(Q8_WEIGHT_TYPES) as Q8WeightType[]) {
    const sizes = Q8_WEIGHT_TYPES[type] === 256 ? [256, 768, 2304] : [64, 96, 800];
    it(`${type}: rows 1..257, odd row lengths, default variant`, async () => {
      let seed = 500;
      for (const rows of [1, 7, 33, 257]) for (const nIn of sizes) await runInt8Case(gpu.ctx, type, rows, nIn, seed++, { yOff: 5 });
    });
    it(`${type}: every workgroup size, row count and reduction; accumulate without subgroups`, async () => {
      let seed = 600;
      for (const variant of COVER) {
        if (variant.subgroups && !gpu.ctx.subgroups) continue;
        await runInt8Case(gpu.ctx, type, 37, sizes[1], seed++, { variant });
      }
      await runInt8Case(plain.ctx, type, 21, sizes[1], seed++, { accumulate: true, yOff: 2 });
    });
  }

  it('weights split into several chunks (binding limit)', async () => {
    const split = await gpuFixture({ maxBindingOverride: 4096 });
    try {
      await runInt8Case(split.ctx, 'Q4_K', 41, 768, 700, { chunks: 3, yOff: 3 });
      await runInt8Case(split.ctx, 'Q8_0', 41, 768, 701, { chunks: 3, accumulate: true });
    } finally {
      split.release();
    }
  });

  it('rejects a weight type or rounding that does not pair, and a length mismatch', () => {
    const { ctx } = gpu;
    const y = ctx.storage(4 * 4);
    const q6 = uploadWeight(ctx, 'w.q6', 'Q6_K', [256, 4], testWeight('Q6_K', 4, 256, 1).gguf);
    expect(() => matvec(ctx, { weight: q6, x: createQ8Activations(ctx, 256, 256), y })).toThrow(/int8 activations need/);
    const q4 = uploadWeight(ctx, 'w.q4k', 'Q4_K', [256, 4], testWeight('Q4_K', 4, 256, 2).gguf);
    expect(() => matvec(ctx, { weight: q4, x: createQ8Activations(ctx, 256, 32), y })).toThrow(KernelShapeError);
    expect(() => matvec(ctx, { weight: q4, x: createQ8Activations(ctx, 512, 256), y })).toThrow(KernelShapeError);
    expect(() => matvec(ctx, { weight: q4, x: createQ8Activations(ctx, 256, 256), y, xOffset: 4 })).toThrow(KernelShapeError);
  });
});
