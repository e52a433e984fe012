// MoE decode, down projection fused with the weighted combine and the residual:
//   y[d] = residual[d] + sum_j w_j * (down_{e_j}[d] · h[j]),  e_j = ids[ids_off + j], w_j = rw[w_off + j]
// Grid ceil(n_embd / R) (folded by grid2d), R = WG / TPR rows per workgroup. No float atomics: a team of TPR
// invocations owns output row d and strides over all (j, block) pairs of the k selected experts, so the
// k-sum happens in registers and one team reduction. Chunked expert tensors as in moe_gate_up: experts
// outside this dispatch's window [e_lo, e_hi) contribute nothing here.
// ACCUM: no residual binding; y[d] += ... (later windows, and the shared expert after the routed ones).
// DENSE: one 2-D weight, no ids (the shared expert; e = 0, k = 1, its gate weight at rw[w_off]).
// B_* defines are binding indices.

#ifdef USE_SUBGROUPS
enable subgroups;
#endif

override WG: u32 = 256u;
override TPR: u32 = 32u;

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> act: array<f32>;      // h: (k, h_stride) from h_off
@group(0) @binding(2) var<storage, read> rw: array<f32>;       // router weights (k) from w_off
@group(0) @binding(3) var<storage, read_write> y: array<f32>;  // (n_embd) from y_off
#ifndef ACCUM
@group(0) @binding(B_RES) var<storage, read> residual: array<f32>; // (n_embd) from res_off
#endif
#ifndef DENSE
@group(0) @binding(B_IDS) var<storage, read> ids: array<u32>;  // (k) from ids_off
#endif
WEIGHT_BINDINGS

#include "moe_quant"
#include "moe_common"

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
#ifdef USE_SUBGROUPS
  @builtin(subgroup_size) sg: u32,
#endif
) {
#ifndef USE_SUBGROUPS
  let sg = 1u;
#endif
  let n_out = params.n_embd;
  let d = (wid.x + wid.y * nwg.x) * (WG / TPR) + li / TPR;
  let lane = li % TPR;
  let nb = params.n_blocks;
  var acc = 0.0;
  if (d < n_out) {
    // Walk the flattened (j, b) space from `lane` in steps of TPR, keeping j and b incrementally.
    var j = lane / nb;
    var b = lane % nb;
    while (j < params.k) {
#ifdef DENSE
      let e = 0u;
#else
      let e = ids[params.ids_off + j];
#endif
      if (e >= params.e_lo && e < params.e_hi) {
        let sel = e / params.epc - params.c0;
        let base = ((e % params.epc) * n_out + d) * params.row_words;
        acc += rw[params.w_off + j] * block_dot(sel, base + b * BLOCK_WORDS, params.h_off + j * params.h_stride + b * BLOCK_ELEMS);
      }
      b += TPR;
      while (b >= nb) { b -= nb; j++; }
    }
  }
  let s = team_sum2(li, vec2<f32>(acc, 0.0), sg);
  if (lane == 0u && d < n_out) {
#ifdef ACCUM
    let base = y[params.y_off + d];
#else
    let base = residual[params.res_off + d];
#endif
    y[params.y_off + d] = base + s.x;
  }
}
