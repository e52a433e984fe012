// Decode matrix-vector product y[r] = Σ_i W[r, i] · x[i] over quantized weights, dequantizing inside the dot
// product (kernels/lib/quant.wgsl). Variants (defines): the weight type (quantDefines), ROWS (rows per
// workgroup: every thread works on all ROWS rows, so each activation part is loaded and summed once for ROWS
// weight rows), X_VEC4 (x offset is a multiple of 4: vec4 activation loads), ACCUMULATE (y += W·x, a fused
// residual add), USE_SUBGROUPS (subgroupAdd reduction; otherwise a workgroup-memory tree), X_Q8 (int8 activations
// from act_quant.wgsl instead of f32 x: integer dot products, dot4I8Packed, for the types with q_part_dot_q8 in
// quant.wgsl), NORM (+ NORM_LAYER): x is the raw residual row and the kernel applies RMSNorm (LayerNorm) with
// weight g first, see below; G_VEC4 (g offset is a multiple of 4). Override WG: threads per workgroup (a power
// of two).
//
// NORM: y_r = dot(W_r, norm(x)) without a normalised copy of x. The unit loop covers the whole row, so every
// workgroup accumulates the row's statistics with its dot products and recomputes the row scale itself (x is
// n_in floats, tiny next to the ROWS weight rows it meets). With d = x − K (LayerNorm: K = x[0], a shift that
// avoids cancellation when the row has a large common offset; RMS: d = x):
//   RMS:   y_r = Σ W_ri·g_i·x_i / sqrt(Σx²/n + eps)
//   Layer: m = Σd/n (mean − K), var = Σd²/n − m², y_r = (Σ W_ri·g_i·d_i − m·Σ W_ri·g_i) / sqrt(var + eps)
// (norm.wgsl's definitions: biased variance, weight g, no bias.) The sums are reduced with the dot products.
//
// Work split: a row is n_in / BLOCK_ELEMS blocks of BLOCK_PARTS parts; unit u = (block u / BLOCK_PARTS, part
// u % BLOCK_PARTS). Thread t takes units t, t + WG, ...: consecutive threads read consecutive words of a row
// (coalesced), and the ROWS rows give ROWS independent loads in flight per unit. Grid: ceil(n_rows / ROWS)
// workgroups folded into (x, y) by grid2d. One dispatch per weight chunk (the wrapper sets n_rows, y_off).
#ifdef USE_SUBGROUPS
enable subgroups;
#endif

override WG: u32 = 256u;

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
#include "weight_binding"
#ifdef X_Q8
@group(0) @binding(2) var<storage, read> xq: array<vec4<u32>>;  // (n_in / 16) int8 q, then (n_in / 32) aux
fn xq_aux_base() -> u32 {
  return params.n_in / 16u;
}
#include "xq8"
#else
#ifdef X_VEC4
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;   // (x_off / 4 + n_in / 4)
fn x_load4(e: u32) -> vec4<f32> {
  return x[(params.x_off + e) >> 2u];
}
#else
@group(0) @binding(2) var<storage, read> x: array<f32>;         // (x_off + n_in)
fn x_load4(e: u32) -> vec4<f32> {
  let i = params.x_off + e;
  return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
}
#endif
#endif
@group(0) @binding(3) var<storage, read_write> y: array<f32>;  // (y_off + n_rows)
#ifdef NORM
#ifdef G_VEC4
@group(0) @binding(4) var<storage, read> g: array<vec4<f32>>;   // norm weight (g_off / 4 + n_in / 4)
fn g_load4(e: u32) -> vec4<f32> {
  return g[(params.g_off + e) >> 2u];
}
#else
@group(0) @binding(4) var<storage, read> g: array<f32>;         // norm weight (g_off + n_in)
fn g_load4(e: u32) -> vec4<f32> {
  let i = params.g_off + e;
  return vec4<f32>(g[i], g[i + 1u], g[i + 2u], g[i + 3u]);
}
#endif
#endif

// Values reduced over the workgroup: ROWS dot products, then with NORM_LAYER ROWS sums Σ W_ri·g_i and Σd, and
// with NORM Σd² last.
#ifdef NORM
#ifdef NORM_LAYER
const NRED: u32 = 2u * ROWS + 2u;
#else
const NRED: u32 = ROWS + 1u;
#endif
#else
const NRED: u32 = ROWS;
#endif

#include "quant"

var<workgroup> red: array<f32, WG * NRED>;

@compute @workgroup_size(WG)
fn main(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
#ifdef USE_SUBGROUPS
  @builtin(subgroup_invocation_id) sg_lane: u32,
  @builtin(subgroup_size) sg_size: u32,
#endif
) {
  let row0 = (wid.x + wid.y * nwg.x) * ROWS;
  // Rows past the end (last workgroup) read the last row again; their sums are dropped.
  var base: array<u32, ROWS>;
  var acc: array<f32, NRED>;
  for (var r = 0u; r < ROWS; r++) {
    base[r] = min(row0 + r, params.n_rows - 1u) * params.row_words;
  }
  for (var r = 0u; r < NRED; r++) {
    acc[r] = 0.0;
  }
#ifdef NORM
#ifdef NORM_LAYER
  let shift = x_load4(0u).x;
  var sd = vec4<f32>(0.0);
#endif
  var sq = vec4<f32>(0.0);
#endif
  let units = (params.n_in / BLOCK_ELEMS) * BLOCK_PARTS;
  for (var u = lid; u < units; u += WG) {
    let b = u / BLOCK_PARTS;
    let p = u % BLOCK_PARTS;
    let bw = b * BLOCK_WORDS;
#ifdef X_Q8
    let xv = q_xq_load(b * BLOCK_ELEMS, p);
    for (var r = 0u; r < ROWS; r++) {
      acc[r] += q_part_dot_q8(base[r] + bw, p, xv);
    }
#else
    var xv: array<vec4<f32>, PART_VEC4>;
    for (var v = 0u; v < PART_VEC4; v++) {
      xv[v] = x_load4(b * BLOCK_ELEMS + q_part_elem(p, v));
    }
#ifdef NORM
    // xv becomes g∘d; the statistics take d.
    var gv: array<vec4<f32>, PART_VEC4>;
    for (var v = 0u; v < PART_VEC4; v++) {
#ifdef NORM_LAYER
      let d = xv[v] - shift;
      sd += d;
#else
      let d = xv[v];
#endif
      sq += d * d;
      gv[v] = g_load4(b * BLOCK_ELEMS + q_part_elem(p, v));
      xv[v] = d * gv[v];
    }
#ifdef NORM_LAYER
    let qg = q_x_prep(gv);
#endif
#endif
    let qx = q_x_prep(xv);
    for (var r = 0u; r < ROWS; r++) {
      acc[r] += q_part_dot(base[r] + bw, p, qx);
#ifdef NORM_LAYER
      acc[ROWS + r] += q_part_dot(base[r] + bw, p, qg);
#endif
    }
#endif
  }
#ifdef NORM
#ifdef NORM_LAYER
  acc[NRED - 2u] = (sd.x + sd.y) + (sd.z + sd.w);
#endif
  acc[NRED - 1u] = (sq.x + sq.y) + (sq.z + sq.w);
#endif

#ifdef USE_SUBGROUPS
  // One partial per subgroup and value, then the subgroup partials are added (by ROWS threads, or with NORM by
  // NRED threads into red[r * WG], which every output row then reads).
  let nsg = (WG + sg_size - 1u) / sg_size;
  for (var r = 0u; r < NRED; r++) {
    let s = subgroupAdd(acc[r]);
    if (sg_lane == 0u) {
      red[r * WG + lid / sg_size] = s;
    }
  }
  workgroupBarrier();
#ifdef NORM
  if (lid < NRED) {
    var t = 0.0;
    for (var i = 0u; i < nsg; i++) {
      t += red[lid * WG + i];
    }
    red[lid * WG] = t;
  }
  workgroupBarrier();
  if (lid < ROWS) {
    var t = red[lid * WG];
#else
  if (lid < ROWS) {
    var t = 0.0;
    for (var i = 0u; i < nsg; i++) {
      t += red[lid * WG + i];
    }
#endif
#else
  for (var r = 0u; r < NRED; r++) {
    red[r * WG + lid] = acc[r];
  }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      for (var r = 0u; r < NRED; r++) {
        red[r * WG + lid] += red[r * WG + lid + s];
      }
    }
    workgroupBarrier();
  }
  if (lid < ROWS) {
    var t = red[lid * WG];
#endif
#ifdef NORM
    let nf = f32(params.n_in);
#ifdef NORM_LAYER
    let m = red[(NRED - 2u) * WG] / nf;
    let variance = max(red[(NRED - 1u) * WG] / nf - m * m, 0.0);
    t = (t - m * red[(ROWS + lid) * WG]) * (1.0 / sqrt(variance + params.eps));
#else
    t = t * (1.0 / sqrt(red[(NRED - 1u) * WG] / nf + params.eps));
#endif
#endif
    let row = row0 + lid;
    if (row < params.n_rows) {
#ifdef ACCUMULATE
      y[params.y_off + row] += t;
#else
      y[params.y_off + row] = t;
#endif
    }
  }
}
