/**
 * @file CPU reference for kernels/rope.wgsl: RoPE with θ built exactly like ggml's CPU rope cache (f32 products),
 * cos/sin in double, and the fused attention prologue (clamp, Q/K RMSNorm, RoPE, KV cache write).
 */
export type RopeStyle = 'neox' | 'normal';

/** base^(−2/n_rot) rounded to f32, as `powf(freq_base, -2.0f/n_dims)`. */
export function ropeThetaScale(freqBase: number, nRot: number): number {
  return Math.fround(Math.pow(Math.fround(freqBase), Math.fround(-2 / nRot)));
}

/** θ of each pair at position p: freqScale·(p·s^i)/ff_i with the power built by f32 multiplication. */
export function ropeThetas(p: number, nRot: number, thetaScale: number, freqScale = 1, ff?: Float32Array): Float32Array {
  const out = new Float32Array(nRot / 2);
  let theta = Math.fround(p);
  for (let i = 0; i < nRot / 2; i++) {
    let t = ff ? Math.fround(theta / ff[i]) : theta;
    t = Math.fround(Math.fround(freqScale) * t);
    out[i] = t;
    theta = Math.fround(theta * thetaScale);
  }
  return out;
}

export interface RopeRefConfig {
  readonly style: RopeStyle;
  readonly nRot: number;
  readonly freqBase: number;
  readonly freqScale?: number;
  readonly freqFactors?: Float32Array;
}

/** Rotates one head of hd values at x[b..] in place at position p. */
export function ropeHead(x: Float32Array, b: number, p: number, c: RopeRefConfig): void {
  const th = ropeThetas(p, c.nRot, ropeThetaScale(c.freqBase, c.nRot), c.freqScale ?? 1, c.freqFactors);
  const half = c.nRot / 2;
  for (let j = 0; j < half; j++) {
    const i0 = c.style === 'neox' ? j : 2 * j;
    const i1 = c.style === 'neox' ? j + half : 2 * j + 1;
    const cos = Math.cos(th[j]);
    const sin = Math.sin(th[j]);
    const x0 = x[b + i0];
    const x1 = x[b + i1];
    x[b + i0] = x0 * cos - x1 * sin;
    x[b + i1] = x0 * sin + x1 * cos;
  }
}

export interface QkvRefArgs {
  readonly nTok: number;
  readonly nHead: number;
  readonly nKv: number;
  readonly hd: number;
  readonly src: Float32Array;
  readonly qOff: number;
  readonly kOff: number;
  readonly vOff: number;
  readonly qStride: number;
  readonly kStride: number;
  readonly vStride: number;
  readonly clamp?: number;
  readonly qkNorm?: { mode: 'head' | 'full'; qw: Float32Array; kw: Float32Array; eps: number };
  readonly positions: readonly number[];
  readonly nCtx: number;
  readonly rope: RopeRefConfig;
}

/**
 * The fused prologue: returns Q (T, n_head, hd) and the K/V rows written, as (n_kv, n_ctx, hd) caches that are
 * NaN where nothing was written (so tests can compare the written rows and check the rest stays untouched).
 */
export function qkvRopeRef(a: QkvRefArgs): { q: Float32Array; k: Float32Array; v: Float32Array } {
  const { nTok, nHead, nKv, hd } = a;
  const q = new Float32Array(nTok * nHead * hd);
  const k = new Float32Array(nKv * a.nCtx * hd).fill(NaN);
  const v = new Float32Array(nKv * a.nCtx * hd).fill(NaN);
  const cl = (x: number) => (a.clamp ? Math.min(a.clamp, Math.max(-a.clamp, x)) : x);
  const rowOf = (off: number, stride: number, t: number, n: number) => Float32Array.from(a.src.subarray(off + t * stride, off + t * stride + n), cl);
  const normRows = (row: Float32Array, heads: number, w: Float32Array) => {
    const n = a.qkNorm;
    if (!n) return;
    const seg = n.mode === 'full' ? heads * hd : hd;
    for (let s0 = 0; s0 < heads * hd; s0 += seg) {
      let ss = 0;
      for (let i = 0; i < seg; i++) ss += row[s0 + i] ** 2;
      const inv = 1 / Math.sqrt(ss / seg + n.eps);
      for (let i = 0; i < seg; i++) row[s0 + i] = row[s0 + i] * inv * w[n.mode === 'full' ? s0 + i : i];
    }
  };
  for (let t = 0; t < nTok; t++) {
    const p = a.positions[t];
    const qr = rowOf(a.qOff, a.qStride, t, nHead * hd);
    const kr = rowOf(a.kOff, a.kStride, t, nKv * hd);
    const vr = rowOf(a.vOff, a.vStride, t, nKv * hd);
    if (a.qkNorm) {
      normRows(qr, nHead, a.qkNorm.qw);
      normRows(kr, nKv, a.qkNorm.kw);
    }
    for (let h = 0; h < nHead; h++) ropeHead(qr, h * hd, p, a.rope);
    for (let h = 0; h < nKv; h++) ropeHead(kr, h * hd, p, a.rope);
    q.set(qr, t * nHead * hd);
    if (p < a.nCtx)
      for (let h = 0; h < nKv; h++) {
        k.set(kr.subarray(h * hd, (h + 1) * hd), (h * a.nCtx + p) * hd);
        v.set(vr.subarray(h * hd, (h + 1) * hd), (h * a.nCtx + p) * hd);
      }
  }
  return { q, k, v };
}
