// Part of quant.wgsl (#include "quant_codebook"), the decoders of IQ4_NL, MXFP4, IQ4_XS (codebook lookups): see the API at the top of quant.wgsl.
// ======================================================== codebook types: IQ4_NL, MXFP4 (32), IQ4_XS (256)
// A part is 32 elements: 4 qs words, low nibbles are elements 0..15 of the part, high nibbles 16..31, all with
// one scale (q_scale) and a 16-entry codebook (Q_KV, read by q_kv4).

#ifdef W_IQ4_NL
const BLOCK_ELEMS: u32 = 32u;
const BLOCK_WORDS: u32 = 5u;
const BLOCK_PARTS: u32 = 1u;
const PART_VEC4: u32 = 8u;
// kvalues_iq4nl + 128 as bytes, 4 per word.
const Q_KV = vec4<u32>(0x3F2D1801u, 0x766A5D4Fu, 0xA6998D81u, 0xF1D9C5B5u);
fn q_part_elem(part: u32, v: u32) -> u32 {
  return 4u * v;
}
fn q_scale(bw: u32, part: u32) -> f32 {
  return unpack2x16float(qw_load(bw)).x;
}
fn q_qs(bw: u32, part: u32) -> u32 {
  return bw + 1u;
}
// Scale of activation vec4 i of a part (see the top of the file).
fn q_x_scale(i: u32) -> vec4<f32> {
  return vec4<f32>(1.0);
}
#endif

#ifdef W_MXFP4
const BLOCK_ELEMS: u32 = 32u;
const BLOCK_WORDS: u32 = 5u;
const BLOCK_PARTS: u32 = 1u;
const PART_VEC4: u32 = 8u;
// E2M1 values doubled (the halving lives in q_scale), + 128, as bytes, 4 per word.
const Q_KV = vec4<u32>(0x83828180u, 0x8C888684u, 0x7D7E7F80u, 0x74787A7Cu);
fn q_part_elem(part: u32, v: u32) -> u32 {
  return 4u * v;
}
fn q_scale(bw: u32, part: u32) -> f32 {
  // E8M0 exponent byte, halved: ggml's GGML_E8M0_TO_FP32_HALF.
  let e = qw_load(bw) & 0xFFu;
  return bitcast<f32>(select((e - 1u) << 23u, 0x00200000u << e, e < 2u));
}
fn q_qs(bw: u32, part: u32) -> u32 {
  return bw + 1u;
}
// Scale of activation vec4 i of a part (see the top of the file).
fn q_x_scale(i: u32) -> vec4<f32> {
  return vec4<f32>(1.0);
}
#endif

#ifdef W_IQ4_XS
// Words: [d (f16) | scales_h (u16)] [scales_l[4]] qs[128]. Part ib = sub-block ib, 32 contiguous elements.
const BLOCK_ELEMS: u32 = 256u;
const BLOCK_WORDS: u32 = 34u;
const BLOCK_PARTS: u32 = 8u;
const PART_VEC4: u32 = 8u;
// kvalues_iq4nl + 128 as bytes, 4 per word.
const Q_KV = vec4<u32>(0x3F2D1801u, 0x766A5D4Fu, 0xA6998D81u, 0xF1D9C5B5u);
fn q_part_elem(part: u32, v: u32) -> u32 {
  return 32u * part + 4u * v;
}
fn q_scale(bw: u32, part: u32) -> f32 {
  let h = qw_load(bw);
  let ls = ((qw_load(bw + 1u) >> (4u * part)) & 15u) | (((h >> (16u + 2u * part)) & 3u) << 4u);
  return unpack2x16float(h).x * (f32(ls) - 32.0);
}
fn q_qs(bw: u32, part: u32) -> u32 {
  return bw + 2u + 4u * part;
}
// Scale of activation vec4 i of a part (see the top of the file).
fn q_x_scale(i: u32) -> vec4<f32> {
  return vec4<f32>(1.0);
}
#endif

#ifdef W_CODEBOOK
// Codebook values of 4 nibbles. The 16 entries are bytes of the 4 words of Q_KV, picked with selects and a
// shift: indexing a constant array with a runtime index compiles to local-memory loads on NVIDIA (~50× slower).
fn q_kv4(n: vec4<u32>) -> vec4<f32> {
  let hi = (n & vec4<u32>(4u)) != vec4<u32>(0u);
  let w = select(select(vec4<u32>(Q_KV.x), vec4<u32>(Q_KV.y), hi), select(vec4<u32>(Q_KV.z), vec4<u32>(Q_KV.w), hi), n >= vec4<u32>(8u));
  let b = (w >> ((n & vec4<u32>(3u)) * 8u)) & vec4<u32>(0xFFu);
  return bitcast<vec4<f32>>(b | vec4<u32>(0x4B000000u)) - (8388608.0 + 128.0);
}
fn q_kv_lo(w: u32) -> vec4<f32> {
  return q_kv4(vec4<u32>(w, w >> 8u, w >> 16u, w >> 24u) & vec4<u32>(15u));
}
fn q_kv_hi(w: u32) -> vec4<f32> {
  return q_kv4(vec4<u32>(w >> 4u, w >> 12u, w >> 20u, w >> 28u) & vec4<u32>(15u));
}
fn q_part_dequant(bw: u32, part: u32) -> array<vec4<f32>, PART_VEC4> {
  let dl = q_scale(bw, part);
  let qs = q_qs(bw, part);
  var o: array<vec4<f32>, PART_VEC4>;
  for (var k = 0u; k < 4u; k++) {
    let w = qw_load(qs + k);
    o[k] = dl * q_kv_lo(w);
    o[k + 4u] = dl * q_kv_hi(w);
  }
  return o;
}
fn q_part_dot(bw: u32, part: u32, x: QX) -> f32 {
  let qs = q_qs(bw, part);
  var a = 0.0;
  for (var k = 0u; k < 4u; k++) {
    let w = qw_load(qs + k);
    a += dot(q_kv_lo(w), x.v[k]) + dot(q_kv_hi(w), x.v[k + 4u]);
  }
  return q_scale(bw, part) * a;
}
#endif
