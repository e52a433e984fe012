// MoE decode, down projection fused with the weighted combine and the residual:
//   y[d] = residual[d] + sum_j w_j * (down_{e_j}[d] · h[j]),  e_j = ids[ids_off + j], w_j = rw[w_off + j]
// Grid ceil(n_embd / R) (folded by grid2d), R = (WG / TPR) * RPT rows per workgroup. No float atomics: a team of
// TPR invocations owns RPT output rows and, for each selected expert j in turn, strides over the (block, part)
// units of those rows (each h part is loaded once for the RPT rows), so the k-sum happens in registers and one
// team reduction per row. Chunked expert tensors as in moe_gate_up: experts outside this dispatch's window
// [e_lo, e_hi) contribute nothing here.
// Defines: the weight type (quantDefines), RPT, X_VEC4 (h_off and h_stride % 4 == 0), X_Q8 (h is act_quant's int8 form of
// the (k, h_stride) rows as one vector of xq_n values: integer dot products for Q4_K/Q8_0), USE_SUBGROUPS,
// ACCUM (no residual binding; y[d] += ...: later windows, and the shared expert after the routed ones),
// DENSE (one 2-D weight, no ids: the shared expert, e = 0, k = 1, its gate weight at rw[w_off]).
// B_* defines are binding indices.

#ifdef USE_SUBGROUPS
enable subgroups;
#endif

override WG: u32 = 256u;
override TPR: u32 = 32u;

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
#ifdef X_Q8
@group(0) @binding(1) var<storage, read> xq: array<vec4<u32>>;  // act_quant layout of (k · h_stride)
fn xq_aux_base() -> u32 {
  return params.xq_n / 16u;
}
#include "xq8"
#else
#ifdef X_VEC4
@group(0) @binding(1) var<storage, read> hin: array<vec4<f32>>; // (k, h_stride) from h_off
fn x_load4(e: u32) -> vec4<f32> {
  return hin[e >> 2u];
}
#else
@group(0) @binding(1) var<storage, read> hin: array<f32>;       // (k, h_stride) from h_off
fn x_load4(e: u32) -> vec4<f32> {
  return vec4<f32>(hin[e], hin[e + 1u], hin[e + 2u], hin[e + 3u]);
}
#endif
#endif
@group(0) @binding(2) var<storage, read> rw: array<f32>;        // router weights (k) from w_off
@group(0) @binding(3) var<storage, read_write> y: array<f32>;   // (n_embd) from y_off
#ifndef ACCUM
@group(0) @binding(B_RES) var<storage, read> residual: array<f32>; // (n_embd) from res_off
#endif
#ifndef DENSE
@group(0) @binding(B_IDS) var<storage, read> ids: array<u32>;   // (k) from ids_off
#endif
// Weight chunks and qw_load/qw_load4 reading chunk q_sel: generated.
WEIGHT_BINDINGS

#include "quant"
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
  let d0 = (wid.x + wid.y * nwg.x) * ((WG / TPR) * RPT) + (li / TPR) * RPT;
  let lane = li % TPR;
  let units = params.n_blocks * BLOCK_PARTS;
  var acc: array<f32, RPT>;
  if (d0 < n_out) {
    for (var j = 0u; j < params.k; j++) {
#ifdef DENSE
      let e = 0u;
#else
      let e = ids[params.ids_off + j];
#endif
      if (e < params.e_lo || e >= params.e_hi) { continue; }
      q_sel = e / params.epc - params.c0;
#ifdef X_Q8
      let xo = j * params.h_stride;
#else
      let xo = params.h_off + j * params.h_stride;
#endif
      let row0 = (e % params.epc) * n_out;
      var base: array<u32, RPT>;
      var part: array<f32, RPT>;
      for (var r = 0u; r < RPT; r++) {
        // Rows past n_embd (last workgroup) read the last row again; their sums are dropped.
        base[r] = (row0 + min(d0 + r, n_out - 1u)) * params.row_words;
        part[r] = 0.0; // explicitly: the declaration is inside the expert loop
      }
      for (var u = lane; u < units; u += TPR) {
        let b = u / BLOCK_PARTS;
        let p = u % BLOCK_PARTS;
#ifdef X_Q8
        let xq8v = q_xq_load(xo + b * BLOCK_ELEMS, p);
        let bw8 = b * BLOCK_WORDS;
        for (var r = 0u; r < RPT; r++) {
          part[r] += q_part_dot_q8(base[r] + bw8, p, xq8v);
        }
#else
        var xv: array<vec4<f32>, PART_VEC4>;
        for (var v = 0u; v < PART_VEC4; v++) {
          xv[v] = x_load4(xo + b * BLOCK_ELEMS + q_part_elem(p, v));
        }
        let qx = q_x_prep(xv);
        let bw = b * BLOCK_WORDS;
        for (var r = 0u; r < RPT; r++) {
          part[r] += q_part_dot(base[r] + bw, p, qx);
        }
#endif
      }
      let wj = rw[params.w_off + j];
      for (var r = 0u; r < RPT; r++) { acc[r] += wj * part[r]; }
    }
  }
  for (var r = 0u; r < RPT; r++) {
    let s = team_sum2(li, vec2<f32>(acc[r], 0.0), sg);
    let d = d0 + r;
    if (lane == 0u && d < n_out) {
#ifdef ACCUM
      let base = y[params.y_off + d];
#else
      let base = residual[params.res_off + d];
#endif
      y[params.y_off + d] = base + s.x;
    }
  }
}
