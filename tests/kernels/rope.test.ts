import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fusedQkvLayout, qkvRope, rope, QKV_ROPE_WG_SIZES, type RopeConfig } from '../../kernels/rope.ts';
import { qkvRopeRef, ropeRef, ropeThetas, ropeThetaScale, type RopeStyle } from '../../kernels/rope.ref.ts';
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

describe('rope (standalone, in place)', () => {
  const STYLES: readonly RopeStyle[] = ['neox', 'normal'];
  for (const style of STYLES)
    it(`${style}: head_dim 16/64/128/256, partial n_rot, positions up to 100000, base and buffer positions`, async () => {
      const { ctx } = gpu;
      for (const hd of [16, 64, 128, 256])
        for (const nRot of [hd, hd - 6])
          for (const usePosBuffer of [false, true]) {
            const heads = 3;
            const nTok = 6;
            const xOff = 5;
            const xStride = heads * hd + 7;
            const x = randomF32(xOff + nTok * xStride, hd + nRot, 2);
            const positions = usePosBuffer ? [0, 1, 17, 4095, 32767, 100000] : [11, 12, 13, 14, 15, 16];
            const gx = ctx.storage(x);
            const gp = ctx.storage(new Uint32Array([99, ...positions]));
            const cfg: RopeConfig = { style, nRot, freqBase: hd === 128 ? 500000 : 10000 };
            ctx.run([
              rope(ctx, {
                nTok,
                heads,
                headDim: hd,
                rope: cfg,
                x: gx,
                xOffset: xOff,
                xStride,
                positions: usePosBuffer ? { buffer: gp, offset: 1 } : { base: 11 },
              }),
            ]);
            const got = await ctx.readF32(gx);
            const want = ropeRef(x, { nTok, heads, hd, positions, xOff, xStride }, { style, nRot, freqBase: cfg.freqBase });
            expectClose(`rope ${style} hd=${hd} nRot=${nRot} posbuf=${usePosBuffer}`, got, want, TOL);
            gx.destroy();
            gp.destroy();
          }
    });

  it('freq scale and per-pair frequency factors (llama3 rope_freqs)', async () => {
    const { ctx } = gpu;
    const hd = 64;
    const ff = Float32Array.from({ length: hd / 2 }, (_, i) => 1 + (i % 5) * 0.75);
    const x = randomF32(2 * 2 * hd, 3, 1);
    const gx = ctx.storage(x);
    const gf = ctx.storage(new Float32Array([0, 0, ...ff]));
    ctx.run([rope(ctx, { nTok: 2, heads: 2, headDim: hd, rope: { style: 'normal', freqBase: 500000, freqScale: 0.25, freqFactors: { buffer: gf, offset: 2 } }, x: gx, positions: { base: 3000 } })]);
    const got = await ctx.readF32(gx);
    const want = ropeRef(x, { nTok: 2, heads: 2, hd, positions: [3000, 3001] }, { style: 'normal', nRot: hd, freqBase: 500000, freqScale: 0.25, freqFactors: ff });
    expectClose('rope freq factors', got, want, TOL);
    gx.destroy();
    gf.destroy();
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
        for (const nTok of [1, 7])
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
            expectClose(`${label} Q`, await ctx.readF32(gq, nTok * nHead * hd, 3), want.q, TOL);
            const kGot = (await readCache(ctx, gk, kCacheOffset + nc, f16)).subarray(kCacheOffset);
            const vGot = await readCache(ctx, gv, nc, f16);
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
