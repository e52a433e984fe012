/**
 * @file MoE prefill (route T tokens, group by expert, grouped matrix products, un-permute and combine) against
 * the CPU reference and against the decode kernels run token by token, at T in {1, 5, 33, 100}; expert ids
 * exactly (exact-arithmetic router inputs, ties included); the shared expert; split bindings and windows;
 * usage counters; reuse of the scratch (the grouping counters reset themselves).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMoePrefillScratch, destroyMoePrefillScratch, moePrefill } from '../../kernels/moe_prefill.ts';
import { moeDecode } from '../../kernels/moe_decode.ts';
import type { MoeGating } from '../../kernels/moe.ref.ts';
import { moeLayerRef, moeRouterRef } from '../../kernels/moe.ref.ts';
import type { KernelContext } from '../../kernels/lib/context.ts';
import { uploadWeight, type GpuWeightType } from '../../kernels/lib/weights.ts';
import { adapterLine, expectClose, gpuFixture, randomF32, type GpuFixture } from './harness.ts';
import { exactF32, f32Bytes, randomWeight, type TestWeight } from './moeFixtures.ts';

let gpu: GpuFixture;
beforeAll(async () => {
  gpu = await gpuFixture();
  console.log(adapterLine(gpu.ctx));
});
afterAll(() => gpu?.release());

interface Layer {
  readonly nEmbd: number;
  readonly nFf: number;
  readonly nExpert: number;
  readonly k: number;
  readonly gating: MoeGating;
  readonly router: Float32Array;
  readonly routerGpu: ReturnType<typeof uploadWeight>;
  readonly gate: TestWeight;
  readonly up: TestWeight;
  readonly down: TestWeight;
  readonly shared?: { readonly nFf: number; readonly gateInp: Float32Array; readonly gateInpGpu: ReturnType<typeof uploadWeight>; readonly gate: TestWeight; readonly up: TestWeight; readonly down: TestWeight };
}

function makeLayer(
  ctx: KernelContext,
  o: { nEmbd: number; nFf: number; nExpert: number; k: number; type: GpuWeightType; gating: MoeGating; sharedFf?: number },
): Layer {
  const { nEmbd, nFf, nExpert, type } = o;
  const seed = nEmbd * 13 + nFf * 5 + nExpert + type.length;
  // Exact router inputs (multiples of 1/16): GPU and CPU logits are identical, ties included.
  const router = exactF32(nExpert * nEmbd, seed, 2);
  const sh = o.sharedFf
    ? (() => {
        const gateInp = randomF32(nEmbd, seed + 4, 0.2);
        return {
          nFf: o.sharedFf,
          gateInp,
          gateInpGpu: uploadWeight(ctx, 'ffn_gate_inp_shexp', 'F32', [nEmbd], f32Bytes(gateInp)),
          gate: randomWeight(ctx, 'ffn_gate_shexp', type, [nEmbd, o.sharedFf], seed + 5),
          up: randomWeight(ctx, 'ffn_up_shexp', type, [nEmbd, o.sharedFf], seed + 6),
          down: randomWeight(ctx, 'ffn_down_shexp', type, [o.sharedFf, nEmbd], seed + 7),
        };
      })()
    : undefined;
  return {
    ...o,
    router,
    routerGpu: uploadWeight(ctx, 'ffn_gate_inp', 'F32', [nEmbd, nExpert], f32Bytes(router)),
    gate: randomWeight(ctx, 'ffn_gate_exps', type, [nEmbd, nFf, nExpert], seed + 1),
    up: randomWeight(ctx, 'ffn_up_exps', type, [nEmbd, nFf, nExpert], seed + 2),
    down: randomWeight(ctx, 'ffn_down_exps', type, [nFf, nEmbd, nExpert], seed + 3),
    shared: sh,
  };
}

function refOf(l: Layer, x: Float32Array, residual: Float32Array): Float32Array {
  return moeLayerRef(x, residual, {
    nEmbd: l.nEmbd,
    nFf: l.nFf,
    nExpert: l.nExpert,
    k: l.k,
    gating: l.gating,
    router: l.router,
    gate: l.gate.f32,
    up: l.up.f32,
    down: l.down.f32,
    shared: l.shared ? { nFf: l.shared.nFf, gateInp: l.shared.gateInp, gate: l.shared.gate.f32, up: l.shared.up.f32, down: l.shared.down.f32 } : undefined,
  });
}

const sharedArgs = (l: Layer) =>
  l.shared ? { gateInp: l.shared.gateInpGpu, gate: l.shared.gate.gpu, up: l.shared.up.gpu, down: l.shared.down.gpu } : undefined;

/** Runs prefill for each T (one scratch for the largest, reused) and checks ids, y vs CPU, y vs decode per token. */
async function checkPrefill(ctx: KernelContext, l: Layer, ts: readonly number[], label: string, maxStorageBuffers?: number): Promise<void> {
  const { nEmbd, k, nExpert } = l;
  const maxT = Math.max(...ts);
  const scratch = createMoePrefillScratch(ctx, { maxTokens: maxT, nEmbd, nFf: l.nFf, nExpert, k, nFfShared: l.shared?.nFf });
  const counts = ctx.storage(nExpert * 2 * 4);
  let wantCounts = new Uint32Array(nExpert * 2);
  try {
    for (const T of ts) {
      const tag = `${label} T=${T}`;
      const x = exactF32(T * nEmbd, T * 7 + 1, 8);
      const residual = randomF32(T * nEmbd, T * 7 + 2, 1);
      const xb = ctx.storage(x);
      const resb = ctx.storage(residual);
      const y = ctx.storage(T * nEmbd * 4);
      ctx.run(
        moePrefill(ctx, {
          x: xb,
          nTokens: T,
          router: l.routerGpu,
          gate: l.gate.gpu,
          up: l.up.gpu,
          down: l.down.gpu,
          k,
          gating: l.gating,
          residual: resb,
          y,
          counts: { buffer: counts, offset: nExpert },
          shared: sharedArgs(l),
          scratch,
          maxStorageBuffers,
        }),
      );
      const ks = k + (l.shared ? 1 : 0);
      const wantIds = moeRouterRef(x, l.router, { nEmbd, nExpert, k, gating: l.gating }).ids;
      const gotIds = await ctx.readU32(scratch.ids, T * ks);
      const gotRouted = Array.from(gotIds).filter((_, i) => i % ks < k);
      expect(gotRouted, `${tag}: ids`).toEqual(Array.from(wantIds));
      wantCounts = wantCounts.slice();
      for (const e of wantIds) wantCounts[nExpert + e]++;
      expect(Array.from(await ctx.readU32(counts)), `${tag}: usage counters`).toEqual(Array.from(wantCounts));
      expect(Array.from(await ctx.readU32(scratch.hist)), `${tag}: grouping counts reset`).toEqual(new Array(nExpert).fill(0));
      const got = await ctx.readF32(y);
      expectClose(`${tag}: prefill vs CPU`, got, refOf(l, x, residual), { nmse: 1e-8, maxAbs: 2e-3 });

      // The decode kernels, token by token (one pass: each token's chain reads x and writes y at its offset).
      const yd = ctx.storage(T * nEmbd * 4);
      const ids = ctx.storage(ks * 4);
      const weights = ctx.storage(ks * 4);
      const h = ctx.storage((k * l.nFf + (l.shared?.nFf ?? 0)) * 4);
      const chains = Array.from({ length: T }, (_, t) =>
        moeDecode(ctx, {
          x: xb,
          xOffset: t * nEmbd,
          router: l.routerGpu,
          gate: l.gate.gpu,
          up: l.up.gpu,
          down: l.down.gpu,
          k,
          gating: l.gating,
          residual: resb,
          residualOffset: t * nEmbd,
          y: yd,
          yOffset: t * nEmbd,
          ids,
          weights,
          h,
          shared: sharedArgs(l),
        }),
      );
      ctx.run(chains.flat());
      const dec = await ctx.readF32(yd);
      expectClose(`${tag}: prefill vs decode per token`, got, dec, { nmse: 1e-10, maxAbs: 1e-4 });
      for (const d of chains.flat()) d.params?.destroy();
      for (const b of [xb, resb, y, yd, ids, weights, h]) b.destroy();
    }
  } finally {
    destroyMoePrefillScratch(scratch);
    counts.destroy();
  }
}

describe('moe prefill', () => {
  it('F32 and Q8_0 experts, T in {1, 5, 33, 100}, both gatings', async () => {
    const ctx = gpu.ctx;
    await checkPrefill(ctx, makeLayer(ctx, { nEmbd: 36, nFf: 20, nExpert: 16, k: 4, type: 'F32', gating: 'softmax_topk_renorm' }), [1, 5, 33, 100], 'F32 16/4');
    await checkPrefill(ctx, makeLayer(ctx, { nEmbd: 64, nFf: 96, nExpert: 64, k: 8, type: 'Q8_0', gating: 'softmax_topk' }), [1, 5, 33, 100], 'Q8_0 64/8');
  });

  it('K-quant experts (Q4_K gate/up rows of 8 parts, Q6_K), 1 expert of 1', async () => {
    const ctx = gpu.ctx;
    await checkPrefill(ctx, makeLayer(ctx, { nEmbd: 256, nFf: 512, nExpert: 8, k: 2, type: 'Q4_K', gating: 'softmax_topk_renorm' }), [5, 33], 'Q4_K 8/2');
    await checkPrefill(ctx, makeLayer(ctx, { nEmbd: 256, nFf: 256, nExpert: 4, k: 4, type: 'Q6_K', gating: 'softmax_topk_renorm' }), [33], 'Q6_K 4/4');
    await checkPrefill(ctx, makeLayer(ctx, { nEmbd: 32, nFf: 28, nExpert: 1, k: 1, type: 'F32', gating: 'softmax_topk_renorm' }), [1, 33], 'F32 1/1');
  });

  it('Q2_K and Q3_K experts (the low-bit DBRX mixes: Q2_K gate/up, Q3_K down), T in {5, 33}', async () => {
    const ctx = gpu.ctx;
    await checkPrefill(ctx, makeLayer(ctx, { nEmbd: 256, nFf: 512, nExpert: 8, k: 4, type: 'Q2_K', gating: 'softmax_topk_renorm' }), [5, 33], 'Q2_K 8/4');
    await checkPrefill(ctx, makeLayer(ctx, { nEmbd: 512, nFf: 256, nExpert: 4, k: 2, type: 'Q3_K', gating: 'softmax_topk' }), [5, 33], 'Q3_K 4/2');
  });

  it('router without subgroups (workgroup-memory reductions) in prefill mode', async () => {
    const nosub = await gpuFixture({ noSubgroups: true });
    try {
      const ctx = nosub.ctx;
      await checkPrefill(ctx, makeLayer(ctx, { nEmbd: 36, nFf: 20, nExpert: 16, k: 4, type: 'F32', gating: 'softmax_topk' }), [33], 'no-subgroups F32 16/4');
    } finally {
      nosub.release();
    }
  });

  it('shared expert (Qwen2-MoE)', async () => {
    const ctx = gpu.ctx;
    await checkPrefill(ctx, makeLayer(ctx, { nEmbd: 64, nFf: 32, nExpert: 60, k: 4, type: 'F32', gating: 'softmax_topk', sharedFf: 160 }), [5, 33], 'shared F32 60/4');
  });

  it('compact workgroup memory (software adapters: 16-feature tiles): F32, Q8_0, Q4_K, shared expert, split bindings', async () => {
    const compact = await gpuFixture({ compactWorkgroupMemory: true });
    const split = await gpuFixture({ compactWorkgroupMemory: true, maxBindingOverride: 3 * 5120 + 64 });
    try {
      const ctx = compact.ctx;
      // Output widths not multiples of 16 (20, 36).
      await checkPrefill(ctx, makeLayer(ctx, { nEmbd: 36, nFf: 20, nExpert: 16, k: 4, type: 'F32', gating: 'softmax_topk_renorm' }), [1, 33, 100], 'compact F32 16/4');
      await checkPrefill(ctx, makeLayer(ctx, { nEmbd: 64, nFf: 96, nExpert: 64, k: 8, type: 'Q8_0', gating: 'softmax_topk' }), [5, 33], 'compact Q8_0 64/8');
      await checkPrefill(ctx, makeLayer(ctx, { nEmbd: 256, nFf: 512, nExpert: 8, k: 2, type: 'Q4_K', gating: 'softmax_topk_renorm' }), [33], 'compact Q4_K 8/2');
      await checkPrefill(ctx, makeLayer(ctx, { nEmbd: 64, nFf: 32, nExpert: 60, k: 4, type: 'F32', gating: 'softmax_topk', sharedFf: 160 }), [5], 'compact shared F32 60/4');
      const l = makeLayer(split.ctx, { nEmbd: 32, nFf: 40, nExpert: 16, k: 4, type: 'F32', gating: 'softmax_topk_renorm' });
      expect(l.gate.gpu.chunks.length).toBeGreaterThanOrEqual(3);
      await checkPrefill(split.ctx, l, [33], 'compact chunks, windows', 7);
    } finally {
      compact.release();
      split.release();
    }
  });

  it('split bindings (experts in >= 3 chunks) and windows', async () => {
    // One F32 expert of gate/up is 40 rows x 128 bytes = 5120 bytes: 3 experts per chunk -> 6 chunks of 16.
    const split = await gpuFixture({ maxBindingOverride: 3 * 5120 + 64 });
    try {
      const ctx = split.ctx;
      const l = makeLayer(ctx, { nEmbd: 32, nFf: 40, nExpert: 16, k: 4, type: 'F32', gating: 'softmax_topk_renorm' });
      expect(l.gate.gpu.chunks.length).toBeGreaterThanOrEqual(3);
      await checkPrefill(ctx, l, [33], 'chunks');
      await checkPrefill(ctx, l, [33], 'chunks, windows', 7);
    } finally {
      split.release();
    }
  });
});
