/**
 * @file moeDecode with `rounding` (the engine's `activations: 'ggml-cpu'`) against the CPU: the router reads x
 * before it is rounded (ids and weights of the f32 x), x is replaced by ggml-cpu's rounding of it, the GLU rows are
 * rounded before down (each a Q8_0 rounding of the CPU's GLU of the rounded x, up to one step at a tie), the
 * shared expert reads `sharedX` and rounds its own row, and y is the down products of exactly those rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { moeDecode } from '../../kernels/moe_decode.ts';
import { moeDownRef, moeGateUpRef, moeRouterRef } from '../../kernels/moe.ref.ts';
import { GgmlTypeId, uploadWeight } from '../../kernels/lib/weights.ts';
import { KernelShapeError } from '../../kernels/lib/context.ts';
import { ggmlActivationRounder } from '../../workers/model/reference/ggmlRounding.ts';
import { adapterLine, expectClose, gpuFixture, randomF32, type GpuFixture } from './harness.ts';
import { f32Bytes, randomWeight } from './moeFixtures.ts';

let gpu: GpuFixture;
beforeAll(async () => {
  gpu = await gpuFixture();
  console.log(adapterLine(gpu.ctx));
});
afterAll(() => gpu?.release());

const roundQ8_0 = ggmlActivationRounder(GgmlTypeId.Q8_0);

/** x rounded as ggml-cpu rounds it for Q8_0 weights (a copy). */
function rounded(x: Float32Array): Float32Array {
  if (!roundQ8_0) throw new Error('no CPU Q8_0 rounder');
  const r = Float32Array.from(x);
  roundQ8_0(r, r.length);
  return r;
}

/**
 * `got` is `want` (the CPU's rounding) except where a value sat at a rounding tie: the GPU's GLU differs from the
 * CPU's in the last bits, so such a value may land one step (d = its block's amax/127) away. Returns how many did.
 */
function expectRoundedRows(label: string, got: Float32Array, want: Float32Array): number {
  expect(got.length, `${label}: length`).toBe(want.length);
  let stepped = 0;
  for (let b = 0; b < want.length; b += 32) {
    let amax = 0;
    for (let i = b; i < b + 32; i++) amax = Math.max(amax, Math.abs(want[i]));
    for (let i = b; i < b + 32; i++) {
      const d = Math.abs(got[i] - want[i]);
      if (d <= 1e-6 * amax) continue;
      stepped++;
      expect(d, `${label}: [${i}] computed ${got[i]} expected ${want[i]}`).toBeLessThanOrEqual((amax / 127) * 1.01);
    }
  }
  expect(stepped, `${label}: values a step away`).toBeLessThanOrEqual(2);
  return stepped;
}

describe('moeDecode with ggml-cpu rounding', () => {
  it('Q8_0 experts and shared expert: router on f32 x, x and GLU rows rounded in place, shared expert on sharedX', async () => {
    const { ctx } = gpu;
    const nEmbd = 96;
    const nFf = 64;
    const nFfSh = 160;
    const nExpert = 8;
    const k = 3;
    const seed = 77;
    const wr = randomF32(nExpert * nEmbd, seed, 0.3);
    const gate = randomWeight(ctx, 'ffn_gate_exps', 'Q8_0', [nEmbd, nFf, nExpert], seed + 1);
    const up = randomWeight(ctx, 'ffn_up_exps', 'Q8_0', [nEmbd, nFf, nExpert], seed + 2);
    const down = randomWeight(ctx, 'ffn_down_exps', 'Q8_0', [nFf, nEmbd, nExpert], seed + 3);
    const gateInp = randomF32(nEmbd, seed + 4, 0.2);
    const shGate = randomWeight(ctx, 'ffn_gate_shexp', 'Q8_0', [nEmbd, nFfSh], seed + 5);
    const shUp = randomWeight(ctx, 'ffn_up_shexp', 'Q8_0', [nEmbd, nFfSh], seed + 6);
    const shDown = randomWeight(ctx, 'ffn_down_shexp', 'Q8_0', [nFfSh, nEmbd], seed + 7);
    const x = randomF32(nEmbd, seed + 8, 1);
    // The shared expert's own input (the engine passes a copy of x rounded for its weights).
    const xs = rounded(randomF32(nEmbd, seed + 9, 1));
    const residual = randomF32(nEmbd, seed + 10, 1);
    const xb = ctx.storage(x);
    const xsb = ctx.storage(xs);
    const y = ctx.storage(nEmbd * 4);
    const ids = ctx.storage((k + 1) * 4);
    const weights = ctx.storage((k + 1) * 4);
    const h = ctx.storage((k * nFf + nFfSh) * 4);
    const args = {
      x: xb,
      router: uploadWeight(ctx, 'ffn_gate_inp', 'F32', [nEmbd, nExpert], f32Bytes(wr)),
      gate: gate.gpu,
      up: up.gpu,
      down: down.gpu,
      k,
      gating: 'softmax_topk' as const,
      residual: ctx.storage(residual),
      y,
      ids,
      weights,
      h,
      shared: { gateInp: uploadWeight(ctx, 'ffn_gate_inp_shexp', 'F32', [nEmbd], f32Bytes(gateInp)), gate: shGate.gpu, up: shUp.gpu, down: shDown.gpu },
      sharedX: xsb,
    };
    ctx.run(moeDecode(ctx, { ...args, rounding: { x: 'q8_0', h: 'q8_0', sharedH: 'q8_0' } }));

    // The router saw the f32 x (its shared-gate slot too).
    const r = moeRouterRef(x, wr, { nEmbd, nExpert, k, gating: 'softmax_topk', sharedGate: gateInp });
    expect(Array.from(await ctx.readU32(ids, k)), 'ids').toEqual(Array.from(r.ids.subarray(0, k)));
    const w = await ctx.readF32(weights, k + 1);
    expectClose('router weights', w, r.weights, { nmse: 1e-10, maxAbs: 1e-6 });
    // x was replaced by its rounding (d may be an ulp off: GPU division); sharedX was left alone.
    const xr = rounded(x);
    expectClose('x rounded in place', await ctx.readF32(xb), xr, { nmse: 1e-12, maxAbs: 1e-6 });
    expect(Array.from(await ctx.readF32(xsb)), 'sharedX untouched').toEqual(Array.from(xs));
    // GLU rows: the rounding of the GLU of the rounded x (routed) and of sharedX (shared).
    const hGot = await ctx.readF32(h);
    const ids3 = Array.from(r.ids.subarray(0, k));
    const routedH = hGot.subarray(0, k * nFf);
    const sharedH = hGot.subarray(k * nFf);
    const stepped =
      expectRoundedRows('routed GLU rows', routedH, rounded(moeGateUpRef(xr, gate.f32, up.f32, ids3, nEmbd, nFf))) +
      expectRoundedRows('shared GLU row', sharedH, rounded(moeGateUpRef(xs, shGate.f32, shUp.f32, [0], nEmbd, nFfSh)));
    // y: the down products of exactly those rounded rows.
    const yRouted = moeDownRef(routedH, down.f32, ids3, w.subarray(0, k), residual, nFf, nEmbd);
    const want = moeDownRef(sharedH, shDown.f32, [0], [w[k]], yRouted, nFfSh, nEmbd);
    const c = expectClose('y', await ctx.readF32(y), want, { nmse: 1e-10, maxAbs: 1e-5 });
    // Not rounding h would have been caught: the f32 GLU gives a y farther off than the tolerance.
    const unrounded = moeDownRef(moeGateUpRef(xr, gate.f32, up.f32, ids3, nEmbd, nFf), down.f32, ids3, w.subarray(0, k), residual, nFf, nEmbd);
    const far = Math.max(...unrounded.map((v, i) => Math.abs(v - yRouted[i])));
    expect(far, 'rounding h moves y').toBeGreaterThan(1e-4);
    console.info(`[moe rounding] y max |Δ| ${c.maxAbs.toExponential(2)}; ${stepped} GLU values a step away at ties; unrounded GLU would move y by ${far.toExponential(2)}`);
  });

  it('rejects sharedX without a shared expert, and sharedX aliasing x', () => {
    const { ctx } = gpu;
    const nEmbd = 64;
    const base = {
      router: uploadWeight(ctx, 'r', 'F32', [nEmbd, 4], new Uint8Array(nEmbd * 4 * 4)),
      gate: randomWeight(ctx, 'g', 'Q8_0', [nEmbd, 32, 4], 1).gpu,
      up: randomWeight(ctx, 'u', 'Q8_0', [nEmbd, 32, 4], 2).gpu,
      down: randomWeight(ctx, 'd', 'Q8_0', [32, nEmbd, 4], 3).gpu,
      k: 2,
      gating: 'softmax_topk' as const,
      residual: ctx.storage(nEmbd * 4),
      y: ctx.storage(nEmbd * 4),
      ids: ctx.storage(16),
      weights: ctx.storage(16),
      h: ctx.storage(2 * 32 * 4),
    };
    const x = ctx.storage(nEmbd * 4);
    expect(() => moeDecode(ctx, { ...base, x, sharedX: ctx.storage(nEmbd * 4) })).toThrow(KernelShapeError);
    expect(() => moeDecode(ctx, { ...base, x, sharedX: x })).toThrow(KernelShapeError);
  });
});
