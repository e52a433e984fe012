/**
 * @file Exact CPU dequantizers, one per GGML type we run, following ggml's `dequantize_row_*`
 * (ggml/src/ggml-quants.c) operation by operation in float32 (Math.fround after every op, as C float math
 * does), so results are bit-identical to ggml's. They are the references the WGSL kernels are tested against
 * and the fallback for CPU-side reads (embedding rows, inspection). Input: a byte range of whole blocks.
 */
import { GgufError } from '../gguf/errors.ts';
import { GgmlType, ggmlTypeInfo, ggmlTypeName } from '../gguf/ggmlTypes.ts';
import { bf16BitsToF32, bitsToF32, f16Table } from './half.ts';

const f = Math.fround;

/** Non-linear 4-bit codebook of IQ4_NL / IQ4_XS (ggml-common.h kvalues_iq4nl). */
export const KVALUES_IQ4NL: readonly number[] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
/** E2M1 values doubled (the ½ lives in the E8M0 scale), ggml-common.h kvalues_mxfp4. */
export const KVALUES_MXFP4: readonly number[] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/** E8M0 exponent byte → 2^(e-127) / 2 (ggml_e8m0_to_fp32_half). */
export function e8m0ToF32Half(e: number): number {
  return bitsToF32(e < 2 ? 0x00200000 << e : (e - 1) << 23);
}

/** K-quant packed 6-bit scale and min of sub-block j (ggml get_scale_min_k4). */
export function getScaleMinK4(j: number, q: Uint8Array, at: number): [number, number] {
  if (j < 4) return [q[at + j] & 63, q[at + j + 4] & 63];
  return [(q[at + j + 4] & 0xf) | ((q[at + j - 4] >> 6) << 4), (q[at + j + 4] >> 4) | ((q[at + j] >> 6) << 4)];
}

type Deq = (b: Uint8Array, at: number, y: Float32Array, o: number, h: Float32Array) => void;

// Each function decodes one block at byte `at` into y[o ..]; `h` is the f16 table.
const DEQ: Partial<Record<GgmlType, Deq>> = {
  [GgmlType.Q4_0]: (b, at, y, o, h) => {
    const d = h[b[at] | (b[at + 1] << 8)];
    for (let j = 0; j < 16; j++) {
      const q = b[at + 2 + j];
      y[o + j] = ((q & 0xf) - 8) * d;
      y[o + j + 16] = ((q >> 4) - 8) * d;
    }
  },
  [GgmlType.Q4_1]: (b, at, y, o, h) => {
    const d = h[b[at] | (b[at + 1] << 8)];
    const m = h[b[at + 2] | (b[at + 3] << 8)];
    for (let j = 0; j < 16; j++) {
      const q = b[at + 4 + j];
      y[o + j] = f((q & 0xf) * d) + m;
      y[o + j + 16] = f((q >> 4) * d) + m;
    }
  },
  [GgmlType.Q5_0]: (b, at, y, o, h) => {
    const d = h[b[at] | (b[at + 1] << 8)];
    const qh = (b[at + 2] | (b[at + 3] << 8) | (b[at + 4] << 16) | (b[at + 5] << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const q = b[at + 6 + j];
      const xh0 = ((qh >>> j) << 4) & 0x10;
      const xh1 = (qh >>> (j + 12)) & 0x10;
      y[o + j] = (((q & 0xf) | xh0) - 16) * d;
      y[o + j + 16] = (((q >> 4) | xh1) - 16) * d;
    }
  },
  [GgmlType.Q5_1]: (b, at, y, o, h) => {
    const d = h[b[at] | (b[at + 1] << 8)];
    const m = h[b[at + 2] | (b[at + 3] << 8)];
    const qh = (b[at + 4] | (b[at + 5] << 8) | (b[at + 6] << 16) | (b[at + 7] << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const q = b[at + 8 + j];
      const xh0 = ((qh >>> j) << 4) & 0x10;
      const xh1 = (qh >>> (j + 12)) & 0x10;
      y[o + j] = f(((q & 0xf) | xh0) * d) + m;
      y[o + j + 16] = f(((q >> 4) | xh1) * d) + m;
    }
  },
  [GgmlType.Q8_0]: (b, at, y, o, h) => {
    const d = h[b[at] | (b[at + 1] << 8)];
    for (let j = 0; j < 32; j++) y[o + j] = ((b[at + 2 + j] << 24) >> 24) * d;
  },
  [GgmlType.MXFP4]: (b, at, y, o) => {
    const d = e8m0ToF32Half(b[at]);
    for (let j = 0; j < 16; j++) {
      const q = b[at + 1 + j];
      y[o + j] = KVALUES_MXFP4[q & 0xf] * d;
      y[o + j + 16] = KVALUES_MXFP4[q >> 4] * d;
    }
  },
  [GgmlType.IQ4_NL]: (b, at, y, o, h) => {
    const d = h[b[at] | (b[at + 1] << 8)];
    for (let j = 0; j < 16; j++) {
      const q = b[at + 2 + j];
      y[o + j] = d * KVALUES_IQ4NL[q & 0xf];
      y[o + j + 16] = d * KVALUES_IQ4NL[q >> 4];
    }
  },
  // block_q2_K: scales[16], qs[64], d, dmin
  [GgmlType.Q2_K]: (b, at, y, o, h) => {
    const d = h[b[at + 80] | (b[at + 81] << 8)];
    const min = h[b[at + 82] | (b[at + 83] << 8)];
    let is = 0;
    let q = at + 16;
    for (let n = 0; n < 256; n += 128) {
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 2; half++) {
          const sc = b[at + is++];
          const dl = f(d * (sc & 0xf));
          const ml = f(min * (sc >> 4));
          for (let l = 0; l < 16; l++) y[o++] = f(dl * ((b[q + l + 16 * half] >> shift) & 3)) - ml;
        }
      }
      q += 32;
    }
  },
  // block_q3_K: hmask[32], qs[64], scales[12], d
  [GgmlType.Q3_K]: (b, at, y, o, h) => {
    const dAll = h[b[at + 108] | (b[at + 109] << 8)];
    const s = at + 96;
    // Unpack the 16 6-bit scales (the aux[] shuffle of dequantize_row_q3_K).
    const scales = new Int8Array(16);
    for (let j = 0; j < 16; j++) {
      const low = j < 8 ? b[s + j] & 0xf : b[s + j - 8] >> 4;
      const high = (b[s + 8 + (j % 4)] >> (2 * Math.floor(j / 4))) & 3;
      scales[j] = (low | (high << 4)) - 32;
    }
    let is = 0;
    let q = at + 32;
    let m = 1;
    for (let n = 0; n < 256; n += 128) {
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 2; half++) {
          const dl = f(dAll * scales[is++]);
          for (let l = 0; l < 16; l++) {
            const k = l + 16 * half;
            y[o++] = dl * (((b[q + k] >> shift) & 3) - (b[at + k] & m ? 0 : 4));
          }
        }
        m <<= 1;
      }
      q += 32;
    }
  },
  // block_q4_K: d, dmin, scales[12], qs[128]
  [GgmlType.Q4_K]: (b, at, y, o, h) => {
    const d = h[b[at] | (b[at + 1] << 8)];
    const min = h[b[at + 2] | (b[at + 3] << 8)];
    let q = at + 16;
    for (let is = 0; is < 8; is += 2) {
      const [sc1, m1s] = getScaleMinK4(is, b, at + 4);
      const [sc2, m2s] = getScaleMinK4(is + 1, b, at + 4);
      const d1 = f(d * sc1);
      const m1 = f(min * m1s);
      const d2 = f(d * sc2);
      const m2 = f(min * m2s);
      for (let l = 0; l < 32; l++) y[o + l] = f(d1 * (b[q + l] & 0xf)) - m1;
      for (let l = 0; l < 32; l++) y[o + 32 + l] = f(d2 * (b[q + l] >> 4)) - m2;
      o += 64;
      q += 32;
    }
  },
  // block_q5_K: d, dmin, scales[12], qh[32], qs[128]
  [GgmlType.Q5_K]: (b, at, y, o, h) => {
    const d = h[b[at] | (b[at + 1] << 8)];
    const min = h[b[at + 2] | (b[at + 3] << 8)];
    const qh = at + 16;
    let ql = at + 48;
    let u1 = 1;
    let u2 = 2;
    for (let is = 0; is < 8; is += 2) {
      const [sc1, m1s] = getScaleMinK4(is, b, at + 4);
      const [sc2, m2s] = getScaleMinK4(is + 1, b, at + 4);
      const d1 = f(d * sc1);
      const m1 = f(min * m1s);
      const d2 = f(d * sc2);
      const m2 = f(min * m2s);
      for (let l = 0; l < 32; l++) y[o + l] = f(d1 * ((b[ql + l] & 0xf) + (b[qh + l] & u1 ? 16 : 0))) - m1;
      for (let l = 0; l < 32; l++) y[o + 32 + l] = f(d2 * ((b[ql + l] >> 4) + (b[qh + l] & u2 ? 16 : 0))) - m2;
      o += 64;
      ql += 32;
      u1 <<= 2;
      u2 <<= 2;
    }
  },
  // block_q6_K: ql[128], qh[64], int8 scales[16], d
  [GgmlType.Q6_K]: (b, at, y, o, h) => {
    const d = h[b[at + 208] | (b[at + 209] << 8)];
    let ql = at;
    let qh = at + 128;
    let sc = at + 192;
    for (let n = 0; n < 256; n += 128) {
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const q1 = ((b[ql + l] & 0xf) | (((b[qh + l] >> 0) & 3) << 4)) - 32;
        const q2 = ((b[ql + l + 32] & 0xf) | (((b[qh + l] >> 2) & 3) << 4)) - 32;
        const q3 = ((b[ql + l] >> 4) | (((b[qh + l] >> 4) & 3) << 4)) - 32;
        const q4 = ((b[ql + l + 32] >> 4) | (((b[qh + l] >> 6) & 3) << 4)) - 32;
        y[o + l] = f(d * ((b[sc + is] << 24) >> 24)) * q1;
        y[o + l + 32] = f(d * ((b[sc + is + 2] << 24) >> 24)) * q2;
        y[o + l + 64] = f(d * ((b[sc + is + 4] << 24) >> 24)) * q3;
        y[o + l + 96] = f(d * ((b[sc + is + 6] << 24) >> 24)) * q4;
      }
      o += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  },
  // block_iq4_xs: d, scales_h (u16), scales_l[4], qs[128]
  [GgmlType.IQ4_XS]: (b, at, y, o, h) => {
    const d = h[b[at] | (b[at + 1] << 8)];
    const scalesH = b[at + 2] | (b[at + 3] << 8);
    let qs = at + 8;
    for (let ib = 0; ib < 8; ib++) {
      const ls = ((b[at + 4 + (ib >> 1)] >> (4 * (ib % 2))) & 0xf) | (((scalesH >> (2 * ib)) & 3) << 4);
      const dl = f(d * (ls - 32));
      for (let j = 0; j < 16; j++) {
        y[o + j] = dl * KVALUES_IQ4NL[b[qs + j] & 0xf];
        y[o + j + 16] = dl * KVALUES_IQ4NL[b[qs + j] >> 4];
      }
      o += 32;
      qs += 16;
    }
  },
};

const PLAIN: readonly GgmlType[] = [GgmlType.F32, GgmlType.F16, GgmlType.BF16];

/** Types `dequantize` accepts. */
export const DEQUANTIZABLE_TYPES: readonly GgmlType[] = [
  ...PLAIN,
  ...Object.keys(DEQ).map((k) => ggmlTypeInfo(Number(k)).id),
].sort((a, b) => a - b);

function checkSize(type: GgmlType, bytes: Uint8Array, n: number): number {
  const info = ggmlTypeInfo(type);
  if (!Number.isSafeInteger(n) || n < 0 || n % info.blockSize !== 0) {
    throw new GgufError('bad-shape', `${info.name}: ${n} elements is not a whole number of ${info.blockSize}-element blocks`);
  }
  const need = (n / info.blockSize) * info.typeSize;
  if (bytes.length < need) {
    throw new GgufError('truncated', `${info.name}: ${n} elements need ${need} bytes, got ${bytes.length}`);
  }
  return n / info.blockSize;
}

/** Dequantizes the first `n` elements (whole blocks) of `bytes` into float32, exactly as ggml does. */
export function dequantize(type: GgmlType, bytes: Uint8Array, n: number): Float32Array {
  const nb = checkSize(type, bytes, n);
  const y = new Float32Array(n);
  switch (type) {
    case GgmlType.F32:
      // Copy through bytes: the source may be unaligned.
      new Uint8Array(y.buffer).set(bytes.subarray(0, 4 * n));
      return y;
    case GgmlType.F16: {
      const h = f16Table();
      for (let i = 0; i < n; i++) y[i] = h[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
      return y;
    }
    case GgmlType.BF16:
      for (let i = 0; i < n; i++) y[i] = bf16BitsToF32(bytes[2 * i] | (bytes[2 * i + 1] << 8));
      return y;
  }
  const fn = DEQ[type];
  if (!fn) {
    throw new GgufError(
      'unsupported-type',
      `dequantizing ${ggmlTypeName(type)} is not supported (supported: ${DEQUANTIZABLE_TYPES.map(ggmlTypeName).join(', ')})`,
    );
  }
  const info = ggmlTypeInfo(type);
  const h = f16Table();
  for (let i = 0; i < nb; i++) fn(bytes, i * info.typeSize, y, i * info.blockSize, h);
  return y;
}
