// Token selection on the GPU, so that a decode step reads back only the token id.
// Kernels (one define each):
//   ARGMAX — one workgroup scans n logits; greedy pick, ties to the lowest id, NaN never wins.
//            USE_SUBGROUPS: subgroupMax/Min then one partial per subgroup; otherwise a workgroup-memory tree.
//   BLOCK  — workgroup b sorts block b (NB elements) of logits (with the repetition penalty when PENALTY) or
//            of candidate pairs (PAIRS) by (value desc, id asc) with a bitonic network in workgroup memory and
//            writes its first k pairs: the per-block partial top-k. Chained until <= NB candidates remain.
//   FINAL  — one workgroup sorts the last <= NB candidates (or all logits of a small vocabulary), keeps the top k,
//            then, as llama.cpp's default chain does: top-p on the temperature-1 probabilities (smallest prefix
//            with cumulative mass >= top_p), min-p (p_i >= min_p * p_max), temperature, and a draw with
//            u = hash(seed, step) in [0, 1). temperature <= 0: the first candidate (greedy, penalised).
// Candidates are (key, id) pairs: key is the logit's bits mapped to an order-preserving u32 (NaN -> 0, below
// -inf), padding is (0, 0xffffffff). Output: out[out_off] = token id, out[out_off + 1] = bits of its
// probability in the final distribution (1.0 for greedy).
#ifdef USE_SUBGROUPS
enable subgroups;
#endif

override WG: u32 = 256u;
override NB: u32 = 2048u;     // sort size (power of two)

const KEY_NEG_INF: u32 = 0x007fffffu;   // key of -inf
const UNROLL: u32 = 8u;                 // loads in flight per invocation
const NO_ID: u32 = 0xffffffffu;

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
#ifdef PAIRS
@group(0) @binding(1) var<storage, read> cand_in: array<vec2<u32>>;   // (n) (key, id) at in_off
#else
@group(0) @binding(1) var<storage, read> logits: array<f32>;           // (n) at in_off
#endif
#ifdef BLOCK
@group(0) @binding(2) var<storage, read_write> cand_out: array<vec2<u32>>;  // (blocks, k) at out_off
#else
@group(0) @binding(2) var<storage, read_write> out: array<u32>;             // [token, prob bits] at out_off
#endif
#ifdef PENALTY
@group(0) @binding(3) var<storage, read> pen: array<u32>;              // (n_pen) recent ids at pen_off; ids >= n ignored
#endif

fn key_of(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0u; }
  if ((b & 0x80000000u) != 0u) { return ~b; }
  return b | 0x80000000u;
}

fn val_of(k: u32) -> f32 {
  if ((k & 0x80000000u) != 0u) { return bitcast<f32>(k & 0x7fffffffu); }
  return bitcast<f32>(~k);
}

// a ranks before b: larger key, then smaller id.
fn before(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
  return ka > kb || (ka == kb && ia < ib);
}

// PCG hash (Jarzynski & Olano 2020).
fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

// Uniform in [0, 1) with 24 bits, from (seed, step): the same pair always gives the same number.
fn uniform01(seed: u32, step: u32) -> f32 {
  return f32(pcg(pcg(seed) ^ step) >> 8u) * (1.0 / 16777216.0);
}

#ifdef ARGMAX
var<workgroup> rk: array<u32, WG>;
var<workgroup> ri: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(
  @builtin(local_invocation_index) tid: u32,
#ifdef USE_SUBGROUPS
  @builtin(subgroup_id) sg_id: u32,
  @builtin(subgroup_invocation_id) sg_lane: u32,
  @builtin(num_subgroups) n_sg: u32,
#endif
) {
  var bk = 0u;
  var bi = NO_ID;
  for (var i0 = tid; i0 < params.n; i0 += UNROLL * WG) {
    var c: array<f32, UNROLL>;
    for (var u = 0u; u < UNROLL; u++) {
      let i = i0 + u * WG;
      if (i < params.n) { c[u] = logits[params.in_off + i]; }
    }
    // Each invocation sees increasing i, so strict > keeps the lowest id among its equal keys.
    for (var u = 0u; u < UNROLL; u++) {
      let i = i0 + u * WG;
      let k = key_of(c[u]);
      if (i < params.n && (k > bk || bi == NO_ID)) {
        bk = k;
        bi = i;
      }
    }
  }
#ifdef USE_SUBGROUPS
  let mk = subgroupMax(bk);
  let mi = subgroupMin(select(NO_ID, bi, bk == mk));
  if (sg_lane == 0u) {
    rk[sg_id] = mk;
    ri[sg_id] = mi;
  }
  workgroupBarrier();
  if (tid == 0u) {
    var k = rk[0];
    var id = ri[0];
    for (var s = 1u; s < n_sg; s++) {
      if (before(rk[s], ri[s], k, id)) {
        k = rk[s];
        id = ri[s];
      }
    }
    out[params.out_off] = select(id, 0u, id == NO_ID);
    out[params.out_off + 1u] = bitcast<u32>(1.0);
  }
#else
  rk[tid] = bk;
  ri[tid] = bi;
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (tid < s && before(rk[tid + s], ri[tid + s], rk[tid], ri[tid])) {
      rk[tid] = rk[tid + s];
      ri[tid] = ri[tid + s];
    }
  }
  if (tid == 0u) {
    out[params.out_off] = select(ri[0], 0u, ri[0] == NO_ID);
    out[params.out_off + 1u] = bitcast<u32>(1.0);
  }
#endif
}
#else

var<workgroup> keys: array<u32, NB>;
var<workgroup> ids: array<u32, NB>;
#ifdef PENALTY
var<workgroup> marked: array<atomic<u32>, NB / 32u>;
#endif

// Loads block blk (NB elements starting at blk * NB; padding past n) and sorts it, best first.
fn load_sort(blk: u32, tid: u32) {
  let lo = blk * NB;
#ifdef PENALTY
  // One bit per id of this block that occurs among the recent tokens: the penalty applies once per id.
  for (var j = tid; j < params.n_pen; j += WG) {
    let id = pen[params.pen_off + j];
    if (id >= lo && id < params.n && id - lo < NB) {
      atomicOr(&marked[(id - lo) / 32u], 1u << ((id - lo) % 32u));
    }
  }
  workgroupBarrier();
#endif
  // UNROLL independent loads per invocation before any use (one memory latency per round, not per element).
  for (var i0 = tid; i0 < NB; i0 += UNROLL * WG) {
#ifdef PAIRS
    var c: array<vec2<u32>, UNROLL>;
#else
    var c: array<f32, UNROLL>;
#endif
    for (var u = 0u; u < UNROLL; u++) {
      let e = lo + i0 + u * WG;
      if (i0 + u * WG < NB && e < params.n) {
#ifdef PAIRS
        c[u] = cand_in[params.in_off + e];
#else
        c[u] = logits[params.in_off + e];
#endif
      }
    }
    for (var u = 0u; u < UNROLL; u++) {
      let i = i0 + u * WG;
      let e = lo + i;
      if (i < NB) {
        var k = 0u;
        var id = NO_ID;
        if (e < params.n) {
#ifdef PAIRS
          k = c[u].x;
          id = c[u].y;
#else
          var v = c[u];
#ifdef PENALTY
          if ((atomicLoad(&marked[i / 32u]) & (1u << (i % 32u))) != 0u) {
            // llama.cpp: logit <= 0 is multiplied by the penalty, a positive one divided.
            v = select(v / params.rep, v * params.rep, v <= 0.0);
          }
#endif
          k = key_of(v);
          id = e;
#endif
        }
        keys[i] = k;
        ids[i] = id;
      }
    }
  }
  workgroupBarrier();
  // Bitonic sort, descending by (key, -id).
  for (var kk = 2u; kk <= NB; kk <<= 1u) {
    for (var j = kk >> 1u; j > 0u; j >>= 1u) {
      for (var i = tid; i < NB / 2u; i += WG) {
        // Pair i of this stage: insert a 0 bit at position log2(j) (j is a power of two).
        let a = ((i & ~(j - 1u)) << 1u) | (i & (j - 1u));
        let b = a + j;
        let desc = (a & kk) == 0u;
        if (before(keys[a], ids[a], keys[b], ids[b]) != desc) {
          let tk = keys[a];
          keys[a] = keys[b];
          keys[b] = tk;
          let ti = ids[a];
          ids[a] = ids[b];
          ids[b] = ti;
        }
      }
      workgroupBarrier();
    }
  }
}

#ifdef BLOCK
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let blk = wid.x + wid.y * nwg.x;
  load_sort(blk, tid);
  for (var i = tid; i < params.k; i += WG) {
    cand_out[params.out_off + blk * params.k + i] = vec2<u32>(keys[i], ids[i]);
  }
}
#endif

#ifdef FINAL
const MAXK: u32 = 256u;
var<workgroup> sc: array<f32, MAXK>;
var<workgroup> red: array<f32, WG>;
var<workgroup> a_keep: atomic<u32>;
var<workgroup> a_pick: atomic<u32>;
var<workgroup> u_keep: u32;

// exp((v_i - v_0) * inv_t): the probability of candidate i relative to the best one.
fn rel_prob(i: u32, v0: f32, inv_t: f32) -> f32 {
  if (i == 0u) { return 1.0; }
  let k = keys[i];
  if (k <= KEY_NEG_INF) { return 0.0; }
  return exp((val_of(k) - v0) * inv_t);
}

// Inclusive prefix sums of sc[0..n) in place: serial over each invocation's segment, Hillis-Steele over segments.
fn scan(n: u32, tid: u32) {
  let seg = (n + WG - 1u) / WG;
  let b = min(tid * seg, n);
  let e = min(b + seg, n);
  var run = 0.0;
  for (var i = b; i < e; i++) {
    run += sc[i];
    sc[i] = run;
  }
  red[tid] = run;
  workgroupBarrier();
  for (var off = 1u; off < WG; off <<= 1u) {
    var v = 0.0;
    if (tid >= off) { v = red[tid - off]; }
    workgroupBarrier();
    red[tid] += v;
    workgroupBarrier();
  }
  var pre = 0.0;
  if (tid > 0u) { pre = red[tid - 1u]; }
  for (var i = b; i < e; i++) { sc[i] += pre; }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32) {
  load_sort(0u, tid);
  let k = params.k;
  let v0 = val_of(keys[0]);
  if (tid == 0u) {
    atomicStore(&a_keep, k);
    atomicStore(&a_pick, NO_ID);
  }
  // top-p over the temperature-1 distribution of the top k.
  for (var i = tid; i < k; i += WG) { sc[i] = rel_prob(i, v0, 1.0); }
  workgroupBarrier();
  scan(k, tid);
  let thr = params.top_p * sc[k - 1u];
  for (var i = tid; i < k; i += WG) {
    var prev = 0.0;
    if (i > 0u) { prev = sc[i - 1u]; }
    if (sc[i] >= thr && prev < thr) { atomicMin(&a_keep, i + 1u); }
  }
  // min-p: candidates are sorted, so the kept ones are a prefix; at least one stays.
  if (params.min_p > 0.0) {
    for (var i = tid + 1u; i < k; i += WG) {
      if (rel_prob(i, v0, 1.0) < params.min_p) { atomicMin(&a_keep, i); }
    }
  }
  workgroupBarrier();
  if (tid == 0u) { u_keep = atomicLoad(&a_keep); }
  let keep = workgroupUniformLoad(&u_keep);
  let greedy = params.temperature <= 0.0;
  if (!greedy) {
    let inv_t = 1.0 / params.temperature;
    for (var i = tid; i < k; i += WG) { sc[i] = select(0.0, rel_prob(i, v0, inv_t), i < keep); }
    workgroupBarrier();
    scan(k, tid);
    let r = uniform01(params.seed, params.step) * sc[keep - 1u];
    for (var i = tid; i < keep; i += WG) {
      var prev = 0.0;
      if (i > 0u) { prev = sc[i - 1u]; }
      if (sc[i] > r && prev <= r) { atomicMin(&a_pick, i); }
    }
    workgroupBarrier();
  }
  if (tid == 0u) {
    var pick = 0u;
    var prob = 1.0;
    if (!greedy) {
      pick = min(atomicLoad(&a_pick), keep - 1u);
      var prev = 0.0;
      if (pick > 0u) { prev = sc[pick - 1u]; }
      prob = (sc[pick] - prev) / sc[keep - 1u];
    }
    out[params.out_off] = select(ids[pick], 0u, ids[pick] == NO_ID);
    out[params.out_off + 1u] = bitcast<u32>(prob);
  }
}
#endif
#endif
