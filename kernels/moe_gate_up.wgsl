// MoE decode, fused gate+up over the selected experts only:
//   h[j][f] = silu(gate_e[f] · x) * (up_e[f] · x),  e = ids[ids_off + j], j < k, f < n_ff
// Grid (ceil(n_ff / R), k) with R = WG / TPR rows per workgroup: the expert index is read on the GPU, and
// only that expert's rows are touched. A team of TPR invocations computes one row of gate and the same row
// of up (sharing the x loads), lanes striding over the row's quant blocks; block_dot dequantizes inside the
// dot. The expert tensors may be split into chunks of whole experts (binding limits): the generated wload()
// picks the bound chunk `sel`; workgroups whose expert lies outside this dispatch's window [e_lo, e_hi)
// exit (the wrapper issues one dispatch per window when all chunks do not fit the storage-binding limit).
// DENSE: one 2-D weight pair, no ids (the Qwen2-MoE shared expert; e = 0, grid (ceil(n_ff / R), 1)).
// Weight defines (W_F32, W_Q8_0, ...) select the block decoder. B_* defines are binding indices.

#ifdef USE_SUBGROUPS
enable subgroups;
#endif

override WG: u32 = 256u;
override TPR: u32 = 8u;

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> act: array<f32>;       // x: (n_embd) from x_off
@group(0) @binding(2) var<storage, read_write> h: array<f32>;   // (k, n_ff) from h_off, row stride h_stride
#ifndef DENSE
@group(0) @binding(3) var<storage, read> ids: array<u32>;       // (k) from ids_off
#endif
WEIGHT_BINDINGS

#include "moe_quant"
#include "moe_common"

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
#ifdef USE_SUBGROUPS
  @builtin(subgroup_size) sg: u32,
#endif
) {
#ifndef USE_SUBGROUPS
  let sg = 1u;
#endif
  let j = wid.y;
#ifdef DENSE
  let e = 0u;
#else
  let e = ids[params.ids_off + j];
#endif
  // Uniform per workgroup (ids is read-only storage, index uniform): safe before the barriers.
  if (e < params.e_lo || e >= params.e_hi) { return; }

  let n_ff = params.n_ff;
  let f = wid.x * (WG / TPR) + li / TPR;
  let lane = li % TPR;
  let gsel = e / params.g_epc - params.g_c0;
  let usel = params.u_sel0 + e / params.u_epc - params.u_c0;
  var acc = vec2<f32>(0.0);
  if (f < n_ff) {
    let gb = ((e % params.g_epc) * n_ff + f) * params.row_words;
    let ub = ((e % params.u_epc) * n_ff + f) * params.row_words;
    for (var b = lane; b < params.n_blocks; b += TPR) {
      let xo = params.x_off + b * BLOCK_ELEMS;
      acc.x += block_dot(gsel, gb + b * BLOCK_WORDS, xo);
      acc.y += block_dot(usel, ub + b * BLOCK_WORDS, xo);
    }
  }
  let s = team_sum2(li, acc, sg);
  if (lane == 0u && f < n_ff) {
    h[params.h_off + j * params.h_stride + f] = s.x / (1.0 + exp(-s.x)) * s.y;
  }
}
