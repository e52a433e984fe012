// MoE prefill, un-permute and combine: y[t][d] = residual[t][d] + sum_j w[t][j] * ys[inv[t*k + j]][d]
// (+ SHARED: w[t][k] * ysh[t][d], the sigmoid-gated shared expert). ys holds the down-projection outputs in
// sorted (by expert) order; inv maps each route to its sorted position (moe_scan). No atomics: each output
// element is one invocation's sum over its token's k routes.
// Grid (ceil(n_embd / WG), n_tokens). ACCUM: no residual binding, y accumulates.

override WG: u32 = 256u;

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ys: array<f32>;       // (n_routes, n_embd) sorted by expert
@group(0) @binding(2) var<storage, read> inv: array<u32>;      // (n_tokens * k)
@group(0) @binding(3) var<storage, read> rw: array<f32>;       // (n_tokens, ks) router weights from w_off
@group(0) @binding(4) var<storage, read_write> y: array<f32>;  // (n_tokens, y_stride) from y_off
#ifndef ACCUM
@group(0) @binding(B_RES) var<storage, read> residual: array<f32>; // (n_tokens, res_stride) from res_off
#endif
#ifdef SHARED
@group(0) @binding(B_YSH) var<storage, read> ysh: array<f32>;  // (n_tokens, n_embd) shared expert outputs
#endif

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let d = gid.x;
  let t = wid.y;
  let n = params.n_embd;
  if (d >= n || t >= params.n_tokens) { return; }
  let yi = params.y_off + t * params.y_stride + d;
#ifdef ACCUM
  var acc = y[yi];
#else
  var acc = residual[params.res_off + t * params.res_stride + d];
#endif
  let k = params.k;
  let wo = params.w_off + t * params.ks;
  for (var j = 0u; j < k; j++) {
    acc += rw[wo + j] * ys[inv[t * k + j] * n + d];
  }
#ifdef SHARED
  acc += rw[wo + k] * ysh[t * n + d];
#endif
  y[yi] = acc;
}
