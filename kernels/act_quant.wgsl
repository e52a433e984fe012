// Activation quantization for the int8 decode matvec (matvec.wgsl with X_Q8): x (f32) → int8 values with one
// f32 scale per scale block, rounded exactly as ggml-cpu rounds a matrix product's input, so the integer dot
// products (dot4I8Packed) see what llama.cpp sees. Variants (defines):
//   SCALE_256  Q8_K (K-quant weights): 256-element blocks, max = the value of largest magnitude (first wins),
//              iscale = −127 / max, q = min(127, round(iscale · x)), d = 1 / iscale.
//   otherwise  Q8_0 (Q4_0/Q8_0 weights): 32-element blocks, d = f16(amax / 127), q = round(x · 127 / amax).
// round() is round-half-to-even in WGSL, as ggml's nearest_int.
//
// Output (array<u32>, bound as array<vec4<u32>> by the matvec):
//   words [0, n/4)                    q, 4 int8 per word, element 4i + j in byte j of word i
//   vec4 n/16 + b (b = 32-block)      (d, d · Σq over elements 0..15 of the block, d · Σq over 16..31, 0) as f32
// The sums serve the weights' offsets (Q4_K's −dmin·m·Σx).
//
// ROUND_IN_PLACE: instead, replace x by the values its int8 form represents (q·d, f32), in place, for `rows` rows
// of n at x_off + row·stride (grid (n / 256, rows)): an f32 product then computes what llama.cpp's integer one
// does, up to summation order (the engine's llama.cpp-rounding mode). ROUND_HALF rounds each value to f16
// instead (ggml's F16 weights), with ROUND_BF16 to bf16.
//
// NORM (+ NORM_LAYER; one row): x is a raw residual row; the kernel first applies RMSNorm (LayerNorm) with
// weight g as norm.wgsl does (LayerNorm centred on x[0], mean and squared deviations in two passes), writes the
// f32 normalised row to xn at xn_off (bindings B_XN, B_G), and quantizes it; with ROUND_IN_PLACE the rounded
// normalised values go to xn and x is left as it is. Every workgroup needs the row's scale, so each computes it
// over the whole row (n is at most a few thousand: cheap beside the product that follows).
//
// One workgroup of 64 threads per 256 elements; thread t holds elements 4t..4t+3. Grid: ceil(n / 256)
// workgroups folded into (x, y) by grid2d. n is a multiple of 32 (256 with SCALE_256).

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
#ifdef NORM
@group(0) @binding(1) var<storage, read> x: array<f32>;              // (x_off + n): the raw row
@group(0) @binding(B_XN) var<storage, read_write> xn: array<f32>;    // (xn_off + n): norm(x), rounded with ROUND_IN_PLACE
@group(0) @binding(B_G) var<storage, read> g: array<f32>;            // (g_off + n): norm weight
#else
#ifdef ROUND_IN_PLACE
@group(0) @binding(1) var<storage, read_write> x: array<f32>;    // (x_off + rows·stride)
#else
@group(0) @binding(1) var<storage, read> x: array<f32>;          // (x_off + n)
#endif
#endif
#ifndef ROUND_IN_PLACE
@group(0) @binding(2) var<storage, read_write> xq: array<u32>;  // (n/4 + n/8)
#endif

#ifdef SCALE_256
const SPAN: u32 = 64u;  // threads per scale block
#else
const SPAN: u32 = 8u;
#endif

// v ≥ 0 rounded to the nearest f16 value, ties to even (ggml stores Q8_0's d as f16). Bit arithmetic because
// unpack2x16float(pack2x16float(v)) was seen folded to v by a driver.
fn round_f16(v: f32) -> f32 {
  if (v < 6.103515625e-05) {
    return round(v * 16777216.0) / 16777216.0;  // f16 subnormals: multiples of 2^-24
  }
  let b = bitcast<u32>(v);
  return bitcast<f32>((b + 0xFFFu + ((b >> 13u) & 1u)) & ~0x1FFFu);
}

// The rounded values of elements i..i+3: in place, or into xn (NORM).
fn store4(i: u32, r: vec4<f32>) {
#ifdef NORM
  let o = params.xn_off + i;
  xn[o] = r.x;
  xn[o + 1u] = r.y;
  xn[o + 2u] = r.z;
  xn[o + 3u] = r.w;
#else
#ifdef ROUND_IN_PLACE
  let o = params.x_off + i;
  x[o] = r.x;
  x[o + 1u] = r.y;
  x[o + 2u] = r.z;
  x[o + 3u] = r.w;
#endif
#endif
}

#ifdef NORM
var<workgroup> red_n: array<f32, 64>;
// Sum over the workgroup (uniform control flow; ends with a barrier, so it may be called again).
fn wg_sum64(v: f32, lid: u32) -> f32 {
  red_n[lid] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red_n[lid] += red_n[lid + s];
    }
    workgroupBarrier();
  }
  let t = red_n[0];
  workgroupBarrier();
  return t;
}
#endif

var<workgroup> red_a: array<f32, 64>;  // largest magnitude so far
var<workgroup> red_m: array<f32, 64>;  // the signed value that has it
var<workgroup> red_s: array<i32, 64>;  // Σq of the thread's 4 elements

@compute @workgroup_size(64)
fn main(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
#ifdef ROUND_IN_PLACE
  let e0 = wid.x * 256u + 4u * lid;
  let base = params.x_off + wid.y * params.stride;
#else
  let e0 = (wid.x + wid.y * nwg.x) * 256u + 4u * lid;
  let base = params.x_off;
#endif
  let valid = e0 < params.n;
  var v = vec4<f32>(0.0);
  if (valid) {
    let i = base + e0;
    v = vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
  }
#ifdef NORM
  // The row's statistics, over all of it, as norm.wgsl computes them (same expressions; the summation order
  // differs).
  let nf = f32(params.n);
#ifdef NORM_LAYER
  let pivot = x[base];
  var s1 = 0.0;
  for (var i = lid; i < params.n; i += 64u) {
    s1 += x[base + i] - pivot;
  }
  let mean = wg_sum64(s1, lid) / nf;
#else
  let pivot = 0.0;
  let mean = 0.0;
#endif
  var s2 = 0.0;
  for (var i = lid; i < params.n; i += 64u) {
    let d = (x[base + i] - pivot) - mean;
    s2 += d * d;
  }
  let inv = 1.0 / sqrt(wg_sum64(s2, lid) / nf + params.eps);
  if (valid) {
    let gi = params.g_off + e0;
    v = ((v - pivot) - mean) * inv * vec4<f32>(g[gi], g[gi + 1u], g[gi + 2u], g[gi + 3u]);
#ifndef ROUND_IN_PLACE
    store4(e0, v);
#endif
  }
#endif
#ifdef ROUND_HALF
  if (valid) {
#ifdef ROUND_BF16
    // ggml's fp32 → bf16: round to nearest even on the top 16 bits.
    let b = bitcast<vec4<u32>>(v);
    let r = bitcast<vec4<f32>>((b + vec4<u32>(0x7FFFu) + ((b >> vec4<u32>(16u)) & vec4<u32>(1u))) & vec4<u32>(0xFFFF0000u));
#else
    let r = sign(v) * vec4<f32>(round_f16(abs(v.x)), round_f16(abs(v.y)), round_f16(abs(v.z)), round_f16(abs(v.w)));
#endif
    store4(wid.y * params.stride + e0, r);
  }
#else
  // Largest magnitude, first in element order on ties (ggml scans with a strict >).
  var am = abs(v.x);
  var m = v.x;
  for (var k = 1u; k < 4u; k++) {
    if (abs(v[k]) > am) {
      am = abs(v[k]);
      m = v[k];
    }
  }
  red_a[lid] = am;
  red_m[lid] = m;
  workgroupBarrier();
  // Order-preserving tree within each span: the lower half wins ties.
  for (var s = 1u; s < SPAN; s <<= 1u) {
    if ((lid & (2u * s - 1u)) == 0u && red_a[lid + s] > red_a[lid]) {
      red_a[lid] = red_a[lid + s];
      red_m[lid] = red_m[lid + s];
    }
    workgroupBarrier();
  }
  let head = lid & ~(SPAN - 1u);
  let amax = red_a[head];
#ifdef SCALE_256
  var iscale = 0.0;
  var d = 0.0;
  if (amax > 0.0) {
    iscale = -127.0 / red_m[head];
    d = 1.0 / iscale;
  }
  let q = min(vec4<i32>(round(iscale * v)), vec4<i32>(127));
#else
  let d = round_f16(amax / 127.0);
  let iscale = select(0.0, 127.0 / amax, amax > 0.0);
  let q = vec4<i32>(round(v * iscale));
#endif
#ifdef ROUND_IN_PLACE
  if (valid) {
    store4(wid.y * params.stride + e0, vec4<f32>(q) * d);
  }
#else
  red_s[lid] = q.x + q.y + q.z + q.w;
  workgroupBarrier();
  if (valid) {
    xq[e0 >> 2u] = pack4xI8(q);
    // Threads 0, 4 of each 32-block (8 threads) write its aux vec4: d, then the two 16-element sums.
    let t8 = lid & 7u;
    if ((t8 & 3u) == 0u) {
      let s16 = red_s[lid] + red_s[lid + 1u] + red_s[lid + 2u] + red_s[lid + 3u];
      let aux = 4u * (params.n / 16u + (e0 >> 5u));
      if (t8 == 0u) {
        xq[aux] = bitcast<u32>(d);
        xq[aux + 3u] = 0u;
      }
      xq[aux + 1u + (t8 >> 2u)] = bitcast<u32>(d * f32(s16));
    }
  }
#endif
#endif
}
