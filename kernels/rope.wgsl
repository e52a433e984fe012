// Rotary position embedding (ggml_rope_ext without YaRN), f32, as the attention prologue in one pass: one
// workgroup per (token, head section) over the Q, K and V of T tokens read at offsets/strides (a fused QKV output
// or separate projections in one buffer). It clamps (CLAMP: DBRX's clamp_kqv, before everything else), optionally
// RMS-normalises Q and K (QK_NORM: weight (hd) per head, Qwen3; with QK_NORM_FULL: weight over the whole Q / K
// projection, OLMoE — each workgroup recomputes its row's sum of squares), rotates Q and K, writes Q to q_out
// (T, n_head, hd) and K, V into the cache (n_kv, n_ctx, hd) at the token's position (f32, or f16 with KV_F16).
// Styles: NEOX pairs (i, i + n_rot/2) (rotate-half), otherwise (2i, 2i+1). Dimensions >= n_rot pass through.
// theta_i = freq_scale * (pos * theta_scale^i) / ff[i], the power built by repeated f32 multiplication exactly as
// ggml's CPU rope cache does (theta_scale = base^(-2/n_rot) computed on the host in f32). cos/sin come from our own
// range reduction and polynomials, so large angles (pos 32k) are accurate on every GPU.
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

// theta of pair j at position p, as ggml_rope_cache_init computes it.
fn rope_theta(p: u32, j: u32) -> f32 {
  var theta = f32(p);
  for (var k = 0u; k < j; k++) { theta = theta * params.theta_scale; }
#ifdef FREQ_FACTORS
  theta = theta / ff[params.ff_off + j];
#endif
  return params.freq_scale * theta;
}

// (cos, sin) of theta >= 0: Cody-Waite reduction by pi/2 (three-part constant; k * 1.5703125 is exact for
// k < 2^16), then Cephes' single-precision polynomials on [-pi/4, pi/4] and the quadrant.
fn cos_sin(theta: f32) -> vec2<f32> {
  let k = round(theta * 0.63661977236758134);
  let r = ((theta - k * 1.5703125) - k * 4.837512969970703125e-4) - k * 7.54978995489188216e-8;
  let z = r * r;
  let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  let q = u32(i32(k)) & 3u;
  if (q == 0u) { return vec2<f32>(c, s); }
  if (q == 1u) { return vec2<f32>(-s, c); }
  if (q == 2u) { return vec2<f32>(-c, -s); }
  return vec2<f32>(s, -c);
}

// Element indices of pair j.
fn pair(j: u32) -> vec2<u32> {
#ifdef NEOX
  return vec2<u32>(j, j + params.n_rot / 2u);
#else
  return vec2<u32>(2u * j, 2u * j + 1u);
#endif
}

var<workgroup> buf: array<f32, 256>;  // one head (hd <= 256)
var<workgroup> red: array<f32, WG>;

fn clampv(v: f32) -> f32 {
#ifdef CLAMP
  return clamp(v, -params.clamp, params.clamp);
#else
  return v;
#endif
}

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
  for (var i = tid; i < hd; i += WG) { buf[i] = clampv(src[hb + i]); }
  let cache_row = (h * params.n_ctx + p) * hd;
  if (kind == 2u) {
    if (p < params.n_ctx) {
      for (var i = tid; i < hd; i += WG) { vc[params.vc_off + cache_row + i] = KvT(buf[i]); }
    }
    return;
  }
#ifdef QK_NORM
  var ss = 0.0;
#ifdef QK_NORM_FULL
  var nn = params.n_head * hd;
  if (kind == 1u) { nn = params.n_kv * hd; }
  for (var i = tid; i < nn; i += WG) {
    let v = clampv(src[row + i]);
    ss += v * v;
  }
  let wb = h * hd;
#else
  let nn = hd;
  for (var i = tid; i < hd; i += WG) { ss += buf[i] * buf[i]; }
  let wb = 0u;
#endif
  let inv = 1.0 / sqrt(wg_sum(ss, tid) / f32(nn) + params.eps);
  for (var i = tid; i < hd; i += WG) {
    var wv = qw[params.qw_off + wb + i];
    if (kind == 1u) { wv = kw[params.kw_off + wb + i]; }
    buf[i] = buf[i] * inv * wv;
  }
#endif
  workgroupBarrier();
  let half = params.n_rot / 2u;
  let qb = params.qo_off + t * params.qo_stride + h * hd;
  let write_k = p < params.n_ctx;
  for (var j = tid; j < half; j += WG) {
    let cs = cos_sin(rope_theta(p, j));
    let ij = pair(j);
    let x0 = buf[ij.x];
    let x1 = buf[ij.y];
    let y0 = x0 * cs.x - x1 * cs.y;
    let y1 = x0 * cs.y + x1 * cs.x;
    if (kind == 0u) {
      q_out[qb + ij.x] = y0;
      q_out[qb + ij.y] = y1;
    } else if (write_k) {
      kc[params.kc_off + cache_row + ij.x] = KvT(y0);
      kc[params.kc_off + cache_row + ij.y] = KvT(y1);
    }
  }
  for (var i = params.n_rot + tid; i < hd; i += WG) {
    if (kind == 0u) {
      q_out[qb + i] = buf[i];
    } else if (write_k) {
      kc[params.kc_off + cache_row + i] = KvT(buf[i]);
    }
  }
}
