// Prefill product Y[t, r] = Σ_i W[r, i] · X[t, i] for T tokens over quantized weights (kernels/lib/quant.wgsl).
// A workgroup (256 threads, 16 × 16) computes a tile of TR = 64 rows × TT tokens. The reduction dimension is
// walked SLOTS = 8 vec4 slots (32 elements: one part of a quantized block) at a time: the weight tile is
// dequantized into workgroup memory once (q_part_dequant, one part per thread) and reused by every token of the
// tile; the activations of the same slots are staged next to it, in the same part order. f32 accumulation.
// Thread (tr, tt) owns rows tr + 16i (i < 4) and tokens tt + 16j (j < TT / 16): consecutive threads read
// consecutive vec4s (no bank conflicts). Variants (defines): the weight type (quantDefines), TT (16, 32, 64),
// X_VEC4 (x offset and stride multiples of 4), ACCUMULATE (Y += W·X). Rows and tokens need not be multiples of
// the tile; grid (ceil(rows / TR), ceil(T / TT)); one dispatch per weight chunk. COMPACT: TR = 16 rows (one per
// thread), for software adapters, where every byte of workgroup memory costs compile time.

#ifdef COMPACT
const TR: u32 = 16u;  // compact workgroup memory (software adapters: KernelContext.compact): one row per thread
#else
const TR: u32 = 64u;
#endif
const SLOTS: u32 = 8u;
// Units (block parts) per reduction step.
const KU: u32 = SLOTS / PART_VEC4;
const MT: u32 = TT / 16u;

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
#include "weight_binding"
#ifdef X_VEC4
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;   // (x_off + n_tokens · x_stride) / 4
fn x_load4(e: u32) -> vec4<f32> {
  return x[(params.x_off + e) >> 2u];
}
#else
@group(0) @binding(2) var<storage, read> x: array<f32>;         // (x_off + n_tokens · x_stride)
fn x_load4(e: u32) -> vec4<f32> {
  let i = params.x_off + e;
  return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
}
#endif
@group(0) @binding(3) var<storage, read_write> y: array<f32>;  // (y_off + n_tokens · y_stride)

#include "quant"

var<workgroup> ws: array<vec4<f32>, SLOTS * TR>;  // [slot][row]
var<workgroup> xs: array<vec4<f32>, SLOTS * TT>;  // [slot][token]

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let r0 = wid.x * TR;
  let t0 = wid.y * TT;
  let tr = lid % 16u;
  let tt = lid / 16u;
  let units = (params.n_in / BLOCK_ELEMS) * BLOCK_PARTS;
  // acc[j][i]: token tt + 16j, row tr + 16i.
  var acc: array<vec4<f32>, MT>;
  for (var k0 = 0u; k0 < units; k0 += KU) {
    // Weight tile: TR rows × KU parts; consecutive threads take consecutive parts of a row. Rows past the end
    // decode the last row again, parts past the end are zero.
    for (var i = lid; i < TR * KU; i += 256u) {
      let ku = i % KU;
      let r = i / KU;
      let u = k0 + ku;
      var vals: array<vec4<f32>, PART_VEC4>;
      if (u < units) {
        let row = min(r0 + r, params.n_rows - 1u);
        vals = q_part_dequant(row * params.row_words + (u / BLOCK_PARTS) * BLOCK_WORDS, u % BLOCK_PARTS);
      }
      for (var v = 0u; v < PART_VEC4; v++) {
        ws[(ku * PART_VEC4 + v) * TR + r] = vals[v];
      }
    }
    // Activation tile: TT tokens × SLOTS vec4s in the parts' element order; zero past the ends.
    for (var i = lid; i < TT * SLOTS; i += 256u) {
      let s = i % SLOTS;
      let t = i / SLOTS;
      let u = k0 + s / PART_VEC4;
      var xv = vec4<f32>(0.0);
      if (u < units && t0 + t < params.n_tokens) {
        let e = (u / BLOCK_PARTS) * BLOCK_ELEMS + q_part_elem(u % BLOCK_PARTS, s % PART_VEC4);
        xv = x_load4((t0 + t) * params.x_stride + e);
      }
      xs[s * TT + t] = xv;
    }
    workgroupBarrier();
    // params.slots == SLOTS: a uniform bound keeps software drivers (lavapipe, SwiftShader) from unrolling this
    // loop, whose unrolled form takes them tens of seconds to compile.
    for (var s = 0u; s < params.slots; s++) {
#ifdef COMPACT
      let w0 = ws[s * TR + tr];
      for (var j = 0u; j < MT; j++) {
        acc[j].x += dot(w0, xs[s * TT + tt + 16u * j]);
      }
#else
      let w0 = ws[s * TR + tr];
      let w1 = ws[s * TR + tr + 16u];
      let w2 = ws[s * TR + tr + 32u];
      let w3 = ws[s * TR + tr + 48u];
      for (var j = 0u; j < MT; j++) {
        let xv = xs[s * TT + tt + 16u * j];
        acc[j] += vec4<f32>(dot(w0, xv), dot(w1, xv), dot(w2, xv), dot(w3, xv));
      }
#endif
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < TR / 16u; i++) {
    let row = r0 + tr + 16u * i;
    for (var j = 0u; j < MT; j++) {
      let t = t0 + tt + 16u * j;
      if (row < params.n_rows && t < params.n_tokens) {
        let o = params.y_off + t * params.y_stride + row;
#ifdef ACCUMULATE
        y[o] += acc[j][i];
#else
        y[o] = acc[j][i];
#endif
      }
    }
  }
}
