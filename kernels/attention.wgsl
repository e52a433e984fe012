// Causal attention of T query tokens over the KV cache, f32 math, GQA (query head h reads KV head h / (n_head / n_kv)).
// Query t at position pos[t] attends to cache positions 0..pos[t] (clamped to n_ctx - 1).
// q: (T, n_head, hd) at q_off, tokens q_stride apart; out: same layout at o_off / o_stride; cache (n_kv, n_ctx, hd)
// f32 or f16 (KV_F16). Offsets, strides and hd are multiples of 4 (vec4 loads). Scores are q.k * scale.
// Kernels (one define each):
//   SPLIT   — flash-decoding: workgroup (chunk c, KV head x head group, token t) scores `chunk` positions for
//             hsub query heads that share one KV head (each K/V row is read once for the whole GQA group), then a
//             chunk-local softmax (max subtracted) and P.V. Writes unnormalised partials o_c and (m_c, l_c), or the
//             final output directly with DIRECT (one chunk covers the whole cache). K and V are staged through
//             workgroup memory with coalesced vec4 loads; rows are padded by one vec4 so that reads by position
//             do not collide in memory banks.
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

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
#ifdef REDUCE
@group(0) @binding(1) var<storage, read> part: array<vec4<f32>>;        // o_c (T, n_head, n_chunks, hd) then (m, l) per (t, h, c)
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;   // (T, n_head, hd)
#ifndef POS_PARAM
@group(0) @binding(3) var<storage, read> pos: array<u32>;               // (T) at pos_off
#endif
#else
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;           // (T, n_head, hd)
@group(0) @binding(2) var<storage, read> kc: array<KV4>;                // (n_kv, n_ctx, hd)
@group(0) @binding(3) var<storage, read> vc: array<KV4>;                // (n_kv, n_ctx, hd)
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;   // (T, n_head, hd), or partials (SPLIT without DIRECT)
#ifndef POS_PARAM
@group(0) @binding(5) var<storage, read> pos: array<u32>;               // (T) at pos_off
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
var<workgroup> qs: array<vec4<f32>, QS4>;
var<workgroup> kt: array<vec4<f32>, TILE4>;
var<workgroup> s: array<f32, SN>;
var<workgroup> red: array<f32, WG>;
var<workgroup> mrow: array<f32, 32>;
var<workgroup> lrow: array<f32, 32>;
var<workgroup> u_nv: u32;

// Stages positions [p0, p0 + np) of this chunk of K (or V) into kt.
fn load_tile(from_v: bool, base: u32, p0: u32, np: u32, hd4: u32, rs: u32, tid: u32) {
  for (var i = tid; i < np * hd4; i += WG) {
    let r = i / hd4;
    let d = i - r * hd4;
    if (from_v) {
      kt[r * rs + d] = vec4<f32>(vc[base + p0 * hd4 + i]);
    } else {
      kt[r * rs + d] = vec4<f32>(kc[base + p0 * hd4 + i]);
    }
  }
}

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
  }
  let nv = workgroupUniformLoad(&u_nv);
  if (nv == 0u) { return; }
  let hd4 = params.hd / 4u;
  let rs = hd4 + 1u;
  let tp = TILE4 / rs;
  let cs = params.chunk;

  let qb = (params.q_off + t * params.q_stride) / 4u + h0 * hd4;
  for (var i = tid; i < nh * hd4; i += WG) { qs[i] = q[qb + i] * params.scale; }

  // Scores s[j][p] = q_j . k_p for the chunk, tile by tile.
  let kb = params.kc_off / 4u + (kvh * params.n_ctx + start) * hd4;
  for (var p0 = 0u; p0 < nv; p0 += tp) {
    let np = min(tp, nv - p0);
    workgroupBarrier();
    load_tile(false, kb, p0, np, hd4, rs, tid);
    workgroupBarrier();
    for (var i = tid; i < nh * np; i += WG) {
      let j = i / np;
      let r = i - j * np;
      var acc = vec4<f32>(0.0);
      for (var d = 0u; d < hd4; d++) { acc += qs[j * hd4 + d] * kt[r * rs + d]; }
      s[j * cs + p0 + r] = acc.x + acc.y + acc.z + acc.w;
    }
  }
  workgroupBarrier();

  // Chunk softmax per head: L lanes per head reduce max, then sum of exp.
  var L = 1u;
  loop {
    if (L * 2u * nh > WG) { break; }
    L *= 2u;
  }
  let in_grp = tid < nh * L;
  let j = tid / L;
  let lane = tid % L;
  var mx = NEG;
  if (in_grp) {
    for (var p = lane; p < nv; p += L) { mx = max(mx, s[j * cs + p]); }
  }
  red[tid] = mx;
  for (var st = L / 2u; st > 0u; st >>= 1u) {
    workgroupBarrier();
    if (in_grp && lane < st) { red[tid] = max(red[tid], red[tid + st]); }
  }
  workgroupBarrier();
  if (in_grp && lane == 0u) { mrow[j] = red[tid]; }
  workgroupBarrier();
  var sm = 0.0;
  if (in_grp) {
    let m = mrow[j];
    for (var p = lane; p < nv; p += L) {
      let e = exp(s[j * cs + p] - m);
      s[j * cs + p] = e;
      sm += e;
    }
  }
  red[tid] = sm;
  for (var st = L / 2u; st > 0u; st >>= 1u) {
    workgroupBarrier();
    if (in_grp && lane < st) { red[tid] += red[tid + st]; }
  }
  workgroupBarrier();
  if (in_grp && lane == 0u) { lrow[j] = red[tid]; }

  // o_j = sum_p e_jp v_p; invocation owns outputs tid + a * WG (a < ACC) of nh * hd4.
  var acc: array<vec4<f32>, ACC>;
  let nout = nh * hd4;
  let vb = params.vc_off / 4u + (kvh * params.n_ctx + start) * hd4;
  for (var p0 = 0u; p0 < nv; p0 += tp) {
    let np = min(tp, nv - p0);
    workgroupBarrier();
    load_tile(true, vb, p0, np, hd4, rs, tid);
    workgroupBarrier();
    for (var a = 0u; a < ACC; a++) {
      let o = tid + a * WG;
      if (o < nout) {
        let jj = o / hd4;
        let d = o - jj * hd4;
        var sacc = acc[a];
        for (var r = 0u; r < np; r++) { sacc += s[jj * cs + p0 + r] * kt[r * rs + d]; }
        acc[a] = sacc;
      }
    }
  }
  for (var a = 0u; a < ACC; a++) {
    let o = tid + a * WG;
    if (o < nout) {
      let jj = o / hd4;
      let d = o - jj * hd4;
#ifdef DIRECT
      out[(params.o_off + t * params.o_stride) / 4u + (h0 + jj) * hd4 + d] = acc[a] / lrow[jj];
#else
      let row = (t * params.n_head + h0 + jj) * params.n_chunks + c;
      out[params.part_off / 4u + row * hd4 + d] = acc[a];
      if (d == 0u) {
        out[params.part_off / 4u + params.n_tok * params.n_head * params.n_chunks * hd4 + row] = vec4<f32>(mrow[jj], lrow[jj], 0.0, 0.0);
      }
#endif
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
    for (var i = tid; i < nc * hd4; i += WG) {
      let r = i / hd4;
      let d = i - r * hd4;
      kt[r * rs + d] = vec4<f32>(kc[kb + kv0 * hd4 + i]);
      vt[r * rs + d] = vec4<f32>(vc[vb + kv0 * hd4 + i]);
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
