// Int8 activations from act_quant.wgsl, for kernels with an X_Q8 variant (#include "xq8"). The kernel declares
// `xq: array<vec4<u32>>` (the act_quant layout: n/16 vec4 of int8 values, then one aux vec4 per 32 elements) and
// `fn xq_aux_base() -> u32` (n/16: where the aux vec4s start).
// int8 values of elements e..e+15 (e % 16 == 0).
fn xq_word4(e: u32) -> vec4<u32> {
  return xq[e >> 4u];
}
// (d, d·Σq of the first 16, d·Σq of the last 16, 0) of the 32-element block holding element e.
fn xq_aux(e: u32) -> vec4<f32> {
  return bitcast<vec4<f32>>(xq[xq_aux_base() + (e >> 5u)]);
}
