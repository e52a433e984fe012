/**
 * @file Quant formats: hand-written blocks for every dequantizer, bit-exactness against ggml's own C
 * quantizers/dequantizers (fixture made by fixtures/gguf/quant-ref.c), round-trip error bounds, f16/bf16.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { GgufError } from '../../workers/gguf/errors.ts';
import { GgmlType, ggmlTypeInfo, ggmlTypeName } from '../../workers/gguf/ggmlTypes.ts';
import {
  bf16BitsToF32,
  dequantize,
  DEQUANTIZABLE_TYPES,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  KVALUES_IQ4NL as KV,
  KVALUES_MXFP4 as KM,
  quantize,
  QUANTIZABLE_TYPES,
} from '../../workers/quant/quant.ts';

const fixture = path.resolve(import.meta.dirname, 'fixtures/gguf/quant-ref.bin');

function readRecords(file: string): Map<string, Uint8Array> {
  const buf = readFileSync(file);
  const b = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = new Map<string, Uint8Array>();
  for (let at = 0; at < b.length; ) {
    const n = dv.getUint32(at, true);
    const name = new TextDecoder().decode(b.subarray(at + 4, at + 4 + n));
    at += 4 + n;
    const len = dv.getUint32(at, true);
    out.set(name, b.slice(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return out;
}
const asF32 = (b: Uint8Array): Float32Array => new Float32Array(b.slice().buffer);
const asU16 = (b: Uint8Array): Uint16Array => new Uint16Array(b.slice().buffer);

/** One block: f16 little-endian bytes of a half value given as bits. */
const h = (bits: number): number[] => [bits & 0xff, bits >> 8];
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const nib = (lo: number, hi: number): number => lo | (hi << 4);

function deq(type: GgmlType, bytes: number[], n: number): number[] {
  expect(bytes.length).toBe((n / ggmlTypeInfo(type).blockSize) * ggmlTypeInfo(type).typeSize);
  return [...dequantize(type, new Uint8Array(bytes), n)];
}

describe('dequantize: hand-written blocks', () => {
  it('F32, F16, BF16', () => {
    expect(deq(GgmlType.F32, [0x00, 0x00, 0xc0, 0x3f, 0, 0, 0, 0xc0], 2)).toEqual([1.5, -2]);
    expect(deq(GgmlType.F16, [...h(0x3c00), ...h(0xc000), ...h(0x3800), ...h(0x7bff), ...h(0x0001), ...h(0x7c00)], 6)).toEqual([
      1, -2, 0.5, 65504, 2 ** -24, Infinity,
    ]);
    expect(deq(GgmlType.BF16, [...h(0x3f80), ...h(0xc000), ...h(0x4049)], 3)).toEqual([1, -2, 3.140625]);
  });

  it('Q4_0: d=1, y = nibble - 8', () => {
    const bytes = [...h(0x3c00), ...range(16).map((j) => nib(j, 15 - j))];
    expect(deq(GgmlType.Q4_0, bytes, 32)).toEqual([...range(16).map((j) => j - 8), ...range(16).map((j) => 7 - j)]);
  });

  it('Q4_1: d=0.5, m=-1, y = 0.5·q − 1', () => {
    const bytes = [...h(0x3800), ...h(0xbc00), ...range(16).map((j) => nib(j, 15 - j))];
    expect(deq(GgmlType.Q4_1, bytes, 32)).toEqual([...range(16).map((j) => 0.5 * j - 1), ...range(16).map((j) => 0.5 * (15 - j) - 1)]);
  });

  it('Q5_0: 5th bit from qh, y = d·(q − 16)', () => {
    // qh = 0x0000ffff: elements 0..15 have the high bit, 16..31 not.
    const bytes = [...h(0x3c00), 0xff, 0xff, 0x00, 0x00, ...range(16).map((j) => nib(j, j))];
    expect(deq(GgmlType.Q5_0, bytes, 32)).toEqual([...range(16), ...range(16).map((j) => j - 16)]);
  });

  it('Q5_1: d=2, m=0.5, high bits only on the upper half', () => {
    const bytes = [...h(0x4000), ...h(0x3800), 0x00, 0x00, 0xff, 0xff, ...range(16).map((j) => nib(j, j))];
    expect(deq(GgmlType.Q5_1, bytes, 32)).toEqual([...range(16).map((j) => 2 * j + 0.5), ...range(16).map((j) => 2 * (j + 16) + 0.5)]);
  });

  it('Q8_0: d=0.25, signed bytes', () => {
    const bytes = [...h(0x3400), ...range(32).map((j) => (j - 16) & 0xff)];
    expect(deq(GgmlType.Q8_0, bytes, 32)).toEqual(range(32).map((j) => 0.25 * (j - 16)));
  });

  it('IQ4_NL: d=1, codebook lookup', () => {
    const bytes = [...h(0x3c00), ...range(16).map((j) => nib(j, 15 - j))];
    expect(deq(GgmlType.IQ4_NL, bytes, 32)).toEqual([...range(16).map((j) => KV[j]), ...range(16).map((j) => KV[15 - j])]);
    expect(KV).toEqual([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]);
  });

  it('MXFP4: E8M0 scale (e=129 → d=2, e=0 → 2^-128), E2M1 codebook', () => {
    const qs = range(16).map((j) => nib(j, 15 - j));
    expect(deq(GgmlType.MXFP4, [129, ...qs], 32)).toEqual([...range(16).map((j) => 2 * KM[j]), ...range(16).map((j) => 2 * KM[15 - j])]);
    expect(deq(GgmlType.MXFP4, [0, ...qs], 32)[1]).toBe(2 ** -128);
    expect(deq(GgmlType.MXFP4, [127, ...qs], 32)[7]).toBe(6); // 12 · 0.5
    expect(KM).toEqual([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]);
  });

  // 6-bit scales/mins of the 8 sub-blocks of Q4_K/Q5_K: sc = 1,2,3,4,5,6,7,63; m = 0,1,2,3,4,5,6,40.
  const SC = [1, 2, 3, 4, 5, 6, 7, 63];
  const MN = [0, 1, 2, 3, 4, 5, 6, 40];
  // j<4: bytes 0..3 = sc, 4..7 = m; j>=4: bytes 8..11 = sc low | m low << 4, high 2 bits in bits 6..7 of bytes j-4 / j.
  const KSCALES = [0x01, 0x02, 0x03, 0x04 | 0xc0, 0x00, 0x01, 0x02, 0x03 | 0x80, 0x45, 0x56, 0x67, 0x8f];

  it('Q4_K: d=1, dmin=0.5, packed 6-bit scales incl. high bits', () => {
    const qs = range(128).map((l) => nib(l & 15, 15 - (l & 15)));
    const bytes = [...h(0x3c00), ...h(0x3800), ...KSCALES, ...qs];
    const want: number[] = [];
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) want.push(SC[2 * c] * (l & 15) - 0.5 * MN[2 * c]);
      for (let l = 0; l < 32; l++) want.push(SC[2 * c + 1] * (15 - (l & 15)) - 0.5 * MN[2 * c + 1]);
    }
    expect(deq(GgmlType.Q4_K, bytes, 256)).toEqual(want);
  });

  it('Q5_K: like Q4_K plus +16 from qh (even l: low half, odd l: high half)', () => {
    const qh = range(32).map((l) => (l % 2 === 0 ? 0x55 : 0xaa));
    const qs = range(128).map((l) => nib(l & 15, 15 - (l & 15)));
    const bytes = [...h(0x3c00), ...h(0x3800), ...KSCALES, ...qh, ...qs];
    const want: number[] = [];
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) want.push(SC[2 * c] * ((l & 15) + (l % 2 === 0 ? 16 : 0)) - 0.5 * MN[2 * c]);
      for (let l = 0; l < 32; l++) want.push(SC[2 * c + 1] * (15 - (l & 15) + (l % 2 === 1 ? 16 : 0)) - 0.5 * MN[2 * c + 1]);
    }
    expect(deq(GgmlType.Q5_K, bytes, 256)).toEqual(want);
  });

  it('Q6_K: d=0.5 stored last, signed scales, 4+2 bit quants', () => {
    // ql = 0x21 everywhere, qh = 0xe4 (2-bit fields 0,1,2,3): q1=1|0<<4, q2=1|1<<4, q3=2|2<<4, q4=2|3<<4, minus 32.
    const Q = [1 - 32, 17 - 32, 34 - 32, 50 - 32];
    const scales = range(16).map((i) => (i - 8) & 0xff);
    const bytes = [...new Array<number>(128).fill(0x21), ...new Array<number>(64).fill(0xe4), ...scales, ...h(0x3800)];
    const want = new Array<number>(256);
    for (let n = 0; n < 2; n++)
      for (let k = 0; k < 4; k++) for (let l = 0; l < 32; l++) want[128 * n + 32 * k + l] = 0.5 * (8 * n + (l >> 4) + 2 * k - 8) * Q[k];
    expect(deq(GgmlType.Q6_K, bytes, 256)).toEqual(want);
  });

  it('Q2_K: 4-bit scale and min per 16, 2-bit quants', () => {
    // scales[i] = sc i | m (15-i) << 4; qs = 0xe4 → quant value k at shift 2k; d=1, dmin=0.25.
    const bytes = [...range(16).map((i) => nib(i, 15 - i)), ...new Array<number>(64).fill(0xe4), ...h(0x3c00), ...h(0x3400)];
    const want = new Array<number>(256);
    for (let n = 0; n < 2; n++)
      for (let k = 0; k < 4; k++)
        for (let half = 0; half < 2; half++) {
          const is = 8 * n + 2 * k + half;
          for (let l = 0; l < 16; l++) want[128 * n + 32 * k + 16 * half + l] = is * k - 0.25 * (15 - is);
        }
    expect(deq(GgmlType.Q2_K, bytes, 256)).toEqual(want);
  });

  it('Q3_K: hmask high bit, 6-bit signed scales', () => {
    // All 16 scales = 33 (→ +1) except scale 0 = 0 (→ −32): low nibbles in bytes 0..7, high 2 bits in bytes 8..11.
    const scales = [0x10, ...new Array<number>(7).fill(0x11), 0xa8, 0xaa, 0xaa, 0xaa];
    // hmask 0x0f: the first 128 values have the high bit (no −4), the last 128 do not.
    const bytes = [...new Array<number>(32).fill(0x0f), ...new Array<number>(64).fill(0xe4), ...scales, ...h(0x3c00)];
    const want = new Array<number>(256);
    for (let n = 0; n < 2; n++)
      for (let k = 0; k < 4; k++)
        for (let half = 0; half < 2; half++) {
          const is = 8 * n + 2 * k + half;
          for (let l = 0; l < 16; l++) want[128 * n + 32 * k + 16 * half + l] = (is === 0 ? -32 : 1) * (k - (n === 0 ? 0 : 4));
        }
    expect(deq(GgmlType.Q3_K, bytes, 256)).toEqual(want);
  });

  it('IQ4_XS: 6-bit sub-block scales (ls = 32 + ib), d=0.5', () => {
    const qs = range(128).map((l) => nib(l & 15, 15 - (l & 15)));
    const bytes = [...h(0x3800), 0xaa, 0xaa, 0x10, 0x32, 0x54, 0x76, ...qs];
    const want: number[] = [];
    for (let ib = 0; ib < 8; ib++) {
      for (let j = 0; j < 16; j++) want.push(0.5 * ib * KV[j]);
      for (let j = 0; j < 16; j++) want.push(0.5 * ib * KV[15 - j]);
    }
    expect(deq(GgmlType.IQ4_XS, bytes, 256)).toEqual(want); // ib 0: 0 · negative = −0, as in C
  });

  it('rejects unsupported types, partial blocks and short input', () => {
    expect(() => dequantize(GgmlType.IQ2_XXS, new Uint8Array(66), 256)).toThrow(/IQ2_XXS.*not supported/);
    expect(() => dequantize(GgmlType.Q4_0, new Uint8Array(18), 16)).toThrow(GgufError);
    expect(() => dequantize(GgmlType.Q4_0, new Uint8Array(17), 32)).toThrow(/need 18 bytes/);
    expect(() => quantize(GgmlType.IQ4_XS, new Float32Array(256))).toThrow(/IQ4_XS.*not supported/);
    expect(() => quantize(GgmlType.Q4_K, new Float32Array(32))).toThrow(GgufError);
    expect(DEQUANTIZABLE_TYPES.map(ggmlTypeName)).toEqual(
      ['F32', 'F16', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'IQ4_NL', 'IQ4_XS', 'BF16', 'MXFP4'],
    );
    expect(QUANTIZABLE_TYPES.map(ggmlTypeName)).toEqual(['F32', 'F16', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'BF16']);
  });
});

describe('bit-exact against ggml (fixtures/gguf/quant-ref.bin)', () => {
  const rec = readRecords(fixture);
  const input = asF32(rec.get('input') ?? new Uint8Array());
  const types: [string, GgmlType, boolean][] = [
    ['q4_0', GgmlType.Q4_0, true],
    ['q4_1', GgmlType.Q4_1, true],
    ['q5_0', GgmlType.Q5_0, true],
    ['q5_1', GgmlType.Q5_1, true],
    ['q8_0', GgmlType.Q8_0, true],
    ['q4_k', GgmlType.Q4_K, true],
    ['q5_k', GgmlType.Q5_K, true],
    ['q6_k', GgmlType.Q6_K, true],
    ['q2_k', GgmlType.Q2_K, true],
    ['q3_k', GgmlType.Q3_K, true],
    ['iq4_nl', GgmlType.IQ4_NL, false],
    ['iq4_xs', GgmlType.IQ4_XS, false],
    ['mxfp4', GgmlType.MXFP4, false],
  ];
  it('has the input', () => expect(input.length).toBe(2048));
  for (const [name, type, canQuantize] of types) {
    it(`${name}: ${canQuantize ? 'quantize and ' : ''}dequantize match ggml bit for bit`, () => {
      const q = rec.get(`${name}.q`);
      const dq = rec.get(`${name}.dq`);
      if (!q || !dq) throw new Error(`fixture lacks ${name}`);
      if (canQuantize) {
        const mine = quantize(type, input);
        const firstDiff = mine.findIndex((v, i) => v !== q[i]);
        expect(firstDiff, `first differing byte ${firstDiff} (block ${Math.floor(firstDiff / ggmlTypeInfo(type).typeSize)})`).toBe(-1);
        expect(mine.length).toBe(q.length);
      }
      const got = dequantize(type, q, input.length);
      const want = asF32(dq);
      const bad = got.findIndex((v, i) => !Object.is(v, want[i]));
      expect(bad, bad >= 0 ? `element ${bad}: got ${got[bad]}, ggml ${want[bad]}` : '').toBe(-1);
    });
  }
  it('Q2_K and Q3_K quantize 32 more super-blocks of varied shapes (k.input) exactly as ggml', () => {
    const xk = asF32(rec.get('k.input') ?? new Uint8Array());
    expect(xk.length).toBe(32 * 256);
    for (const [name, type] of [
      ['k.q2_k', GgmlType.Q2_K],
      ['k.q3_k', GgmlType.Q3_K],
    ] as const) {
      const want = rec.get(name);
      if (!want) throw new Error(`fixture lacks ${name}`);
      const mine = quantize(type, xk);
      const firstDiff = mine.findIndex((v, i) => v !== want[i]);
      expect(firstDiff, `${name}: first differing byte ${firstDiff} (block ${Math.floor(firstDiff / ggmlTypeInfo(type).typeSize)})`).toBe(-1);
      expect(mine.length).toBe(want.length);
    }
  });
  it('f16 and bf16 conversions match ggml (incl. overflow, subnormals, NaN, ties)', () => {
    const vals = asF32(rec.get('f16.in') ?? new Uint8Array());
    const f16 = asU16(rec.get('f16.q') ?? new Uint8Array());
    const bf16 = asU16(rec.get('bf16.q') ?? new Uint8Array());
    expect(vals.length).toBeGreaterThan(2048);
    for (let i = 0; i < vals.length; i++) {
      expect(f32ToF16Bits(vals[i]), `f16 of ${vals[i]}`).toBe(f16[i]);
      expect(f32ToBf16Bits(vals[i]), `bf16 of ${vals[i]}`).toBe(bf16[i]);
    }
    expect(f16BitsToF32(0x7bff)).toBe(65504);
    expect(bf16BitsToF32(0x3f80)).toBe(1);
  });
});

describe('round trips', () => {
  // Seeded uniform [-1, 1) with a few outliers, as weights look.
  let s = 0x9e3779b9;
  const rnd = (): number => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s / 2 ** 32;
  };
  const x = new Float32Array(4096).map((_, i) => (rnd() * 2 - 1) * (i % 97 === 0 ? 4 : 1));
  const rms = (a: Float32Array): number => Math.sqrt(a.reduce((t, v) => t + v * v, 0) / a.length);
  const bounds: [GgmlType, number][] = [
    [GgmlType.F32, 0],
    [GgmlType.F16, 5e-4],
    [GgmlType.BF16, 4e-3],
    [GgmlType.Q8_0, 6e-3],
    [GgmlType.Q6_K, 0.02],
    [GgmlType.Q5_K, 0.035],
    [GgmlType.Q5_0, 0.05],
    [GgmlType.Q5_1, 0.04],
    [GgmlType.Q4_K, 0.07],
    [GgmlType.Q4_0, 0.1],
    [GgmlType.Q4_1, 0.08],
    [GgmlType.Q3_K, 0.16],
    [GgmlType.Q2_K, 0.28],
  ];
  for (const [type, bound] of bounds) {
    it(`${ggmlTypeName(type)}: relative RMS error ≤ ${bound}`, () => {
      const y = dequantize(type, quantize(type, x), x.length);
      const err = rms(y.map((v, i) => v - x[i])) / rms(x);
      expect(err).toBeLessThanOrEqual(bound);
      if (type !== GgmlType.F32) expect(err).toBeGreaterThan(0);
      else expect(y).toEqual(x);
    });
  }
  it('Q8_0 error per element is at most half a step (plus the f16 rounding of d)', () => {
    const y = dequantize(GgmlType.Q8_0, quantize(GgmlType.Q8_0, x), x.length);
    for (let b = 0; b < x.length / 32; b++) {
      const amax = Math.max(...x.subarray(32 * b, 32 * b + 32).map(Math.abs));
      for (let j = 32 * b; j < 32 * b + 32; j++) expect(Math.abs(y[j] - x[j])).toBeLessThanOrEqual((amax / 127) * (0.5 + 127 * 2 ** -11));
    }
  });
  it('all-zero input quantizes to zeros for every type', () => {
    for (const type of QUANTIZABLE_TYPES) {
      const y = dequantize(type, quantize(type, new Float32Array(256)), 256);
      expect([...y].every((v) => v === 0), ggmlTypeName(type)).toBe(true);
    }
  });
});
