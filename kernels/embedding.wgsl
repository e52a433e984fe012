// Embedding lookup (ggml get_rows): out[t] = scale · dequant(table[ids[t]]) for T token ids, any weight type of
// quant.wgsl. One workgroup per token; its threads walk the row's (block, part) units, so neighbouring threads
// read neighbouring words. A table split into chunks (binding limit) gets one dispatch per chunk; a token whose row
// lives in another chunk is skipped by this one.

#include "quant"

override WG: u32 = 64u;

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;          // (rows of this chunk, row_words) padded blocks
@group(0) @binding(2) var<storage, read> ids: array<u32>;        // (T)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;  // (T, n_embd) at out_off

fn qw_load(word: u32) -> u32 {
  return w[word];
}
fn qw_load4(word: u32) -> vec4<u32> {
  return vec4<u32>(w[word], w[word + 1u], w[word + 2u], w[word + 3u]);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let t = wid.x + wid.y * nwg.x;
  if (t >= params.n_tok) { return; }
  let tok = ids[params.ids_off + t];
  if (tok < params.row_lo || tok >= params.row_lo + params.n_rows) { return; }
  let row_word = (tok - params.row_lo) * params.row_words;
  let units = (params.n_embd / BLOCK_ELEMS) * BLOCK_PARTS;
  let base = params.out_off + t * params.n_embd;
  for (var u = lid.x; u < units; u += WG) {
    let b = u / BLOCK_PARTS;
    let p = u % BLOCK_PARTS;
    let vals = q_part_dequant(row_word + b * BLOCK_WORDS, p);
    for (var v = 0u; v < PART_VEC4; v++) {
      let e = base + b * BLOCK_ELEMS + q_part_elem(p, v);
      let x = vals[v] * params.scale;
      out[e] = x.x;
      out[e + 1u] = x.y;
      out[e + 2u] = x.z;
      out[e + 3u] = x.w;
    }
  }
}
