/**
 * @file Quantizers following ggml's reference algorithms (`quantize_row_*_ref` in ggml/src/ggml-quants.c,
 * including `make_qkx2_quants` for Q2_K/Q4_K/Q5_K, `make_q3_quants` for Q3_K and `make_qx_quants` for Q6_K), emulating C float32 arithmetic
 * op by op so the bytes match what llama.cpp's quantizer writes without an importance matrix. The model
 * generator writes GGUFs with them, and kernel tests quantize random data with them.
 */
import { GgufError } from '../gguf/errors.ts';
import { GgmlType, ggmlTypeInfo, ggmlTypeName } from '../gguf/ggmlTypes.ts';
import { getScaleMinK4 } from './dequant.ts';
import { f16BitsToF32, f32Bits, f32ToBf16Bits, f32ToF16Bits } from './half.ts';
import { signedMax } from './signedMax.ts';

const f = Math.fround;
const GROUP_MAX_EPS = f(1e-15);
/** The C literal 0.1f. */
const F01 = f(0.1);

/** ggml's nearest_int: round half to even (the 1.5·2^23 trick), for |x| < 2^22. */
export function nearestInt(x: number): number {
  if (!(Math.abs(x) <= 4194303)) return nearestIntBits(x);
  const r = Math.round(x);
  return r - x === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}
/** The same trick bit for bit outside its range (ggml asserts there; release builds take these bits). */
function nearestIntBits(x: number): number {
  return ((f32Bits(f(x + 12582912)) & 0x007fffff) - 0x00400000) | 0;
}

/** C roundf: half away from zero. */
function roundf(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/** C (int8_t) cast of a float in range: truncation toward zero. */
const trunc = Math.trunc;

function putF16(b: Uint8Array, at: number, x: number): number {
  const h = f32ToF16Bits(x);
  b[at] = h & 0xff;
  b[at + 1] = h >> 8;
  return f16BitsToF32(h);
}

const clamp = (x: number, lo: number, hi: number): number => (x < lo ? lo : x > hi ? hi : x);

// ---------------------------------------------------------------- 32-element blocks

function q4_0(x: Float32Array, xo: number, b: Uint8Array, at: number): void {
  const max = signedMax(x, xo, xo + 32);
  const d = f(max / -8);
  const id = d ? f(1 / d) : 0;
  putF16(b, at, d);
  for (let j = 0; j < 16; j++) {
    const x0 = f(x[xo + j] * id);
    const x1 = f(x[xo + 16 + j] * id);
    const xi0 = Math.min(15, trunc(f(x0 + 8.5)));
    const xi1 = Math.min(15, trunc(f(x1 + 8.5)));
    b[at + 2 + j] = xi0 | (xi1 << 4);
  }
}

function q4_1(x: Float32Array, xo: number, b: Uint8Array, at: number): void {
  let min = Infinity;
  let max = -Infinity;
  for (let j = 0; j < 32; j++) {
    const v = x[xo + j];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const d = f(f(max - min) / 15);
  const id = d ? f(1 / d) : 0;
  putF16(b, at, d);
  putF16(b, at + 2, min);
  for (let j = 0; j < 16; j++) {
    const x0 = f(f(x[xo + j] - min) * id);
    const x1 = f(f(x[xo + 16 + j] - min) * id);
    const xi0 = Math.min(15, trunc(f(x0 + 0.5)));
    const xi1 = Math.min(15, trunc(f(x1 + 0.5)));
    b[at + 4 + j] = xi0 | (xi1 << 4);
  }
}

function q5_0(x: Float32Array, xo: number, b: Uint8Array, at: number): void {
  const max = signedMax(x, xo, xo + 32);
  const d = f(max / -16);
  const id = d ? f(1 / d) : 0;
  putF16(b, at, d);
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const x0 = f(x[xo + j] * id);
    const x1 = f(x[xo + 16 + j] * id);
    const xi0 = Math.min(31, trunc(f(x0 + 16.5)));
    const xi1 = Math.min(31, trunc(f(x1 + 16.5)));
    b[at + 6 + j] = (xi0 & 0xf) | ((xi1 & 0xf) << 4);
    qh |= ((xi0 & 0x10) >> 4) << j;
    qh |= ((xi1 & 0x10) >> 4) << (j + 16);
  }
  b[at + 2] = qh & 0xff;
  b[at + 3] = (qh >>> 8) & 0xff;
  b[at + 4] = (qh >>> 16) & 0xff;
  b[at + 5] = (qh >>> 24) & 0xff;
}

function q5_1(x: Float32Array, xo: number, b: Uint8Array, at: number): void {
  let min = Infinity;
  let max = -Infinity;
  for (let j = 0; j < 32; j++) {
    const v = x[xo + j];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const d = f(f(max - min) / 31);
  const id = d ? f(1 / d) : 0;
  putF16(b, at, d);
  putF16(b, at + 2, min);
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const x0 = f(f(x[xo + j] - min) * id);
    const x1 = f(f(x[xo + 16 + j] - min) * id);
    // (uint8_t) cast without clamping, as ggml does.
    const xi0 = trunc(f(x0 + 0.5)) & 0xff;
    const xi1 = trunc(f(x1 + 0.5)) & 0xff;
    b[at + 8 + j] = (xi0 & 0xf) | ((xi1 & 0xf) << 4);
    qh |= ((xi0 & 0x10) >> 4) << j;
    qh |= ((xi1 & 0x10) >> 4) << (j + 16);
  }
  b[at + 4] = qh & 0xff;
  b[at + 5] = (qh >>> 8) & 0xff;
  b[at + 6] = (qh >>> 16) & 0xff;
  b[at + 7] = (qh >>> 24) & 0xff;
}

function q8_0(x: Float32Array, xo: number, b: Uint8Array, at: number): void {
  let amax = 0;
  for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[xo + j]));
  const d = f(amax / 127);
  const id = d ? f(1 / d) : 0;
  putF16(b, at, d);
  for (let j = 0; j < 32; j++) b[at + 2 + j] = roundf(f(x[xo + j] * id)) & 0xff;
}

// ---------------------------------------------------------------- K-quant helpers

/** make_qkx2_quants: affine (scale, min) fit of n values to levels 0..nmax; returns the scale, sets qkx2Min. */
function makeQkx2Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  weights: Float32Array,
  L: Uint8Array,
  lo: number,
  laux: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): number {
  let min = x[xo];
  let max = x[xo];
  let sumW = weights[0];
  let sumX = f(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i];
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i];
    sumW = f(sumW + w);
    sumX = f(sumX + f(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    qkx2Min = -min;
    return 0;
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = nearestInt(f(iscale * f(x[xo + i] - min)));
    L[lo + i] = clamp(l, 0, nmax);
    let diff = f(f(f(scale * L[lo + i]) + min) - x[xo + i]);
    diff = useMad ? Math.abs(diff) : f(diff * diff);
    bestError = f(bestError + f(weights[i] * diff));
  }
  if (nstep < 1) {
    qkx2Min = -min;
    return scale;
  }
  for (let is = 0; is <= nstep; is++) {
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      // `min` may change between passes (ggml updates it when a pass wins), so x − min is recomputed.
      const l = clamp(nearestInt(f(iscale * f(x[xo + i] - min))), 0, nmax);
      laux[i] = l;
      const w = weights[i];
      const wl = f(w * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * x[xo + i]));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = f(f(f(thisScale * laux[i]) + thisMin) - x[xo + i]);
        diff = useMad ? Math.abs(diff) : f(diff * diff);
        curError = f(curError + f(weights[i] * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = laux[i];
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  qkx2Min = -min;
  return scale;
}
/** Second result of makeQkx2Quants (ggml's `the_min` out-parameter), kept out of a tuple to avoid allocation. */
let qkx2Min = 0;

/** make_qx_quants with rmse_type 1 and no importance weights (the Q6_K reference path). L holds l + nmax. */
function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  const max = signedMax(x, xo, xo + n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    return 0;
  }
  let iscale = f(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const l = clamp(nearestInt(f(iscale * xi)), -nmax, nmax - 1);
    L[lo + i] = l + nmax;
    const w = f(xi * xi);
    sumlx = f(sumlx + f(f(w * xi) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  let scale = suml2 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(F01 * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const l = clamp(nearestInt(f(iscale * xi)), -nmax, nmax - 1);
      const w = f(xi * xi);
      sumlx = f(sumlx + f(f(w * xi) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      for (let i = 0; i < n; i++) L[lo + i] = nmax + clamp(nearestInt(f(iscale * x[xo + i])), -nmax, nmax - 1);
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

// Per-block scratch (quantization is synchronous, so one set suffices).
const K_WEIGHTS = new Float32Array(32);
const K_LAUX = new Uint8Array(32);
const K_SCALES = new Float32Array(8);
const K_MINS = new Float32Array(8);
const K_L = new Uint8Array(256);
const Q6_L = new Int8Array(256);
const Q6_SCALES = new Float32Array(16);
const Q6_SC = new Int8Array(16);

/** Shared scale/min search and 6-bit packing of Q4_K and Q5_K; fills L with levels 0..nmax. */
function kScalesMins(
  x: Float32Array,
  xo: number,
  b: Uint8Array,
  at: number,
  nmax: number,
  rmin: number,
  nstep: number,
  L: Uint8Array,
): void {
  const weights = K_WEIGHTS;
  const laux = K_LAUX;
  const scales = K_SCALES;
  const mins = K_MINS;
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) {
      const v = x[xo + 32 * j + l];
      sumX2 = f(sumX2 + f(v * v));
    }
    const avX = f(Math.sqrt(f(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(x[xo + 32 * j + l]));
    scales[j] = makeQkx2Quants(32, nmax, x, xo + 32 * j, weights, L, 32 * j, laux, rmin, F01, nstep, false);
    mins[j] = qkx2Min;
    if (scales[j] > maxScale) maxScale = scales[j];
    if (mins[j] > maxMin) maxMin = mins[j];
  }
  const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
  const s = at + 4;
  for (let j = 0; j < 8; j++) {
    // (uint8_t) of nearest_int, then MIN(63, .)
    const ls = Math.min(63, nearestInt(f(invScale * scales[j])) & 0xff);
    const lm = Math.min(63, nearestInt(f(invMin * mins[j])) & 0xff);
    if (j < 4) {
      b[s + j] = ls;
      b[s + j + 4] = lm;
    } else {
      b[s + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      b[s + j - 4] |= (ls >> 4) << 6;
      b[s + j] |= (lm >> 4) << 6;
    }
  }
  const d = putF16(b, at, f(maxScale / 63));
  const dmin = putF16(b, at + 2, f(maxMin / 63));
  for (let j = 0; j < 8; j++) {
    const [sc, m] = getScaleMinK4(j, b, s);
    const dd = f(d * sc);
    if (!dd) continue;
    const dm = f(dmin * m);
    for (let ii = 0; ii < 32; ii++) L[32 * j + ii] = clamp(nearestInt(f(f(x[xo + 32 * j + ii] + dm) / dd)), 0, nmax);
  }
}

/**
 * make_q3_quants with do_rmse (the Q3_K reference path): symmetric levels −nmax..nmax−1 weighted by x², then up
 * to 5 passes that move single levels while the weighted fit improves. L holds l + nmax.
 */
function makeQ3Quants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  const max = signedMax(x, xo, xo + n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    return 0;
  }
  const iscale = f(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const l = clamp(nearestInt(f(iscale * xi)), -nmax, nmax - 1);
    L[lo + i] = l;
    const w = f(xi * xi);
    sumlx = f(sumlx + f(f(w * xi) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const w = f(xi * xi);
      const li = L[lo + i];
      let slx = f(sumlx - f(f(w * xi) * li));
      if (slx > 0) {
        let sl2 = f(suml2 - f(f(w * li) * li));
        const nl = clamp(nearestInt(f(f(xi * sl2) / slx)), -nmax, nmax - 1);
        if (nl !== li) {
          slx = f(slx + f(f(w * xi) * nl));
          sl2 = f(sl2 + f(f(w * nl) * nl));
          if (sl2 > 0 && f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
            L[lo + i] = nl;
            sumlx = slx;
            suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (let i = 0; i < n; i++) L[lo + i] += nmax;
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}

// ---------------------------------------------------------------- 256-element super-blocks

const Q2_WEIGHTS = new Float32Array(16);
const Q2_SCALES = new Float32Array(16);
const Q2_MINS = new Float32Array(16);
const Q3_L = new Int8Array(256);
const Q3_SCALES = new Float32Array(16);

/** Packs 2-bit levels: byte l of each 32-byte group holds elements l, l + 32, l + 64, l + 96 of its 128. */
function pack2(L: ArrayLike<number>, b: Uint8Array, qs: number): void {
  for (let j = 0; j < 256; j += 128) {
    for (let l = 0; l < 32; l++) b[qs + j / 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
  }
}

// block_q2_K: scales[16] (4-bit scale | 4-bit min << 4), qs[64], d, dmin.
function q2_K(x: Float32Array, xo: number, b: Uint8Array, at: number): void {
  const L = K_L;
  const weights = Q2_WEIGHTS;
  const scales = Q2_SCALES;
  const mins = Q2_MINS;
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 16; j++) {
    for (let l = 0; l < 16; l++) weights[l] = Math.abs(x[xo + 16 * j + l]);
    scales[j] = makeQkx2Quants(16, 3, x, xo + 16 * j, weights, L, 16 * j, K_LAUX, -0.5, F01, 15, true);
    mins[j] = qkx2Min;
    if (scales[j] > maxScale) maxScale = scales[j];
    if (mins[j] > maxMin) maxMin = mins[j];
  }
  if (maxScale > 0) {
    const iscale = f(15 / maxScale);
    for (let j = 0; j < 16; j++) b[at + j] = nearestInt(f(iscale * scales[j])) & 0xff;
    putF16(b, at + 80, f(maxScale / 15));
  } else {
    b.fill(0, at, at + 16);
    putF16(b, at + 80, 0);
  }
  if (maxMin > 0) {
    const iscale = f(15 / maxMin);
    for (let j = 0; j < 16; j++) b[at + j] |= nearestInt(f(iscale * mins[j])) << 4;
    putF16(b, at + 82, f(maxMin / 15));
  } else {
    putF16(b, at + 82, 0);
  }
  const d = f16BitsToF32(b[at + 80] | (b[at + 81] << 8));
  const dmin = f16BitsToF32(b[at + 82] | (b[at + 83] << 8));
  for (let j = 0; j < 16; j++) {
    const dd = f(d * (b[at + j] & 0xf));
    if (!dd) continue;
    const dm = f(dmin * (b[at + j] >> 4));
    for (let ii = 0; ii < 16; ii++) L[16 * j + ii] = clamp(nearestInt(f(f(x[xo + 16 * j + ii] + dm) / dd)), 0, 3);
  }
  pack2(L, b, at + 16);
}

// block_q3_K: hmask[32] (bit 2 of each level), qs[64] (bits 0..1), scales[12] (16 6-bit signed), d.
function q3_K(x: Float32Array, xo: number, b: Uint8Array, at: number): void {
  const L = Q3_L;
  const scales = Q3_SCALES;
  let maxScale = 0;
  let amax = 0;
  for (let j = 0; j < 16; j++) {
    scales[j] = makeQ3Quants(16, 4, x, xo + 16 * j, L, 16 * j);
    const a = Math.abs(scales[j]);
    if (a > amax) {
      amax = a;
      maxScale = scales[j];
    }
  }
  const s = at + 96;
  b.fill(0, s, s + 12);
  if (maxScale) {
    const iscale = f(-32 / maxScale);
    for (let j = 0; j < 16; j++) {
      // (int8_t) of nearest_int, clamped to −32..31, stored + 32: low nibble in bytes 0..7, 2 high bits in 8..11.
      const l = clamp((nearestInt(f(iscale * scales[j])) << 24) >> 24, -32, 31) + 32;
      if (j < 8) b[s + j] = l & 0xf;
      else b[s + j - 8] |= (l & 0xf) << 4;
      b[s + 8 + (j % 4)] |= (l >> 4) << (2 * Math.floor(j / 4));
    }
    putF16(b, at + 108, f(1 / iscale));
  } else {
    putF16(b, at + 108, 0);
  }
  const d = f16BitsToF32(b[at + 108] | (b[at + 109] << 8));
  for (let j = 0; j < 16; j++) {
    const low = j < 8 ? b[s + j] & 0xf : b[s + j - 8] >> 4;
    const sc = (low | (((b[s + 8 + (j % 4)] >> (2 * Math.floor(j / 4))) & 3) << 4)) - 32;
    const dd = f(d * sc);
    if (!dd) continue;
    for (let ii = 0; ii < 16; ii++) L[16 * j + ii] = clamp(nearestInt(f(x[xo + 16 * j + ii] / dd)), -4, 3) + 4;
  }
  // The high bit of element j goes to bit j / 32 of hmask[j % 32].
  b.fill(0, at, at + 32);
  for (let j = 0; j < 256; j++) {
    if (L[j] > 3) {
      b[at + (j % 32)] |= 1 << (j >> 5);
      L[j] -= 4;
    }
  }
  pack2(L, b, at + 32);
}

function q4_K(x: Float32Array, xo: number, b: Uint8Array, at: number): void {
  const L = K_L;
  kScalesMins(x, xo, b, at, 15, -1, 20, L);
  let q = at + 16;
  for (let j = 0; j < 256; j += 64) {
    for (let l = 0; l < 32; l++) b[q + l] = L[j + l] | (L[j + l + 32] << 4);
    q += 32;
  }
}

function q5_K(x: Float32Array, xo: number, b: Uint8Array, at: number): void {
  const L = K_L;
  kScalesMins(x, xo, b, at, 31, -0.5, 15, L);
  const qh = at + 16;
  let ql = at + 48;
  let m1 = 1;
  let m2 = 2;
  for (let n = 0; n < 256; n += 64) {
    for (let j = 0; j < 32; j++) {
      let l1 = L[n + j];
      if (l1 > 15) {
        l1 -= 16;
        b[qh + j] |= m1;
      }
      let l2 = L[n + j + 32];
      if (l2 > 15) {
        l2 -= 16;
        b[qh + j] |= m2;
      }
      b[ql + j] = l1 | (l2 << 4);
    }
    m1 <<= 2;
    m2 <<= 2;
    ql += 32;
  }
}

function q6_K(x: Float32Array, xo: number, b: Uint8Array, at: number): void {
  const L = Q6_L;
  const scales = Q6_SCALES;
  let maxScale = 0;
  let maxAbsScale = 0;
  for (let ib = 0; ib < 16; ib++) {
    const scale = makeQxQuants(16, 32, x, xo + 16 * ib, L, 16 * ib);
    scales[ib] = scale;
    const abs = Math.abs(scale);
    if (abs > maxAbsScale) {
      maxAbsScale = abs;
      maxScale = scale;
    }
  }
  if (maxAbsScale < GROUP_MAX_EPS) {
    b.fill(0, at, at + 210);
    return;
  }
  const iscale = f(-128 / maxScale);
  const d = putF16(b, at + 208, f(1 / iscale));
  const sc = Q6_SC;
  for (let ib = 0; ib < 16; ib++) {
    sc[ib] = Math.min(127, nearestInt(f(iscale * scales[ib])));
    b[at + 192 + ib] = sc[ib] & 0xff;
  }
  for (let j = 0; j < 16; j++) {
    const dd = f(d * sc[j]);
    if (!dd) continue;
    for (let ii = 0; ii < 16; ii++) L[16 * j + ii] = clamp(nearestInt(f(x[xo + 16 * j + ii] / dd)), -32, 31) + 32;
  }
  let ql = at;
  let qh = at + 128;
  for (let j = 0; j < 256; j += 128) {
    for (let l = 0; l < 32; l++) {
      const q1 = L[j + l] & 0xf;
      const q2 = L[j + l + 32] & 0xf;
      const q3 = L[j + l + 64] & 0xf;
      const q4 = L[j + l + 96] & 0xf;
      b[ql + l] = q1 | (q3 << 4);
      b[ql + l + 32] = q2 | (q4 << 4);
      b[qh + l] = (L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6);
    }
    ql += 64;
    qh += 32;
  }
}

type QuantFn = (x: Float32Array, xo: number, b: Uint8Array, at: number) => void;
const QUANT: Partial<Record<GgmlType, QuantFn>> = {
  [GgmlType.Q4_0]: q4_0,
  [GgmlType.Q4_1]: q4_1,
  [GgmlType.Q5_0]: q5_0,
  [GgmlType.Q5_1]: q5_1,
  [GgmlType.Q8_0]: q8_0,
  [GgmlType.Q2_K]: q2_K,
  [GgmlType.Q3_K]: q3_K,
  [GgmlType.Q4_K]: q4_K,
  [GgmlType.Q5_K]: q5_K,
  [GgmlType.Q6_K]: q6_K,
};

/** Types `quantize` accepts. */
export const QUANTIZABLE_TYPES: readonly GgmlType[] = [
  GgmlType.F32,
  GgmlType.F16,
  GgmlType.BF16,
  ...Object.keys(QUANT).map((k) => ggmlTypeInfo(Number(k)).id),
].sort((a, b) => a - b);

/**
 * Quantizes `values` (a whole number of blocks; rows must each be whole blocks too, which holds when the
 * row length is a multiple of the block size) into GGUF block bytes, as ggml's reference quantizer does.
 */
export function quantize(type: GgmlType, values: Float32Array): Uint8Array {
  const info = ggmlTypeInfo(type);
  const n = values.length;
  if (n % info.blockSize !== 0) {
    throw new GgufError('bad-shape', `${info.name}: ${n} values is not a whole number of ${info.blockSize}-element blocks`);
  }
  const nb = n / info.blockSize;
  const out = new Uint8Array(nb * info.typeSize);
  switch (type) {
    case GgmlType.F32:
      out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      return out;
    case GgmlType.F16:
    case GgmlType.BF16: {
      const conv = type === GgmlType.F16 ? f32ToF16Bits : f32ToBf16Bits;
      for (let i = 0; i < n; i++) {
        const h = conv(values[i]);
        out[2 * i] = h & 0xff;
        out[2 * i + 1] = h >> 8;
      }
      return out;
    }
  }
  const fn = QUANT[type];
  if (!fn) {
    throw new GgufError(
      'unsupported-type',
      `quantizing to ${ggmlTypeName(type)} is not supported (supported: ${QUANTIZABLE_TYPES.map(ggmlTypeName).join(', ')})`,
    );
  }
  for (let i = 0; i < nb; i++) fn(values, i * info.blockSize, out, i * info.typeSize);
  return out;
}
