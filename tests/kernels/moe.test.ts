/**
 * @file MoE decode kernels against the CPU reference (kernels/moe.ref.ts): router ids exactly (ties
 * included), router weights, usage counters, gate+up and down+combine per weight type, the full block with
 * and without a shared expert, split bindings (experts in several chunks, several windows), subgroups on and
 * off, every offered workgroup size.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOE_ROUTER_WG_SIZES, MOE_WG_SIZES } from '../../kernels/moe_bindings.ts';
import { moeDecode, moeDownCombine, moeGateUp } from '../../kernels/moe_decode.ts';
import { moeRouter, moeRouterDefaultWorkgroup } from '../../kernels/moe_router.ts';
import type { MoeGating } from '../../kernels/moe.ref.ts';
import { moeDownRef, moeGateUpRef, moeLayerRef, moeRouterNormRef, moeRouterRef } from '../../kernels/moe.ref.ts';
import { normRef, type NormKind } from '../../kernels/norm.ref.ts';
import { KernelShapeError, type KernelContext } from '../../kernels/lib/context.ts';
import { uploadWeight, type GpuWeightType } from '../../kernels/lib/weights.ts';
import { QUANT_TYPES, quantGeometry } from '../../kernels/lib/quant.ts';
import { adapterLine, expectClose, gpuFixture, randomF32, type GpuFixture } from './harness.ts';
import { exactF32, f32Bytes, randomWeight } from './moeFixtures.ts';
import { Q8_WEIGHT_TYPES, createQ8Activations, quantizeActivations, type Q8WeightType } from '../../kernels/act_quant.ts';

let sub: GpuFixture;
let nosub: GpuFixture;
beforeAll(async () => {
  sub = await gpuFixture();
  nosub = await gpuFixture({ noSubgroups: true });
  console.log(adapterLine(sub.ctx));
});
afterAll(() => {
  sub?.release();
  nosub?.release();
});

const fixtures = (): [string, KernelContext][] => [
  [sub.ctx.subgroups ? 'subgroups' : 'no-subgroups(adapter)', sub.ctx],
  ['no-subgroups', nosub.ctx],
];

const GATINGS: readonly MoeGating[] = ['softmax_topk_renorm', 'softmax_topk'];
/** Types whose dot products have no rounding beyond f32 (the others dequantize exactly but sum in another order). */
const TYPES: readonly GpuWeightType[] = QUANT_TYPES;
const TOL = { nmse: 1e-9, maxAbs: 1e-4 };

function u32Buf(ctx: KernelContext, a: ArrayLike<number>): GPUBuffer {
  return ctx.storage(Uint32Array.from(a));
}

describe('moe router', () => {
  // n_expert x k (k <= n_expert; 16 is the kernel's maximum).
  const SHAPES: readonly [nExpert: number, ks: readonly number[]][] = [1, 4, 16, 60, 64, 128].map((e) => [
    e,
    [1, 2, 4, 8, 16].filter((k) => k <= e),
  ]);
  async function routerCase(ctx: KernelContext, nExpert: number, k: number, gating: MoeGating, nEmbd: number, wg?: number): Promise<void> {
    const nTok = 3;
    const seed = nExpert * 1000 + k * 10 + nEmbd;
    // Narrow integer logits: many exact ties.
    const x = exactF32(nTok * nEmbd, seed, 2);
    const wr = exactF32(nExpert * nEmbd, seed + 1, 1);
    // Token 2: all experts tie (zero input).
    x.fill(0, 2 * nEmbd, 3 * nEmbd);
    const router = uploadWeight(ctx, 'ffn_gate_inp', 'F32', [nEmbd, nExpert], f32Bytes(wr));
    const xb = ctx.storage(x);
    const ids = ctx.storage((2 + nTok * k) * 4);
    const weights = ctx.storage((5 + nTok * k) * 4);
    const counts = ctx.storage(nExpert * 3 * 4);
    ctx.run([
      moeRouter(ctx, {
        x: xb,
        nTokens: nTok,
        router,
        k,
        gating,
        scale: 1.5,
        ids,
        idsOffset: 2,
        weights,
        weightsOffset: 5,
        counts: { buffer: counts, offset: nExpert },
        workgroupSize: wg,
      }),
    ]);
    const want = moeRouterRef(x, wr, { nEmbd, nExpert, k, gating, scale: 1.5 });
    const got = await ctx.readU32(ids, nTok * k, 2);
    const tag = `E=${nExpert} k=${k} ${gating} n_embd=${nEmbd} wg${wg ?? 'default'}`;
    expect(Array.from(got), `${tag}: ids`).toEqual(Array.from(want.ids));
    expectClose(`${tag}: weights`, await ctx.readF32(weights, nTok * k, 5), want.weights, { nmse: 1e-10, maxAbs: 1e-5 });
    const cnt = await ctx.readU32(counts);
    const wantCnt = new Uint32Array(nExpert * 3);
    for (const e of want.ids) wantCnt[nExpert + e]++;
    expect(Array.from(cnt), `${tag}: counts`).toEqual(Array.from(wantCnt));
    for (const b of [xb, ids, weights, counts, router.chunks[0].buffer]) b.destroy();
  }

  // Pipelines depend on the gating, vec4 loads (n_embd % 4) and the workgroup size, not on n_expert or k
  // (team width is a uniform): all shapes run at the default workgroup size, then each size once.
  for (const [label, get] of [
    ['subgroups', () => sub.ctx],
    ['no-subgroups', () => nosub.ctx],
  ] as const) {
    it(`ids exactly as the CPU (ties -> lower index), weights, counters; n_expert x k x gating x odd n_embd; ${label}`, async () => {
      const ctx = get();
      let cases = 0;
      for (const [nExpert, ks] of SHAPES)
        for (const k of ks)
          for (const gating of GATINGS)
            for (const nEmbd of [37, 64]) {
              await routerCase(ctx, nExpert, k, gating, nEmbd);
              cases++;
            }
      expect(cases).toBe(2 * 2 * SHAPES.reduce((a, [, ks]) => a + ks.length, 0));
    });
    it(`every router workgroup size; ${label}`, async () => {
      const ctx = get();
      const sizes = MOE_ROUTER_WG_SIZES.filter((w) => w <= ctx.info.limits.maxComputeInvocationsPerWorkgroup);
      for (const wg of sizes) await routerCase(ctx, 60, 4, 'softmax_topk_renorm', 64, wg);
    });
  }

  it('random (non-exact) inputs, shared-expert gate, NaN logits', async () => {
    for (const [label, ctx] of fixtures()) {
      const nEmbd = 2048;
      const nExpert = 60;
      const k = 4;
      const x = randomF32(nEmbd, 11, 1);
      const wr = randomF32(nExpert * nEmbd, 12, 0.05);
      const shg = randomF32(nEmbd, 13, 0.05);
      const router = uploadWeight(ctx, 'ffn_gate_inp', 'F32', [nEmbd, nExpert], f32Bytes(wr));
      const sharedGate = uploadWeight(ctx, 'ffn_gate_inp_shexp', 'F32', [nEmbd], f32Bytes(shg));
      const ids = ctx.storage((k + 1) * 4);
      const weights = ctx.storage((k + 1) * 4);
      ctx.run([moeRouter(ctx, { x: ctx.storage(x), router, k, gating: 'softmax_topk', ids, weights, sharedGate })]);
      const want = moeRouterRef(x, wr, { nEmbd, nExpert, k, gating: 'softmax_topk', sharedGate: shg });
      // Margins between ranks k-1 and k are far above f32 rounding for this seed.
      expect(Array.from(await ctx.readU32(ids)), `${label}: ids`).toEqual(Array.from(want.ids));
      expectClose(`${label}: weights + shared gate`, await ctx.readF32(weights), want.weights, { nmse: 1e-10, maxAbs: 1e-5 });

      // NaN in the router weights of expert 3: it ranks last, never first.
      const wn = wr.slice();
      wn[3 * nEmbd] = NaN;
      const rn = uploadWeight(ctx, 'ffn_gate_inp', 'F32', [nEmbd, nExpert], f32Bytes(wn));
      ctx.run([moeRouter(ctx, { x: ctx.storage(x), router: rn, k, gating: 'softmax_topk_renorm', ids, weights })]);
      const gotIds = Array.from(await ctx.readU32(ids, k));
      expect(gotIds, `${label}: NaN expert not selected`).not.toContain(3);
      expect(new Set(gotIds).size, `${label}: distinct ids`).toBe(k);
      const ws = await ctx.readF32(weights, k);
      expect(Math.abs(ws.reduce((a, b) => a + b, 0) - 1), `${label}: renormalised`).toBeLessThan(1e-5);
    }
  });

  it('rejects bad shapes with KernelShapeError', () => {
    const ctx = sub.ctx;
    const router = uploadWeight(ctx, 'r', 'F32', [8, 4], new Uint8Array(8 * 4 * 4));
    const b = ctx.storage(64);
    expect(() => moeRouter(ctx, { x: b, router, k: 5, gating: 'softmax_topk', ids: ctx.storage(64), weights: ctx.storage(64) })).toThrow(
      KernelShapeError,
    );
    expect(() => moeRouter(ctx, { x: ctx.storage(4), router, k: 2, gating: 'softmax_topk', ids: b, weights: ctx.storage(64) })).toThrow(
      KernelShapeError,
    );
  });
});

interface RouterNormCase {
  readonly kind: NormKind;
  readonly nEmbd: number;
  readonly nExpert: number;
  readonly k: number;
  readonly gating: MoeGating;
  readonly nTok: number;
  readonly shared?: boolean;
  readonly wg?: number;
}

/** Rows `nTok` of `n` at off + t·stride, packed. */
function rows(a: Float32Array, n: number, nTok: number, off: number, stride: number): Float32Array {
  const out = new Float32Array(nTok * n);
  for (let t = 0; t < nTok; t++) out.set(a.subarray(off + t * stride, off + t * stride + n), t * n);
  return out;
}

/**
 * One case of the router with its input norm folded in: xn against the norm reference, ids exactly and weights
 * against the router reference on the GPU's xn (so only the logits' own rounding is compared) and on the CPU's
 * (the whole reference). Router rows e ≡ 3 (mod 4) repeat row e − 2: exact ties on the GPU and the CPU alike.
 * The last token of 3 is zero (every logit ties: ids 0..k−1).
 */
async function routerNormCase(ctx: KernelContext, c: RouterNormCase, tag: string): Promise<void> {
  const { kind, nEmbd, nExpert, k, gating, nTok } = c;
  const vec4 = nEmbd % 4 === 0;
  // Offsets and strides aligned when vec4 loads are possible, odd otherwise.
  const [xOff, xStride, outOff, outStride, wOff] = vec4 ? [8, nEmbd + 4, 4, nEmbd + 8, 4] : [3, nEmbd + 5, 1, nEmbd + 2, 2];
  const seed = nEmbd * 31 + nExpert * 7 + k + nTok + (kind === 'layer' ? 1 : 2);
  const x = randomF32(xOff + nTok * xStride, seed, 3);
  for (let i = 0; i < x.length; i++) x[i] += 0.5; // a shifted mean: LayerNorm's centring matters
  if (nTok >= 3) x.fill(0, xOff + 2 * xStride, xOff + 2 * xStride + nEmbd);
  const nw = randomF32(wOff + nEmbd, seed + 1, 1.5);
  const wr = randomF32(nExpert * nEmbd, seed + 2, 0.3);
  for (let e = 3; e < nExpert; e += 4) wr.copyWithin(e * nEmbd, (e - 2) * nEmbd, (e - 1) * nEmbd);
  const shg = randomF32(nEmbd, seed + 3, 0.3);
  const router = uploadWeight(ctx, 'ffn_gate_inp', 'F32', [nEmbd, nExpert], f32Bytes(wr));
  const sharedGate = c.shared ? uploadWeight(ctx, 'ffn_gate_inp_shexp', 'F32', [nEmbd], f32Bytes(shg)) : undefined;
  const ks = k + (c.shared ? 1 : 0);
  const xb = ctx.storage(x);
  const nwb = ctx.storage(nw);
  const out = ctx.storage((outOff + nTok * outStride) * 4);
  const ids = ctx.storage((1 + nTok * ks) * 4);
  const weights = ctx.storage((2 + nTok * ks) * 4);
  const counts = ctx.storage(nExpert * 2 * 4);
  const eps = 1e-5;
  ctx.run([
    moeRouter(ctx, {
      x: xb,
      xOffset: xOff,
      xStride,
      nTokens: nTok,
      router,
      k,
      gating,
      scale: 1.25,
      ids,
      idsOffset: 1,
      weights,
      weightsOffset: 2,
      counts: { buffer: counts, offset: nExpert },
      sharedGate,
      norm: { kind, weight: nwb, weightOffset: wOff, eps, out, outOffset: outOff, outStride },
      workgroupSize: c.wg,
    }),
  ]);
  const o = { nEmbd, nExpert, k, gating, scale: 1.25, sharedGate: c.shared ? shg : undefined };
  const full = moeRouterNormRef(rows(x, nEmbd, nTok, xOff, xStride), { kind, weight: nw.subarray(wOff), eps }, wr, o);
  const xnAll = await ctx.readF32(out);
  const xn = rows(xnAll, nEmbd, nTok, outOff, outStride);
  expectClose(`${tag}: xn`, xn, full.xn, { nmse: 1e-11, maxAbs: 2e-5 });
  // Nothing written outside the rows.
  for (let t = 0; t <= nTok; t++) {
    const from = t === 0 ? 0 : outOff + (t - 1) * outStride + nEmbd;
    const to = t === nTok ? xnAll.length : outOff + t * outStride;
    expect(Array.from(xnAll.subarray(from, to)).every((v) => v === 0), `${tag}: xn gaps untouched`).toBe(true);
  }
  const onGpuXn = moeRouterRef(xn, wr, o);
  const gotIds = Array.from(await ctx.readU32(ids, nTok * ks, 1));
  expect(gotIds, `${tag}: ids (router reference on the GPU's xn)`).toEqual(Array.from(onGpuXn.ids));
  expect(gotIds, `${tag}: ids (norm + router reference)`).toEqual(Array.from(full.ids));
  if (nTok >= 3) expect(gotIds.slice(2 * ks, 2 * ks + k), `${tag}: zero row ties`).toEqual(Array.from({ length: k }, (_, j) => j));
  const gotW = await ctx.readF32(weights, nTok * ks, 2);
  expectClose(`${tag}: weights`, gotW, onGpuXn.weights, { nmse: 1e-10, maxAbs: 1e-5 });
  expectClose(`${tag}: weights (full reference)`, gotW, full.weights, { nmse: 1e-9, maxAbs: 1e-4 });
  const wantCnt = new Uint32Array(nExpert * 2);
  for (let t = 0; t < nTok; t++) for (let j = 0; j < k; j++) wantCnt[nExpert + full.ids[t * ks + j]]++;
  expect(Array.from(await ctx.readU32(counts)), `${tag}: counts`).toEqual(Array.from(wantCnt));
  for (const b of [xb, nwb, out, ids, weights, counts, router.chunks[0].buffer, ...(sharedGate ? [sharedGate.chunks[0].buffer] : [])]) b.destroy();
}

describe('moe router with the input norm folded in (NORM)', () => {
  const KINDS: readonly NormKind[] = ['layer', 'rms'];
  for (const [label, get] of [
    ['subgroups', () => sub.ctx],
    ['no-subgroups', () => nosub.ctx],
  ] as const) {
    // Each NORM pipeline costs seconds to compile on lavapipe: a covering set of the variants, not their product.
    it(`both norm kinds x odd/vec4 n_embd, both gatings, the shared gate, T 3, counts; ${label}`, async () => {
      const ctx = get();
      const cases: readonly [NormKind, number, MoeGating][] = [
        ['layer', 37, 'softmax_topk_renorm'],
        ['layer', 64, 'softmax_topk'],
        ['rms', 37, 'softmax_topk'],
        ['rms', 64, 'softmax_topk_renorm'],
      ];
      for (const [kind, nEmbd, gating] of cases) {
        const shared = gating === 'softmax_topk';
        const c: RouterNormCase = { kind, nEmbd, nExpert: 60, k: 4, gating, nTok: 3, shared };
        await routerNormCase(ctx, c, `${label} ${kind} n_embd=${nEmbd} ${gating}${shared ? ' shared' : ''}`);
        await routerNormCase(ctx, { ...c, nExpert: 128, k: 8 }, `${label} ${kind} n_embd=${nEmbd} ${gating} 128/8`);
      }
    });
    it(`rows past the register path (n_cols > PT·WG at WG 64), T 1 (decode) and 3; ${label}`, async () => {
      const ctx = get();
      for (const kind of KINDS)
        for (const nEmbd of [1001, 2068])
          for (const nTok of [1, 3]) {
            const c: RouterNormCase = { kind, nEmbd, nExpert: 16, k: 2, gating: 'softmax_topk_renorm', nTok, wg: 64 };
            await routerNormCase(ctx, c, `${label} ${kind} n_embd=${nEmbd} T=${nTok} wg64`);
          }
    });
    it(`the other router workgroup sizes (128..512; 64 above, the largest by default); ${label}`, async () => {
      const ctx = get();
      const sizes = MOE_ROUTER_WG_SIZES.filter((w) => w > 64 && w < moeRouterDefaultWorkgroup(ctx));
      for (const [i, wg] of sizes.entries()) {
        const kind = KINDS[i % 2];
        await routerNormCase(ctx, { kind, nEmbd: 96, nExpert: 64, k: 8, gating: 'softmax_topk', nTok: 3, wg }, `${label} ${kind} 64/8 wg${wg}`);
        await routerNormCase(ctx, { kind, nEmbd: 96, nExpert: 1, k: 1, gating: 'softmax_topk', nTok: 3, wg }, `${label} ${kind} 1/1 wg${wg}`);
      }
    });
  }

  it('NaN in a residual row: its xn is NaN, its logits rank as equals (ids 0..k-1); other tokens unaffected', async () => {
    for (const [label, ctx] of fixtures()) {
      const nEmbd = 64;
      const nExpert = 8;
      const k = 2;
      const x = randomF32(2 * nEmbd, 21, 1);
      x[5] = NaN;
      const nw = randomF32(nEmbd, 22, 1);
      const wr = randomF32(nExpert * nEmbd, 23, 0.3);
      const router = uploadWeight(ctx, 'ffn_gate_inp', 'F32', [nEmbd, nExpert], f32Bytes(wr));
      const out = ctx.storage(2 * nEmbd * 4);
      const ids = ctx.storage(2 * k * 4);
      const weights = ctx.storage(2 * k * 4);
      ctx.run([
        moeRouter(ctx, {
          x: ctx.storage(x),
          nTokens: 2,
          router,
          k,
          gating: 'softmax_topk_renorm',
          ids,
          weights,
          norm: { kind: 'rms', weight: ctx.storage(nw), eps: 1e-6, out },
        }),
      ]);
      const xn = await ctx.readF32(out);
      expect(Array.from(xn.subarray(0, nEmbd)).every(Number.isNaN), `${label}: NaN row`).toBe(true);
      const want = moeRouterNormRef(x, { kind: 'rms', weight: nw, eps: 1e-6 }, wr, { nEmbd, nExpert, k, gating: 'softmax_topk_renorm' });
      expect(Array.from(await ctx.readU32(ids)), `${label}: ids`).toEqual([0, 1, ...Array.from(want.ids.subarray(k))]);
      expectClose(`${label}: other token's xn`, xn.subarray(nEmbd), want.xn.subarray(nEmbd), { nmse: 1e-11, maxAbs: 2e-5 });
    }
  });

  it('rejects an xn output aliasing x, a short output, a short norm weight', () => {
    const ctx = sub.ctx;
    const router = uploadWeight(ctx, 'r', 'F32', [8, 4], new Uint8Array(8 * 4 * 4));
    const x = ctx.storage(64);
    const args = { x, router, k: 2, gating: 'softmax_topk' as const, ids: ctx.storage(64), weights: ctx.storage(64) };
    const w = ctx.storage(32);
    expect(() => moeRouter(ctx, { ...args, norm: { kind: 'rms', weight: w, eps: 1e-5, out: x } })).toThrow(KernelShapeError);
    expect(() => moeRouter(ctx, { ...args, norm: { kind: 'rms', weight: w, eps: 1e-5, out: ctx.storage(16) } })).toThrow(KernelShapeError);
    expect(() => moeRouter(ctx, { ...args, norm: { kind: 'layer', weight: w, weightOffset: 1, eps: 1e-5, out: ctx.storage(64) } })).toThrow(KernelShapeError);
  });
});

interface ExpertCase {
  readonly ctx: KernelContext;
  readonly label: string;
  readonly type: GpuWeightType;
  readonly wg: number;
  /** Threads per row (undefined: the wrapper's default). */
  readonly tpr?: number;
  readonly rpt?: number;
  /** Activation offsets multiples of 4 (vec4 loads) or not (scalar loads). */
  readonly aligned: boolean;
  /** Also check down+combine without residual (accumulating into y). */
  readonly accumulate?: boolean;
}

/** Expert sizes for a type: n_embd and n_ff are whole blocks; n_ff (rows of gate/up) is odd in blocks. */
function sizesFor(type: GpuWeightType): { nEmbd: number; nFf: number } {
  const be = quantGeometry(type, 'test').blockElems;
  return be === 256 ? { nEmbd: 256, nFf: 768 } : { nEmbd: be * 3, nFf: be * (be === 32 ? 7 : 17) };
}

async function checkExperts(c: ExpertCase): Promise<void> {
  const { ctx, type, wg, tpr } = c;
  const nExpert = 6;
  const k = 3;
  const { nEmbd, nFf } = sizesFor(type);
  const seed = nEmbd + nFf + type.length;
  const gate = randomWeight(ctx, 'ffn_gate_exps', type, [nEmbd, nFf, nExpert], seed + 1);
  const up = randomWeight(ctx, 'ffn_up_exps', type, [nEmbd, nFf, nExpert], seed + 2);
  const down = randomWeight(ctx, 'ffn_down_exps', type, [nFf, nEmbd, nExpert], seed + 3);
  const xOffset = c.aligned ? 4 : 5;
  const hOffset = c.aligned ? 4 : 3;
  const x = randomF32(nEmbd + xOffset, seed + 4, 1);
  const xb = ctx.storage(x);
  const idsList = [4, 0, 5];
  const wList = [0.5, 0.3, 0.2];
  const ids = u32Buf(ctx, [9, ...idsList]);
  const rw = ctx.storage(Float32Array.from([0, 0, ...wList]));
  const residual = randomF32(nEmbd, seed + 5, 1);
  const resb = ctx.storage(residual);
  const hWant = moeGateUpRef(x.subarray(xOffset), gate.f32, up.f32, idsList, nEmbd, nFf);
  const yWant = moeDownRef(hWant, down.f32, idsList, wList, residual, nFf, nEmbd);
  const rpt = c.rpt;
  const tag = `${c.label} ${type} wg${wg} tpr${tpr ?? 'auto'} rpt${rpt ?? 1}${c.aligned ? ' aligned' : ''}`;
  const h = ctx.storage((k * nFf + hOffset) * 4);
  const y = ctx.storage((nEmbd + 1) * 4);
  ctx.run(moeGateUp(ctx, { x: xb, xOffset, gate: gate.gpu, up: up.gpu, ids, idsOffset: 1, k, h, hOffset, workgroupSize: wg, threadsPerRow: tpr, rowsPerThread: rpt }));
  const hGot = await ctx.readF32(h, k * nFf, hOffset);
  expectClose(`${tag}: gate+up`, hGot, hWant, TOL);
  // Down reads the GPU's own h (the decode chain); reference from the same h.
  const yFromGpuH = moeDownRef(hGot, down.f32, idsList, wList, residual, nFf, nEmbd);
  const downArgs = { h, hOffset, down: down.gpu, ids, idsOffset: 1, weights: rw, weightsOffset: 2, k, y, yOffset: 1, workgroupSize: wg, threadsPerRow: tpr, rowsPerThread: rpt };
  ctx.run(moeDownCombine(ctx, { ...downArgs, residual: resb }));
  expectClose(`${tag}: down+combine`, await ctx.readF32(y, nEmbd, 1), yFromGpuH, TOL);
  expectClose(`${tag}: chain vs CPU`, yFromGpuH, yWant, { nmse: 1e-8, maxAbs: 1e-3 });
  if (c.accumulate) {
    ctx.run(moeDownCombine(ctx, downArgs));
    const twice = yFromGpuH.map((v, i) => 2 * v - residual[i]);
    expectClose(`${tag}: down accumulate`, await ctx.readF32(y, nEmbd, 1), twice, TOL);
  }
  for (const b of [h, y, xb, ids, rw, resb, gate.gpu.chunks[0].buffer, up.gpu.chunks[0].buffer, down.gpu.chunks[0].buffer]) b.destroy();
}

// lavapipe spends seconds compiling each quantized pipeline, so the matrix is: every type once (fixtures and
// workgroup sizes rotating), and the type-independent variants (workgroup size x threads per row x subgroups
// x accumulate) swept on F32 and, for 8-part vec4 blocks, on Q4_K.
describe('moe gate+up and down+combine (decode)', () => {
  // One test per type (each pays its own pipeline compiles), fixtures and workgroup sizes rotating.
  TYPES.forEach((type, i) =>
    it(`${type}: gate+up and down+combine (odd n_ff in blocks, unaligned activation offsets)`, async () => {
      const [label, ctx] = fixtures()[i % 2];
      await checkExperts({ ctx, label, type, wg: MOE_WG_SIZES[i % MOE_WG_SIZES.length], aligned: false });
    }),
  );
  it('F32: every workgroup size, threads per row 1 and 64, rows per thread 2 and 4, subgroups on/off, accumulate', async () => {
    for (const [label, ctx] of fixtures()) {
      for (const wg of MOE_WG_SIZES) await checkExperts({ ctx, label, type: 'F32', wg, aligned: true, accumulate: wg === 128 });
      for (const tpr of [1, 64]) await checkExperts({ ctx, label, type: 'F32', wg: 64, tpr, aligned: true });
      await checkExperts({ ctx, label, type: 'F32', wg: 128, tpr: 8, rpt: 2, aligned: true });
      await checkExperts({ ctx, label, type: 'F32', wg: 256, tpr: 4, rpt: 4, aligned: false });
    }
  });
  it('Q4_K: every workgroup size, subgroups on/off', async () => {
    let i = 0;
    for (const wg of MOE_WG_SIZES) {
      const [label, ctx] = fixtures()[i++ % 2];
      await checkExperts({ ctx, label, type: 'Q4_K', wg, aligned: true, accumulate: wg === 64 });
    }
    await checkExperts({ ctx: nosub.ctx, label: 'no-subgroups', type: 'Q4_K', wg: 128, tpr: 32, aligned: true });
    await checkExperts({ ctx: sub.ctx, label: 'subgroups', type: 'Q4_K', wg: 256, tpr: 16, rpt: 2, aligned: true });
  });
});

/** act_quant's int8 activations read back as the q·d floats the integer products use. */
async function q8Values(ctx: KernelContext, buf: GPUBuffer, n: number): Promise<Float32Array> {
  const f = await ctx.readF32(buf);
  const q = new Int8Array(f.buffer, f.byteOffset, n);
  const aux = new Float32Array(f.buffer, f.byteOffset + n, n / 8);
  return Float32Array.from(q, (v, i) => v * aux[4 * (i >> 5)]);
}

// Int8 activations (X_Q8): gate+up and down against the CPU products of the exactly dequantized experts and the
// activations the GPU quantized (read back), so only f32 scaling and summation order differ.
describe('moe gate+up and down+combine with int8 activations (X_Q8)', () => {
  (Object.keys(Q8_WEIGHT_TYPES) as Q8WeightType[]).forEach((type, i) =>
    it(`${type}: gate+up and down+combine, subgroups on/off, two workgroup sizes`, async () => {
      for (const [fi, [label, ctx]] of fixtures().entries()) {
        const nExpert = 5;
        const k = 2;
        const nEmbd = 512;
        const nFf = 768;
        const seed = 900 + 10 * i + fi;
        const gate = randomWeight(ctx, 'ffn_gate_exps', type, [nEmbd, nFf, nExpert], seed + 1);
        const up = randomWeight(ctx, 'ffn_up_exps', type, [nEmbd, nFf, nExpert], seed + 2);
        const down = randomWeight(ctx, 'ffn_down_exps', type, [nFf, nEmbd, nExpert], seed + 3);
        const x = randomF32(nEmbd, seed + 4, 1);
        const xb = ctx.storage(x);
        const idsList = [3, 1];
        const wList = [0.7, 0.3];
        const ids = u32Buf(ctx, idsList);
        const rw = ctx.storage(Float32Array.from(wList));
        const residual = randomF32(nEmbd, seed + 5, 1);
        const resb = ctx.storage(residual);
        const h = ctx.storage(k * nFf * 4);
        const y = ctx.storage(nEmbd * 4);
        const xq = createQ8Activations(ctx, nEmbd, Q8_WEIGHT_TYPES[type]);
        const hq = createQ8Activations(ctx, k * nFf, Q8_WEIGHT_TYPES[type]);
        const wg = MOE_WG_SIZES[(i + fi) % MOE_WG_SIZES.length];
        const tag = `${label} ${type} int8 wg${wg}`;
        ctx.run([
          quantizeActivations(ctx, { x: xb, out: xq }),
          ...moeGateUp(ctx, { x: xb, xq, gate: gate.gpu, up: up.gpu, ids, k, h, workgroupSize: wg }),
          quantizeActivations(ctx, { x: h, out: hq }),
          ...moeDownCombine(ctx, { h, hq, down: down.gpu, ids, weights: rw, k, residual: resb, y, workgroupSize: wg }),
        ]);
        const xr = await q8Values(ctx, xq.buffer, nEmbd);
        const hGot = await ctx.readF32(h, k * nFf);
        expectClose(`${tag}: gate+up`, hGot, moeGateUpRef(xr, gate.f32, up.f32, idsList, nEmbd, nFf), { nmse: 1e-9, maxAbs: 1e-3 });
        const hr = await q8Values(ctx, hq.buffer, k * nFf);
        const yWant = moeDownRef(hr, down.f32, idsList, wList, residual, nFf, nEmbd);
        expectClose(`${tag}: down+combine`, await ctx.readF32(y, nEmbd), yWant, { nmse: 1e-9, maxAbs: 1e-3 });
        for (const b of [h, y, xb, ids, rw, resb, xq.buffer, hq.buffer, gate.gpu.chunks[0].buffer, up.gpu.chunks[0].buffer, down.gpu.chunks[0].buffer]) b.destroy();
      }
    }),
  );

  it('rejects int8 activations for another expert type, a wrong length or rounding', () => {
    const ctx = sub.ctx;
    const g = randomWeight(ctx, 'ffn_gate_exps', 'Q6_K', [256, 256, 2], 1);
    const x = ctx.storage(256 * 4);
    const h = ctx.storage(256 * 4);
    const ids = u32Buf(ctx, [0]);
    expect(() => moeGateUp(ctx, { x, xq: createQ8Activations(ctx, 256, 256), gate: g.gpu, up: g.gpu, ids, k: 1, h })).toThrow(/int8 x needs/);
    const q = randomWeight(ctx, 'ffn_gate_exps', 'Q4_K', [256, 256, 2], 2);
    expect(() => moeGateUp(ctx, { x, xq: createQ8Activations(ctx, 512, 256), gate: q.gpu, up: q.gpu, ids, k: 1, h })).toThrow(KernelShapeError);
    expect(() => moeGateUp(ctx, { x, xq: createQ8Activations(ctx, 256, 32), gate: q.gpu, up: q.gpu, ids, k: 1, h })).toThrow(KernelShapeError);
  });
});

interface BlockSetup {
  readonly nEmbd: number;
  readonly nFf: number;
  readonly nExpert: number;
  readonly k: number;
  readonly type: GpuWeightType;
  readonly gating: MoeGating;
  readonly shared?: { readonly nFf: number };
}

/** `norm`: the block's input norm folded into the router, over the residual (the engine's decode layout). */
async function checkBlock(
  ctx: KernelContext,
  s: BlockSetup,
  label: string,
  extra: { maxStorageBuffers?: number; nTok?: number; norm?: NormKind } = {},
): Promise<void> {
  const { nEmbd, nFf, nExpert, k, type } = s;
  const seed = nEmbd * 7 + nFf * 3 + nExpert;
  const wr = randomF32(nExpert * nEmbd, seed, 0.3);
  const router = uploadWeight(ctx, 'ffn_gate_inp', 'F32', [nEmbd, nExpert], f32Bytes(wr));
  const gate = randomWeight(ctx, 'ffn_gate_exps', type, [nEmbd, nFf, nExpert], seed + 1);
  const up = randomWeight(ctx, 'ffn_up_exps', type, [nEmbd, nFf, nExpert], seed + 2);
  const down = randomWeight(ctx, 'ffn_down_exps', type, [nFf, nEmbd, nExpert], seed + 3);
  const sh = s.shared
    ? {
        gateInp: randomF32(nEmbd, seed + 4, 0.2),
        gate: randomWeight(ctx, 'ffn_gate_shexp', type, [nEmbd, s.shared.nFf], seed + 5),
        up: randomWeight(ctx, 'ffn_up_shexp', type, [nEmbd, s.shared.nFf], seed + 6),
        down: randomWeight(ctx, 'ffn_down_shexp', type, [s.shared.nFf, nEmbd], seed + 7),
      }
    : undefined;
  const residual = randomF32(nEmbd, seed + 9, 1);
  const nw = randomF32(nEmbd, seed + 10, 1.5);
  const xIn = randomF32(nEmbd, seed + 8, 1);
  const xb = ctx.storage(extra.norm ? new Float32Array(nEmbd) : xIn);
  const resb = ctx.storage(residual);
  const nwb = ctx.storage(nw);
  const y = ctx.storage(nEmbd * 4);
  const ids = ctx.storage((k + 1) * 4);
  const weights = ctx.storage((k + 1) * 4);
  const h = ctx.storage((k * nFf + (s.shared?.nFf ?? 0)) * 4);
  const ds = moeDecode(ctx, {
    x: xb,
    router,
    gate: gate.gpu,
    up: up.gpu,
    down: down.gpu,
    k,
    gating: s.gating,
    residual: resb,
    y,
    ids,
    weights,
    h,
    maxStorageBuffers: extra.maxStorageBuffers,
    norm: extra.norm ? { kind: extra.norm, weight: nwb, eps: 1e-5, input: resb } : undefined,
    shared: sh
      ? {
          gateInp: uploadWeight(ctx, 'ffn_gate_inp_shexp', 'F32', [nEmbd], f32Bytes(sh.gateInp)),
          gate: sh.gate.gpu,
          up: sh.up.gpu,
          down: sh.down.gpu,
        }
      : undefined,
  });
  ctx.run(ds);
  let x = xIn;
  if (extra.norm) {
    // The experts' input is the router's xn: checked against the norm reference, then used as the reference's x
    // (so near-equal logits cannot flip an id between the GPU's and the CPU's rounding of the norm).
    x = await ctx.readF32(xb);
    expectClose(`${label}: xn`, x, normRef(extra.norm, residual, nw, { n: nEmbd, eps: 1e-5 }), { nmse: 1e-11, maxAbs: 2e-5 });
  }
  const want = moeLayerRef(x, residual, {
    nEmbd,
    nFf,
    nExpert,
    k,
    gating: s.gating,
    router: wr,
    gate: gate.f32,
    up: up.f32,
    down: down.f32,
    shared: sh && s.shared ? { nFf: s.shared.nFf, gateInp: sh.gateInp, gate: sh.gate.f32, up: sh.up.f32, down: sh.down.f32 } : undefined,
  });
  const wantIds = moeRouterRef(x, wr, { nEmbd, nExpert, k, gating: s.gating }).ids;
  expect(Array.from(await ctx.readU32(ids, k)), `${label}: ids`).toEqual(Array.from(wantIds));
  expectClose(`${label}: y`, await ctx.readF32(y), want, { nmse: 1e-8, maxAbs: 1e-3 });
}

describe('moe decode block', () => {
  it('1 expert used of 1, 16 top-4, 64 top-8, 128 top-8', async () => {
    for (const [label, ctx] of fixtures()) {
      await checkBlock(ctx, { nEmbd: 64, nFf: 96, nExpert: 1, k: 1, type: 'F32', gating: 'softmax_topk_renorm' }, `${label} 1 of 1`);
      await checkBlock(ctx, { nEmbd: 96, nFf: 64, nExpert: 16, k: 4, type: 'Q8_0', gating: 'softmax_topk_renorm' }, `${label} 16/4 Q8_0`);
      await checkBlock(ctx, { nEmbd: 64, nFf: 32, nExpert: 64, k: 8, type: 'F32', gating: 'softmax_topk' }, `${label} 64/8`);
      await checkBlock(ctx, { nEmbd: 36, nFf: 20, nExpert: 128, k: 8, type: 'F32', gating: 'softmax_topk_renorm' }, `${label} 128/8`);
    }
  });

  it('input norm folded into the router: both kinds, the shared expert and its gate read the router-written xn', async () => {
    for (const [label, ctx] of fixtures()) {
      await checkBlock(ctx, { nEmbd: 64, nFf: 32, nExpert: 64, k: 8, type: 'F32', gating: 'softmax_topk' }, `${label} layer 64/8`, { norm: 'layer' });
      await checkBlock(ctx, { nEmbd: 96, nFf: 64, nExpert: 16, k: 4, type: 'Q8_0', gating: 'softmax_topk_renorm' }, `${label} rms 16/4 Q8_0`, { norm: 'rms' });
      await checkBlock(
        ctx,
        { nEmbd: 24, nFf: 12, nExpert: 8, k: 2, type: 'F32', gating: 'softmax_topk', shared: { nFf: 40 } },
        `${label} rms shared`,
        { norm: 'rms' },
      );
    }
  });

  it('shared expert (Qwen2-MoE)', async () => {
    for (const [label, ctx] of fixtures()) {
      await checkBlock(
        ctx,
        { nEmbd: 64, nFf: 32, nExpert: 60, k: 4, type: 'F32', gating: 'softmax_topk', shared: { nFf: 160 } },
        `${label} shared 60/4`,
      );
      await checkBlock(ctx, { nEmbd: 24, nFf: 12, nExpert: 8, k: 2, type: 'F32', gating: 'softmax_topk', shared: { nFf: 40 } }, `${label} shared F32`);
    }
  });

  it('split bindings: experts in >= 3 chunks, and windows under a small storage-buffer limit', async () => {
    const nEmbd = 64;
    const nFf = 96;
    // One F32 expert of gate/up is 96 rows x 256 bytes = 24576 bytes: 5 experts per chunk -> 4 chunks.
    const split = await gpuFixture({ maxBindingOverride: 5 * 24576 + 100 });
    try {
      const ctx = split.ctx;
      const probe = randomWeight(ctx, 'probe', 'F32', [nEmbd, nFf, 16], 1);
      expect(probe.gpu.chunks.length).toBeGreaterThanOrEqual(3);
      const s: BlockSetup = { nEmbd, nFf, nExpert: 16, k: 4, type: 'F32', gating: 'softmax_topk_renorm' };
      await checkBlock(ctx, s, 'chunks, one window');
      // 7 storage buffers: gate+up keep 4 for chunks (2 windows or more), down keeps 2.
      await checkBlock(ctx, s, 'chunks, windows', { maxStorageBuffers: 7 });
      await checkBlock(ctx, { ...s, gating: 'softmax_topk', shared: { nFf: 64 } }, 'chunks, minimal windows', { maxStorageBuffers: 6 });
      const gu = moeGateUp(ctx, {
        x: ctx.storage(nEmbd * 4),
        gate: probe.gpu,
        up: probe.gpu,
        ids: ctx.storage(16),
        k: 4,
        h: ctx.storage(4 * nFf * 4),
        maxStorageBuffers: 5,
      });
      expect(gu.length, 'one expert per window with 2 bindings').toBeGreaterThanOrEqual(4);
    } finally {
      split.release();
    }
  });
});
