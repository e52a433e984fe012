// KV cache write: K and V of T new tokens into the cache at their positions.
// Cache layout per layer: (n_kv, n_ctx, hd), f32 or f16 (define KV_F16, needs shader-f16).
// Positions: pos[pos_off + t] (binding 4), or pos0 + t with define POS_PARAM. Positions >= n_ctx are skipped.
// One invocation per (t, h, i) element; grid: ceil(T * n_kv * hd / WG) folded into (x, y) by grid2d.
#ifdef KV_F16
enable f16;
alias KvT = f16;
#else
alias KvT = f32;
#endif

override WG: u32 = 256u;

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;          // K at k_off + t*k_stride + h*hd + i; V likewise
@group(0) @binding(2) var<storage, read_write> kc: array<KvT>;     // (n_kv, n_ctx, hd) at kc_off
@group(0) @binding(3) var<storage, read_write> vc: array<KvT>;     // (n_kv, n_ctx, hd) at vc_off
#ifndef POS_PARAM
@group(0) @binding(4) var<storage, read> pos: array<u32>;          // (T) at pos_off
#endif

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * WG;
  let row = params.n_kv * params.hd;
  if (e >= params.n_tok * row) { return; }
  let t = e / row;
  let r = e % row;           // h * hd + i
  let h = r / params.hd;
  let i = r % params.hd;
#ifdef POS_PARAM
  let p = params.pos0 + t;
#else
  let p = pos[params.pos_off + t];
#endif
  if (p >= params.n_ctx) { return; }
  let c = (h * params.n_ctx + p) * params.hd + i;
  kc[params.kc_off + c] = KvT(src[params.k_off + t * params.k_stride + r]);
  vc[params.vc_off + c] = KvT(src[params.v_off + t * params.v_stride + r]);
}
