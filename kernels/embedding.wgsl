// get_rows: out[t, :] = scale · dequant(table[ids[t], :]) for a list of token ids, from a table of any type in
// kernels/lib/quant.wgsl (Q4_0 in the demo models). Thread g handles part (g % units) of token (g / units):
// consecutive threads decode consecutive parts of one row. One dispatch per table chunk; a thread writes only
// when its id falls in the chunk, and the first chunk's dispatch writes zeros for ids past the table (bad ids
// never read out of bounds). Override WG: threads per workgroup. Grid: ceil(units · n_tokens / WG), grid2d.

override WG: u32 = 64u;

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
#include "weight_binding"
@group(0) @binding(2) var<storage, read> ids: array<u32>;        // (ids_off + n_tokens)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;  // (out_off + n_tokens · n_embd)

#include "quant"

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let g = gid.x + gid.y * nwg.x * WG;
  let units = (params.n_embd / BLOCK_ELEMS) * BLOCK_PARTS;
  let t = g / units;
  if (t >= params.n_tokens) {
    return;
  }
  let u = g % units;
  let b = u / BLOCK_PARTS;
  let p = u % BLOCK_PARTS;
  let id = ids[params.ids_off + t];
  let o = params.out_off + t * params.n_embd + b * BLOCK_ELEMS;
  if (id >= params.first_row && id - params.first_row < params.n_rows) {
    let vals = q_part_dequant((id - params.first_row) * params.row_words + b * BLOCK_WORDS, p);
    for (var v = 0u; v < PART_VEC4; v++) {
      let e = o + q_part_elem(p, v);
      let s = params.scale * vals[v];
      out[e] = s.x;
      out[e + 1u] = s.y;
      out[e + 2u] = s.z;
      out[e + 3u] = s.w;
    }
  } else if (params.zero_bad != 0u && id >= params.total_rows) {
    for (var v = 0u; v < PART_VEC4; v++) {
      let e = o + q_part_elem(p, v);
      out[e] = 0.0;
      out[e + 1u] = 0.0;
      out[e + 2u] = 0.0;
      out[e + 3u] = 0.0;
    }
  }
}
