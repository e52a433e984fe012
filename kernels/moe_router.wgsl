// MoE router: for each token (one workgroup per token), logits = W_r · x over all experts (F32), softmax,
// top-k and the per-architecture gating, written as ids[k] (u32) and weights[k] (f32).
//
// Selection is done on the logits (softmax is monotonic, so it is the same set and order as on the
// probabilities, without exp rounding merging near-equal values). Order: descending logit; equal logits ->
// the lower expert index first. NaN logits count as -3e38, infinities are clamped to +-3e38, so the order is a
// strict total order and every slot is written. Each invocation ranks its experts by counting the experts
// that precede it (O(n_expert) per expert, no barriers), then slot rank <- expert.
//
// Gating (defines): default: w_j = p_j / sum_{selected} p (softmax -> top-k -> renorm: DBRX, Mixtral,
// Qwen3-MoE, Granite; also equal to "top-k on logits then softmax over k" as in gpt-oss);
// NO_RENORM: w_j = p_j (softmax over all experts -> top-k: OLMoE, Qwen2-MoE). Weights are multiplied by
// params.scale (1 unless the architecture scales expert outputs).
//
// Other defines: VEC4 (x, W_r and the shared gate are read as vec4: n_embd % 4 == 0 and aligned offsets);
// USE_SUBGROUPS (team reductions, see moe_common); USAGE_COUNTS (atomicAdd 1 to counts[cnt_off + e] per
// selected expert, for routing statistics); SHARED_GATE (Qwen2-MoE: also computes sigmoid(w_sh · x) into
// slot k, with ids[slot k] = n_expert); PREFILL_HIST (hist[e] += 1 per selected expert and
// slot_pos[slot_off + t*k + j] = the previous count, i.e. the route's position in expert e's list).
// NORM (with LAYER_NORM, else RMSNorm): the MoE block's input norm folded in. x is then the raw residual; the
// workgroup normalises its token's row exactly as kernels/norm.wgsl defines it (LayerNorm without bias, centred on
// the row's first value and reduced twice, no cancellation; RMSNorm; the same eps), writes it to xn (the experts'
// and the shared expert's input) and computes the logits and the shared gate from xn (its own writes, made
// visible by a storage barrier). Reductions in `red` (lib/wg_reduce.wgsl, lent by this kernel).
// MAX_E (define) sizes the logits array: >= n_expert + 1 (256 up to 255 experts). B_* defines are binding indices.
// Grid: n_tokens workgroups folded into (x, y) by grid2d.

#ifdef USE_SUBGROUPS
enable subgroups;
#endif

override WG: u32 = 256u;
// TPR (invocations per router row, a power of two <= WG) is the define TPR = params.tpr: a uniform, so one
// pipeline serves every expert count (the team reduction's loops then have uniform bounds).

PARAMS_STRUCT

#ifdef VEC4
alias XT = vec4<f32>;
const VW: u32 = 4u;
fn dotx(a: XT, b: XT) -> f32 { return dot(a, b); }
fn elem0(a: XT) -> f32 { return a.x; }
#else
alias XT = f32;
const VW: u32 = 1u;
fn dotx(a: XT, b: XT) -> f32 { return a * b; }
fn elem0(a: XT) -> f32 { return a; }
#endif

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<XT>;          // (n_tokens, x_stride) from x_off, in XT units
                                                                 // (NORM: the raw residual rows)
@group(0) @binding(2) var<storage, read> wr: array<XT>;         // (n_expert, n_cols): ffn_gate_inp, ne [n_embd, n_expert]
@group(0) @binding(3) var<storage, read_write> ids: array<u32>; // (n_tokens, ks) from ids_off
@group(0) @binding(4) var<storage, read_write> wout: array<f32>; // (n_tokens, ks) from w_off
#ifdef USAGE_COUNTS
@group(0) @binding(B_CNT) var<storage, read_write> counts: array<atomic<u32>>; // (n_layer, n_expert) from cnt_off
#endif
#ifdef SHARED_GATE
@group(0) @binding(B_SHG) var<storage, read> wsh: array<XT>;    // (n_cols): ffn_gate_inp_shexp, ne [n_embd]
#endif
#ifdef PREFILL_HIST
@group(0) @binding(B_HIST) var<storage, read_write> hist: array<atomic<u32>>; // (n_expert)
@group(0) @binding(B_SLOT) var<storage, read_write> slot_pos: array<u32>;     // (n_tokens, k) from slot_off
#endif

#ifdef NORM
@group(0) @binding(B_NW) var<storage, read> nw: array<XT>;        // (n_cols) norm weight from nw_off
@group(0) @binding(B_XN) var<storage, read_write> xn: array<XT>;  // out: (n_tokens, xn_stride) from xn_off
#endif

#include "moe_common"

var<workgroup> lg: array<f32, MAX_E>;    // logits of this token (+ the shared gate's at n_expert)
var<workgroup> sel: array<u32, 16>;      // selected experts by rank
var<workgroup> red: array<f32, WG>;      // NO_RENORM's softmax denominator; the norm's reductions (wg_reduce)
#ifdef NORM
#include "wg_reduce"
#endif

fn wrow(shared_row: bool, i: u32) -> XT {
#ifdef SHARED_GATE
  if (shared_row) { return wsh[i]; }
#endif
  return wr[i];
}

// The router's input element i: x, or the normalised row the workgroup wrote.
fn xin(i: u32) -> XT {
#ifdef NORM
  return xn[i];
#else
  return x[i];
#endif
}

fn sanitize(v: f32) -> f32 {
  // Bit test, not v != v: compilers may assume no NaNs.
  if ((bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u) { return -3.0e38; }
  return clamp(v, -3.0e38, 3.0e38);
}

// Dot of row e (router row, or the shared gate at e == n_expert) with x, over this lane's columns; four
// independent accumulators keep four loads in flight (one workgroup reads the whole router: latency-bound).
fn row_dot(e: u32, lane: u32, xb: u32) -> f32 {
  let n = params.n_cols;
  var wb = e * n;
  var shared_row = false;
#ifdef SHARED_GATE
  shared_row = e == params.n_expert;
  if (shared_row) { wb = 0u; }
#endif
  if (e > params.n_expert || (e == params.n_expert && !shared_row)) { return 0.0; }
  var a0 = 0.0;
  var a1 = 0.0;
  var a2 = 0.0;
  var a3 = 0.0;
  var c = lane;
  for (; c + 3u * TPR < n; c += 4u * TPR) {
    a0 += dotx(wrow(shared_row, wb + c), xin(xb + c));
    a1 += dotx(wrow(shared_row, wb + c + TPR), xin(xb + c + TPR));
    a2 += dotx(wrow(shared_row, wb + c + 2u * TPR), xin(xb + c + 2u * TPR));
    a3 += dotx(wrow(shared_row, wb + c + 3u * TPR), xin(xb + c + 3u * TPR));
  }
  for (; c < n; c += TPR) { a0 += dotx(wrow(shared_row, wb + c), xin(xb + c)); }
  return (a0 + a1) + (a2 + a3);
}

#ifdef NORM
// 8 floats per invocation held on the register path (n_cols <= PT * WG), 4 loads in flight on the streaming path,
// as norm.wgsl: in vec4 units, 2 and 1 (fewer unrolled vec4 slots also keep software compilers fast).
const PT: u32 = 8u / VW;
const UNROLL: u32 = 4u / VW;

// xn[yb ..] = norm(x[xb ..]) * nw, kernels/norm.wgsl's two paths in XT units. Uniform control flow (barriers).
fn norm_row(xb: u32, yb: u32, li: u32, sg_id: u32, sg_lane: u32, n_sg: u32) {
  let n = params.n_cols;
  let nf = f32(n * VW);
  let one = XT(1.0);
  if (n <= PT * WG) {
    // Whole row in registers: PT independent loads per invocation, one trip to memory.
    var v: array<XT, PT>;
    for (var u = 0u; u < PT; u++) {
      let i = li + u * WG;
      v[u] = XT(0.0);
      if (i < n) { v[u] = x[xb + i]; }
    }
#ifdef LAYER_NORM
    // Centred on the row's first value: a large common offset costs no precision in the mean or deviations.
    let pivot = elem0(x[xb]);
    var s1 = 0.0;
    for (var u = 0u; u < PT; u++) {
      if (li + u * WG < n) { v[u] = v[u] - pivot; s1 += dotx(v[u], one); }
    }
    let mean = wg_sum(s1, li, sg_id, sg_lane, n_sg) / nf;
#else
    let mean = 0.0;
#endif
    var s2 = 0.0;
    for (var u = 0u; u < PT; u++) {
      if (li + u * WG < n) {
        v[u] = v[u] - mean;
        s2 += dotx(v[u], v[u]);
      }
    }
    let inv = 1.0 / sqrt(wg_sum(s2, li, sg_id, sg_lane, n_sg) / nf + params.eps);
    for (var u = 0u; u < PT; u++) {
      let i = li + u * WG;
      if (i < n) { xn[yb + i] = v[u] * inv * nw[params.nw_off + i]; }
    }
    return;
  }
  // Long rows: stream the row three times (LayerNorm) or twice (RMS), UNROLL loads in flight per invocation.
#ifdef LAYER_NORM
  let pivot = elem0(x[xb]);
  var s1 = 0.0;
  for (var i0 = li; i0 < n; i0 += UNROLL * WG) {
    var tb: array<XT, UNROLL>;
    for (var u = 0u; u < UNROLL; u++) {
      let i = i0 + u * WG;
      tb[u] = XT(0.0);
      if (i < n) { tb[u] = x[xb + i] - pivot; }
    }
    for (var u = 0u; u < UNROLL; u++) { s1 += dotx(tb[u], one); }
  }
  let mean = wg_sum(s1, li, sg_id, sg_lane, n_sg) / nf;
#else
  let pivot = 0.0;
  let mean = 0.0;
#endif
  var s2 = 0.0;
  for (var i0 = li; i0 < n; i0 += UNROLL * WG) {
    var tb: array<XT, UNROLL>;
    for (var u = 0u; u < UNROLL; u++) {
      let i = i0 + u * WG;
      tb[u] = XT(0.0);
      if (i < n) { tb[u] = (x[xb + i] - pivot) - mean; }
    }
    for (var u = 0u; u < UNROLL; u++) { s2 += dotx(tb[u], tb[u]); }
  }
  let inv = 1.0 / sqrt(wg_sum(s2, li, sg_id, sg_lane, n_sg) / nf + params.eps);
  for (var i = li; i < n; i += WG) {
    xn[yb + i] = ((x[xb + i] - pivot) - mean) * inv * nw[params.nw_off + i];
  }
}
#endif

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
#ifdef USE_SUBGROUPS
  @builtin(subgroup_size) sg: u32,
#ifdef NORM
  @builtin(subgroup_id) sg_id: u32,
  @builtin(subgroup_invocation_id) sg_lane: u32,
  @builtin(num_subgroups) n_sg: u32,
#endif
#endif
) {
#ifndef USE_SUBGROUPS
  let sg = 1u;
  let sg_id = 0u;
  let sg_lane = 0u;
  let n_sg = 0u;
#endif
  let t = wid.x + wid.y * nwg.x;
  if (t >= params.n_tokens) { return; }
  let ne = params.n_expert;
  let k = params.k;
#ifdef NORM
  // 0. The normalised row, written for the experts and read back below (this workgroup's own writes).
  let xb = params.xn_off + t * params.xn_stride;
  norm_row(params.x_off + t * params.x_stride, xb, li, sg_id, sg_lane, n_sg);
  storageBarrier();
#else
  let xb = params.x_off + t * params.x_stride;
#endif

  // 1. Logits, one team of TPR invocations per row.
  var n_rows = ne;
#ifdef SHARED_GATE
  n_rows = ne + 1u;
#endif
  let n_teams = WG / TPR; // TPR = params.tpr (define)
  let team = li / TPR;
  let lane = li % TPR;
  for (var r0 = 0u; r0 < n_rows; r0 += n_teams) {
    let e = r0 + team;
    let s = team_sum2(li, vec2<f32>(row_dot(e, lane, xb), 0.0), sg);
    if (lane == 0u && e < n_rows) { lg[e] = sanitize(s.x); }
  }
  workgroupBarrier();

  // 2. Top-k by rank: rank(e) = #{j : lg[j] > lg[e] or (lg[j] == lg[e] and j < e)}.
  for (var e = li; e < ne; e += WG) {
    let v = lg[e];
    var rank = 0u;
    for (var j = 0u; j < ne; j++) {
      let u = lg[j];
      rank += select(0u, 1u, u > v || (u == v && j < e));
    }
    if (rank < k) { sel[rank] = e; }
  }
  workgroupBarrier();

  // 3. Softmax denominators; the maximum is the rank-0 logit.
  let m = lg[sel[0]];
#ifdef NO_RENORM
  var part = 0.0;
  for (var e = li; e < ne; e += WG) { part += exp(lg[e] - m); }
  red[li] = part;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] = red[li] + red[li + s]; }
    workgroupBarrier();
  }
  let denom = red[0];
#else
  var denom = 0.0;
  for (var j = 0u; j < k; j++) { denom += exp(lg[sel[j]] - m); }
#endif

  // 4. Outputs.
  let o = t * params.ks;
  if (li < k) {
    let e = sel[li];
    ids[params.ids_off + o + li] = e;
    wout[params.w_off + o + li] = exp(lg[e] - m) / denom * params.scale;
#ifdef USAGE_COUNTS
    atomicAdd(&counts[params.cnt_off + e], 1u);
#endif
#ifdef PREFILL_HIST
    slot_pos[params.slot_off + t * k + li] = atomicAdd(&hist[e], 1u);
#endif
  }
#ifdef SHARED_GATE
  if (li == 0u) {
    ids[params.ids_off + o + k] = ne;
    wout[params.w_off + o + k] = 1.0 / (1.0 + exp(-lg[ne]));
  }
#endif
}
