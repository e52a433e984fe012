// Part of quant.wgsl (#include "quant_float"), the decoders of F32, F16, BF16: see the API at the top of quant.wgsl.
// ============================================================================================== float types

#ifdef W_F32
const BLOCK_ELEMS: u32 = 4u;
const BLOCK_WORDS: u32 = 4u;
const BLOCK_PARTS: u32 = 1u;
const PART_VEC4: u32 = 1u;
fn q_part_elem(part: u32, v: u32) -> u32 {
  return 0u;
}
fn q_part_dequant(bw: u32, part: u32) -> array<vec4<f32>, PART_VEC4> {
  return array<vec4<f32>, PART_VEC4>(bitcast<vec4<f32>>(q_load4(bw)));
}
fn q_part_dot(bw: u32, part: u32, x: QX) -> f32 {
  return dot(bitcast<vec4<f32>>(q_load4(bw)), x.v[0]);
}
// Scale of activation vec4 i of a part (see the top of the file).
fn q_x_scale(i: u32) -> vec4<f32> {
  return vec4<f32>(1.0);
}
#endif

#ifdef W_F16
const BLOCK_ELEMS: u32 = 8u;
const BLOCK_WORDS: u32 = 4u;
const BLOCK_PARTS: u32 = 1u;
const PART_VEC4: u32 = 2u;
fn q_part_elem(part: u32, v: u32) -> u32 {
  return 4u * v;
}
fn q_part_dequant(bw: u32, part: u32) -> array<vec4<f32>, PART_VEC4> {
  let w = q_load4(bw);
  return array<vec4<f32>, PART_VEC4>(
    vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)),
    vec4<f32>(unpack2x16float(w.z), unpack2x16float(w.w)),
  );
}
fn q_part_dot(bw: u32, part: u32, x: QX) -> f32 {
  let w = q_part_dequant(bw, part);
  return dot(w[0], x.v[0]) + dot(w[1], x.v[1]);
}
// Scale of activation vec4 i of a part (see the top of the file).
fn q_x_scale(i: u32) -> vec4<f32> {
  return vec4<f32>(1.0);
}
#endif

#ifdef W_BF16
const BLOCK_ELEMS: u32 = 8u;
const BLOCK_WORDS: u32 = 4u;
const BLOCK_PARTS: u32 = 1u;
const PART_VEC4: u32 = 2u;
fn q_part_elem(part: u32, v: u32) -> u32 {
  return 4u * v;
}
fn q_bf16x2(w: u32) -> vec2<f32> {
  return bitcast<vec2<f32>>(vec2<u32>(w << 16u, w & 0xFFFF0000u));
}
fn q_part_dequant(bw: u32, part: u32) -> array<vec4<f32>, PART_VEC4> {
  let w = q_load4(bw);
  return array<vec4<f32>, PART_VEC4>(vec4<f32>(q_bf16x2(w.x), q_bf16x2(w.y)), vec4<f32>(q_bf16x2(w.z), q_bf16x2(w.w)));
}
fn q_part_dot(bw: u32, part: u32, x: QX) -> f32 {
  let w = q_part_dequant(bw, part);
  return dot(w[0], x.v[0]) + dot(w[1], x.v[1]);
}
// Scale of activation vec4 i of a part (see the top of the file).
fn q_x_scale(i: u32) -> vec4<f32> {
  return vec4<f32>(1.0);
}
#endif
