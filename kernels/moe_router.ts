/**
 * @file The MoE router (kernels/moe_router.wgsl), shared by decode (1 token) and prefill (T tokens):
 *   moeRouter(ctx, {x, router, k, gating, ids, weights, counts?, sharedGate?, grouping?, norm?}): Dispatch
 *       logits = W_r·x, softmax, top-k, gating -> ids[k] (u32), weights[k] (f32); optional usage counters;
 *       prefill's per-expert counts and slots (`grouping`); `norm`: x is the raw residual, normalised first
 *       (norm.wgsl's LayerNorm / RMSNorm) into `norm.out`, which the logits (and the shared gate) then read.
 *       Tie-break: experts are ordered by descending logit; equal logits -> lower expert index first.
 * Workgroup sizes MOE_ROUTER_WG_SIZES (default the device's maximum up to 1024: one workgroup per token reads
 * the whole router, so it is latency-bound).
 */
import routerSource from './moe_router.wgsl?raw';
import wgReduceSource from './lib/wg_reduce.wgsl?raw';
import { check, grid2d, type Dispatch, type KernelContext } from './lib/context.ts';
import type { ParamValues } from './lib/params.ts';
import type { GpuWeight } from './lib/weights.ts';
import type { MoeGating } from './moe.ref.ts';
import type { FoldedNormOut } from './norm.ts';
import {
  MOE_INCLUDES,
  MOE_MAX_K,
  MOE_ROUTER_WG_SIZES,
  baseDefines,
  checkBuffer,
  checkPositiveInt,
  checkWorkgroup,
  pow2Floor,
  withParams,
  type Defines,
} from './moe_bindings.ts';

export const MOE_ROUTER_PARAMS = [
  ['n_cols', 'u32'],
  ['n_expert', 'u32'],
  ['k', 'u32'],
  ['ks', 'u32'],
  ['n_tokens', 'u32'],
  ['x_off', 'u32'],
  ['x_stride', 'u32'],
  ['ids_off', 'u32'],
  ['w_off', 'u32'],
  ['cnt_off', 'u32'],
  ['slot_off', 'u32'],
  ['tpr', 'u32'],
  ['xn_off', 'u32'],
  ['xn_stride', 'u32'],
  ['nw_off', 'u32'],
  ['scale', 'f32'],
  ['eps', 'f32'],
] as const;

/** The MoE block's input norm, folded into the router (`MoeRouterArgs.norm`). */
export interface MoeRouterNorm extends FoldedNormOut {
  /** `out` holds the normalised rows (n_tokens, outStride), a buffer other than x; elements between tokens (default n_embd). */
  readonly outStride?: number;
}

export interface MoeRouterArgs {
  /** Activations (n_tokens, xStride) f32: the MoE block's normalised input, or with `norm` the raw residual. */
  readonly x: GPUBuffer;
  readonly xOffset?: number;
  /** Elements between tokens (default n_embd). */
  readonly xStride?: number;
  readonly nTokens?: number;
  /** ffn_gate_inp: F32, ne [n_embd, n_expert]. */
  readonly router: GpuWeight;
  readonly k: number;
  readonly gating: MoeGating;
  /** Multiplies the expert weights (default 1). */
  readonly scale?: number;
  /** Out: (n_tokens, ks) u32 expert ids, ks = k (+1 with sharedGate). */
  readonly ids: GPUBuffer;
  readonly idsOffset?: number;
  /** Out: (n_tokens, ks) f32 expert weights. */
  readonly weights: GPUBuffer;
  readonly weightsOffset?: number;
  /** Usage counters (u32, e.g. (n_layer, n_expert)): counts[offset + e] += 1 per token routed to e. */
  readonly counts?: { readonly buffer: GPUBuffer; readonly offset: number };
  /** Qwen2-MoE ffn_gate_inp_shexp (F32, ne [n_embd]): slot k gets sigmoid(w·x), ids[slot k] = n_expert. */
  readonly sharedGate?: GpuWeight;
  /** Prefill grouping: hist[e] += 1 and slotPos[offset + t*k + j] = the route's position in expert e's list. */
  readonly grouping?: { readonly hist: GPUBuffer; readonly slotPos: GPUBuffer; readonly slotOffset?: number };
  /** Normalise x first (one dispatch instead of norm + router): xn = norm(x) is written and routed. */
  readonly norm?: MoeRouterNorm;
  /** One of MOE_ROUTER_WG_SIZES within the device limit (default: the largest, up to 1024). */
  readonly workgroupSize?: number;
}

/** The router's default workgroup size: as many lanes as the device allows (latency-bound single workgroup). */
export function moeRouterDefaultWorkgroup(ctx: KernelContext): number {
  const max = ctx.info.limits.maxComputeInvocationsPerWorkgroup;
  return [...MOE_ROUTER_WG_SIZES].reverse().find((w) => w <= max) ?? 64;
}

export function moeRouter(ctx: KernelContext, a: MoeRouterArgs): Dispatch {
  const who = 'moeRouter';
  const r = a.router;
  check(r.type === 'F32' && r.dims.length === 2, () => `${who}: ${r.name} must be an F32 2-D tensor, got ${r.type} [${r.dims.join(', ')}]`);
  check(r.chunks.length === 1, () => `${who}: ${r.name} is split into ${r.chunks.length} chunks; the router must fit one binding`);
  const [nEmbd, nExpert] = r.dims;
  const { k, xOffset = 0, xStride = nEmbd, nTokens = 1, idsOffset = 0, weightsOffset = 0, scale = 1 } = a;
  const workgroupSize = a.workgroupSize ?? moeRouterDefaultWorkgroup(ctx);
  checkPositiveInt(nTokens, who, 'nTokens');
  check(Number.isInteger(k) && k >= 1 && k <= Math.min(nExpert, MOE_MAX_K), () => `${who}: k = ${k} must be in 1..min(n_expert ${nExpert}, ${MOE_MAX_K})`);
  check(nExpert <= 4095, () => `${who}: n_expert ${nExpert} > 4095`);
  check(xStride >= nEmbd, () => `${who}: xStride ${xStride} < n_embd ${nEmbd}`);
  const ks = k + (a.sharedGate ? 1 : 0);
  checkBuffer(a.x, xOffset, (nTokens - 1) * xStride + nEmbd, who, 'x');
  checkBuffer(a.ids, idsOffset, nTokens * ks, who, 'ids');
  checkBuffer(a.weights, weightsOffset, nTokens * ks, who, 'weights');
  if (a.counts) checkBuffer(a.counts.buffer, a.counts.offset, nExpert, who, 'counts');
  if (a.sharedGate) {
    const g = a.sharedGate;
    check(g.type === 'F32' && g.rowElems === nEmbd && g.rows === 1, () => `${who}: ${g.name} must be F32 [${nEmbd}], got ${g.type} [${g.dims.join(', ')}]`);
  }
  const nm = a.norm;
  const outOffset = nm?.outOffset ?? 0;
  const outStride = nm?.outStride ?? nEmbd;
  const nwOffset = nm?.weightOffset ?? 0;
  if (nm) {
    check(nm.kind === 'layer' || nm.kind === 'rms', () => `${who}: unknown norm kind`);
    check(Number.isFinite(nm.eps) && nm.eps >= 0, () => `${who}: norm eps must be a finite non-negative number`);
    check(outStride >= nEmbd, () => `${who}: norm outStride ${outStride} < n_embd ${nEmbd}`);
    checkBuffer(nm.weight, nwOffset, nEmbd, who, 'norm weight');
    checkBuffer(nm.out, outOffset, (nTokens - 1) * outStride + nEmbd, who, 'norm out');
    // Written in the same dispatch as x, ids, weights and counts are bound: a separate buffer (WebGPU usage).
    check(
      nm.out !== a.x && nm.out !== a.ids && nm.out !== a.weights && nm.out !== a.counts?.buffer && nm.out !== nm.weight,
      () => `${who}: norm out must not alias x, ids, weights, counts or the norm weight`,
    );
  }
  const slotOffset = a.grouping?.slotOffset ?? 0;
  if (a.grouping) {
    checkBuffer(a.grouping.hist, 0, nExpert, who, 'hist');
    checkBuffer(a.grouping.slotPos, slotOffset, nTokens * k, who, 'slotPos');
  }
  // Teams of TPR lanes per router row: every lane busy for few experts, at least 4 lanes per row for many.
  const nRows = nExpert + (a.sharedGate ? 1 : 0);
  const tpr = Math.max(Math.min(4, workgroupSize), Math.min(64, pow2Floor(workgroupSize / nRows)));
  checkWorkgroup(ctx, workgroupSize, tpr, who, MOE_ROUTER_WG_SIZES);
  check(a.ids !== a.weights, () => `${who}: ids and weights must be different buffers`);

  const vec4 =
    nEmbd % 4 === 0 && xOffset % 4 === 0 && xStride % 4 === 0 && (!nm || (outOffset % 4 === 0 && outStride % 4 === 0 && nwOffset % 4 === 0));
  const vw = vec4 ? 4 : 1;
  const defines: Defines = { ...baseDefines(ctx), MAX_E: Math.ceil((nExpert + 1) / 256) * 256, TPR: 'params.tpr' };
  if (vec4) defines.VEC4 = true;
  if (a.gating === 'softmax_topk') defines.NO_RENORM = true;
  const buffers: GPUBuffer[] = [a.x, r.chunks[0].buffer, a.ids, a.weights];
  if (a.counts) {
    defines.USAGE_COUNTS = true;
    defines.B_CNT = buffers.length + 1;
    buffers.push(a.counts.buffer);
  }
  if (a.sharedGate) {
    defines.SHARED_GATE = true;
    defines.B_SHG = buffers.length + 1;
    buffers.push(a.sharedGate.chunks[0].buffer);
  }
  if (a.grouping) {
    defines.PREFILL_HIST = true;
    defines.B_HIST = buffers.length + 1;
    defines.B_SLOT = buffers.length + 2;
    buffers.push(a.grouping.hist, a.grouping.slotPos);
  }
  if (nm) {
    defines.NORM = true;
    if (nm.kind === 'layer') defines.LAYER_NORM = true;
    defines.WG_RED_BORROW = true;
    defines.B_NW = buffers.length + 1;
    defines.B_XN = buffers.length + 2;
    buffers.push(nm.weight, nm.out);
  }
  const values: ParamValues<typeof MOE_ROUTER_PARAMS> = {
    n_cols: nEmbd / vw,
    n_expert: nExpert,
    k,
    ks,
    n_tokens: nTokens,
    x_off: xOffset / vw,
    x_stride: xStride / vw,
    ids_off: idsOffset,
    w_off: weightsOffset,
    cnt_off: a.counts?.offset ?? 0,
    slot_off: slotOffset,
    tpr,
    xn_off: outOffset / vw,
    xn_stride: outStride / vw,
    nw_off: nwOffset / vw,
    scale,
    eps: nm?.eps ?? 0,
  };
  const params = ctx.uniform(MOE_ROUTER_PARAMS, values, 'moe_router.params');
  const pipeline = ctx.pipeline({
    family: 'moe_router',
    source: withParams(routerSource, MOE_ROUTER_PARAMS),
    defines,
    includes: nm ? { ...MOE_INCLUDES, wg_reduce: wgReduceSource } : MOE_INCLUDES,
    overrides: { WG: workgroupSize },
  });
  const [gx, gy] = grid2d(nTokens, ctx.info.limits.maxComputeWorkgroupsPerDimension);
  return ctx.dispatch(pipeline, [params, ...buffers], [gx, gy], params);
}
