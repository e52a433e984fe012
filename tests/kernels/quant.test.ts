import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dequantize, f32ToF16Bits } from '../../workers/quant/quant.ts';
import { QUANT_GEOMETRY, QUANT_INCLUDES, QUANT_TYPES, quantDefines, type QuantType } from '../../kernels/lib/quant.ts';
import { BLOCK_LAYOUT, GgmlTypeId, repackRows } from '../../kernels/lib/weights.ts';
import { adapterLine, gpuFixture, type GpuFixture } from './harness.ts';

/**
 * One block through kernels/lib/quant.wgsl on the GPU: every element by q_part_dequant (written at
 * q_part_elem), and every element again as the dot product with a one-hot activation vector (q_x_prep +
 * q_part_dot summed over the block's parts). A wrong byte offset, nibble order or scale index shows up as the
 * exact element indices that differ.
 */
const PROBE = /* wgsl */ `
@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(1) var<storage, read_write> deq: array<f32>;
@group(0) @binding(2) var<storage, read_write> dots: array<f32>;
fn qw_load(i: u32) -> u32 { return w[i]; }
fn qw_load4(i: u32) -> vec4<u32> { return vec4<u32>(w[i], w[i + 1u], w[i + 2u], w[i + 3u]); }
#include "quant"
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  if (e < BLOCK_PARTS) {
    let vals = q_part_dequant(0u, e);
    for (var v = 0u; v < PART_VEC4; v++) {
      let o = q_part_elem(e, v);
      deq[o] = vals[v].x;
      deq[o + 1u] = vals[v].y;
      deq[o + 2u] = vals[v].z;
      deq[o + 3u] = vals[v].w;
    }
  }
  if (e >= BLOCK_ELEMS) { return; }
  var sum = 0.0;
  for (var p = 0u; p < BLOCK_PARTS; p++) {
    var xv: array<vec4<f32>, PART_VEC4>;
    for (var v = 0u; v < PART_VEC4; v++) {
      let o = q_part_elem(p, v);
      xv[v] = select(vec4<f32>(0.0), vec4<f32>(vec4<u32>(o, o + 1u, o + 2u, o + 3u) == vec4<u32>(e)), e >= o && e < o + 4u);
    }
    sum += q_part_dot(0u, p, q_x_prep(xv));
  }
  dots[e] = sum;
}`;

let gpu: GpuFixture;
beforeAll(async () => {
  gpu = await gpuFixture();
  console.log(adapterLine(gpu.ctx));
});
afterAll(() => gpu?.release());

/** Runs PROBE on one GGUF block of `type`; returns (dequantized elements, one-hot dot products). */
async function probe(type: QuantType, gguf: Uint8Array): Promise<[Float32Array, Float32Array]> {
  const { ctx } = gpu;
  const n = QUANT_GEOMETRY[type].blockElems;
  const gpuBytes = repackRows(type, gguf, n, 1);
  const w = ctx.storage(gpuBytes);
  const deq = ctx.storage(n * 4);
  const dots = ctx.storage(n * 4);
  const pipeline = ctx.pipeline({ family: 'quant-probe', source: PROBE, includes: QUANT_INCLUDES, defines: quantDefines(type) });
  ctx.run([ctx.dispatch(pipeline, [w, deq, dots], [Math.ceil(n / 64)])]);
  const out: [Float32Array, Float32Array] = [await ctx.readF32(deq), await ctx.readF32(dots)];
  for (const b of [w, deq, dots]) b.destroy();
  return out;
}

function setF16(b: Uint8Array, at: number, v: number): void {
  const h = f32ToF16Bits(v);
  b[at] = h & 0xff;
  b[at + 1] = h >> 8;
}

/** A block whose every byte differs (pattern), with its scale fields set to moderate values. */
function patternBlock(type: QuantType): Uint8Array {
  const lay = BLOCK_LAYOUT[type];
  const elems = QUANT_GEOMETRY[type].blockElems;
  const bytes = (elems / lay.elems) * lay.bytes;
  const b = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i * 37 + 11) & 0xff;
  switch (type) {
    case 'F32': {
      const f = new Float32Array(b.buffer);
      f.forEach((_, i) => (f[i] = (i - 1.5) * 0.375));
      break;
    }
    case 'F16':
      for (let i = 0; i < elems; i++) setF16(b, 2 * i, (i - 3.5) * 0.125);
      break;
    case 'BF16':
      for (let i = 0; i < elems; i++) b[2 * i + 1] = 0x3f + (i & 1) * 0x80; // ±(1 .. 2)
      break;
    case 'Q4_0':
    case 'Q5_0':
    case 'Q8_0':
    case 'IQ4_NL':
      setF16(b, 0, 0.375);
      break;
    case 'Q4_1':
    case 'Q5_1':
      setF16(b, 0, 0.375);
      setF16(b, 2, -1.25);
      break;
    case 'Q4_K':
    case 'Q5_K':
      setF16(b, 0, 0.0625);
      setF16(b, 2, 0.03125);
      break;
    case 'Q6_K':
      setF16(b, 208, 0.015625);
      break;
    case 'Q2_K':
      setF16(b, 80, 0.0625);
      setF16(b, 82, 0.03125);
      break;
    case 'Q3_K':
      setF16(b, 108, 0.015625);
      break;
    case 'IQ4_XS':
      setF16(b, 0, 0.0078125);
      break;
    case 'MXFP4':
      b[0] = 125;
      break;
  }
  return b;
}

/** Compares exactly and names the first differing elements. */
function expectSame(label: string, got: Float32Array, want: Float32Array, relTol = 0): void {
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= relTol * Math.abs(want[i]))) bad.push(`[${i}] gpu ${got[i]} want ${want[i]}`);
  }
  expect(bad.slice(0, 8), `${label}: ${bad.length} of ${want.length} elements differ`).toEqual([]);
}

describe('quant.wgsl single blocks', () => {
  for (const type of QUANT_TYPES) {
    it(`${type}: every element of a pattern block (dequant exact, one-hot dot to 1 ulp)`, async () => {
      const block = patternBlock(type);
      const n = QUANT_GEOMETRY[type].blockElems;
      const want = dequantize(GgmlTypeId[type], block, n);
      expect(want.every(Number.isFinite), 'pattern block decodes to finite values').toBe(true);
      const [deq, dots] = await probe(type, block);
      expectSame(`${type} q_part_dequant`, deq, want);
      expectSame(`${type} q_part_dot one-hot`, dots, want, 2 ** -22);
    });
  }

  // Blocks with values derived by hand from the format description (not from workers/quant).
  it('Q4_0: d = 0.5, qs[j] = j | (15 - j) << 4', async () => {
    const b = new Uint8Array(18);
    setF16(b, 0, 0.5);
    for (let j = 0; j < 16; j++) b[2 + j] = j | ((15 - j) << 4);
    const want = new Float32Array(32);
    for (let j = 0; j < 16; j++) {
      want[j] = 0.5 * (j - 8);
      want[j + 16] = 0.5 * (7 - j);
    }
    const [deq, dots] = await probe('Q4_0', b);
    expectSame('Q4_0 hand dequant', deq, want);
    expectSame('Q4_0 hand dot', dots, want);
  });

  it('Q8_0: d = 0.25, qs[j] = j - 16', async () => {
    const b = new Uint8Array(34);
    setF16(b, 0, 0.25);
    for (let j = 0; j < 32; j++) b[2 + j] = (j - 16) & 0xff;
    const want = Float32Array.from({ length: 32 }, (_, j) => 0.25 * (j - 16));
    const [deq, dots] = await probe('Q8_0', b);
    expectSame('Q8_0 hand dequant', deq, want);
    expectSame('Q8_0 hand dot', dots, want);
  });

  it('Q4_K: d = 1, dmin = 0.5, sub-block i has scale i + 1 and min i, byte l = (l & 15) | (15 - (l & 15)) << 4', async () => {
    const b = new Uint8Array(144);
    setF16(b, 0, 1);
    setF16(b, 2, 0.5);
    // 6-bit (scale, min) pairs, all < 16: scales[i] = sc_i, scales[i + 4] = m_i for i < 4; for i >= 4 the
    // low nibbles of scales[i + 4] hold sc_i and the high nibbles m_i.
    for (let i = 0; i < 4; i++) {
      b[4 + i] = i + 1;
      b[4 + i + 4] = i;
    }
    for (let i = 4; i < 8; i++) b[4 + i + 4] = (i + 1) | (i << 4);
    for (let l = 0; l < 128; l++) b[16 + l] = (l & 15) | ((15 - (l & 15)) << 4);
    const want = new Float32Array(256);
    for (let j = 0; j < 4; j++)
      for (let l = 0; l < 32; l++) {
        want[64 * j + l] = (2 * j + 1) * (l & 15) - 0.5 * (2 * j);
        want[64 * j + 32 + l] = (2 * j + 2) * (15 - (l & 15)) - 0.5 * (2 * j + 1);
      }
    const [deq, dots] = await probe('Q4_K', b);
    expectSame('Q4_K hand dequant', deq, want);
    expectSame('Q4_K hand dot', dots, want);
  });

  it('Q2_K: d = 1, dmin = 0.25, scale byte i = i | (15 - i) << 4, qs = 0xE4 (q = k at shift 2k)', async () => {
    const b = new Uint8Array(84);
    for (let i = 0; i < 16; i++) b[i] = i | ((15 - i) << 4);
    b.fill(0xe4, 16, 80);
    setF16(b, 80, 1);
    setF16(b, 82, 0.25);
    const want = new Float32Array(256);
    for (let n = 0; n < 2; n++)
      for (let k = 0; k < 4; k++)
        for (let h = 0; h < 2; h++) {
          const is = 8 * n + 2 * k + h;
          for (let l = 0; l < 16; l++) want[128 * n + 32 * k + 16 * h + l] = is * k - 0.25 * (15 - is);
        }
    const [deq, dots] = await probe('Q2_K', b);
    expectSame('Q2_K hand dequant', deq, want);
    expectSame('Q2_K hand dot', dots, want);
  });

  it('Q3_K: d = 0.5, scale j = j + 16 (−32 applied), hmask byte m = 1 << (m % 8), qs = 0x1B (q = 3 - k at shift 2k)', async () => {
    const b = new Uint8Array(110);
    for (let m = 0; m < 32; m++) b[m] = 1 << (m % 8);
    b.fill(0x1b, 32, 96);
    // 6-bit scale s_j = j + 16: low nibble j (bytes 0..7 for j < 8, high nibbles for j >= 8), high 2 bits
    // (j + 16) >> 4 = 1 at bits 2 (j / 4) of byte 8 + j % 4.
    for (let j = 0; j < 16; j++) {
      const v = j + 16;
      if (j < 8) b[96 + j] |= v & 15;
      else b[96 + j - 8] |= (v & 15) << 4;
      b[96 + 8 + (j % 4)] |= (v >> 4) << (2 * Math.floor(j / 4));
    }
    setF16(b, 108, 0.5);
    const want = new Float32Array(256);
    for (let n = 0; n < 2; n++)
      for (let k = 0; k < 4; k++)
        for (let h = 0; h < 2; h++)
          for (let l = 0; l < 16; l++) {
            const m = 16 * h + l;
            const high = m % 8 === 4 * n + k;
            want[128 * n + 32 * k + 16 * h + l] = 0.5 * (8 * n + 2 * k + h - 16) * (3 - k - (high ? 0 : 4));
          }
    const [deq, dots] = await probe('Q3_K', b);
    expectSame('Q3_K hand dequant', deq, want);
    expectSame('Q3_K hand dot', dots, want);
  });

  it('Q6_K: d = 1, scales[i] = i - 8, ql = 0x21, qh = 0xE4 (q = -31, -15, 2, 18 by quarter)', async () => {
    const b = new Uint8Array(210);
    b.fill(0x21, 0, 128);
    b.fill(0xe4, 128, 192);
    for (let i = 0; i < 16; i++) b[192 + i] = (i - 8) & 0xff;
    setF16(b, 208, 1);
    const q = [-31, -15, 2, 18];
    const want = new Float32Array(256);
    for (let n = 0; n < 2; n++)
      for (let l = 0; l < 32; l++) for (let i = 0; i < 4; i++) want[128 * n + 32 * i + l] = (8 * n + (l >> 4) + 2 * i - 8) * q[i];
    const [deq, dots] = await probe('Q6_K', b);
    expectSame('Q6_K hand dequant', deq, want);
    expectSame('Q6_K hand dot', dots, want);
  });
});
