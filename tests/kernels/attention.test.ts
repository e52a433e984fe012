import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attentionDecode, attentionDecodeFused, attentionPrefill, decodePlan, prefillPlan, ATTENTION_WG_SIZES } from '../../kernels/attention.ts';
import { attentionRef } from '../../kernels/attention.ref.ts';
import { fusedQkvLayout, qkvRope, type QkvPrologue } from '../../kernels/rope.ts';
import { qkvRopeRef, type RopeStyle } from '../../kernels/rope.ref.ts';
import { KernelShapeError, type KernelContext } from '../../kernels/lib/context.ts';
import { f16BitsToF32, f32ToF16Bits, roundF16 } from '../../workers/quant/half.ts';
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

// ---- fused decode: the prologue (clamp, Q/K norm, RoPE, K/V write) inside the split kernel ----

interface FusedCase {
  readonly name: string;
  readonly nHead: number;
  readonly nKv: number;
  readonly hd: number;
  readonly style: RopeStyle;
  readonly nRot?: number;
  /** Fused QKV output layout (DBRX); separate Q | K | V blocks with odd offsets otherwise. */
  readonly fusedLayout?: boolean;
  readonly clamp?: number;
  readonly qkNorm?: 'head' | 'full';
  readonly freqFactors?: boolean;
  readonly headsPerWorkgroup?: number;
  readonly scale?: number;
}

interface FusedRun {
  readonly nCtx: number;
  readonly pos: number;
  readonly f16: boolean;
  readonly wg?: number;
  readonly chunk?: number;
  /** Position as `{ base }` instead of a buffer. */
  readonly basePos?: boolean;
}

/** First index where two arrays' bit patterns differ, or -1. */
function bitsDiffer(a: Float32Array | Uint16Array, b: Float32Array | Uint16Array): number {
  const x = a instanceof Float32Array ? new Uint32Array(a.buffer, a.byteOffset, a.length) : a;
  const y = b instanceof Float32Array ? new Uint32Array(b.buffer, b.byteOffset, b.length) : b;
  if (x.length !== y.length) return 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

/**
 * Runs attentionDecodeFused and, on copies of the same inputs, qkvRope + attentionDecode with the same plan;
 * checks the fused output against the CPU references (qkvRopeRef composed with attentionRef), the cache rows
 * it wrote against qkvRopeRef (the others untouched), and that both paths give the same bits (output and cache).
 */
async function runFused(ctx: KernelContext, c: FusedCase, r: FusedRun, seed: number): Promise<void> {
  const { nHead, nKv, hd } = c;
  const { nCtx, pos, f16 } = r;
  const base = 4;
  const L = c.fusedLayout
    ? fusedQkvLayout(nHead, nKv, hd, base)
    : { qOffset: base + 1, qStride: nHead * hd, kOffset: base + nHead * hd + 3, kStride: nKv * hd, vOffset: base + (nHead + nKv) * hd + 10, vStride: nKv * hd };
  const srcLen = Math.max(L.qOffset + L.qStride, L.kOffset + L.kStride, L.vOffset + L.vStride) + 2;
  const src = randomF32(srcLen, seed, c.clamp ? c.clamp * 1.6 : 2);
  const qw = randomF32(c.qkNorm === 'full' ? nHead * hd : hd, seed + 1, 1.5);
  const kw = randomF32(c.qkNorm === 'full' ? nKv * hd : hd, seed + 2, 1.5);
  const nRot = c.nRot ?? hd;
  const ff = Float32Array.from({ length: nRot / 2 }, (_, i) => 1 + (i % 5) * 0.75);
  // The caches hold old random rows everywhere, the new position's row included (it must be overwritten).
  const kvOff = 8;
  const nc = nKv * nCtx * hd;
  const kOld = randomF32(nc, seed + 3, 1).map((x) => (f16 ? roundF16(x) : x));
  const vOld = randomF32(nc, seed + 4, 1).map((x) => (f16 ? roundF16(x) : x));
  const upload = (x: Float32Array) => {
    if (!f16) {
      const a = new Float32Array(kvOff + x.length);
      a.set(x, kvOff);
      return ctx.storage(a);
    }
    const a = new Uint16Array(kvOff + x.length + 2);
    for (let i = 0; i < x.length; i++) a[kvOff + i] = f32ToF16Bits(x[i]);
    return ctx.storage(a);
  };
  const readCache = async (b: GPUBuffer): Promise<Float32Array> => {
    if (!f16) return ctx.readF32(b, nc, kvOff);
    const h = new Uint16Array(await ctx.read(b, 0, Math.ceil(((kvOff + nc) * 2) / 4) * 4));
    return Float32Array.from(h.subarray(kvOff, kvOff + nc), f16BitsToF32);
  };
  const scale = c.scale ?? 1 / Math.sqrt(hd);
  const gsrc = ctx.storage(src);
  const gqw = ctx.storage(qw);
  const gkw = ctx.storage(kw);
  const gff = ctx.storage(new Float32Array([0, 0, 0, ...ff]));
  const gpos = ctx.storage(new Uint32Array([0, pos]));
  const outOffset = 4;
  const made: GPUBuffer[] = [gsrc, gqw, gkw, gff, gpos];
  const buf = (b: GPUBuffer) => (made.push(b), b);
  const prologue = (kCache: GPUBuffer, vCache: GPUBuffer): QkvPrologue => ({
    nHead,
    nKv,
    headDim: hd,
    rope: { style: c.style, nRot: c.nRot, freqBase: 10000, freqScale: c.freqFactors ? 0.5 : undefined, freqFactors: c.freqFactors ? { buffer: gff, offset: 3 } : undefined },
    src: gsrc,
    ...L,
    clamp: c.clamp,
    qkNorm: c.qkNorm ? { mode: c.qkNorm, qWeight: gqw, kWeight: gkw, eps: 1e-5 } : undefined,
    kCache,
    vCache,
    kCacheOffset: kvOff,
    vCacheOffset: kvOff,
    nCtx,
    kvF16: f16,
    positions: r.basePos ? { base: pos } : { buffer: gpos, offset: 1 },
  });
  const opts = { scale, workgroupSize: r.wg, chunk: r.chunk, headsPerWorkgroup: c.headsPerWorkgroup };
  // Fused.
  const gk = buf(upload(kOld));
  const gv = buf(upload(vOld));
  const gout = buf(ctx.storage((outOffset + nHead * hd) * 4));
  ctx.run(attentionDecodeFused(ctx, { ...prologue(gk, gv), ...opts, out: gout, outOffset }));
  // qkvRope, then attentionDecode with the same plan.
  const gk2 = buf(upload(kOld));
  const gv2 = buf(upload(vOld));
  const gq = buf(ctx.storage(nHead * hd * 4));
  const gout2 = buf(ctx.storage((outOffset + nHead * hd) * 4));
  const p2 = prologue(gk2, gv2);
  ctx.run([
    qkvRope(ctx, { ...p2, nTok: 1, qOut: gq }),
    ...attentionDecode(ctx, {
      nTok: 1,
      nHead,
      nKv,
      headDim: hd,
      nCtx,
      q: gq,
      kCache: gk2,
      vCache: gv2,
      kCacheOffset: kvOff,
      vCacheOffset: kvOff,
      kvF16: f16,
      positions: p2.positions,
      ...opts,
      out: gout2,
      outOffset,
    }),
  ]);

  const label = `${c.name}: pos ${pos}/${nCtx}${f16 ? ' f16' : ''}${r.wg ? ` wg${r.wg}` : ''}${r.chunk ? ` chunk ${r.chunk}` : ''}${r.basePos ? ' base' : ''}`;
  const want = qkvRopeRef({
    nTok: 1,
    nHead,
    nKv,
    hd,
    src,
    qOff: L.qOffset,
    kOff: L.kOffset,
    vOff: L.vOffset,
    qStride: L.qStride,
    kStride: L.kStride,
    vStride: L.vStride,
    clamp: c.clamp,
    qkNorm: c.qkNorm ? { mode: c.qkNorm, qw, kw, eps: 1e-5 } : undefined,
    positions: [pos],
    nCtx,
    rope: { style: c.style, nRot, freqBase: 10000, freqScale: c.freqFactors ? 0.5 : undefined, freqFactors: c.freqFactors ? ff : undefined },
  });
  const kGot = await readCache(gk);
  const vGot = await readCache(gv);
  for (const [nm, got, old, ref] of [
    ['K', kGot, kOld, want.k],
    ['V', vGot, vOld, want.v],
  ] as const) {
    const idx: number[] = [];
    const touched: number[] = [];
    for (let i = 0; i < nc; i++) {
      if (!Number.isNaN(ref[i])) idx.push(i);
      else if (bitsDiffer(got.subarray(i, i + 1), old.subarray(i, i + 1)) !== -1) touched.push(i);
    }
    expect(touched.slice(0, 8), `${label} ${nm}: cache rows that must stay untouched`).toEqual([]);
    expect(idx.length, `${label} ${nm}: rows written`).toBe(pos < nCtx ? nKv * hd : 0);
    const w = idx.map((i) => (f16 ? roundF16(ref[i]) : ref[i]));
    expectClose(`${label} ${nm} cache`, idx.map((i) => got[i]), w, f16 ? { nmse: 1e-6, maxAbs: 8e-3 } : { nmse: 1e-11, maxAbs: 2e-5 });
  }
  // Attention over the cache as the GPU left it, with the reference's query.
  const got = await ctx.readF32(gout, nHead * hd, outOffset);
  expectClose(`${label} out`, got, attentionRef({ nTok: 1, nHead, nKv, hd, nCtx, scale, q: want.q, k: kGot, v: vGot, positions: [pos] }), TOL);
  // The unfused path: the same bits.
  expect(bitsDiffer(got, await ctx.readF32(gout2, nHead * hd, outOffset)), `${label}: out differs from qkvRope + attentionDecode at`).toBe(-1);
  expect(bitsDiffer(kGot, await readCache(gk2)), `${label}: K cache differs from qkvRope's at`).toBe(-1);
  expect(bitsDiffer(vGot, await readCache(gv2)), `${label}: V cache differs from qkvRope's at`).toBe(-1);
  for (const b of made) b.destroy();
}

const FUSED_CASES: readonly FusedCase[] = [
  { name: 'DBRX-like (fused QKV, clamp, neox, GQA 4)', nHead: 8, nKv: 2, hd: 64, style: 'neox', fusedLayout: true, clamp: 2 },
  { name: 'Qwen3-like (per-head norm, GQA 6 in head groups of 4)', nHead: 12, nKv: 2, hd: 32, style: 'neox', qkNorm: 'head', headsPerWorkgroup: 4 },
  { name: 'OLMoE-like (full-width norm, MHA)', nHead: 4, nKv: 4, hd: 64, style: 'neox', qkNorm: 'full' },
  { name: 'llama-like (normal pairs, n_rot 40 of 64, freq factors, GQA 4)', nHead: 4, nKv: 1, hd: 64, style: 'normal', nRot: 40, freqFactors: true },
  { name: 'neox n_rot 58 of 64, full-width norm, clamp, GQA 2', nHead: 4, nKv: 2, hd: 64, style: 'neox', nRot: 58, qkNorm: 'full', clamp: 1.5 },
  { name: 'hd 128, 6/1, per-head norm, clamp, Granite scale', nHead: 6, nKv: 1, hd: 128, style: 'neox', qkNorm: 'head', clamp: 8, scale: 0.015625 },
  { name: 'tiny heads (hd 16, normal, clamp, per-head norm)', nHead: 2, nKv: 2, hd: 16, style: 'normal', clamp: 0.5, qkNorm: 'head' },
  { name: 'hd 256, 32/1 (4 head groups), n_rot 200', nHead: 32, nKv: 1, hd: 256, style: 'neox', nRot: 200 },
];

/** Positions around the chunk boundaries of chunk 32 in a 100-position cache, 0, the last one and past it. */
const FUSED_POSITIONS = [0, 31, 32, 33, 64, 99, 130];

describe('attention decode fused with the prologue (attentionDecodeFused)', () => {
  // One workgroup size per case (all three over the cases): each size is a pipeline of its own, slow to compile
  // on CPU Vulkan, while positions cost only run time.
  for (const [ci, c] of FUSED_CASES.entries()) {
    const wg = ATTENTION_WG_SIZES[ci % ATTENTION_WG_SIZES.length];
    it(`${c.name}: f32 cache, wg${wg}, positions at chunk boundaries, 0, last, past the cache; DIRECT`, async () => {
      const { ctx } = gpu;
      let seed = c.nHead * 1000 + c.hd;
      for (const pos of FUSED_POSITIONS) await runFused(ctx, c, { nCtx: 100, pos, f16: false, chunk: 32, wg }, seed++);
      // Default plan (chunks of 64), and one chunk over a 20-position cache (DIRECT; base positions once).
      await runFused(ctx, c, { nCtx: 100, pos: 70, f16: false, wg }, seed++);
      for (const pos of [0, 13, 19, 25]) await runFused(ctx, c, { nCtx: 20, pos, f16: false, wg, basePos: ci === 0 && pos === 13 }, seed++);
      // A long cache (default plan: 64 chunks of 64 or more) once.
      if (ci === 0) await runFused(ctx, c, { nCtx: 4096, pos: 3000, f16: false, wg }, seed++);
    });
  }

  it('f16 cache (when the device has shader-f16)', async (tc) => {
    const { ctx } = gpu;
    if (!ctx.f16) {
      console.warn('[attention] device has no shader-f16; fused f16 KV cases skipped');
      tc.skip();
      return;
    }
    let seed = 9000;
    for (const c of [FUSED_CASES[0], FUSED_CASES[2], FUSED_CASES[3]])
      for (const pos of [0, 31, 32, 33, 99]) await runFused(ctx, c, { nCtx: 100, pos, f16: true, chunk: 32 }, seed++);
    for (const pos of [0, 19]) await runFused(ctx, FUSED_CASES[1], { nCtx: 20, pos, f16: true }, seed++);
  });

  it('rejects bad shapes with KernelShapeError', () => {
    const { ctx } = gpu;
    const b = ctx.storage(4096 * 4);
    const k = ctx.storage(4096 * 4);
    const v = ctx.storage(4096 * 4);
    const out = ctx.storage(4096 * 4);
    const ok = { nHead: 4, nKv: 2, headDim: 32, rope: { style: 'neox' as const, freqBase: 10000 }, src: b, qOffset: 0, kOffset: 128, vOffset: 192, kCache: k, vCache: v, nCtx: 8, positions: { base: 0 }, scale: 0.2, out };
    expect(attentionDecodeFused(ctx, ok).length).toBe(1);
    expect(() => attentionDecodeFused(ctx, { ...ok, nHead: 5 })).toThrow(KernelShapeError);
    expect(() => attentionDecodeFused(ctx, { ...ok, headDim: 30 })).toThrow(KernelShapeError);
    expect(() => attentionDecodeFused(ctx, { ...ok, rope: { style: 'neox', freqBase: 10000, nRot: 34 } })).toThrow(KernelShapeError);
    expect(() => attentionDecodeFused(ctx, { ...ok, nCtx: 100 })).toThrow(KernelShapeError); // cache too small
    expect(() => attentionDecodeFused(ctx, { ...ok, out: b })).toThrow(KernelShapeError); // out aliases src
    expect(() => attentionDecodeFused(ctx, { ...ok, kCache: b })).toThrow(KernelShapeError);
    expect(() => attentionDecodeFused(ctx, { ...ok, outOffset: 2 })).toThrow(KernelShapeError);
    expect(() => attentionDecodeFused(ctx, { ...ok, workgroupSize: 32 })).toThrow(KernelShapeError);
    for (const x of [b, k, v, out]) x.destroy();
  });
});

describe('attention decode fused, compact workgroup memory (software adapters)', () => {
  let compact: GpuFixture;
  beforeAll(async () => {
    compact = await gpuFixture({ compactWorkgroupMemory: true });
  });
  afterAll(() => compact?.release());

  it('DBRX-like, hd 256: chunk boundaries and DIRECT', async () => {
    const ctx = compact.ctx;
    let seed = 12000;
    for (const c of [FUSED_CASES[0], FUSED_CASES[7]]) {
      for (const pos of [0, 32, 33, 99, 130]) await runFused(ctx, c, { nCtx: 100, pos, f16: false, chunk: 32 }, seed++);
      await runFused(ctx, c, { nCtx: 20, pos: 19, f16: false }, seed++);
    }
  });
});
