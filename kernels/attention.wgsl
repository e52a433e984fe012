// Causal attention of T query tokens over the KV cache, f32 math, GQA (query head h reads KV head h / (n_head / n_kv)).
// Query t at position pos[t] attends to cache positions 0..pos[t] (clamped to n_ctx - 1).
// q: (T, n_head, hd) at q_off, tokens q_stride apart; out: same layout at o_off / o_stride; cache (n_kv, n_ctx, hd)
// f32 or f16 (KV_F16). Offsets, strides and hd are multiples of 4 (vec4 loads). Scores are q.k * scale.
// Kernels (one define each):
//   SPLIT   — flash-decoding: workgroup (chunk c, KV head x head group, token t) handles `chunk` positions for up
//             to HMAX query heads sharing one KV head, so each K/V row is read once for the whole GQA group. One
//             invocation per position computes the scores of all heads in registers (K rows read straight from
//             memory, LU independent vec4 loads at a time); a chunk-local softmax (max subtracted) in workgroup
//             memory; then P.V with invocations on (position group, column): V rows are read once, coalesced,
//             and the groups' partial sums are added in workgroup memory. Writes unnormalised partials o_c and
//             (m_c, l_c), or the final output directly with DIRECT (one chunk covers the whole cache).
//             With PROLOGUE (T = 1, attentionDecodeFused) it reads the raw projection instead of a rope'd q: each
//             workgroup runs the prologue of lib/qkv_prologue.wgsl (clamp, Q/K norm, RoPE: the same arithmetic as
//             rope.wgsl, so the same bits) for its query heads, and the workgroup whose chunk holds the token's
//             position also for the new K and V of its KV head: it writes them into the cache (head group 0) and
//             uses them for that position from workgroup memory. Chunks map to positions [c·chunk, (c+1)·chunk),
//             so every other workgroup's chunk lies below the position or is idle (or, DIRECT, there is one chunk):
//             no workgroup reads the row being written, and no cross-workgroup synchronisation is needed.
//   REDUCE  — workgroup (head, token): o = sum_c o_c e^(m_c - M) / sum_c l_c e^(m_c - M) over the used chunks.
//   PREFILL — flash-attention 2: workgroup (block of BQ tokens, head) keeps each row's running max, sum and
//             output in registers (tpr = WG / BQ invocations per row, each owning hd / 4 / tpr vec4 columns) and
//             walks the cache in tiles of BC positions staged in workgroup memory, masked per row by position.
#ifdef KV_F16
enable f16;
alias KV4 = vec4<f16>;
#else
alias KV4 = vec4<f32>;
#endif

override WG: u32 = 128u;
override QS4: u32 = 512u;    // query tile, vec4 slots
override TILE4: u32 = 512u;  // K (and V) tile, vec4 slots, rows hd/4 + 1 apart
override SN: u32 = 2048u;    // score slots

const NEG: f32 = -3.0e38;
const ACC: u32 = 4u;         // vec4 accumulators per invocation
const LU: u32 = 8u;          // independent loads in flight per invocation
const HMAX: u32 = 8u;        // query heads per decode workgroup (register accumulators)
const NONE: u32 = 0xffffffffu;

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
#ifdef REDUCE
@group(0) @binding(1) var<storage, read> part: array<vec4<f32>>;        // o_c (T, n_head, n_chunks, hd) then (m, l) per (t, h, c)
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;   // (T, n_head, hd)
#ifndef POS_PARAM
@group(0) @binding(3) var<storage, read> pos: array<u32>;               // (T) at pos_off
#endif
#else
#ifdef PROLOGUE
@group(0) @binding(1) var<storage, read> src: array<f32>;               // projection: Q at q_off, K at k_off, V at v_off
@group(0) @binding(2) var<storage, read_write> kc: array<KV4>;          // (n_kv, n_ctx, hd): the new row written here
@group(0) @binding(3) var<storage, read_write> vc: array<KV4>;          // (n_kv, n_ctx, hd)
#else
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;           // (T, n_head, hd)
@group(0) @binding(2) var<storage, read> kc: array<KV4>;                // (n_kv, n_ctx, hd)
@group(0) @binding(3) var<storage, read> vc: array<KV4>;                // (n_kv, n_ctx, hd)
#endif
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;   // (T, n_head, hd), or partials (SPLIT without DIRECT)
#ifndef POS_PARAM
@group(0) @binding(5) var<storage, read> pos: array<u32>;               // (T) at pos_off
#endif
#ifdef FREQ_FACTORS
@group(0) @binding(B_FF) var<storage, read> ff: array<f32>;             // (n_rot / 2) at ff_off
#endif
#ifdef QK_NORM
@group(0) @binding(B_QW) var<storage, read> qw: array<f32>;             // (hd) or (n_head * hd) at qw_off
@group(0) @binding(B_KW) var<storage, read> kw: array<f32>;             // (hd) or (n_kv * hd) at kw_off
#endif
#endif

fn position(t: u32) -> u32 {
#ifdef POS_PARAM
  return params.pos0 + t;
#else
  return pos[params.pos_off + t];
#endif
}

fn kv_len(t: u32) -> u32 {
  return min(position(t) + 1u, params.n_ctx);
}

#ifdef SPLIT
var<workgroup> qs: array<vec4<f32>, QS4>;       // (nh, hd/4), pre-scaled
var<workgroup> s: array<f32, SN>;               // (nh, chunk) scores, then e^(s - m)
var<workgroup> red: array<f32, WG>;
var<workgroup> red4: array<vec4<f32>, WG>;
var<workgroup> mrow: array<f32, HMAX>;
var<workgroup> lrow: array<f32, HMAX>;
var<workgroup> u_nv: u32;

#ifdef PROLOGUE
override NEW4: u32 = 64u;                       // hd / 4
// The new position's K and V in the cache's type: a conversion to f16 and back in registers may be folded away
// by the driver (lavapipe does), the stored f16 is what attention reads elsewhere.
var<workgroup> knew: array<KV4, NEW4>;
var<workgroup> vnew: array<KV4, NEW4>;
var<workgroup> inv_n: array<f32, 9>;            // norm factors: Q heads (or all of Q), then K (HMAX + 1)
var<workgroup> u_new: u32;                      // the new position's index in this chunk, or NONE

#include "qkv_prologue"

// Elements 4d .. 4d+3 of the head at src[b ..] after clamp, norm and RoPE; (cos, sin) of pair j in s[2j], s[2j+1].
fn pro_vec4(b: u32, d: u32, inv: f32, is_k: bool, wb: u32) -> vec4<f32> {
  var r: vec4<f32>;
  for (var c = 0u; c < 4u; c++) {
    let i = 4u * d + c;
    if (i < params.n_rot) {
      let j = rope_pair_of(i);
      let ij = rope_pair(j);
      let x0 = pro_load(b, ij.x, inv, is_k, wb);
      let x1 = pro_load(b, ij.y, inv, is_k, wb);
      let cs = vec2<f32>(s[2u * j], s[2u * j + 1u]);
      r[c] = select(rope_second(x0, x1, cs), rope_first(x0, x1, cs), i == ij.x);
    } else {
      r[c] = pro_load(b, i, inv, is_k, wb);
    }
  }
  return r;
}
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let c = wid.x;
  let kvh = wid.y / params.n_hg;
  let hg = wid.y % params.n_hg;
  let t = wid.z;
  let g = params.n_head / params.n_kv;
  let h0 = kvh * g + hg * params.hsub;
  let nh = min(params.hsub, g - hg * params.hsub);
  let start = c * params.chunk;
  if (tid == 0u) {
    let len = kv_len(t);
    u_nv = select(0u, min(params.chunk, len - start), start < len);
#ifdef PROLOGUE
    let pt = position(t);
    u_new = select(NONE, pt - start, pt < params.n_ctx && pt >= start && pt - start < params.chunk);
#endif
  }
  let nv = workgroupUniformLoad(&u_nv);
  if (nv == 0u) { return; }
  let hd4 = params.hd / 4u;
  let cs = params.chunk;

#ifdef PROLOGUE
  // The new position, when in this chunk, is its last (nv - 1): positions below it come from the cache.
  let fresh = workgroupUniformLoad(&u_new);
  let n_cached = select(nv, fresh, fresh != NONE);
  let p_cur = position(t);
  let hd = params.hd;
  // cos/sin of every pair at the position, in the score slots (free until the scores).
  for (var j = tid; j < params.n_rot / 2u; j += WG) {
    let r = cos_sin(rope_theta(p_cur, j));
    s[2u * j] = r.x;
    s[2u * j + 1u] = r.y;
  }
  let qrow = params.q_off + t * params.q_stride;
  let krow = params.k_off + t * params.k_stride;
  let vrow = params.v_off + t * params.v_stride;
#ifdef QK_NORM
  // Norm factors, one 32-invocation team per sum (pro_sumsq's fixed order): the nh Q heads (or all of Q), then K.
#ifdef QK_NORM_FULL
  let nq = 1u;
#else
  let nq = nh;
#endif
  let items = nq + select(0u, 1u, fresh != NONE);
  let team = tid / 32u;
  for (var r0 = 0u; r0 < items; r0 += WG / 32u) {
    let it = r0 + team;
    var b = 0u;
    var n = 0u;
#ifdef QK_NORM_FULL
    if (it < nq) {
      b = qrow;
      n = params.n_head * hd;
    } else if (it < items) {
      b = krow;
      n = params.n_kv * hd;
    }
#else
    if (it < nq) {
      b = qrow + (h0 + it) * hd;
      n = hd;
    } else if (it < items) {
      b = krow + kvh * hd;
      n = hd;
    }
#endif
    let ss = pro_sumsq(b, n, tid, team);
    if (tid % 32u == 0u && it < items) { inv_n[it] = pro_inv(ss, n); }
  }
#endif
  workgroupBarrier();
  for (var e = tid; e < nh * hd4; e += WG) {
    let j = e / hd4;
    var inv = 1.0;
    var wb = 0u;
#ifdef QK_NORM
#ifdef QK_NORM_FULL
    inv = inv_n[0];
    wb = (h0 + j) * hd;
#else
    inv = inv_n[j];
#endif
#endif
    qs[e] = pro_vec4(qrow + (h0 + j) * hd, e - j * hd4, inv, false, wb) * params.scale;
  }
  if (fresh != NONE) {
    var inv = 1.0;
    var wb = 0u;
#ifdef QK_NORM
    inv = inv_n[nq];
#ifdef QK_NORM_FULL
    wb = kvh * hd;
#endif
#endif
    let kb = krow + kvh * hd;
    let vb = vrow + kvh * hd;
    let crow = (kvh * params.n_ctx + p_cur) * hd4;
    for (var d = tid; d < hd4; d += WG) {
      let kq = KV4(pro_vec4(kb, d, inv, true, wb));
      let i = vb + 4u * d;
      let vq = KV4(vec4<f32>(clampv(src[i]), clampv(src[i + 1u]), clampv(src[i + 2u]), clampv(src[i + 3u])));
      knew[d] = kq;
      vnew[d] = vq;
      if (hg == 0u) {
        kc[params.kc_off / 4u + crow + d] = kq;
        vc[params.vc_off / 4u + crow + d] = vq;
      }
    }
  }
#else
  let n_cached = nv;
  let qb = (params.q_off + t * params.q_stride) / 4u + h0 * hd4;
  for (var i = tid; i < nh * hd4; i += WG) { qs[i] = q[qb + i] * params.scale; }
#endif
  workgroupBarrier();

  // Scores: one invocation per position, all nh heads at once, so each K row is read once (LU independent vec4
  // loads at a time, straight from memory) and q comes from workgroup memory as a broadcast.
  let kb = params.kc_off / 4u + (kvh * params.n_ctx + start) * hd4;
  for (var p = tid; p < n_cached; p += WG) {
    // Explicitly zeroed: an uninitialised `var` in a loop body is not reliably re-zeroed per iteration.
    var acc: array<f32, HMAX>;
    for (var j = 0u; j < HMAX; j++) { acc[j] = 0.0; }
    for (var d0 = 0u; d0 < hd4; d0 += LU) {
      var kr: array<vec4<f32>, LU>;
      for (var u = 0u; u < LU; u++) {
        if (d0 + u < hd4) { kr[u] = vec4<f32>(kc[kb + p * hd4 + d0 + u]); }
      }
      for (var u = 0u; u < LU; u++) {
        if (d0 + u < hd4) {
          for (var j = 0u; j < HMAX; j++) {
            if (j < nh) { acc[j] += dot(qs[j * hd4 + d0 + u], kr[u]); }
          }
        }
      }
    }
    for (var j = 0u; j < HMAX; j++) {
      if (j < nh) { s[j * cs + p] = acc[j]; }
    }
  }
#ifdef PROLOGUE
  // The new position's scores from workgroup memory, summed in the loop's order (d ascending).
  if (fresh != NONE && tid == fresh % WG) {
    var acc: array<f32, HMAX>;
    for (var j = 0u; j < HMAX; j++) { acc[j] = 0.0; }
    for (var d = 0u; d < hd4; d++) {
      let kr = vec4<f32>(knew[d]);
      for (var j = 0u; j < HMAX; j++) {
        if (j < nh) { acc[j] += dot(qs[j * hd4 + d], kr); }
      }
    }
    for (var j = 0u; j < HMAX; j++) {
      if (j < nh) { s[j * cs + fresh] = acc[j]; }
    }
  }
#endif
  workgroupBarrier();

  // Chunk softmax per head: L lanes per head reduce max, then sum of exp.
  var L = 1u;
  loop {
    if (L * 2u * nh > WG) { break; }
    L *= 2u;
  }
  let in_grp = tid < nh * L;
  let jl = tid / L;
  let lane = tid % L;
  var mx = NEG;
  if (in_grp) {
    for (var p = lane; p < nv; p += L) { mx = max(mx, s[jl * cs + p]); }
  }
  red[tid] = mx;
  for (var st = L / 2u; st > 0u; st >>= 1u) {
    workgroupBarrier();
    if (in_grp && lane < st) { red[tid] = max(red[tid], red[tid + st]); }
  }
  workgroupBarrier();
  if (in_grp && lane == 0u) { mrow[jl] = red[tid]; }
  workgroupBarrier();
  var sm = 0.0;
  if (in_grp) {
    let m = mrow[jl];
    for (var p = lane; p < nv; p += L) {
      let e = exp(s[jl * cs + p] - m);
      s[jl * cs + p] = e;
      sm += e;
    }
  }
  red[tid] = sm;
  for (var st = L / 2u; st > 0u; st >>= 1u) {
    workgroupBarrier();
    if (in_grp && lane < st) { red[tid] += red[tid + st]; }
  }
  workgroupBarrier();
  if (in_grp && lane == 0u) { lrow[jl] = red[tid]; }

  // P.V: invocation (group gi, column d) sums positions gi, gi + G, ... for all heads; V rows are read once,
  // coalesced (consecutive invocations read consecutive vec4 of a row).
  let G = WG / hd4;
  let gi = tid / hd4;
  let d = tid % hd4;
  var o: array<vec4<f32>, HMAX>;
  let vb = params.vc_off / 4u + (kvh * params.n_ctx + start) * hd4;
  if (gi < G) {
    for (var p0 = gi; p0 < n_cached; p0 += LU * G) {
      var vr: array<vec4<f32>, LU>;
      for (var u = 0u; u < LU; u++) {
        let p = p0 + u * G;
        if (p < n_cached) { vr[u] = vec4<f32>(vc[vb + p * hd4 + d]); }
      }
      for (var u = 0u; u < LU; u++) {
        let p = p0 + u * G;
        if (p < n_cached) {
          for (var j = 0u; j < HMAX; j++) {
            if (j < nh) { o[j] += s[j * cs + p] * vr[u]; }
          }
        }
      }
    }
#ifdef PROLOGUE
    // The new position is the last one of its group gi, so it is added last, as the loop would.
    if (fresh != NONE && gi == fresh % G) {
      let vr = vec4<f32>(vnew[d]);
      for (var j = 0u; j < HMAX; j++) {
        if (j < nh) { o[j] += s[j * cs + fresh] * vr; }
      }
    }
#endif
  }
  // Sum the G partial columns of each head through workgroup memory.
  for (var j = 0u; j < HMAX; j++) {
    if (j < nh) {
      workgroupBarrier();
      red4[tid] = o[j];
      workgroupBarrier();
      if (tid < hd4) {
        var tot = vec4<f32>(0.0);
        for (var k = 0u; k < G; k++) { tot += red4[k * hd4 + tid]; }
#ifdef DIRECT
        out[(params.o_off + t * params.o_stride) / 4u + (h0 + j) * hd4 + tid] = tot / lrow[j];
#else
        let row = (t * params.n_head + h0 + j) * params.n_chunks + c;
        out[params.part_off / 4u + row * hd4 + tid] = tot;
        if (tid == 0u) {
          out[params.part_off / 4u + params.n_tok * params.n_head * params.n_chunks * hd4 + row] = vec4<f32>(mrow[j], lrow[j], 0.0, 0.0);
        }
#endif
      }
    }
  }
}
#endif

#ifdef REDUCE
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let h = wid.x;
  let t = wid.y;
  let hd4 = params.hd / 4u;
  let n_used = (kv_len(t) + params.chunk - 1u) / params.chunk;
  let row0 = (t * params.n_head + h) * params.n_chunks;
  let mlb = params.part_off / 4u + params.n_tok * params.n_head * params.n_chunks * hd4 + row0;
  var mx = NEG;
  for (var c = 0u; c < n_used; c++) { mx = max(mx, part[mlb + c].x); }
  var l = 0.0;
  for (var c = 0u; c < n_used; c++) {
    let ml = part[mlb + c];
    l += ml.y * exp(ml.x - mx);
  }
  for (var d = tid; d < hd4; d += WG) {
    var acc = vec4<f32>(0.0);
    for (var c = 0u; c < n_used; c++) {
      acc += part[params.part_off / 4u + (row0 + c) * hd4 + d] * exp(part[mlb + c].x - mx);
    }
    out[(params.o_off + t * params.o_stride) / 4u + h * hd4 + d] = acc / l;
  }
}
#endif

#ifdef PREFILL
var<workgroup> qs: array<vec4<f32>, QS4>;
var<workgroup> kt: array<vec4<f32>, TILE4>;
var<workgroup> vt: array<vec4<f32>, TILE4>;
var<workgroup> s: array<f32, SN>;
var<workgroup> u_end: atomic<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let bq = params.bq;
  let bc = params.bc;
  let h = wid.y;
  let kvh = h / (params.n_head / params.n_kv);
  let t0 = wid.x * bq;
  let nq = min(bq, params.n_tok - t0);
  let hd4 = params.hd / 4u;
  let rs = hd4 + 1u;
  let tpr = WG / bq;
  let r_me = tid / tpr;
  let lane = tid % tpr;
  let row_ok = r_me < nq;
  var my_len = 0u;
  if (row_ok) {
    my_len = kv_len(t0 + r_me);
    atomicMax(&u_end, my_len);
  }
  for (var i = tid; i < nq * hd4; i += WG) {
    let r = i / hd4;
    let d = i - r * hd4;
    qs[i] = q[(params.q_off + (t0 + r) * params.q_stride) / 4u + h * hd4 + d] * params.scale;
  }
  let kv_end = workgroupUniformLoad(&u_end);

  var m = NEG;
  var l = 0.0;
  var acc: array<vec4<f32>, ACC>;
  let kb = params.kc_off / 4u + kvh * params.n_ctx * hd4;
  let vb = params.vc_off / 4u + kvh * params.n_ctx * hd4;
  for (var kv0 = 0u; kv0 < kv_end; kv0 += bc) {
    let nc = min(bc, kv_end - kv0);
    workgroupBarrier();
    // K and V tiles: LU/2 loads of each in flight per invocation before any store.
    let cnt = nc * hd4;
    for (var i0 = 0u; i0 < cnt; i0 += (LU / 2u) * WG) {
      var tk: array<vec4<f32>, LU / 2u>;
      var tv: array<vec4<f32>, LU / 2u>;
      for (var u = 0u; u < LU / 2u; u++) {
        let i = i0 + tid + u * WG;
        if (i < cnt) {
          tk[u] = vec4<f32>(kc[kb + kv0 * hd4 + i]);
          tv[u] = vec4<f32>(vc[vb + kv0 * hd4 + i]);
        }
      }
      for (var u = 0u; u < LU / 2u; u++) {
        let i = i0 + tid + u * WG;
        if (i < cnt) {
          let r = i / hd4;
          kt[r * rs + (i - r * hd4)] = tk[u];
          vt[r * rs + (i - r * hd4)] = tv[u];
        }
      }
    }
    workgroupBarrier();
    for (var i = tid; i < nq * nc; i += WG) {
      let r = i / nc;
      let c = i - r * nc;
      var a4 = vec4<f32>(0.0);
      for (var d = 0u; d < hd4; d++) { a4 += qs[r * hd4 + d] * kt[c * rs + d]; }
      s[r * bc + c] = a4.x + a4.y + a4.z + a4.w;
    }
    workgroupBarrier();
    if (row_ok) {
      // Keys kv0 + c < my_len are visible to this row.
      let nvis = min(nc, select(0u, my_len - kv0, my_len > kv0));
      var tmax = NEG;
      for (var c = 0u; c < nvis; c++) { tmax = max(tmax, s[r_me * bc + c]); }
      let m_new = max(m, tmax);
      let alpha = exp(m - m_new);
      l *= alpha;
      for (var a = 0u; a < ACC; a++) { acc[a] *= alpha; }
      for (var c = 0u; c < nvis; c++) {
        let p = exp(s[r_me * bc + c] - m_new);
        l += p;
        for (var a = 0u; a < ACC; a++) {
          let d = lane + a * tpr;
          if (d < hd4) { acc[a] += p * vt[c * rs + d]; }
        }
      }
      m = m_new;
    }
  }
  if (row_ok) {
    for (var a = 0u; a < ACC; a++) {
      let d = lane + a * tpr;
      if (d < hd4) { out[(params.o_off + (t0 + r_me) * params.o_stride) / 4u + h * hd4 + d] = acc[a] / l; }
    }
  }
}
#endif
