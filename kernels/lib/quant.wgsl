// Quantized weight decoding shared by every kernel that reads GGUF weights (matvec, matmul, embedding, MoE).
//
// ---- API -------------------------------------------------------------------------------------------------
// The including kernel defines exactly one weight type (TypeScript: quantDefines(type) in kernels/lib/quant.ts):
//   W_F32 W_F16 W_BF16 W_Q4_0 W_Q4_1 W_Q5_0 W_Q5_1 W_Q8_0 W_Q2_K W_Q3_K W_Q4_K W_Q5_K W_Q6_K W_IQ4_NL W_IQ4_XS W_MXFP4
// plus W_VEC4 for the types whose blocks are 16-byte aligned (F32, F16, BF16, Q4_K, Q5_K; quantDefines adds it),
// plus W_CODEBOOK for the table-lookup types (IQ4_NL, IQ4_XS, MXFP4; quantDefines adds it too),
// and the kernel provides the weight accessors (the binding and its chunking are the kernel's business):
//   fn qw_load(word: u32) -> u32              u32 word `word` of the weight tensor (padded layout, kernels/lib/weights.ts)
//   fn qw_load4(word: u32) -> vec4<u32>       words word..word+3, word % 4 == 0; only needed when W_VEC4 is defined
//
// A block is BLOCK_ELEMS elements in BLOCK_WORDS u32 words (its padded GPU size; F32 blocks are 4 elements and
// F16/BF16 blocks 8, so rows of those types must be multiples of 4 / 8). Block b of a row starts at word
// rowWord + b * BLOCK_WORDS. A block splits into BLOCK_PARTS parts of PART_VEC4 * 4 elements: a part is the unit
// one thread decodes (32 elements for every quantized type), and neighbouring parts read neighbouring words, so
// threads that take consecutive (block, part) units read consecutive memory. A part's elements are not always
// contiguous: vec4 number v of part p holds block elements q_part_elem(p, v) + 0..3.
//
//   const BLOCK_ELEMS, BLOCK_WORDS, BLOCK_PARTS, PART_VEC4: u32
//   fn q_part_elem(part: u32, v: u32) -> u32                          first block element of vec4 v of the part
//   struct QX { v: array<vec4<f32>, PART_VEC4>, s: vec4<f32> }         a part's activations, prepared (see below)
//   fn q_x_prep(v: array<vec4<f32>, PART_VEC4>) -> QX                 build QX from the part's activations
//   fn q_part_dot(bw: u32, part: u32, x: QX) -> f32                   dot(weights of the part, activations);
//                                                                      bw = word index of the block
//   fn q_part_dequant(bw: u32, part: u32) -> array<vec4<f32>, PART_VEC4>   the part's weights as f32, exactly
//                                                                      ggml's values (same vec4 order as QX)
//
// Prepare QX once and reuse it for every weight row that meets the same activations (several rows per thread):
// q_x_prep also computes sums of the activations over runs of 8 (s.x = v[0..1], s.y = v[2..3], ...), which the
// integer-offset formulas use, e.g. Q4_K: d·sc·Σq·x − dmin·m·Σx.
//
// ---- How the dot product avoids int→float conversions ------------------------------------------------------
// Integer→float conversions run at a quarter of the FMA rate on NVIDIA GPUs, and a shift + mask + convert per
// element makes the Q4 matvec compute-bound. Instead a value held in bits [k, k + n) of a word is masked and
// OR-ed into 1.0f: bitcast<f32>(0x3F800000 | (w & mask)) − 1 == q · 2^(k − 23) exactly (one mask-or and one
// subtraction per element; the top byte is first shifted down so no field reaches the exponent). The factor
// 2^(23 − k) is folded into the activations once per part (q_x_prep, exact: powers of two), so a dot product
// sees q · x directly (4- and 8-bit types). The 5- and 6-bit types shift each value to the top of the mantissa
// instead (1 + q/2^k, no subtraction) and use Σ q·x = 2^k (Σ (1 + q/2^k)·x − Σx), which measured faster there.
// Offsets (Q4_0's −8, Q4_K's −dmin·m) use the plain activation sums in QX.s, e.g. Q4_K: d·sc·Σq·x − dmin·m·Σx.
// Dequantized values are exact too, so q_part_dequant gives ggml's values bit for bit, and the dot products
// differ from a plain f32 sum only by rounding order.
// -------------------------------------------------------------------------------------------------------------

const Q_ONE: u32 = 0x3F800000u;

// Sign-extended int8 bytes of w as f32.
fn q_s8(w: u32) -> vec4<f32> {
  return vec4<f32>(vec4<i32>(bitcast<i32>(w << 24u), bitcast<i32>(w << 16u), bitcast<i32>(w << 8u), bitcast<i32>(w)) >> vec4<u32>(24u));
}
// The 4 bits (b >> 0..3) & 1 of b spread to bit 4 of each byte (Q5_0/Q5_1 high bits).
fn q_spread4(b: u32) -> u32 {
  return (((b & 0xFu) * 0x00204081u) & 0x01010101u) << 4u;
}
fn q_sum4(v: vec4<f32>) -> f32 {
  return (v.x + v.y) + (v.z + v.w);
}

// q · 2^-k for the low (q_n4lo) / high (q_n4hi) nibble of each byte of w; q_x_prep scales x by Q_XS_LO4 / Q_XS_HI4.
fn q_n4lo(w: u32) -> vec4<f32> {
  let t = w >> 12u;
  return bitcast<vec4<f32>>(vec4<u32>(w & 0xFu, w & 0xF00u, w & 0xF0000u, t & 0xF000u) | vec4<u32>(Q_ONE)) - 1.0;
}
fn q_n4hi(w: u32) -> vec4<f32> {
  let t = w >> 12u;
  return bitcast<vec4<f32>>(vec4<u32>(w & 0xF0u, w & 0xF000u, t & 0xF00u, t & 0xF0000u) | vec4<u32>(Q_ONE)) - 1.0;
}
const Q_XS_LO4 = vec4<f32>(8388608.0, 32768.0, 128.0, 2048.0);  // 2^23, 2^15, 2^7, 2^11
const Q_XS_HI4 = vec4<f32>(524288.0, 2048.0, 32768.0, 128.0);   // 2^19, 2^11, 2^15, 2^7
// 1 + b/32 (q_u5) or 1 + b/64 (q_u6) for the 5- or 6-bit values in the bytes of w: each value shifted to the top
// of the mantissa of 1.0f. For these types a shift + mask per element measured faster than mask + subtract on
// an H200; the dot product then uses Σ q·x = 2^k (Σ (1 + q/2^k)·x − Σx) with the sums in QX.s.
fn q_u5(w: u32) -> vec4<f32> {
  return bitcast<vec4<f32>>((vec4<u32>(w << 18u, w << 10u, w << 2u, w >> 6u) & vec4<u32>(0x007C0000u)) | vec4<u32>(Q_ONE));
}
fn q_u6(w: u32) -> vec4<f32> {
  return bitcast<vec4<f32>>((vec4<u32>(w << 17u, w << 9u, w << 1u, w >> 7u) & vec4<u32>(0x007E0000u)) | vec4<u32>(Q_ONE));
}
// q · 2^-k for the bytes of w (0..255); x scaled by Q_XS_B8.
fn q_b8(w: u32) -> vec4<f32> {
  let t = w >> 16u;
  return bitcast<vec4<f32>>(vec4<u32>(w & 0xFFu, w & 0xFF00u, t & 0xFFu, t & 0xFF00u) | vec4<u32>(Q_ONE)) - 1.0;
}
const Q_XS_B8 = vec4<f32>(8388608.0, 32768.0, 8388608.0, 32768.0);

#ifdef W_VEC4
fn q_load4(word: u32) -> vec4<u32> {
  return qw_load4(word);
}
#else
fn q_load4(word: u32) -> vec4<u32> {
  return vec4<u32>(qw_load(word), qw_load(word + 1u), qw_load(word + 2u), qw_load(word + 3u));
}
#endif

// The decoders, one file per family of types (only the defined type survives the preprocessor).
#include "quant_float"
#include "quant_q32"
#include "quant_codebook"
#include "quant_k"

// ============================================================================================ shared helpers

struct QX {
  // The activations, each scaled by a power of two that undoes the type's bit position (q_x_scale).
  v: array<vec4<f32>, PART_VEC4>,
  // Sums of the activations over runs of 8 elements: s[i] = Σ v[2i] + v[2i + 1] (zero where PART_VEC4 < 8).
  s: vec4<f32>,
}

fn q_x_prep(v: array<vec4<f32>, PART_VEC4>) -> QX {
  var s = vec4<f32>(0.0);
  for (var i = 0u; i < PART_VEC4 / 2u; i++) {
    s[i] = q_sum4(v[2u * i] + v[2u * i + 1u]);
  }
  var xv = v;
  for (var i = 0u; i < PART_VEC4; i++) {
    xv[i] = v[i] * q_x_scale(i);
  }
  return QX(xv, s);
}

