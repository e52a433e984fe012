// TEMPORARY per-type block decode for the MoE kernels (F32, Q8_0), until kernels/lib/quant.wgsl (shared
// with matvec/matmul) is committed. Blocks are in the padded GPU layout of kernels/lib/weights.ts.
// Needs from the including kernel: `fn wload(sel: u32, i: u32) -> u32` (word i of weight buffer `sel`) and
// `act: array<f32>` (the activations the block is dotted with).
// block_dot(sel, w, xo): dot of the block starting at word w with act[xo .. xo + BLOCK_ELEMS).
// block_deq(sel, w, i): element i of that block.

#ifdef W_F32
const BLOCK_ELEMS: u32 = 1u;
const BLOCK_WORDS: u32 = 1u;
fn block_dot(sel: u32, w: u32, xo: u32) -> f32 {
  return bitcast<f32>(wload(sel, w)) * act[xo];
}
fn block_deq(sel: u32, w: u32, i: u32) -> f32 {
  return bitcast<f32>(wload(sel, w + i));
}
#endif

#ifdef W_Q8_0
// 36 bytes: f16 d, 2 pad bytes, int8 qs[32].
const BLOCK_ELEMS: u32 = 32u;
const BLOCK_WORDS: u32 = 9u;
fn block_dot(sel: u32, w: u32, xo: u32) -> f32 {
  let d = unpack2x16float(wload(sel, w)).x;
  var s = 0.0;
  for (var i = 0u; i < 8u; i++) {
    let q = vec4<f32>(unpack4xI8(wload(sel, w + 1u + i)));
    let o = xo + 4u * i;
    s += dot(q, vec4<f32>(act[o], act[o + 1u], act[o + 2u], act[o + 3u]));
  }
  return d * s;
}
fn block_deq(sel: u32, w: u32, i: u32) -> f32 {
  let d = unpack2x16float(wload(sel, w)).x;
  let q = unpack4xI8(wload(sel, w + 1u + i / 4u))[i % 4u];
  return d * f32(q);
}
#endif
