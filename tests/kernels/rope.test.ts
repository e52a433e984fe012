import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fusedQkvLayout, qkvRope, QKV_ROPE_WG_SIZES, type RopeConfig } from '../../kernels/rope.ts';
import { qkvRopeRef, ropeThetas, ropeThetaScale, type RopeRefConfig, type RopeStyle } from '../../kernels/rope.ref.ts';
import { KernelShapeError, type KernelContext } from '../../kernels/lib/context.ts';
import { f16BitsToF32, roundF16 } from '../../workers/quant/half.ts';
import { adapterLine, expectClose, gpuFixture, randomF32, type GpuFixture } from './harness.ts';

let gpu: GpuFixture;
beforeAll(async () => {
  gpu = await gpuFixture();
  console.log(adapterLine(gpu.ctx));
});
afterAll(() => gpu?.release());

const TOL = { nmse: 1e-11, maxAbs: 2e-5 };

/** First index where the f32 bit patterns differ (NaN patterns included), or -1. */
function bitsDiffer(a: Float32Array, b: Float32Array): number {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  if (x.length !== y.length) return 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}
const SENTINEL = 7.25;

async function readCache(ctx: KernelContext, buf: GPUBuffer, n: number, f16: boolean): Promise<Float32Array> {
  if (!f16) return ctx.readF32(buf, n);
  const h = new Uint16Array(await ctx.read(buf, 0, Math.ceil((n * 2) / 4) * 4));
  return Float32Array.from(h.subarray(0, n), f16BitsToF32);
}

function cacheInit(n: number, f16: boolean): Uint16Array | Float32Array {
  if (!f16) return new Float32Array(n).fill(SENTINEL);
  return new Uint16Array(n).fill(0x4740); // 7.25 in f16
}

describe('ropeThetas (host)', () => {
  it('builds θ by repeated f32 products like ggml_rope_cache_init, not by pow()', () => {
    const s = ropeThetaScale(500000, 128);
    expect(s).toBe(Math.fround(s));
    const th = ropeThetas(4095, 128, s);
    expect(th[0]).toBe(4095);
    let t = 4095;
    for (let i = 1; i < 64; i++) {
      t = Math.fround(t * s);
      expect(th[i]).toBe(t);
    }
    // It differs from the closed form in the last bits somewhere: that is the point of matching ggml.
    let differs = 0;
    for (let i = 0; i < 64; i++) if (th[i] !== Math.fround(4095 * Math.pow(500000, (-2 * i) / 128))) differs++;
    expect(differs).toBeGreaterThan(0);
  });
});

interface QkvCase {
  readonly name: string;
  readonly nHead: number;
  readonly nKv: number;
  readonly hd: number;
  readonly style: RopeStyle;
  readonly nRot?: number;
  readonly fused: boolean;
  readonly clamp?: number;
  readonly qkNorm?: 'head' | 'full';
  readonly posBuffer: boolean;
}

const QKV_CASES: readonly QkvCase[] = [
  { name: 'DBRX (fused, clamp 8, neox)', nHead: 8, nKv: 2, hd: 32, style: 'neox', fused: true, clamp: 8, posBuffer: true },
  { name: 'DBRX-size head (fused, clamp, 48/8 → 6/1)', nHead: 6, nKv: 1, hd: 128, style: 'neox', fused: true, clamp: 8, posBuffer: false },
  { name: 'Qwen3-MoE (separate, per-head norm)', nHead: 8, nKv: 2, hd: 128, style: 'neox', fused: false, qkNorm: 'head', posBuffer: true },
  { name: 'OLMoE (separate, full-width norm, MHA)', nHead: 4, nKv: 4, hd: 64, style: 'neox', fused: false, qkNorm: 'full', posBuffer: false },
  { name: 'llama (separate, normal style, partial rotary)', nHead: 4, nKv: 1, hd: 64, style: 'normal', nRot: 40, fused: false, posBuffer: true },
  { name: 'tiny heads', nHead: 2, nKv: 2, hd: 16, style: 'normal', fused: true, clamp: 0.5, qkNorm: 'head', posBuffer: true },
];

describe('qkvRope (clamp → Q/K norm → RoPE → Q out, K/V to the cache)', () => {
  for (const c of QKV_CASES)
    for (const f16 of [false, true])
      it(`${c.name}, ${f16 ? 'f16' : 'f32'} cache, T 1 and 7`, async (tc) => {
        const { ctx } = gpu;
        if (f16 && !ctx.f16) {
          console.warn(`[rope] ${c.name}: device has no shader-f16; f16 KV case skipped`);
          tc.skip();
          return;
        }
        for (const nTok of [1, 7]) {
          // The prologue's arithmetic (lib/qkv_prologue.wgsl) does not depend on the workgroup size: the norm
          // sums in one fixed 32-lane order, so every size gives the same bits (the fused decode attention relies on it).
          let first: { q: Float32Array; k: Float32Array; v: Float32Array } | undefined;
          for (const wg of QKV_ROPE_WG_SIZES) {
            const { nHead, nKv, hd } = c;
            const nCtx = 40;
            const base = 4;
            const L = c.fused
              ? fusedQkvLayout(nHead, nKv, hd, base)
              : { qOffset: base, qStride: nHead * hd, kOffset: base + nTok * nHead * hd + 3, kStride: nKv * hd, vOffset: base + nTok * (nHead + nKv) * hd + 8, vStride: nKv * hd + 1 };
            const srcLen = Math.max(L.qOffset + nTok * L.qStride, L.kOffset + nTok * L.kStride, L.vOffset + nTok * L.vStride) + 2;
            const src = randomF32(srcLen, nHead * 100 + hd + nTok, c.clamp ? c.clamp * 1.6 : 2);
            // Positions: mostly increasing from 30, one past the cache (not written).
            const positions = c.posBuffer ? Array.from({ length: nTok }, (_, t) => (t === 3 ? 45 : 30 + t)) : Array.from({ length: nTok }, (_, t) => 9 + t);
            const qw = randomF32(c.qkNorm === 'full' ? nHead * hd : hd, 21, 1.5);
            const kw = randomF32(c.qkNorm === 'full' ? nKv * hd : hd, 22, 1.5);
            const nc = nKv * nCtx * hd;
            const kCacheOffset = 8;
            const gsrc = ctx.storage(src);
            const gq = ctx.storage((3 + nTok * nHead * hd) * 4);
            const gk = ctx.storage(cacheInit(kCacheOffset + nc, f16));
            const gv = ctx.storage(cacheInit(nc, f16));
            const gpos = ctx.storage(new Uint32Array(positions));
            const gqw = ctx.storage(qw);
            const gkw = ctx.storage(kw);
            const ropeCfg: RopeConfig = { style: c.style, nRot: c.nRot, freqBase: 10000 };
            ctx.run([
              qkvRope(ctx, {
                nTok,
                nHead,
                nKv,
                headDim: hd,
                rope: ropeCfg,
                src: gsrc,
                ...L,
                clamp: c.clamp,
                qkNorm: c.qkNorm ? { mode: c.qkNorm, qWeight: gqw, kWeight: gkw, eps: 1e-6 } : undefined,
                qOut: gq,
                qOutOffset: 3,
                kCache: gk,
                vCache: gv,
                kCacheOffset,
                nCtx,
                kvF16: f16,
                positions: c.posBuffer ? { buffer: gpos } : { base: 9 },
                workgroupSize: wg,
              }),
            ]);
            const want = qkvRopeRef({
              nTok,
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
              qkNorm: c.qkNorm ? { mode: c.qkNorm, qw, kw, eps: 1e-6 } : undefined,
              positions,
              nCtx,
              rope: { style: c.style, nRot: c.nRot ?? hd, freqBase: 10000 },
            });
            const label = `${c.name} ${f16 ? 'f16' : 'f32'} T=${nTok} wg${wg}`;
            const qGot = await ctx.readF32(gq, nTok * nHead * hd, 3);
            expectClose(`${label} Q`, qGot, want.q, TOL);
            const kGot = (await readCache(ctx, gk, kCacheOffset + nc, f16)).subarray(kCacheOffset);
            const vGot = await readCache(ctx, gv, nc, f16);
            if (!first) first = { q: qGot, k: kGot, v: vGot };
            else {
              expect(bitsDiffer(qGot, first.q), `${label}: Q bits differ from wg${QKV_ROPE_WG_SIZES[0]}`).toBe(-1);
              expect(bitsDiffer(kGot, first.k), `${label}: K cache bits differ from wg${QKV_ROPE_WG_SIZES[0]}`).toBe(-1);
              expect(bitsDiffer(vGot, first.v), `${label}: V cache bits differ from wg${QKV_ROPE_WG_SIZES[0]}`).toBe(-1);
            }
            for (const [nm, got, ref] of [
              ['K', kGot, want.k],
              ['V', vGot, want.v],
            ] as const) {
              const idx: number[] = [];
              const touched: number[] = [];
              for (let i = 0; i < nc; i++) {
                if (!Number.isNaN(ref[i])) idx.push(i);
                else if (got[i] !== SENTINEL) touched.push(i);
              }
              expect(touched.slice(0, 8), `${label} ${nm}: cache rows that must stay untouched`).toEqual([]);
              expect(idx.length).toBe(nKv * hd * positions.filter((p) => p < nCtx).length);
              const g = idx.map((i) => got[i]);
              const w = idx.map((i) => (f16 ? roundF16(ref[i]) : ref[i]));
              // f16: the GPU rounds its f32 result, the reference rounds the exact one: at most one f16 ulp apart.
              expectClose(`${label} ${nm} cache`, g, w, f16 ? { nmse: 1e-6, maxAbs: 8e-3 } : TOL);
            }
            for (const b of [gsrc, gq, gk, gv, gpos, gqw, gkw]) b.destroy();
          }
        }
      });

  // The θ and cos/sin paths at large angles, head_dim 256 and the frequency options (the cases the standalone
  // in-place rope kernel's test covered before that kernel was removed as unused).
  async function thetaCase(ctx: KernelContext, hd: number, positions: readonly number[], cfg: RopeConfig, ff: Float32Array | undefined, label: string) {
    const nTok = positions.length;
    const nHead = 2;
    const nKv = 1;
    const nCtx = 24;
    const L = fusedQkvLayout(nHead, nKv, hd);
    const src = randomF32(nTok * L.qStride, hd + (cfg.nRot ?? hd), 2);
    const nc = nKv * nCtx * hd;
    const gsrc = ctx.storage(src);
    const gq = ctx.storage(nTok * nHead * hd * 4);
    const gk = ctx.storage(new Float32Array(nc).fill(SENTINEL));
    const gv = ctx.storage(new Float32Array(nc).fill(SENTINEL));
    const gpos = ctx.storage(new Uint32Array([99, ...positions]));
    const gff = ctx.storage(new Float32Array([0, 0, ...(ff ?? [])]));
    ctx.run([
      qkvRope(ctx, {
        nTok,
        nHead,
        nKv,
        headDim: hd,
        rope: ff ? { ...cfg, freqFactors: { buffer: gff, offset: 2 } } : cfg,
        src: gsrc,
        ...L,
        qOut: gq,
        kCache: gk,
        vCache: gv,
        nCtx,
        positions: { buffer: gpos, offset: 1 },
      }),
    ]);
    const rope: RopeRefConfig = { style: cfg.style, nRot: cfg.nRot ?? hd, freqBase: cfg.freqBase, freqScale: cfg.freqScale, freqFactors: ff };
    const want = qkvRopeRef({ nTok, nHead, nKv, hd, src, ...L, qOff: L.qOffset, kOff: L.kOffset, vOff: L.vOffset, positions, nCtx, rope });
    expectClose(`${label} Q`, await ctx.readF32(gq), want.q, TOL);
    for (const [nm, buf, ref] of [
      ['K', gk, want.k],
      ['V', gv, want.v],
    ] as const) {
      const got = await ctx.readF32(buf);
      const idx = [...ref.keys()].filter((i) => !Number.isNaN(ref[i]));
      expect(idx.length, `${label} ${nm}: rows written`).toBe(nKv * hd * positions.filter((p) => p < nCtx).length);
      expect([...got.keys()].filter((i) => Number.isNaN(ref[i]) && got[i] !== SENTINEL).slice(0, 8), `${label} ${nm}: untouched rows`).toEqual([]);
      expectClose(`${label} ${nm} cache`, idx.map((i) => got[i]), idx.map((i) => ref[i]), TOL);
    }
    for (const b of [gsrc, gq, gk, gv, gpos, gff]) b.destroy();
  }

  for (const style of ['neox', 'normal'] as const)
    it(`${style}: head_dim 16/64/128/256, partial n_rot, positions up to 100000`, async () => {
      const { ctx } = gpu;
      for (const hd of [16, 64, 128, 256])
        for (const nRot of [hd, hd - 6])
          await thetaCase(ctx, hd, [0, 1, 17, 4095, 32767, 100000], { style, nRot, freqBase: hd === 128 ? 500000 : 10000 }, undefined, `${style} hd=${hd} nRot=${nRot}`);
    });

  it('freq scale and per-pair frequency factors (llama3 rope_freqs)', async () => {
    const hd = 64;
    const ff = Float32Array.from({ length: hd / 2 }, (_, i) => 1 + (i % 5) * 0.75);
    await thetaCase(gpu.ctx, hd, [3000, 3001], { style: 'normal', freqBase: 500000, freqScale: 0.25 }, ff, 'freq factors');
  });

  it('rejects bad shapes with KernelShapeError', () => {
    const { ctx } = gpu;
    const b = ctx.storage(4096 * 4);
    const base = { nTok: 1, nHead: 4, nKv: 2, headDim: 32, rope: { style: 'neox' as const, freqBase: 10000 }, src: b, qOffset: 0, kOffset: 128, vOffset: 192, qOut: b, kCache: b, vCache: b, nCtx: 8, positions: { base: 0 } };
    const q = ctx.storage(4096 * 4);
    const ok = { ...base, qOut: q };
    expect(() => qkvRope(ctx, { ...ok, nHead: 5 })).toThrow(KernelShapeError); // not a multiple of nKv
    expect(() => qkvRope(ctx, { ...ok, headDim: 30 })).toThrow(KernelShapeError);
    expect(() => qkvRope(ctx, { ...ok, rope: { style: 'neox', freqBase: 10000, nRot: 33 } })).toThrow(KernelShapeError);
    expect(() => qkvRope(ctx, { ...ok, nCtx: 100 })).toThrow(KernelShapeError); // cache too small
    expect(() => qkvRope(ctx, { ...ok, kCacheOffset: 2 })).toThrow(KernelShapeError);
    expect(() => qkvRope(ctx, { ...ok, workgroupSize: 48 })).toThrow(KernelShapeError);
    b.destroy();
    q.destroy();
  });
});
