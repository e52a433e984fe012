// MoE prefill, grouped matrix product: one workgroup per (tile of TM rows of one expert, TN output features).
// Rows are routes sorted by expert (moe_scan), so each workgroup multiplies TM activation rows by TN weight
// rows of a single expert and reads that weight tile once per tile (dequantized into workgroup memory, part by
// part: kernels/lib/quant.wgsl q_part_dequant), then every thread computes a (TM/16) x (TN/16) block of outputs.
//   GATE_UP: out[pos][f] = silu(gate_e[f] · x_t) * (up_e[f] · x_t), t = sorted[pos] / k (activations gathered
//            by token), pos in the tile's rows; out is (n_routes, out_stride) in sorted order.
//   else (down): out[pos][d] = down_e[d] · in[pos]; in and out are (n_routes, *) in sorted order.
//   DENSE: no tiles: one 2-D weight for every token, tile = rows [tile*TM, tile*TM + TM) of n_tokens (the Qwen2-MoE
//          shared expert); rows index tokens directly.
// Grid (ceil(n_out / TN), max_tiles) — an upper bound on the tile count known on the CPU; workgroups past
// tiles[0] (the GPU-computed count) exit at once. Chunked expert tensors: qw_load reads chunk q_sel; tiles of
// experts outside [e_lo, e_hi) exit (one dispatch per window, as in the decode kernels).
// K steps: 32 elements = KP consecutive (block, part) units (KP = 8 / PART_VEC4). Workgroup: 256 = 16 x 16.
// Defines: the weight type (quantDefines), GATE_UP, DENSE, X_VEC4 (x_off, x_stride % 4 == 0), COMPACT (TN = 16).

const TM: u32 = 32u;
#ifdef COMPACT
const TN: u32 = 16u;  // compact workgroup memory (software adapters: KernelContext.compact)
#else
const TN: u32 = 64u;
#endif
const KS: u32 = 32u;
const KSP: u32 = 33u; // padded row stride of the workgroup tiles (no bank conflicts across rows)
const MI: u32 = TM / 16u;
const NI: u32 = TN / 16u;

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
#ifdef X_VEC4
@group(0) @binding(1) var<storage, read> xin: array<vec4<f32>>;  // (rows, x_stride) from x_off
fn x_load4(e: u32) -> vec4<f32> {
  return xin[e >> 2u];
}
#else
@group(0) @binding(1) var<storage, read> xin: array<f32>;        // (rows, x_stride) from x_off
fn x_load4(e: u32) -> vec4<f32> {
  return vec4<f32>(xin[e], xin[e + 1u], xin[e + 2u], xin[e + 3u]);
}
#endif
@group(0) @binding(2) var<storage, read_write> out: array<f32>;  // (rows, out_stride) from out_off
#ifndef DENSE
@group(0) @binding(3) var<storage, read> tiles: array<u32>;      // [n_tiles, -, -, -, (e, row0, rows, -)...]
#ifdef GATE_UP
@group(0) @binding(4) var<storage, read> sorted: array<u32>;     // (n_routes): route at each sorted position
#endif
#endif
// Weight chunks (gate/down chunks, then up chunks) and qw_load/qw_load4 reading chunk q_sel: generated.
WEIGHT_BINDINGS

#include "quant"

const KP: u32 = 8u / PART_VEC4;

var<workgroup> xs: array<f32, TM * KSP>;
var<workgroup> wg_s: array<f32, TN * KSP>;
#ifdef GATE_UP
var<workgroup> wu_s: array<f32, TN * KSP>;
#endif

// Dequantizes unit `unit` of weight row `row_word` into tile row n (zeros past the row or the matrix).
fn stage_w(is_up: bool, n: u32, kp: u32, valid: bool, row_word: u32, unit: u32) {
  var vals: array<vec4<f32>, PART_VEC4>;
  if (valid) {
    vals = q_part_dequant(row_word + (unit / BLOCK_PARTS) * BLOCK_WORDS, unit % BLOCK_PARTS);
  }
  for (var v = 0u; v < PART_VEC4; v++) {
    let o = n * KSP + (kp * PART_VEC4 + v) * 4u;
    for (var c = 0u; c < 4u; c++) {
#ifdef GATE_UP
      if (is_up) { wu_s[o + c] = vals[v][c]; } else { wg_s[o + c] = vals[v][c]; }
#else
      wg_s[o + c] = vals[v][c];
#endif
    }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tile = wid.y;
#ifdef DENSE
  let e = 0u;
  let row0 = tile * TM;
  if (row0 >= params.n_tokens) { return; }
  let rows = min(TM, params.n_tokens - row0);
#else
  if (tile >= tiles[0]) { return; }
  let e = tiles[4u + 4u * tile];
  let row0 = tiles[5u + 4u * tile];
  let rows = tiles[6u + 4u * tile];
  if (e < params.e_lo || e >= params.e_hi) { return; }
#endif
  let n0 = wid.x * TN;
  let n_out = params.n_out;
  let units = params.n_blocks * BLOCK_PARTS;
  let gsel = e / params.g_epc - params.g_c0;
  let usel = params.u_sel0 + e / params.u_epc - params.u_c0;
  let gbase = (e % params.g_epc) * n_out;
  let ubase = (e % params.u_epc) * n_out;

  // This thread's activation row for staging: row li / 8, vec4 li % 8 of each K step.
  let xr = li / 8u;
  let xq = li % 8u;
  let x_valid = xr < rows;
#ifdef DENSE
  let x_row = row0 + xr;
#else
#ifdef GATE_UP
  let x_row = sorted[row0 + min(xr, rows - 1u)] / params.k;
#else
  let x_row = row0 + xr;
#endif
#endif
  let x_base = params.x_off + x_row * params.x_stride;

  let tx = li % 16u;
  let ty = li / 16u;
  var acc_g: array<array<f32, NI>, MI>;
#ifdef GATE_UP
  var acc_u: array<array<f32, NI>, MI>;
#endif

  let n_steps = (units + KP - 1u) / KP;
  for (var s = 0u; s < n_steps; s++) {
    // Stage activations: TM rows x 8 vec4 (one per invocation).
    {
      let kp = xq / PART_VEC4;
      let v = xq % PART_VEC4;
      let unit = s * KP + kp;
      var val = vec4<f32>(0.0);
      if (x_valid && unit < units) {
        val = x_load4(x_base + (unit / BLOCK_PARTS) * BLOCK_ELEMS + q_part_elem(unit % BLOCK_PARTS, v));
      }
      let o = xr * KSP + xq * 4u;
      xs[o] = val.x;
      xs[o + 1u] = val.y;
      xs[o + 2u] = val.z;
      xs[o + 3u] = val.w;
    }
    // Stage weights: TN rows x KP units per projection.
#ifdef GATE_UP
    let jobs = 2u * TN * KP;
#else
    let jobs = TN * KP;
#endif
    for (var job = li; job < jobs; job += 256u) {
      let is_up = job >= TN * KP;
      let jj = job % (TN * KP);
      let n = jj / KP;
      let kp = jj % KP;
      let unit = s * KP + kp;
      let valid = n0 + n < n_out && unit < units;
      q_sel = select(gsel, usel, is_up);
      let row = select(gbase, ubase, is_up) + min(n0 + n, n_out - 1u);
      stage_w(is_up, n, kp, valid, row * params.row_words, unit);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < KS; kk++) {
      var a: array<f32, MI>;
      for (var i = 0u; i < MI; i++) { a[i] = xs[(ty + 16u * i) * KSP + kk]; }
      for (var c = 0u; c < NI; c++) {
        let wgv = wg_s[(tx + 16u * c) * KSP + kk];
#ifdef GATE_UP
        let wuv = wu_s[(tx + 16u * c) * KSP + kk];
#endif
        for (var i = 0u; i < MI; i++) {
          acc_g[i][c] += a[i] * wgv;
#ifdef GATE_UP
          acc_u[i][c] += a[i] * wuv;
#endif
        }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < MI; i++) {
    let r = ty + 16u * i;
    if (r >= rows) { continue; }
    for (var c = 0u; c < NI; c++) {
      let n = n0 + tx + 16u * c;
      if (n >= n_out) { continue; }
      let o = params.out_off + (row0 + r) * params.out_stride + n;
#ifdef GATE_UP
      let g = acc_g[i][c];
      out[o] = g / (1.0 + exp(-g)) * acc_u[i][c];
#else
      out[o] = acc_g[i][c];
#endif
    }
  }
}
