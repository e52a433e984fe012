// MoE prefill, grouping step (one workgroup): the router counted the routes per expert in hist[] and gave each
// route r = t*k + j its position slot_pos[r] within its expert's list. Here:
//   off[e]   = exclusive prefix sum of the counts (the start of expert e's segment in sorted order),
//   sorted[off[e] + slot_pos[r]] = r, inv[r] = that position (for the un-permute in moe_combine),
//   tiles    = the (expert, first row, rows) list of the grouped matrix products: each expert's segment cut
//              into tiles of TM rows; tiles[0] = their number, tile i at words 4 + 4i .. 4 + 4i + 2.
// hist[] is reset to zero for the next use (buffers start zeroed). The prefix is one invocation's loop (n_expert
// is at most a few hundred); writing tiles and scattering routes is spread over the workgroup.
// MAX_E (define) >= n_expert sizes the workgroup arrays.

override WG: u32 = 256u;

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;               // (n_tokens, ks) from ids_off
@group(0) @binding(2) var<storage, read> slot_pos: array<u32>;          // (n_tokens * k) from slot_off
@group(0) @binding(3) var<storage, read_write> hist: array<atomic<u32>>; // (n_expert)
@group(0) @binding(4) var<storage, read_write> sorted: array<u32>;      // (n_tokens * k)
@group(0) @binding(5) var<storage, read_write> inv: array<u32>;         // (n_tokens * k)
@group(0) @binding(6) var<storage, read_write> tiles: array<u32>;       // (4 + 4 * max_tiles)

var<workgroup> cnt: array<u32, MAX_E>;
var<workgroup> off: array<u32, MAX_E>;
var<workgroup> toff: array<u32, MAX_E>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32) {
  let ne = params.n_expert;
  let tm = params.tm;
  for (var e = li; e < ne; e += WG) {
    cnt[e] = atomicLoad(&hist[e]);
    atomicStore(&hist[e], 0u);
  }
  workgroupBarrier();
  if (li == 0u) {
    var o = 0u;
    var to = 0u;
    for (var e = 0u; e < ne; e++) {
      off[e] = o;
      toff[e] = to;
      o += cnt[e];
      to += (cnt[e] + tm - 1u) / tm;
    }
    tiles[0] = to;
  }
  workgroupBarrier();
  for (var e = li; e < ne; e += WG) {
    let c = cnt[e];
    for (var m = 0u; m * tm < c; m++) {
      let i = 4u + 4u * (toff[e] + m);
      tiles[i] = e;
      tiles[i + 1u] = off[e] + m * tm;
      tiles[i + 2u] = min(tm, c - m * tm);
    }
  }
  let n_routes = params.n_tokens * params.k;
  for (var r = li; r < n_routes; r += WG) {
    let t = r / params.k;
    let j = r - t * params.k;
    let e = min(ids[params.ids_off + t * params.ks + j], ne - 1u);
    let pos = off[e] + slot_pos[params.slot_off + r];
    sorted[pos] = r;
    inv[r] = pos;
  }
}
