// MoE decode, fused gate+up over the selected experts only:
//   h[j][f] = silu(gate_e[f] · x) * (up_e[f] · x),  e = ids[ids_off + j], j < k, f < n_ff
// Grid (ceil(n_ff / R), k) with R = (WG / TPR) * RPT rows per workgroup: the expert index is read on the GPU,
// and only that expert's rows are touched. A team of TPR invocations computes RPT consecutive rows of gate and
// the same rows of up: lanes stride over the rows' (block, part) units (kernels/lib/quant.wgsl), so
// neighbouring lanes read neighbouring words, and each activation part is loaded and prepared once for the
// 2 * RPT weight rows (and 2 * RPT independent weight loads are in flight per lane). Weights are
// dequantized inside the dot (q_part_dot). The expert tensors may be split into chunks of whole experts
// (binding limits): the generated qw_load() reads the chunk selected by the private `q_sel`; workgroups whose
// expert lies outside this dispatch's window [e_lo, e_hi) exit (one dispatch per window when all chunks do not
// fit the storage-binding limit).
// Defines: the weight type (quantDefines), RPT (rows per team), X_VEC4 (x_off % 4 == 0), X_Q8 (x is act_quant's int8
// form of the n_embd activations: integer dot products, q_part_dot_q8, for Q4_K/Q8_0), USE_SUBGROUPS (team reduction, see
// moe_common), DENSE (one 2-D weight pair, no ids: the Qwen2-MoE shared expert, e = 0, grid (ceil(n_ff / R), 1)).
// Overrides: WG, TPR (powers of two, TPR <= WG).

#ifdef USE_SUBGROUPS
enable subgroups;
#endif

override WG: u32 = 256u;
override TPR: u32 = 8u;

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
#ifdef X_Q8
@group(0) @binding(1) var<storage, read> xq: array<vec4<u32>>;  // act_quant layout of (n_embd)
fn xq_aux_base() -> u32 {
  return params.n_blocks * BLOCK_ELEMS / 16u;
}
#include "xq8"
#else
#ifdef X_VEC4
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;  // (n_embd) from x_off
fn x_load4(e: u32) -> vec4<f32> {
  return x[(params.x_off + e) >> 2u];
}
#else
@group(0) @binding(1) var<storage, read> x: array<f32>;        // (n_embd) from x_off
fn x_load4(e: u32) -> vec4<f32> {
  let i = params.x_off + e;
  return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
}
#endif
#endif
@group(0) @binding(2) var<storage, read_write> h: array<f32>;  // (k, h_stride) from h_off
#ifndef DENSE
@group(0) @binding(3) var<storage, read> ids: array<u32>;      // (k) from ids_off
#endif
// Weight chunks (gate chunks, then up chunks) and qw_load/qw_load4 reading chunk q_sel: generated.
WEIGHT_BINDINGS

#include "quant"
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
  // Uniform per workgroup (ids is read-only storage at a uniform index): safe before the barriers.
  if (e < params.e_lo || e >= params.e_hi) { return; }

  let n_ff = params.n_ff;
  let f0 = wid.x * ((WG / TPR) * RPT) + (li / TPR) * RPT;
  let lane = li % TPR;
  let gsel = e / params.g_epc - params.g_c0;
  let usel = params.u_sel0 + e / params.u_epc - params.u_c0;
  // Rows past n_ff (last workgroup) read the last row again; their sums are dropped.
  var gb: array<u32, RPT>;
  var ub: array<u32, RPT>;
  var acc: array<vec2<f32>, RPT>;
  for (var r = 0u; r < RPT; r++) {
    let f = min(f0 + r, n_ff - 1u);
    gb[r] = ((e % params.g_epc) * n_ff + f) * params.row_words;
    ub[r] = ((e % params.u_epc) * n_ff + f) * params.row_words;
    acc[r] = vec2<f32>(0.0);
  }
  if (f0 < n_ff) {
    let units = params.n_blocks * BLOCK_PARTS;
    for (var u = lane; u < units; u += TPR) {
      let b = u / BLOCK_PARTS;
      let p = u % BLOCK_PARTS;
#ifdef X_Q8
      let xq8v = q_xq_load(b * BLOCK_ELEMS, p);
      let bw8 = b * BLOCK_WORDS;
      for (var r = 0u; r < RPT; r++) {
        q_sel = gsel;
        acc[r].x += q_part_dot_q8(gb[r] + bw8, p, xq8v);
        q_sel = usel;
        acc[r].y += q_part_dot_q8(ub[r] + bw8, p, xq8v);
      }
#else
      var xv: array<vec4<f32>, PART_VEC4>;
      for (var v = 0u; v < PART_VEC4; v++) {
        xv[v] = x_load4(b * BLOCK_ELEMS + q_part_elem(p, v));
      }
      let qx = q_x_prep(xv);
      let bw = b * BLOCK_WORDS;
      for (var r = 0u; r < RPT; r++) {
        q_sel = gsel;
        acc[r].x += q_part_dot(gb[r] + bw, p, qx);
        q_sel = usel;
        acc[r].y += q_part_dot(ub[r] + bw, p, qx);
      }
#endif
    }
  }
  for (var r = 0u; r < RPT; r++) {
    let s = team_sum2(li, acc[r], sg);
    let f = f0 + r;
    if (lane == 0u && f < n_ff) {
      h[params.h_off + j * params.h_stride + f] = s.x / (1.0 + exp(-s.x)) * s.y;
    }
  }
}
