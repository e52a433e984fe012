// Part of quant.wgsl (#include "quant_q32"), the decoders of Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (32-element blocks, one part per block): see the API at the top of quant.wgsl.
// ================================================================== 32-element blocks: one part per block
// Words: [d (f16) | pad or m] [qh (Q5 only)] qs...; low nibbles are elements 0..15, high nibbles 16..31.

#ifdef W_Q4_0
const BLOCK_ELEMS: u32 = 32u;
const BLOCK_WORDS: u32 = 5u;
const BLOCK_PARTS: u32 = 1u;
const PART_VEC4: u32 = 8u;
fn q_part_elem(part: u32, v: u32) -> u32 {
  return 4u * v;
}
fn q_part_dequant(bw: u32, part: u32) -> array<vec4<f32>, PART_VEC4> {
  let d = unpack2x16float(qw_load(bw)).x;
  var o: array<vec4<f32>, PART_VEC4>;
  for (var k = 0u; k < 4u; k++) {
    let q = qw_load(bw + 1u + k);
    o[k] = d * (q_n4lo(q) * Q_XS_LO4 - 8.0);
    o[k + 4u] = d * (q_n4hi(q) * Q_XS_HI4 - 8.0);
  }
  return o;
}
fn q_part_dot(bw: u32, part: u32, x: QX) -> f32 {
  let d = unpack2x16float(qw_load(bw)).x;
  let q0 = qw_load(bw + 1u);
  let q1 = qw_load(bw + 2u);
  let q2 = qw_load(bw + 3u);
  let q3 = qw_load(bw + 4u);
  let a = dot(q_n4lo(q0), x.v[0]) + dot(q_n4lo(q1), x.v[1]) + dot(q_n4lo(q2), x.v[2]) + dot(q_n4lo(q3), x.v[3]) +
          dot(q_n4hi(q0), x.v[4]) + dot(q_n4hi(q1), x.v[5]) + dot(q_n4hi(q2), x.v[6]) + dot(q_n4hi(q3), x.v[7]);
  // Σ (q − 8) x
  return d * (a - 8.0 * q_sum4(x.s));
}
// Scale of activation vec4 i of a part (see the top of the file).
fn q_x_scale(i: u32) -> vec4<f32> {
  return select(Q_XS_HI4, Q_XS_LO4, i < 4u);
}
#endif

#ifdef W_Q4_1
const BLOCK_ELEMS: u32 = 32u;
const BLOCK_WORDS: u32 = 5u;
const BLOCK_PARTS: u32 = 1u;
const PART_VEC4: u32 = 8u;
fn q_part_elem(part: u32, v: u32) -> u32 {
  return 4u * v;
}
fn q_part_dequant(bw: u32, part: u32) -> array<vec4<f32>, PART_VEC4> {
  let dm = unpack2x16float(qw_load(bw));
  var o: array<vec4<f32>, PART_VEC4>;
  for (var k = 0u; k < 4u; k++) {
    let q = qw_load(bw + 1u + k);
    o[k] = dm.x * (q_n4lo(q) * Q_XS_LO4) + dm.y;
    o[k + 4u] = dm.x * (q_n4hi(q) * Q_XS_HI4) + dm.y;
  }
  return o;
}
fn q_part_dot(bw: u32, part: u32, x: QX) -> f32 {
  let dm = unpack2x16float(qw_load(bw));
  let q0 = qw_load(bw + 1u);
  let q1 = qw_load(bw + 2u);
  let q2 = qw_load(bw + 3u);
  let q3 = qw_load(bw + 4u);
  let a = dot(q_n4lo(q0), x.v[0]) + dot(q_n4lo(q1), x.v[1]) + dot(q_n4lo(q2), x.v[2]) + dot(q_n4lo(q3), x.v[3]) +
          dot(q_n4hi(q0), x.v[4]) + dot(q_n4hi(q1), x.v[5]) + dot(q_n4hi(q2), x.v[6]) + dot(q_n4hi(q3), x.v[7]);
  return dm.x * a + dm.y * q_sum4(x.s);
}
// Scale of activation vec4 i of a part (see the top of the file).
fn q_x_scale(i: u32) -> vec4<f32> {
  return select(Q_XS_HI4, Q_XS_LO4, i < 4u);
}
#endif

#ifdef W_Q5_0
const BLOCK_ELEMS: u32 = 32u;
const BLOCK_WORDS: u32 = 6u;
const BLOCK_PARTS: u32 = 1u;
const PART_VEC4: u32 = 8u;
fn q_part_elem(part: u32, v: u32) -> u32 {
  return 4u * v;
}
// 5-bit values of qs word k (low: elements 4k.., high: 16 + 4k..), as bytes.
fn q5_lo(q: u32, qh: u32, k: u32) -> u32 {
  return (q & 0x0F0F0F0Fu) | q_spread4(qh >> (4u * k));
}
fn q5_hi(q: u32, qh: u32, k: u32) -> u32 {
  return ((q >> 4u) & 0x0F0F0F0Fu) | q_spread4(qh >> (16u + 4u * k));
}
fn q_part_dequant(bw: u32, part: u32) -> array<vec4<f32>, PART_VEC4> {
  let d = unpack2x16float(qw_load(bw)).x;
  let qh = qw_load(bw + 1u);
  var o: array<vec4<f32>, PART_VEC4>;
  for (var k = 0u; k < 4u; k++) {
    let q = qw_load(bw + 2u + k);
    o[k] = d * ((q_u5(q5_lo(q, qh, k)) - 1.0) * 32.0 - 16.0);
    o[k + 4u] = d * ((q_u5(q5_hi(q, qh, k)) - 1.0) * 32.0 - 16.0);
  }
  return o;
}
fn q_part_dot(bw: u32, part: u32, x: QX) -> f32 {
  let d = unpack2x16float(qw_load(bw)).x;
  let qh = qw_load(bw + 1u);
  let q0 = qw_load(bw + 2u);
  let q1 = qw_load(bw + 3u);
  let q2 = qw_load(bw + 4u);
  let q3 = qw_load(bw + 5u);
  let a = dot(q_u5(q5_lo(q0, qh, 0u)), x.v[0]) + dot(q_u5(q5_lo(q1, qh, 1u)), x.v[1]) +
          dot(q_u5(q5_lo(q2, qh, 2u)), x.v[2]) + dot(q_u5(q5_lo(q3, qh, 3u)), x.v[3]) +
          dot(q_u5(q5_hi(q0, qh, 0u)), x.v[4]) + dot(q_u5(q5_hi(q1, qh, 1u)), x.v[5]) +
          dot(q_u5(q5_hi(q2, qh, 2u)), x.v[6]) + dot(q_u5(q5_hi(q3, qh, 3u)), x.v[7]);
  let s = q_sum4(x.s);
  // Σ (q − 16) x = 32 (a − s) − 16 s
  return d * (32.0 * (a - s) - 16.0 * s);
}
// Scale of activation vec4 i of a part (see the top of the file).
fn q_x_scale(i: u32) -> vec4<f32> {
  return vec4<f32>(1.0);
}
#endif

#ifdef W_Q5_1
const BLOCK_ELEMS: u32 = 32u;
const BLOCK_WORDS: u32 = 6u;
const BLOCK_PARTS: u32 = 1u;
const PART_VEC4: u32 = 8u;
fn q_part_elem(part: u32, v: u32) -> u32 {
  return 4u * v;
}
fn q5_lo(q: u32, qh: u32, k: u32) -> u32 {
  return (q & 0x0F0F0F0Fu) | q_spread4(qh >> (4u * k));
}
fn q5_hi(q: u32, qh: u32, k: u32) -> u32 {
  return ((q >> 4u) & 0x0F0F0F0Fu) | q_spread4(qh >> (16u + 4u * k));
}
fn q_part_dequant(bw: u32, part: u32) -> array<vec4<f32>, PART_VEC4> {
  let dm = unpack2x16float(qw_load(bw));
  let qh = qw_load(bw + 1u);
  var o: array<vec4<f32>, PART_VEC4>;
  for (var k = 0u; k < 4u; k++) {
    let q = qw_load(bw + 2u + k);
    o[k] = dm.x * ((q_u5(q5_lo(q, qh, k)) - 1.0) * 32.0) + dm.y;
    o[k + 4u] = dm.x * ((q_u5(q5_hi(q, qh, k)) - 1.0) * 32.0) + dm.y;
  }
  return o;
}
fn q_part_dot(bw: u32, part: u32, x: QX) -> f32 {
  let dm = unpack2x16float(qw_load(bw));
  let qh = qw_load(bw + 1u);
  let q0 = qw_load(bw + 2u);
  let q1 = qw_load(bw + 3u);
  let q2 = qw_load(bw + 4u);
  let q3 = qw_load(bw + 5u);
  let a = dot(q_u5(q5_lo(q0, qh, 0u)), x.v[0]) + dot(q_u5(q5_lo(q1, qh, 1u)), x.v[1]) +
          dot(q_u5(q5_lo(q2, qh, 2u)), x.v[2]) + dot(q_u5(q5_lo(q3, qh, 3u)), x.v[3]) +
          dot(q_u5(q5_hi(q0, qh, 0u)), x.v[4]) + dot(q_u5(q5_hi(q1, qh, 1u)), x.v[5]) +
          dot(q_u5(q5_hi(q2, qh, 2u)), x.v[6]) + dot(q_u5(q5_hi(q3, qh, 3u)), x.v[7]);
  let s = q_sum4(x.s);
  return dm.x * 32.0 * (a - s) + dm.y * s;
}
// Scale of activation vec4 i of a part (see the top of the file).
fn q_x_scale(i: u32) -> vec4<f32> {
  return vec4<f32>(1.0);
}
#endif

#ifdef W_Q8_0
const BLOCK_ELEMS: u32 = 32u;
const BLOCK_WORDS: u32 = 9u;
const BLOCK_PARTS: u32 = 1u;
const PART_VEC4: u32 = 8u;
fn q_part_elem(part: u32, v: u32) -> u32 {
  return 4u * v;
}
fn q_part_dequant(bw: u32, part: u32) -> array<vec4<f32>, PART_VEC4> {
  let d = unpack2x16float(qw_load(bw)).x;
  var o: array<vec4<f32>, PART_VEC4>;
  for (var k = 0u; k < 8u; k++) {
    o[k] = d * q_s8(qw_load(bw + 1u + k));
  }
  return o;
}
fn q_part_dot(bw: u32, part: u32, x: QX) -> f32 {
  let d = unpack2x16float(qw_load(bw)).x;
  // Bytes with the sign bit flipped: q + 128 in 0..255.
  let f = vec4<u32>(0x80808080u);
  let a = dot(q_b8(qw_load(bw + 1u) ^ f.x), x.v[0]) + dot(q_b8(qw_load(bw + 2u) ^ f.x), x.v[1]) +
          dot(q_b8(qw_load(bw + 3u) ^ f.x), x.v[2]) + dot(q_b8(qw_load(bw + 4u) ^ f.x), x.v[3]) +
          dot(q_b8(qw_load(bw + 5u) ^ f.x), x.v[4]) + dot(q_b8(qw_load(bw + 6u) ^ f.x), x.v[5]) +
          dot(q_b8(qw_load(bw + 7u) ^ f.x), x.v[6]) + dot(q_b8(qw_load(bw + 8u) ^ f.x), x.v[7]);
  // Σ q x = Σ (q + 128) x − 128 Σx
  return d * (a - 128.0 * q_sum4(x.s));
}
// Scale of activation vec4 i of a part (see the top of the file).
fn q_x_scale(i: u32) -> vec4<f32> {
  return Q_XS_B8;
}
// Int8 activations (X_Q8, act_quant.wgsl's Q8_0 rounding): ggml's vec_dot_q8_0_q8_0, d_w · d_x · Σ q_w · q_x.
#ifdef X_Q8
struct XQ { a: vec4<u32>, b: vec4<u32>, d: f32 }
fn q_xq_load(e0: u32, part: u32) -> XQ {
  return XQ(xq_word4(e0), xq_word4(e0 + 16u), xq_aux(e0).x);
}
fn q_part_dot_q8(bw: u32, part: u32, x: XQ) -> f32 {
  let d = unpack2x16float(qw_load(bw)).x;
  let a = dot4I8Packed(qw_load(bw + 1u), x.a.x) + dot4I8Packed(qw_load(bw + 2u), x.a.y) +
          dot4I8Packed(qw_load(bw + 3u), x.a.z) + dot4I8Packed(qw_load(bw + 4u), x.a.w) +
          dot4I8Packed(qw_load(bw + 5u), x.b.x) + dot4I8Packed(qw_load(bw + 6u), x.b.y) +
          dot4I8Packed(qw_load(bw + 7u), x.b.z) + dot4I8Packed(qw_load(bw + 8u), x.b.w);
  return d * x.d * f32(a);
}
#endif
#endif
