// Rotary position embedding (ggml_rope_ext without YaRN), f32, as the attention prologue in one pass: one
// workgroup per (token, head section) over the Q, K and V of T tokens read at offsets/strides (a fused QKV output
// or separate projections in one buffer). It clamps (CLAMP: DBRX's clamp_kqv, before everything else), optionally
// RMS-normalises Q and K (QK_NORM: weight (hd) per head, Qwen3; with QK_NORM_FULL: weight over the whole Q / K
// projection, OLMoE — each workgroup recomputes its row's sum of squares), rotates Q and K, writes Q to q_out
// (T, n_head, hd) and K, V into the cache (n_kv, n_ctx, hd) at the token's position (f32, or f16 with KV_F16).
// The arithmetic (clamp, norm with its fixed 32-lane sum order, theta, cos/sin, rotation) is lib/qkv_prologue.wgsl,
// shared with the fused decode attention (attention.wgsl PROLOGUE), so the two agree bit for bit.
// Positions: pos[pos_off + t], or pos0 + t with POS_PARAM. Cache writes at positions >= n_ctx are skipped.
#ifdef KV_F16
enable f16;
alias KvT = f16;
#else
alias KvT = f32;
#endif

override WG: u32 = 64u;

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;          // Q/K/V of token t at {q,k,v}_off + t*{q,k,v}_stride
@group(0) @binding(2) var<storage, read_write> q_out: array<f32>;  // (T, n_head, hd) at qo_off, tokens qo_stride apart
@group(0) @binding(3) var<storage, read_write> kc: array<KvT>;     // (n_kv, n_ctx, hd) at kc_off
@group(0) @binding(4) var<storage, read_write> vc: array<KvT>;     // (n_kv, n_ctx, hd) at vc_off
#ifndef POS_PARAM
@group(0) @binding(B_POS) var<storage, read> pos: array<u32>;      // (T) at pos_off
#endif
#ifdef FREQ_FACTORS
@group(0) @binding(B_FF) var<storage, read> ff: array<f32>;        // (n_rot / 2) at ff_off
#endif
#ifdef QK_NORM
@group(0) @binding(B_QW) var<storage, read> qw: array<f32>;        // (hd) or (n_head * hd) at qw_off
@group(0) @binding(B_KW) var<storage, read> kw: array<f32>;        // (hd) or (n_kv * hd) at kw_off
#endif

fn position(t: u32) -> u32 {
#ifdef POS_PARAM
  return params.pos0 + t;
#else
  return pos[params.pos_off + t];
#endif
}

var<workgroup> red: array<f32, WG>;

#include "qkv_prologue"

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) tid: u32,
) {
  let nsec = params.n_head + 2u * params.n_kv;
  let wgi = wid.x + wid.y * nwg.x;
  if (wgi >= params.n_tok * nsec) { return; }
  let t = wgi / nsec;
  let sec = wgi % nsec;
  let hd = params.hd;
  let p = position(t);
  // kind 0: Q head, 1: K head, 2: V head.
  var kind = 0u;
  var h = sec;
  var row = params.q_off + t * params.q_stride;
  if (sec >= params.n_head + params.n_kv) {
    kind = 2u;
    h = sec - params.n_head - params.n_kv;
    row = params.v_off + t * params.v_stride;
  } else if (sec >= params.n_head) {
    kind = 1u;
    h = sec - params.n_head;
    row = params.k_off + t * params.k_stride;
  }
  let hb = row + h * hd;
  let cache_row = (h * params.n_ctx + p) * hd;
  if (kind == 2u) {
    if (p < params.n_ctx) {
      for (var i = tid; i < hd; i += WG) { vc[params.vc_off + cache_row + i] = KvT(clampv(src[hb + i])); }
    }
    return;
  }
  let is_k = kind == 1u;
  var inv = 1.0;
  var wb = 0u;
#ifdef QK_NORM
#ifdef QK_NORM_FULL
  var nn = params.n_head * hd;
  if (is_k) { nn = params.n_kv * hd; }
  let nb = row;
  wb = h * hd;
#else
  let nn = hd;
  let nb = hb;
#endif
  // One team of 32 reduces (the fixed order of pro_sumsq); the others wait at its barriers.
  inv = pro_inv(pro_sumsq(nb, select(0u, nn, tid < 32u), tid, 0u), nn);
#endif
  let half = params.n_rot / 2u;
  let qb = params.qo_off + t * params.qo_stride + h * hd;
  let write_k = p < params.n_ctx;
  for (var j = tid; j < half; j += WG) {
    let cs = cos_sin(rope_theta(p, j));
    let ij = rope_pair(j);
    let x0 = pro_load(hb, ij.x, inv, is_k, wb);
    let x1 = pro_load(hb, ij.y, inv, is_k, wb);
    let y0 = rope_first(x0, x1, cs);
    let y1 = rope_second(x0, x1, cs);
    if (!is_k) {
      q_out[qb + ij.x] = y0;
      q_out[qb + ij.y] = y1;
    } else if (write_k) {
      kc[params.kc_off + cache_row + ij.x] = KvT(y0);
      kc[params.kc_off + cache_row + ij.y] = KvT(y1);
    }
  }
  for (var i = params.n_rot + tid; i < hd; i += WG) {
    let y = pro_load(hb, i, inv, is_k, wb);
    if (!is_k) {
      q_out[qb + i] = y;
    } else if (write_k) {
      kc[params.kc_off + cache_row + i] = KvT(y);
    }
  }
}
