// Row norms of f32 activations: one workgroup per row.
// Variants (defines): LAYER_NORM (y = (x - mean) / sqrt(var + eps) * w, biased variance, no bias) or RMS_NORM
// (y = x / sqrt(mean(x^2) + eps) * w); INPLACE (y overwrites x, one read_write binding); USE_SUBGROUPS (subgroupAdd
// then one partial per subgroup in workgroup memory; otherwise a workgroup-memory tree, WG a power of two).
// Rows: row r = t * heads + h reads x[x_off + t * x_stride + h * n + i] and writes y[y_off + t * y_stride + h * n + i]
// for i < n, with w[w_off + i]: a plain norm has heads = 1; a per-head Q/K norm has n = head_dim, heads = n_head.
// Two passes over the row for LayerNorm (mean, then the sum of squared deviations: no cancellation), one for RMS;
// LayerNorm works on x - x[0] so that a large common offset loses nothing.
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

var<workgroup> red: array<f32, WG>;

// Sum of v over the workgroup; every invocation gets the total. Must be called in uniform control flow.
#ifdef USE_SUBGROUPS
fn wg_sum(v: f32, tid: u32, sg_id: u32, sg_lane: u32, n_sg: u32) -> f32 {
  let s = subgroupAdd(v);
  if (sg_lane == 0u) { red[sg_id] = s; }
  workgroupBarrier();
  var tot = 0.0;
  for (var i = 0u; i < n_sg; i++) { tot += red[i]; }
  workgroupBarrier();
  return tot;
}
#else
fn wg_sum(v: f32, tid: u32) -> f32 {
  red[tid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (tid < s) { red[tid] += red[tid + s]; }
    workgroupBarrier();
  }
  let tot = red[0];
  workgroupBarrier();
  return tot;
}
#endif

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

#ifdef LAYER_NORM
  // Centre on the row's first value: x - pivot is exact for values of similar magnitude, so a large common
  // offset (mean 1e4, spread 1) costs no precision in the mean or the deviations.
  let pivot = x[xb];
  var s1 = 0.0;
  for (var i = tid; i < n; i += WG) { s1 += x[xb + i] - pivot; }
#ifdef USE_SUBGROUPS
  let mean = wg_sum(s1, tid, sg_id, sg_lane, n_sg) / f32(n);
#else
  let mean = wg_sum(s1, tid) / f32(n);
#endif
#else
  let pivot = 0.0;
  let mean = 0.0;
#endif
  var s2 = 0.0;
  for (var i = tid; i < n; i += WG) {
    let d = (x[xb + i] - pivot) - mean;
    s2 += d * d;
  }
#ifdef USE_SUBGROUPS
  let ss = wg_sum(s2, tid, sg_id, sg_lane, n_sg);
#else
  let ss = wg_sum(s2, tid);
#endif
  let inv = 1.0 / sqrt(ss / f32(n) + params.eps);
  for (var i = tid; i < n; i += WG) {
#ifdef INPLACE
    x[yb + i] = ((x[xb + i] - pivot) - mean) * inv * w[params.w_off + i];
#else
    y[yb + i] = ((x[xb + i] - pivot) - mean) * inv * w[params.w_off + i];
#endif
  }
}
