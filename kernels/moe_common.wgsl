// Shared by the MoE decode kernels (#include "moe_common"): the sum of a value over a "team" of TPR
// consecutive invocations (TPR a power of two dividing WG). The result is valid in the team's lane 0.
// Must be called in uniform control flow by the whole workgroup (it has barriers); may be called repeatedly.
// USE_SUBGROUPS: xor-butterfly within aligned groups of min(TPR, subgroup size) lanes, then one
// workgroup-memory step across the subgroups of a team (assumes 1-D workgroups are split into subgroups of
// consecutive invocation indices, as every implementation we know does). Otherwise a tree in workgroup memory.

var<workgroup> team_red: array<vec2<f32>, WG>;

fn team_sum2(li: u32, v_in: vec2<f32>, sg: u32) -> vec2<f32> {
  var v = v_in;
  let lane = li % TPR;
  workgroupBarrier(); // a previous call's readers are done with team_red
#ifdef USE_SUBGROUPS
  for (var m = 1u; m < TPR; m <<= 1u) {
    // Masks >= the subgroup size would leave the subgroup: shuffle with self and discard instead.
    let o = subgroupShuffleXor(v, m & (sg - 1u));
    v += select(vec2<f32>(0.0), o, m < sg);
  }
  team_red[li] = v;
  workgroupBarrier();
  let g = min(TPR, sg);
  if (lane == 0u) {
    for (var s = g; s < TPR; s += g) { v += team_red[li + s]; }
  }
#else
  team_red[li] = v;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { team_red[li] = team_red[li] + team_red[li + s]; }
    workgroupBarrier();
  }
  v = team_red[li];
#endif
  return v;
}
