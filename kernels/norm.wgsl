// Row norms of f32 activations: one workgroup per row.
// Variants (defines): LAYER_NORM (y = (x - mean) / sqrt(var + eps) * w, biased variance, no bias) or RMS_NORM
// (y = x / sqrt(mean(x^2) + eps) * w); INPLACE (y overwrites x, one read_write binding); USE_SUBGROUPS (subgroupAdd
// then one partial per subgroup in workgroup memory; otherwise a workgroup-memory tree, WG a power of two).
// Rows: row r = t * heads + h reads x[x_off + t * x_stride + h * n + i] and writes y[y_off + t * y_stride + h * n + i]
// for i < n, with w[w_off + i]: a plain norm has heads = 1; a per-head Q/K norm has n = head_dim, heads = n_head.
// Rows of n <= 8 * WG are read once into registers (8 independent loads per invocation), then reduced twice for
// LayerNorm (mean, then the sum of squared deviations: no cancellation) or once for RMS; longer rows are
// streamed with 4 loads in flight. LayerNorm works on x - x[0], so a large common offset loses nothing.
// Grid: n_tok * heads workgroups folded into (x, y) by grid2d.
#ifdef USE_SUBGROUPS
enable subgroups;
#endif

override WG: u32 = 256u;

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;         // (n) at w_off
#ifdef INPLACE
@group(0) @binding(2) var<storage, read_write> x: array<f32>;   // (n_tok, heads, n) at x_off, rows x_stride apart
#else
@group(0) @binding(2) var<storage, read> x: array<f32>;         // (n_tok, heads, n) at x_off, rows x_stride apart
@group(0) @binding(3) var<storage, read_write> y: array<f32>;   // (n_tok, heads, n) at y_off, rows y_stride apart
#endif

#include "wg_reduce"

const PT: u32 = 8u;       // row values held per invocation on the register path (n <= PT * WG)
const UNROLL: u32 = 4u;   // loads in flight per invocation on the streaming path

fn store(i: u32, v: f32) {
#ifdef INPLACE
  x[i] = v;
#else
  y[i] = v;
#endif
}

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
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.n_tok * params.heads) { return; }
  let t = row / params.heads;
  let h = row % params.heads;
  let n = params.n;
  let xb = params.x_off + t * params.x_stride + h * n;
#ifdef INPLACE
  let yb = xb;
#else
  let yb = params.y_off + t * params.y_stride + h * n;
#endif

  if (n <= PT * WG) {
    // Whole row in registers: PT independent loads per invocation, one trip to memory.
    var v: array<f32, PT>;
    for (var u = 0u; u < PT; u++) {
      let i = tid + u * WG;
      if (i < n) { v[u] = x[xb + i]; }
    }
#ifdef LAYER_NORM
    // Centre on the row's first value: x - pivot is exact for values of similar magnitude, so a large common
    // offset (mean 1e4, spread 1) costs no precision in the mean or the deviations.
    let pivot = x[xb];
    var s1 = 0.0;
    for (var u = 0u; u < PT; u++) {
      if (tid + u * WG < n) { v[u] -= pivot; s1 += v[u]; }
    }
    let mean = wg_sum(s1, tid, sg_id, sg_lane, n_sg) / f32(n);
#else
    let mean = 0.0;
#endif
    var s2 = 0.0;
    for (var u = 0u; u < PT; u++) {
      if (tid + u * WG < n) {
        v[u] -= mean;
        s2 += v[u] * v[u];
      }
    }
    let inv = 1.0 / sqrt(wg_sum(s2, tid, sg_id, sg_lane, n_sg) / f32(n) + params.eps);
    for (var u = 0u; u < PT; u++) {
      let i = tid + u * WG;
      if (i < n) { store(yb + i, v[u] * inv * w[params.w_off + i]); }
    }
    return;
  }
  // Long rows: stream the row three times (LayerNorm) or twice (RMS), UNROLL loads in flight per invocation.
#ifdef LAYER_NORM
  let pivot = x[xb];
  var s1 = 0.0;
  for (var i0 = tid; i0 < n; i0 += UNROLL * WG) {
    var tb: array<f32, UNROLL>;
    for (var u = 0u; u < UNROLL; u++) {
      let i = i0 + u * WG;
      tb[u] = 0.0;
      if (i < n) { tb[u] = x[xb + i] - pivot; }
    }
    for (var u = 0u; u < UNROLL; u++) { s1 += tb[u]; }
  }
  let mean = wg_sum(s1, tid, sg_id, sg_lane, n_sg) / f32(n);
#else
  let pivot = 0.0;
  let mean = 0.0;
#endif
  var s2 = 0.0;
  for (var i0 = tid; i0 < n; i0 += UNROLL * WG) {
    var tb: array<f32, UNROLL>;
    for (var u = 0u; u < UNROLL; u++) {
      let i = i0 + u * WG;
      tb[u] = 0.0;
      if (i < n) { tb[u] = (x[xb + i] - pivot) - mean; }
    }
    for (var u = 0u; u < UNROLL; u++) { s2 += tb[u] * tb[u]; }
  }
  let inv = 1.0 / sqrt(wg_sum(s2, tid, sg_id, sg_lane, n_sg) / f32(n) + params.eps);
  for (var i = tid; i < n; i += WG) {
    store(yb + i, ((x[xb + i] - pivot) - mean) * inv * w[params.w_off + i]);
  }
}
