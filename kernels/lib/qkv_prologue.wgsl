// The attention prologue's arithmetic (#include "qkv_prologue"), shared by rope.wgsl (qkvRope) and the fused
// decode attention (attention.wgsl PROLOGUE), so both give bit-identical Q, K and V: clamp (CLAMP, DBRX
// clamp_kqv, before everything else), Q/K RMSNorm (QK_NORM: weight (hd) per head; with QK_NORM_FULL: over the
// whole Q / K projection, weight (n_head·hd) / (n_kv·hd)), RoPE (NEOX pairs (j, j + n_rot/2), otherwise
// (2j, 2j+1); dimensions >= n_rot pass through; FREQ_FACTORS).
// theta_j = freq_scale * (pos * theta_scale^j) / ff[j], the power built by repeated f32 multiplication exactly as
// ggml's CPU rope cache does (theta_scale = base^(-2/n_rot) computed on the host in f32). cos/sin come from our
// own range reduction and polynomials, so large angles (pos 32k) are accurate on every GPU.
// The including kernel declares, before the #include: `params` with fields n_rot, theta_scale, freq_scale, clamp,
// eps, ff_off, qw_off, kw_off; `src: array<f32>` (the projection); `ff` (FREQ_FACTORS); `qw`, `kw` (QK_NORM);
// `override WG` (a multiple of 32); `var<workgroup> red: array<f32, WG>`.

fn clampv(v: f32) -> f32 {
#ifdef CLAMP
  return clamp(v, -params.clamp, params.clamp);
#else
  return v;
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
fn rope_pair(j: u32) -> vec2<u32> {
#ifdef NEOX
  return vec2<u32>(j, j + params.n_rot / 2u);
#else
  return vec2<u32>(2u * j, 2u * j + 1u);
#endif
}

// The pair of element i < n_rot.
fn rope_pair_of(i: u32) -> u32 {
#ifdef NEOX
  let half = params.n_rot / 2u;
  return select(i, i - half, i >= half);
#else
  return i / 2u;
#endif
}

// The rotated pair (x0, x1) at (cos, sin) cs: first and second element.
fn rope_first(x0: f32, x1: f32, cs: vec2<f32>) -> f32 {
  return x0 * cs.x - x1 * cs.y;
}

fn rope_second(x0: f32, x1: f32, cs: vec2<f32>) -> f32 {
  return x0 * cs.y + x1 * cs.x;
}

// Sum of squares of the clamped src[b .. b+n) in one fixed order whatever WG: lane l of a 32-invocation team
// adds elements l, l+32, l+64, ... in turn (four loads issued at a time), then a fixed tree over the 32
// partials. Team k (invocations 32k .. 32k+31) reduces its own (b, n) (n = 0: nothing); every invocation gets
// team `team`'s sum. Call from every invocation in uniform control flow (it ends with a barrier).
fn pro_sumsq(b: u32, n: u32, tid: u32, team: u32) -> f32 {
  let lane = tid % 32u;
  var ss = 0.0;
  var i = lane;
  for (; i + 96u < n; i += 128u) {
    let v0 = clampv(src[b + i]);
    let v1 = clampv(src[b + i + 32u]);
    let v2 = clampv(src[b + i + 64u]);
    let v3 = clampv(src[b + i + 96u]);
    ss += v0 * v0;
    ss += v1 * v1;
    ss += v2 * v2;
    ss += v3 * v3;
  }
  for (; i < n; i += 32u) {
    let v = clampv(src[b + i]);
    ss += v * v;
  }
  red[tid] = ss;
  workgroupBarrier();
  for (var st = 16u; st > 0u; st >>= 1u) {
    if (lane < st) { red[tid] += red[tid + st]; }
    workgroupBarrier();
  }
  let tot = red[team * 32u];
  workgroupBarrier();
  return tot;
}

// RMSNorm factor of n values whose squares sum to ss.
fn pro_inv(ss: f32, n: u32) -> f32 {
  return 1.0 / sqrt(ss / f32(n) + params.eps);
}

// Element i of the head at src[b ..] after clamp and (QK_NORM) the norm: times inv and weight wb + i of Q's
// (is_k false) or K's norm weight. Without QK_NORM, inv, is_k and wb are unused.
fn pro_load(b: u32, i: u32, inv: f32, is_k: bool, wb: u32) -> f32 {
  let v = clampv(src[b + i]);
#ifdef QK_NORM
  var w = qw[params.qw_off + wb + i];
  if (is_k) { w = kw[params.kw_off + wb + i]; }
  return v * inv * w;
#else
  return v;
#endif
}
