// Part of quant.wgsl (#include "quant_k"), the decoders of Q2_K..Q6_K (256-element blocks, 8 parts): see the API at the top of quant.wgsl.
// ================================================================== K-quants: 256-element blocks, 8 parts

// Q4_K/Q5_K scales: 12 bytes of 6-bit (scale, min) pairs for 8 sub-blocks (ggml's get_scale_min_k4). Returns
// (scale of sub-block 2j, scale of 2j+1, min of 2j, min of 2j+1); hdr.yzw are the 12 bytes.
fn q_k4_scales(hdr: vec4<u32>, j: u32) -> vec4<f32> {
  let sc = select((hdr.w & 0x0F0F0F0Fu) | ((hdr.y >> 2u) & 0x30303030u), hdr.y & 0x3F3F3F3Fu, j < 2u);
  let mn = select(((hdr.w >> 4u) & 0x0F0F0F0Fu) | ((hdr.z >> 2u) & 0x30303030u), hdr.z & 0x3F3F3F3Fu, j < 2u);
  let sh = 16u * (j & 1u);
  return vec4<f32>(vec4<u32>(sc >> sh, sc >> (sh + 8u), mn >> sh, mn >> (sh + 8u)) & vec4<u32>(0xFFu));
}

// Q2_K and Q3_K: element 128n + 32k + 16h + l (l < 16) is bits 2k..2k+1 of qs byte 32n + 16h + l, with sub-block
// scale 8n + 2k + h (ggml's dequantize_row_q2_K/q3_K loop order). Part p = 4n + 2h + c takes l = 8c .. 8c + 7:
// qs words 2p and 2p + 1 of the qs array, and four runs of 8 elements (vec4s 2k, 2k + 1, shift 2k), one scale
// each, so q_part_elem is Q6_K's. The 2- and 3-bit values are moved to the low bits of each byte and read with
// q_n4lo (activations scaled by Q_XS_LO4).

// Bits 2k..2k+1 of each byte of the part's two qs words, moved to bits 0..1.
fn q2_run(a: vec2<u32>, k: u32) -> vec2<u32> {
  return (a >> vec2<u32>(2u * k)) & vec2<u32>(0x03030303u);
}

#ifdef W_Q2_K
// Words: scales[16] (0..3; per sub-block a 4-bit scale | a 4-bit min << 4) qs[64] (4..19) [d | dmin (f16)] (20).
const BLOCK_ELEMS: u32 = 256u;
const BLOCK_WORDS: u32 = 21u;
const BLOCK_PARTS: u32 = 8u;
const PART_VEC4: u32 = 8u;
fn q_part_elem(part: u32, v: u32) -> u32 {
  return 128u * (part >> 2u) + 8u * (part & 3u) + 32u * (v >> 1u) + 4u * (v & 1u);
}
fn q2_qs(bw: u32, part: u32) -> vec2<u32> {
  let a = bw + 4u + 2u * part;
  return vec2<u32>(qw_load(a), qw_load(a + 1u));
}
// Scale bytes of the four runs: 8n + h + 2k, i.e. bytes h, h + 2 of words 2n and 2n + 1.
fn q2_scale_bytes(bw: u32, part: u32) -> vec4<u32> {
  let w0 = qw_load(bw + 2u * (part >> 2u));
  let w1 = qw_load(bw + 2u * (part >> 2u) + 1u);
  let sh = 8u * ((part >> 1u) & 1u);
  return vec4<u32>(w0 >> sh, w0 >> (sh + 16u), w1 >> sh, w1 >> (sh + 16u));
}
fn q_part_dequant(bw: u32, part: u32) -> array<vec4<f32>, PART_VEC4> {
  let a = q2_qs(bw, part);
  let sb = q2_scale_bytes(bw, part);
  let dm = unpack2x16float(qw_load(bw + 20u));
  // ggml rounds d · scale and dmin · min first (both exact), then d·q − m.
  let dl = dm.x * vec4<f32>(sb & vec4<u32>(15u));
  let ml = dm.y * vec4<f32>((sb >> vec4<u32>(4u)) & vec4<u32>(15u));
  var o: array<vec4<f32>, PART_VEC4>;
  for (var k = 0u; k < 4u; k++) {
    let t = q2_run(a, k);
    o[2u * k] = dl[k] * (q_n4lo(t.x) * Q_XS_LO4) - ml[k];
    o[2u * k + 1u] = dl[k] * (q_n4lo(t.y) * Q_XS_LO4) - ml[k];
  }
  return o;
}
fn q_part_dot(bw: u32, part: u32, x: QX) -> f32 {
  let a = q2_qs(bw, part);
  let sb = q2_scale_bytes(bw, part);
  let dm = unpack2x16float(qw_load(bw + 20u));
  var s = vec4<f32>(0.0);
  for (var k = 0u; k < 4u; k++) {
    let t = q2_run(a, k);
    s[k] = dot(q_n4lo(t.x), x.v[2u * k]) + dot(q_n4lo(t.y), x.v[2u * k + 1u]);
  }
  // d·sc·Σq·x − dmin·m·Σx per run
  return dm.x * dot(vec4<f32>(sb & vec4<u32>(15u)), s) - dm.y * dot(vec4<f32>((sb >> vec4<u32>(4u)) & vec4<u32>(15u)), x.s);
}
// Scale of activation vec4 i of a part (see the top of the file).
fn q_x_scale(i: u32) -> vec4<f32> {
  return Q_XS_LO4;
}
#endif

#ifdef W_Q3_K
// Words: hmask[32] (0..7) qs[64] (8..23) scales[12] (24..26) [d (f16) | pad] (27). Bit 4n + k of hmask byte
// 16h + l is the value's bit 2 (clear: subtract 4); the 16 6-bit scales (minus 32) are a low nibble (bytes 0..7;
// scales 8..15 in the high nibbles) and 2 high bits (byte 8 + j % 4, bits 2 (j / 4)).
const BLOCK_ELEMS: u32 = 256u;
const BLOCK_WORDS: u32 = 28u;
const BLOCK_PARTS: u32 = 8u;
const PART_VEC4: u32 = 8u;
fn q_part_elem(part: u32, v: u32) -> u32 {
  return 128u * (part >> 2u) + 8u * (part & 3u) + 32u * (v >> 1u) + 4u * (v & 1u);
}
// The part's 3-bit values plus 4 (0..7), as bytes, of run k.
fn q3_run(bw: u32, part: u32, k: u32) -> vec2<u32> {
  let a = bw + 8u + 2u * part;
  let h = bw + 2u * (part & 3u);
  let A = vec2<u32>(qw_load(a), qw_load(a + 1u));
  let H = vec2<u32>(qw_load(h), qw_load(h + 1u));
  return q2_run(A, k) | (((H >> vec2<u32>(4u * (part >> 2u) + k)) & vec2<u32>(0x01010101u)) << vec2<u32>(2u));
}
// d · (scale − 32) of the four runs (scales j = 8n + h + 2k).
fn q3_scales(bw: u32, part: u32) -> vec4<f32> {
  let lo0 = qw_load(bw + 24u);
  let lo1 = qw_load(bw + 25u);
  let hi = qw_load(bw + 26u);
  let sh = 8u * ((part >> 1u) & 1u) + 4u * (part >> 2u);
  let l = vec4<u32>(lo0 >> sh, lo0 >> (sh + 16u), lo1 >> sh, lo1 >> (sh + 16u)) & vec4<u32>(15u);
  // High bits of scale j: bits 8 (j % 4) + 2 (j / 4) of word 26, i.e. sh, sh + 16, sh + 2, sh + 18.
  let u = vec4<u32>(hi >> sh, hi >> (sh + 16u), hi >> (sh + 2u), hi >> (sh + 18u)) & vec4<u32>(3u);
  let d = unpack2x16float(qw_load(bw + 27u)).x;
  return d * (vec4<f32>(l | (u << vec4<u32>(4u))) - 32.0);
}
fn q_part_dequant(bw: u32, part: u32) -> array<vec4<f32>, PART_VEC4> {
  let ds = q3_scales(bw, part);
  var o: array<vec4<f32>, PART_VEC4>;
  for (var k = 0u; k < 4u; k++) {
    let t = q3_run(bw, part, k);
    o[2u * k] = ds[k] * (q_n4lo(t.x) * Q_XS_LO4 - 4.0);
    o[2u * k + 1u] = ds[k] * (q_n4lo(t.y) * Q_XS_LO4 - 4.0);
  }
  return o;
}
fn q_part_dot(bw: u32, part: u32, x: QX) -> f32 {
  let ds = q3_scales(bw, part);
  var a = vec4<f32>(0.0);
  for (var k = 0u; k < 4u; k++) {
    let t = q3_run(bw, part, k);
    a[k] = dot(q_n4lo(t.x), x.v[2u * k]) + dot(q_n4lo(t.y), x.v[2u * k + 1u]);
  }
  // Σ (q − 4) x per run
  return dot(ds, a - 4.0 * x.s);
}
// Scale of activation vec4 i of a part (see the top of the file).
fn q_x_scale(i: u32) -> vec4<f32> {
  return Q_XS_LO4;
}
#endif

#ifdef W_Q4_K
// Words: [d | dmin (f16)] [scales 0..3] [4..7] [8..11] qs[128] (words 4..35). Part p = 2j + h reads qs bytes
// 32j + 16h .. +15: low nibbles are elements 64j + 16h + 0..15 (sub-block 2j), high nibbles 64j + 32 + 16h + 0..15
// (sub-block 2j + 1).
const BLOCK_ELEMS: u32 = 256u;
const BLOCK_WORDS: u32 = 36u;
const BLOCK_PARTS: u32 = 8u;
const PART_VEC4: u32 = 8u;
fn q_part_elem(part: u32, v: u32) -> u32 {
  return 64u * (part >> 1u) + 16u * (part & 1u) + 32u * (v >> 2u) + 4u * (v & 3u);
}
fn q_part_dequant(bw: u32, part: u32) -> array<vec4<f32>, PART_VEC4> {
  let hdr = q_load4(bw);
  let q = q_load4(bw + 4u + 4u * part);
  let dm = unpack2x16float(hdr.x);
  let sm = q_k4_scales(hdr, part >> 1u);
  let d1 = dm.x * sm.x;
  let d2 = dm.x * sm.y;
  let m1 = dm.y * sm.z;
  let m2 = dm.y * sm.w;
  return array<vec4<f32>, PART_VEC4>(
    d1 * (q_n4lo(q.x) * Q_XS_LO4) - m1, d1 * (q_n4lo(q.y) * Q_XS_LO4) - m1,
    d1 * (q_n4lo(q.z) * Q_XS_LO4) - m1, d1 * (q_n4lo(q.w) * Q_XS_LO4) - m1,
    d2 * (q_n4hi(q.x) * Q_XS_HI4) - m2, d2 * (q_n4hi(q.y) * Q_XS_HI4) - m2,
    d2 * (q_n4hi(q.z) * Q_XS_HI4) - m2, d2 * (q_n4hi(q.w) * Q_XS_HI4) - m2,
  );
}
fn q_part_dot(bw: u32, part: u32, x: QX) -> f32 {
  let hdr = q_load4(bw);
  let q = q_load4(bw + 4u + 4u * part);
  let dm = unpack2x16float(hdr.x);
  let sm = q_k4_scales(hdr, part >> 1u);
  let a1 = dot(q_n4lo(q.x), x.v[0]) + dot(q_n4lo(q.y), x.v[1]) + dot(q_n4lo(q.z), x.v[2]) + dot(q_n4lo(q.w), x.v[3]);
  let a2 = dot(q_n4hi(q.x), x.v[4]) + dot(q_n4hi(q.y), x.v[5]) + dot(q_n4hi(q.z), x.v[6]) + dot(q_n4hi(q.w), x.v[7]);
  // d·sc·Σq·x − dmin·m·Σx per sub-block
  return dm.x * (sm.x * a1 + sm.y * a2) - dm.y * (sm.z * (x.s.x + x.s.y) + sm.w * (x.s.z + x.s.w));
}
// Scale of activation vec4 i of a part (see the top of the file).
fn q_x_scale(i: u32) -> vec4<f32> {
  return select(Q_XS_HI4, Q_XS_LO4, i < 4u);
}
// Int8 activations (X_Q8, Q8_K rounding): the part's low nibbles meet elements 64j + 16h + 0..15 of x, the high
// nibbles 64j + 32 + 16h + 0..15; nibbles are 0..15, so they are valid signed bytes for dot4I8Packed. The mins use
// the activation sums from act_quant: d·sc·d_x·Σq·q_x − dmin·m·(d_x·Σq_x), as ggml's vec_dot_q4_K_q8_K.
#ifdef X_Q8
struct XQ { lo: vec4<u32>, hi: vec4<u32>, d: f32, s: vec2<f32> }
fn q_xq_load(e0: u32, part: u32) -> XQ {
  let el = e0 + q_part_elem(part, 0u);
  let eh = e0 + q_part_elem(part, 4u);
  let al = xq_aux(el);
  let ah = xq_aux(eh);
  let h = 1u + (part & 1u);
  return XQ(xq_word4(el), xq_word4(eh), al.x, vec2<f32>(al[h], ah[h]));
}
fn q_part_dot_q8(bw: u32, part: u32, x: XQ) -> f32 {
  let hdr = q_load4(bw);
  let q = q_load4(bw + 4u + 4u * part);
  let dm = unpack2x16float(hdr.x);
  let sm = q_k4_scales(hdr, part >> 1u);
  let m4 = vec4<u32>(0x0F0F0F0Fu);
  let lo = q & m4;
  let hi = (q >> vec4<u32>(4u)) & m4;
  let a1 = dot4I8Packed(lo.x, x.lo.x) + dot4I8Packed(lo.y, x.lo.y) + dot4I8Packed(lo.z, x.lo.z) + dot4I8Packed(lo.w, x.lo.w);
  let a2 = dot4I8Packed(hi.x, x.hi.x) + dot4I8Packed(hi.y, x.hi.y) + dot4I8Packed(hi.z, x.hi.z) + dot4I8Packed(hi.w, x.hi.w);
  return x.d * dm.x * (sm.x * f32(a1) + sm.y * f32(a2)) - dm.y * (sm.z * x.s.x + sm.w * x.s.y);
}
#endif
#endif

#ifdef W_Q5_K
// Words: [d | dmin] [scales 12 bytes] qh[32] (words 4..11) qs[128] (words 12..43). Part p = 2j + h as in Q4_K;
// the 5th bit of element l of sub-block 2j (2j + 1) is bit 2j (2j + 1) of qh[l], l = 16h + 0..15.
const BLOCK_ELEMS: u32 = 256u;
const BLOCK_WORDS: u32 = 44u;
const BLOCK_PARTS: u32 = 8u;
const PART_VEC4: u32 = 8u;
fn q_part_elem(part: u32, v: u32) -> u32 {
  return 64u * (part >> 1u) + 16u * (part & 1u) + 32u * (v >> 2u) + 4u * (v & 3u);
}
// 5-bit values (as bytes) of the low (sub-block 2j) and high (2j + 1) halves of 4 qs words.
fn q5k_lo(q: vec4<u32>, qh: vec4<u32>) -> vec4<u32> {
  return (q & vec4<u32>(0x0F0F0F0Fu)) | ((qh << vec4<u32>(4u)) & vec4<u32>(0x10101010u));
}
fn q5k_hi(q: vec4<u32>, qh: vec4<u32>) -> vec4<u32> {
  return ((q >> vec4<u32>(4u)) & vec4<u32>(0x0F0F0F0Fu)) | ((qh << vec4<u32>(3u)) & vec4<u32>(0x10101010u));
}
fn q_part_dequant(bw: u32, part: u32) -> array<vec4<f32>, PART_VEC4> {
  let hdr = q_load4(bw);
  let q = q_load4(bw + 12u + 4u * part);
  let qh = q_load4(bw + 4u + 4u * (part & 1u)) >> vec4<u32>(2u * (part >> 1u));
  let lo = q5k_lo(q, qh);
  let hi = q5k_hi(q, qh);
  let dm = unpack2x16float(hdr.x);
  let sm = q_k4_scales(hdr, part >> 1u);
  let d1 = dm.x * sm.x;
  let d2 = dm.x * sm.y;
  let m1 = dm.y * sm.z;
  let m2 = dm.y * sm.w;
  return array<vec4<f32>, PART_VEC4>(
    d1 * ((q_u5(lo.x) - 1.0) * 32.0) - m1, d1 * ((q_u5(lo.y) - 1.0) * 32.0) - m1,
    d1 * ((q_u5(lo.z) - 1.0) * 32.0) - m1, d1 * ((q_u5(lo.w) - 1.0) * 32.0) - m1,
    d2 * ((q_u5(hi.x) - 1.0) * 32.0) - m2, d2 * ((q_u5(hi.y) - 1.0) * 32.0) - m2,
    d2 * ((q_u5(hi.z) - 1.0) * 32.0) - m2, d2 * ((q_u5(hi.w) - 1.0) * 32.0) - m2,
  );
}
fn q_part_dot(bw: u32, part: u32, x: QX) -> f32 {
  let hdr = q_load4(bw);
  let q = q_load4(bw + 12u + 4u * part);
  let qh = q_load4(bw + 4u + 4u * (part & 1u)) >> vec4<u32>(2u * (part >> 1u));
  let lo = q5k_lo(q, qh);
  let hi = q5k_hi(q, qh);
  let dm = unpack2x16float(hdr.x);
  let sm = q_k4_scales(hdr, part >> 1u);
  let a1 = dot(q_u5(lo.x), x.v[0]) + dot(q_u5(lo.y), x.v[1]) + dot(q_u5(lo.z), x.v[2]) + dot(q_u5(lo.w), x.v[3]);
  let a2 = dot(q_u5(hi.x), x.v[4]) + dot(q_u5(hi.y), x.v[5]) + dot(q_u5(hi.z), x.v[6]) + dot(q_u5(hi.w), x.v[7]);
  let s1 = x.s.x + x.s.y;
  let s2 = x.s.z + x.s.w;
  // d·sc·Σq·x − dmin·m·Σx per sub-block, with Σq·x = 32 (a − s)
  return dm.x * 32.0 * (sm.x * (a1 - s1) + sm.y * (a2 - s2)) - dm.y * (sm.z * s1 + sm.w * s2);
}
// Scale of activation vec4 i of a part (see the top of the file).
fn q_x_scale(i: u32) -> vec4<f32> {
  return vec4<f32>(1.0);
}
#endif

#ifdef W_Q6_K
// Words: ql[128] (0..31) qh[64] (32..47) int8 scales[16] (48..51) [d (f16) | pad] (52). Half n (elements
// 128n..) uses ql bytes 64n.., qh bytes 32n.., scales 8n..; for l = 0..31, element 128n + l + 32i (i = 0..3) is
// (ql[64n + l + 32 (i & 1)] >> 4 (i >> 1)) & 15 | ((qh[32n + l] >> 2i) & 3) << 4, minus 32, times d · scales[8n + l/16 + 2i].
// Part p = 4n + c takes l = 8c .. 8c + 7: four runs of 8 elements (vec4s 2i, 2i + 1), each with one scale.
const BLOCK_ELEMS: u32 = 256u;
const BLOCK_WORDS: u32 = 53u;
const BLOCK_PARTS: u32 = 8u;
const PART_VEC4: u32 = 8u;
fn q_part_elem(part: u32, v: u32) -> u32 {
  return 128u * (part >> 2u) + 8u * (part & 3u) + 32u * (v >> 1u) + 4u * (v & 1u);
}
// Signed byte `b` of w as f32.
fn q6_scale(w: u32, b: u32) -> f32 {
  return f32(bitcast<i32>(w << (24u - 8u * b)) >> 24u);
}
// The 6-bit values of the part as bytes: [run][k], runs i = 0..3, k = 0, 1 (4 elements each).
fn q6_vals(bw: u32, part: u32) -> array<vec2<u32>, 4> {
  let n = part >> 2u;
  let a = bw + 16u * n + 2u * (part & 3u);
  let h = bw + 32u + 8u * n + 2u * (part & 3u);
  let A = vec2<u32>(qw_load(a), qw_load(a + 1u));
  let B = vec2<u32>(qw_load(a + 8u), qw_load(a + 9u));
  let H = vec2<u32>(qw_load(h), qw_load(h + 1u));
  let m4 = vec2<u32>(0x0F0F0F0Fu);
  return array<vec2<u32>, 4>(
    (A & m4) | ((H & vec2<u32>(0x03030303u)) << vec2<u32>(4u)),
    (B & m4) | ((H & vec2<u32>(0x0C0C0C0Cu)) << vec2<u32>(2u)),
    ((A >> vec2<u32>(4u)) & m4) | (H & vec2<u32>(0x30303030u)),
    ((B >> vec2<u32>(4u)) & m4) | ((H >> vec2<u32>(2u)) & vec2<u32>(0x30303030u)),
  );
}
// d · scale of each run.
fn q6_scales(bw: u32, part: u32) -> vec4<f32> {
  let n = part >> 2u;
  let is = (part & 3u) >> 1u;
  let w0 = qw_load(bw + 48u + 2u * n);
  let w1 = qw_load(bw + 49u + 2u * n);
  let d = unpack2x16float(qw_load(bw + 52u)).x;
  return d * vec4<f32>(q6_scale(w0, is), q6_scale(w0, is + 2u), q6_scale(w1, is), q6_scale(w1, is + 2u));
}
fn q_part_dequant(bw: u32, part: u32) -> array<vec4<f32>, PART_VEC4> {
  let q = q6_vals(bw, part);
  // ggml rounds d · scale first (exact: 19 bits), then multiplies by q − 32.
  let ds = q6_scales(bw, part);
  var o: array<vec4<f32>, PART_VEC4>;
  for (var i = 0u; i < 4u; i++) {
    o[2u * i] = ds[i] * ((q_u6(q[i].x) - 1.0) * 64.0 - 32.0);
    o[2u * i + 1u] = ds[i] * ((q_u6(q[i].y) - 1.0) * 64.0 - 32.0);
  }
  return o;
}
fn q_part_dot(bw: u32, part: u32, x: QX) -> f32 {
  let q = q6_vals(bw, part);
  let ds = q6_scales(bw, part);
  let a = vec4<f32>(
    dot(q_u6(q[0].x), x.v[0]) + dot(q_u6(q[0].y), x.v[1]),
    dot(q_u6(q[1].x), x.v[2]) + dot(q_u6(q[1].y), x.v[3]),
    dot(q_u6(q[2].x), x.v[4]) + dot(q_u6(q[2].y), x.v[5]),
    dot(q_u6(q[3].x), x.v[6]) + dot(q_u6(q[3].y), x.v[7]),
  );
  // Σ (q − 32) x = 64 (a − s) − 32 s per run
  return dot(ds, 64.0 * (a - x.s) - 32.0 * x.s);
}
// Scale of activation vec4 i of a part (see the top of the file).
fn q_x_scale(i: u32) -> vec4<f32> {
  return vec4<f32>(1.0);
}
#endif
