// Elementwise ops on f32 vectors. Variants (defines): OP_ADD (y = a + b), OP_MUL (y = a * b),
// OP_SILU_MUL (y = silu(a) * b), OP_SCALE_ADD (y = a + scale * b: residual with Granite's multiplier);
// B_PERIOD: b[i % b_period] (one row of b broadcast over the rows of a, e.g. a bias over T tokens).
// Grid: ceil(n / WG) workgroups folded into (x, y) by grid2d.

override WG: u32 = 256u;

PARAMS_STRUCT

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;        // (n)
@group(0) @binding(2) var<storage, read> b: array<f32>;        // (n), or (b_period) with B_PERIOD
@group(0) @binding(3) var<storage, read_write> y: array<f32>;  // (n)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= params.n) { return; }
  let va = a[params.a_off + i];
#ifdef B_PERIOD
  let vb = b[params.b_off + i % params.b_period];
#else
  let vb = b[params.b_off + i];
#endif
#ifdef OP_ADD
  y[params.y_off + i] = va + vb;
#endif
#ifdef OP_MUL
  y[params.y_off + i] = va * vb;
#endif
#ifdef OP_SILU_MUL
  y[params.y_off + i] = va / (1.0 + exp(-va)) * vb;
#endif
#ifdef OP_SCALE_ADD
  y[params.y_off + i] = va + params.scale * vb;
#endif
}
