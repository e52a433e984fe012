// Row softmax of f32 values: y = exp(s*x - max) / sum over each row of n (max subtracted first), or its log
// (LOG_SOFTMAX: y = s*x - max - log(sum)), for T rows. One workgroup per row; reductions with subgroups
// (USE_SUBGROUPS) or a workgroup-memory tree (WG a power of two). NaN inputs propagate; -inf gives 0 (or -inf).
// Rows: x[x_off + r * x_stride + i], y[y_off + r * y_stride + i]; INPLACE writes into x.
// Grid: T workgroups folded into (x, y) by grid2d.
#ifdef USE_SUBGROUPS
enable subgroups;
#endif

override WG: u32 = 256u;
const UNROLL: u32 = 4u;

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
#ifdef INPLACE
@group(0) @binding(1) var<storage, read_write> x: array<f32>;   // (T, n) rows x_stride apart
#else
@group(0) @binding(1) var<storage, read> x: array<f32>;         // (T, n) rows x_stride apart
@group(0) @binding(2) var<storage, read_write> y: array<f32>;   // (T, n) rows y_stride apart
#endif

#include "wg_reduce"

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) tid: u32,
#ifdef USE_SUBGROUPS
  @builtin(subgroup_id) sg_id: u32,
  @builtin(subgroup_invocation_id) sg_lane: u32,
  @builtin(num_subgroups) n_sg: u32,
#endif
) {
#ifndef USE_SUBGROUPS
  let sg_id = 0u;
  let sg_lane = 0u;
  let n_sg = 0u;
#endif
  let r = wid.x + wid.y * nwg.x;
  if (r >= params.n_rows) { return; }
  let n = params.n;
  let s = params.scale;
  let xb = params.x_off + r * params.x_stride;
#ifdef INPLACE
  let yb = xb;
#else
  let yb = params.y_off + r * params.y_stride;
#endif
  // Passes 1 and 2 keep UNROLL independent loads in flight per invocation.
  var m = -3.0e38;
  for (var i0 = tid; i0 < n; i0 += UNROLL * WG) {
    var c: array<f32, UNROLL>;
    for (var u = 0u; u < UNROLL; u++) {
      let i = i0 + u * WG;
      c[u] = -3.0e38;
      if (i < n) { c[u] = s * x[xb + i]; }
    }
    for (var u = 0u; u < UNROLL; u++) { m = max(m, c[u]); }
  }
  let mx = wg_reduce(m, true, tid, sg_id, sg_lane, n_sg);
  var acc = 0.0;
  for (var i0 = tid; i0 < n; i0 += UNROLL * WG) {
    var c: array<f32, UNROLL>;
    for (var u = 0u; u < UNROLL; u++) {
      let i = i0 + u * WG;
      c[u] = -3.0e38;
      if (i < n) { c[u] = s * x[xb + i]; }
    }
    for (var u = 0u; u < UNROLL; u++) { acc += exp(c[u] - mx); }
  }
  let sum = wg_reduce(acc, false, tid, sg_id, sg_lane, n_sg);
#ifdef LOG_SOFTMAX
  let lse = mx + log(sum);
#else
  let inv = 1.0 / sum;
#endif
  for (var i = tid; i < n; i += WG) {
#ifdef LOG_SOFTMAX
    let v = s * x[xb + i] - lse;
#else
    let v = exp(s * x[xb + i] - mx) * inv;
#endif
#ifdef INPLACE
    x[yb + i] = v;
#else
    y[yb + i] = v;
#endif
  }
}
