import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attentionDecode, attentionPrefill, decodePlan, prefillPlan, ATTENTION_WG_SIZES } from '../../kernels/attention.ts';
import { attentionRef } from '../../kernels/attention.ref.ts';
import { KernelShapeError, type KernelContext } from '../../kernels/lib/context.ts';
import { f32ToF16Bits, roundF16 } from '../../workers/quant/half.ts';
import { adapterLine, expectClose, gpuFixture, randomF32, type GpuFixture } from './harness.ts';

let gpu: GpuFixture;
beforeAll(async () => {
  gpu = await gpuFixture();
  console.log(adapterLine(gpu.ctx));
});
afterAll(() => gpu?.release());

const TOL = { nmse: 1e-9, maxAbs: 2e-5 };

interface Case {
  readonly nTok: number;
  readonly nHead: number;
  readonly nKv: number;
  readonly hd: number;
  readonly nCtx: number;
  /** Positions of the T queries. */
  readonly positions: readonly number[];
  readonly f16?: boolean;
  /** Pass positions as `{ base }` (consecutive positions only); a buffer otherwise. */
  readonly basePositions?: boolean;
  readonly scale?: number;
  readonly wg?: number;
  readonly chunk?: number;
  readonly headsPerWorkgroup?: number;
  readonly kernel: 'decode' | 'prefill';
}

/** Uploads q and the caches (f16 bits when asked), runs the kernel, compares with the reference. */
async function runCase(ctx: KernelContext, c: Case, seed: number): Promise<void> {
  const { nTok, nHead, nKv, hd, nCtx } = c;
  const qOffset = 4;
  const qStride = nHead * hd + 8;
  const q = randomF32(qOffset + nTok * qStride, seed, 3);
  let k = randomF32(nKv * nCtx * hd, seed + 1, 1);
  let v = randomF32(nKv * nCtx * hd, seed + 2, 1);
  const kOff = 8; // a second "layer" before this one in the same buffers
  const upload = (x: Float32Array) => {
    if (!c.f16) {
      const a = new Float32Array(kOff + x.length);
      a.set(x, kOff);
      return ctx.storage(a);
    }
    const a = new Uint16Array(kOff + x.length);
    for (let i = 0; i < x.length; i++) a[kOff + i] = f32ToF16Bits(x[i]);
    return ctx.storage(a);
  };
  const gk = upload(k);
  const gv = upload(v);
  if (c.f16) {
    k = k.map(roundF16);
    v = v.map(roundF16);
  }
  const gq = ctx.storage(q);
  const outOffset = 8;
  const gout = ctx.storage((outOffset + nTok * nHead * hd) * 4);
  const gpos = ctx.storage(new Uint32Array([0, 0, 0, ...c.positions]));
  const scale = c.scale ?? 1 / Math.sqrt(hd);
  // One positions variant in most cases keeps the number of compiled pipelines (slow on CPU Vulkan) down.
  const consecutive = c.positions.every((p, t) => p === c.positions[0] + t);
  expect(!c.basePositions || consecutive).toBe(true);
  const args = {
    nTok,
    nHead,
    nKv,
    headDim: hd,
    nCtx,
    scale,
    q: gq,
    qOffset,
    qStride,
    out: gout,
    outOffset,
    kCache: gk,
    vCache: gv,
    kCacheOffset: kOff,
    vCacheOffset: kOff,
    kvF16: c.f16,
    positions: c.basePositions ? { base: c.positions[0] } : { buffer: gpos, offset: 3 },
    workgroupSize: c.wg,
    chunk: c.chunk,
    headsPerWorkgroup: c.headsPerWorkgroup,
  };
  const ds = c.kernel === 'decode' ? attentionDecode(ctx, args) : [attentionPrefill(ctx, args)];
  ctx.run(ds);
  const got = await ctx.readF32(gout, nTok * nHead * hd, outOffset);
  const want = attentionRef({ nTok, nHead, nKv, hd, nCtx, scale, q, qOff: qOffset, qStride, k, v, positions: c.positions });
  const label = `${c.kernel} T=${nTok} ${nHead}/${nKv} hd=${hd} ctx=${c.positions.at(-1)! + 1}/${nCtx}${c.f16 ? ' f16' : ''}${c.wg ? ` wg${c.wg}` : ''}`;
  expectClose(label, got, want, TOL);
  for (const b of [gk, gv, gq, gout, gpos]) b.destroy();
}

const RATIOS = [1, 4, 6];
const HDS = [16, 32, 64, 128];

describe('attention decode (split-K + reduce)', () => {
  for (const len of [1, 2, 17, 300, 4096])
    it(`context ${len}: n_head/n_kv 1, 4, 6 × head_dim 16, 32, 64, 128`, async () => {
      const { ctx } = gpu;
      let seed = len * 1000;
      for (const r of RATIOS)
        for (const hd of HDS) {
          const nKv = 2;
          // Cache a little longer than the context; the query sits at the last filled position.
          await runCase(ctx, { kernel: 'decode', nTok: 1, nHead: nKv * r, nKv, hd, nCtx: len + 5, positions: [len - 1] }, seed++);
        }
    });

  it('splits into several chunks (and one: DIRECT) as planned', () => {
    const { ctx } = gpu;
    expect(decodePlan(ctx, { nHead: 48, nKv: 8, headDim: 128, nCtx: 4096 }).chunk).toBe(64);
    expect(decodePlan(ctx, { nHead: 48, nKv: 8, headDim: 128, nCtx: 4096 }).nChunks).toBe(64);
    expect(decodePlan(ctx, { nHead: 48, nKv: 8, headDim: 128, nCtx: 32768 }).chunk).toBe(256);
    expect(decodePlan(ctx, { nHead: 8, nKv: 2, headDim: 32, nCtx: 7 }).nChunks).toBe(1);
    expect(attentionDecode(ctx, { ...dummyArgs(ctx), nCtx: 7 }).length).toBe(1);
    expect(attentionDecode(ctx, { ...dummyArgs(ctx), nCtx: 300 }).length).toBe(2);
  });

  it('chunk boundaries, T = 3 queries at scattered positions, base positions, Granite scale, every workgroup size', async () => {
    const { ctx } = gpu;
    let seed = 77;
    for (const wg of ATTENTION_WG_SIZES)
      for (const len of wg === 128 ? [32, 33, 64, 65] : [33, 65]) {
        await runCase(ctx, { kernel: 'decode', nTok: 1, nHead: 8, nKv: 2, hd: 64, nCtx: 96, positions: [len - 1], chunk: 32, wg }, seed++);
      }
    await runCase(ctx, { kernel: 'decode', nTok: 3, nHead: 6, nKv: 1, hd: 128, nCtx: 200, positions: [150, 0, 33], chunk: 32 }, seed++);
    await runCase(ctx, { kernel: 'decode', nTok: 3, nHead: 12, nKv: 2, hd: 32, nCtx: 200, positions: [40, 41, 42], basePositions: true }, seed++);
    await runCase(ctx, { kernel: 'decode', nTok: 1, nHead: 16, nKv: 2, hd: 64, nCtx: 600, positions: [599], scale: 0.015625 }, seed++);
    // More query heads per KV head than fit one workgroup (head groups), hd 256.
    await runCase(ctx, { kernel: 'decode', nTok: 1, nHead: 32, nKv: 1, hd: 256, nCtx: 300, positions: [250], wg: 64 }, seed++);
    // Head groups smaller than the GQA group, the last one partial (6 = 4 + 2).
    await runCase(ctx, { kernel: 'decode', nTok: 1, nHead: 12, nKv: 2, hd: 64, nCtx: 600, positions: [590], headsPerWorkgroup: 4 }, seed++);
    // Chunks longer than the workgroup (several positions per invocation in the score pass).
    await runCase(ctx, { kernel: 'decode', nTok: 1, nHead: 12, nKv: 2, hd: 64, nCtx: 1000, positions: [995], chunk: 512 }, seed++);
    await runCase(ctx, { kernel: 'decode', nTok: 1, nHead: 48, nKv: 8, hd: 128, nCtx: 700, positions: [690], chunk: 512, wg: 64 }, seed++);
    // Positions past the cache are clamped to its end.
    await runCase(ctx, { kernel: 'decode', nTok: 1, nHead: 4, nKv: 2, hd: 16, nCtx: 50, positions: [70] }, seed++);
  });

  it('f16 cache (when the device has shader-f16)', async (tc) => {
    const { ctx } = gpu;
    if (!ctx.f16) {
      console.warn('[attention] device has no shader-f16; f16 KV cases skipped');
      tc.skip();
      return;
    }
    let seed = 500;
    for (const [r, hd, len] of [
      [6, 128, 4096],
      [4, 64, 300],
      [1, 16, 17],
    ] as const)
      await runCase(ctx, { kernel: 'decode', nTok: 1, nHead: 2 * r, nKv: 2, hd, nCtx: len + 3, positions: [len - 1], f16: true }, seed++);
    await runCase(ctx, { kernel: 'prefill', nTok: 64, nHead: 8, nKv: 2, hd: 64, nCtx: 100, positions: Array.from({ length: 64 }, (_, t) => 20 + t), f16: true }, seed++);
  });
});

describe('attention prefill (causal, tiled)', () => {
  for (const nTok of [1, 7, 64, 130])
    it(`T ${nTok} from position 0 and after 37 cached tokens: n_head/n_kv 1, 4, 6 × head_dim 16, 32, 64, 128`, async () => {
      const { ctx } = gpu;
      let seed = nTok * 100;
      for (const past of [0, 37])
        for (const r of RATIOS)
          for (const hd of HDS) {
            const nKv = 2;
            const positions = Array.from({ length: nTok }, (_, t) => past + t);
            await runCase(ctx, { kernel: 'prefill', nTok, nHead: nKv * r, nKv, hd, nCtx: past + nTok + 3, positions, basePositions: past === 0 && hd === 64 }, seed++);
          }
    });

  it('every workgroup size, head_dim 256, scattered positions, T 9', async () => {
    const { ctx } = gpu;
    let seed = 900;
    for (const wg of ATTENTION_WG_SIZES)
      for (const hd of [32, 256]) {
        const positions = Array.from({ length: 19 }, (_, t) => 5 + t);
        await runCase(ctx, { kernel: 'prefill', nTok: 19, nHead: 4, nKv: 2, hd, nCtx: 30, positions, wg }, seed++);
      }
    await runCase(ctx, { kernel: 'prefill', nTok: 5, nHead: 4, nKv: 1, hd: 64, nCtx: 90, positions: [80, 3, 17, 17, 44] }, seed++);
    // T = 9: the case that went through the removed decode-or-prefill dispatcher (prefill for T > 4).
    await runCase(ctx, { kernel: 'prefill', nTok: 9, nHead: 6, nKv: 2, hd: 32, nCtx: 40, positions: Array.from({ length: 9 }, (_, t) => 30 + t) }, seed++);
    expect(prefillPlan(ctx, 128).bq).toBe(16);
  });

  it('rejects bad shapes with KernelShapeError', () => {
    const { ctx } = gpu;
    const a = dummyArgs(ctx);
    expect(() => attentionPrefill(ctx, { ...a, headDim: 30 })).toThrow(KernelShapeError);
    expect(() => attentionPrefill(ctx, { ...a, nHead: 5 })).toThrow(KernelShapeError);
    expect(() => attentionPrefill(ctx, { ...a, qOffset: 2 })).toThrow(KernelShapeError);
    expect(() => attentionPrefill(ctx, { ...a, nCtx: 10_000 })).toThrow(KernelShapeError);
    expect(() => attentionPrefill(ctx, { ...a, out: a.q })).toThrow(KernelShapeError);
    expect(() => attentionDecode(ctx, { ...a, chunk: 48 })).toThrow(KernelShapeError);
    expect(() => attentionDecode(ctx, { ...a, workgroupSize: 100 })).toThrow(KernelShapeError);
  });
});

let dummy: ReturnType<typeof makeDummy> | undefined;
function makeDummy(ctx: KernelContext) {
  return { q: ctx.storage(4096 * 4), out: ctx.storage(4096 * 4), k: ctx.storage(65536 * 4), v: ctx.storage(65536 * 4) };
}
function dummyArgs(ctx: KernelContext) {
  dummy ??= makeDummy(ctx);
  return { nTok: 1, nHead: 8, nKv: 2, headDim: 32, nCtx: 300, scale: 0.1, q: dummy.q, out: dummy.out, kCache: dummy.k, vCache: dummy.v, positions: { buffer: dummy.q } };
}

describe('attention with compact workgroup memory (software adapters)', () => {
  let compact: GpuFixture;
  beforeAll(async () => {
    compact = await gpuFixture({ compactWorkgroupMemory: true });
  });
  afterAll(() => compact?.release());
  const declared = (p: { qs4: number; sn: number }, tile4 = 0, wg = 0) => 16 * p.qs4 + 4 * p.sn + 32 * tile4 + 20 * wg;

  it('plans: small fixed slots (one pipeline per workgroup size), tiles fitted inside them, a fraction of the memory', () => {
    const c = compact.ctx;
    const d = decodePlan(c, { nHead: 48, nKv: 8, headDim: 128, nCtx: 4096 });
    expect([d.hsub, d.nHg, d.qs4, d.sn, d.chunk, d.nChunks]).toEqual([4, 2, 128, 512, 64, 64]);
    const full = decodePlan(gpu.ctx, { nHead: 48, nKv: 8, headDim: 128, nCtx: 4096 });
    expect(declared(d, 0, 64)).toBeLessThan(declared(full, 0, 256) / 3);
    const p = prefillPlan(c, 64);
    expect([p.bq, p.bc, p.qs4, p.tile4, p.sn]).toEqual([8, 8, 128, 136, 64]);
    expect(declared(p, p.tile4)).toBeLessThan(declared(prefillPlan(gpu.ctx, 64), prefillPlan(gpu.ctx, 64).tile4) / 4);
    const p256 = prefillPlan(c, 256, 64);
    expect([p256.bq, p256.bc, p256.qs4, p256.tile4]).toEqual([2, 2, 128, 136]);
  });

  it('decode: n_head/n_kv 1, 4, 6 × head_dim 16, 32, 64, 128 at contexts 1, 300 and 4096; T = 3 scattered; head groups; hd 256', async () => {
    const ctx = compact.ctx;
    let seed = 3000;
    for (const len of [1, 300, 4096])
      for (const r of RATIOS)
        for (const hd of HDS) await runCase(ctx, { kernel: 'decode', nTok: 1, nHead: 2 * r, nKv: 2, hd, nCtx: len + 5, positions: [len - 1] }, seed++);
    await runCase(ctx, { kernel: 'decode', nTok: 3, nHead: 6, nKv: 1, hd: 128, nCtx: 200, positions: [150, 0, 33] }, seed++);
    await runCase(ctx, { kernel: 'decode', nTok: 1, nHead: 32, nKv: 1, hd: 256, nCtx: 300, positions: [250] }, seed++);
    await runCase(ctx, { kernel: 'decode', nTok: 1, nHead: 12, nKv: 2, hd: 64, nCtx: 600, positions: [590], headsPerWorkgroup: 4, wg: 256 }, seed++);
  });

  it('prefill: T 1, 7, 130 from position 0 and after 37 cached tokens, head_dim 16 to 256, every workgroup size', async () => {
    const ctx = compact.ctx;
    let seed = 4000;
    for (const nTok of [1, 7, 130])
      for (const past of [0, 37])
        for (const r of RATIOS)
          for (const hd of HDS) {
            const positions = Array.from({ length: nTok }, (_, t) => past + t);
            await runCase(ctx, { kernel: 'prefill', nTok, nHead: 2 * r, nKv: 2, hd, nCtx: past + nTok + 3, positions }, seed++);
          }
    for (const wg of ATTENTION_WG_SIZES)
      await runCase(ctx, { kernel: 'prefill', nTok: 19, nHead: 4, nKv: 2, hd: 256, nCtx: 30, positions: Array.from({ length: 19 }, (_, t) => 5 + t), wg }, seed++);
    await runCase(ctx, { kernel: 'prefill', nTok: 5, nHead: 4, nKv: 1, hd: 64, nCtx: 90, positions: [80, 3, 17, 17, 44] }, seed++);
  });
});
