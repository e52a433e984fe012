// Workgroup reductions for the one-workgroup-per-row kernels (norm, the MoE router's folded norm):
// #include "wg_reduce" after `override WG`. USE_SUBGROUPS: a subgroup op, then one partial per subgroup in
// workgroup memory; otherwise a tree in workgroup memory (WG a power of two). Without subgroups the sg_*
// arguments are unused (pass 0).

// WG_RED_BORROW (define): the including kernel declares `red` (f32, WG elements) itself and lends it to these
// reductions between its own uses (the MoE router, whose workgroup memory is near the 16 KiB minimum limit).
#ifndef WG_RED_BORROW
var<workgroup> red: array<f32, WG>;
#endif

// Sum (is_max false) or max of v over the workgroup; every invocation gets the result. Must be called in uniform
// control flow; may be called repeatedly (it ends with a barrier).
#ifdef USE_SUBGROUPS
fn wg_reduce(v: f32, is_max: bool, tid: u32, sg_id: u32, sg_lane: u32, n_sg: u32) -> f32 {
  var s: f32;
  if (is_max) { s = subgroupMax(v); } else { s = subgroupAdd(v); }
  if (sg_lane == 0u) { red[sg_id] = s; }
  workgroupBarrier();
  var tot = red[0];
  for (var i = 1u; i < n_sg; i++) {
    if (is_max) { tot = max(tot, red[i]); } else { tot += red[i]; }
  }
  workgroupBarrier();
  return tot;
}
#else
fn wg_reduce(v: f32, is_max: bool, tid: u32, sg_id: u32, sg_lane: u32, n_sg: u32) -> f32 {
  red[tid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (tid < s) {
      if (is_max) { red[tid] = max(red[tid], red[tid + s]); } else { red[tid] += red[tid + s]; }
    }
    workgroupBarrier();
  }
  let tot = red[0];
  workgroupBarrier();
  return tot;
}
#endif

fn wg_sum(v: f32, tid: u32, sg_id: u32, sg_lane: u32, n_sg: u32) -> f32 {
  return wg_reduce(v, false, tid, sg_id, sg_lane, n_sg);
}
