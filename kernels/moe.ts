/**
 * @file Dispatch wrappers for the Mixture-of-Experts kernels (kernels/moe_*.wgsl). The engine records these
 * once per layer and encodes them every token; routing stays on the GPU (expert ids are never read back).
 *
 * Decode (one token), 3 dispatches per MoE block (+2 for a Qwen2-MoE shared expert):
 *   moeRouter(ctx, {x, router, k, gating, ids, weights, counts?, sharedGate?}): Dispatch
 *       logits = W_r·x, softmax, top-k, gating -> ids[k] (u32), weights[k] (f32); optional usage counters.
 *       Tie-break: experts are ordered by descending logit; equal logits -> lower expert index first.
 *   moeGateUp(ctx, {x, gate, up, ids, k, h}): Dispatch[]
 *       h[j] = silu(gate_{ids[j]}·x) ⊙ (up_{ids[j]}·x) over the selected experts only, grid (ceil(n_ff/R), k).
 *   moeDownCombine(ctx, {h, down, ids, weights, k, residual?, y}): Dispatch[]
 *       y = residual + Σ_j weights[j]·down_{ids[j]}·h[j] in one kernel (without `residual`: y += ...).
 *   moeSharedExpert(ctx, {x, gate, up, down, gateWeight, h, y}): Dispatch[]
 *       y += sigmoid(x·w_gate_shexp) · down_sh(silu(gate_sh·x) ⊙ up_sh·x); the sigmoid gate is computed by
 *       moeRouter (`sharedGate`) into slot k of `weights`, so this is 2 small dense dispatches.
 *   moeDecode(ctx, {...}): Dispatch[] — the above in order for one MoE block.
 * Prefill (T tokens), 5 dispatches (+2): createMoePrefillScratch(ctx, dims) once, then
 *   moePrefill(ctx, {x, nTokens, router, gate, up, down, k, gating, residual?, y, scratch, shared?}): Dispatch[]
 *       route all T tokens, group routes by expert (counts, prefix, scatter), grouped gate+up and down
 *       products per (expert, tile of 32 routes), un-permute and combine (see moePrefill below).
 *
 * Every wrapper checks shapes, offsets and buffer sizes and throws KernelShapeError. Tuning knobs
 * (MoeDecodeTuning): workgroupSize (MOE_WG_SIZES, default 128), threadsPerRow (lanes per team, default 16 for
 * gate+up and 64 for down, fewer for short rows: the fastest on an H200 for OLMoE and DBRX shapes),
 * rowsPerThread (MOE_ROWS_PER_THREAD, default 1); the router takes MOE_ROUTER_WG_SIZES (default the device's
 * maximum up to 1024: one workgroup per token reads the whole router, so it is latency-bound).
 *
 * `rounding` (moeDecode, moePrefill): the engine's llama.cpp-CPU emulation. roundActivations dispatches replace
 * the expert products' inputs by ggml-cpu's rounding of them, in place: x after the router has read it (the
 * router and the shared-expert gate multiply in f32, as in llama.cpp), the GLU rows before down.
 *
 * The Dispatch[] results are usually one dispatch. Expert tensors split into chunks of whole experts
 * (GpuWeight.chunks, binding limits) are bound together, up to 8 chunks per tensor, and picked by expert
 * index in the shader; when the chunks of all tensors do not fit the device's storage-buffer limit the
 * experts are split into windows, one dispatch each (down+combine accumulates into y after the first).
 */
import gateUpSource from './moe_gate_up.wgsl?raw';
import downSource from './moe_down.wgsl?raw';
import routerSource from './moe_router.wgsl?raw';
import commonSource from './moe_common.wgsl?raw';
import scanSource from './moe_scan.wgsl?raw';
import mmSource from './moe_mm.wgsl?raw';
import combineSource from './moe_combine.wgsl?raw';
import { check, grid2d, type Dispatch, type KernelContext } from './lib/context.ts';
import { wgslParamsStruct, type ParamSchema, type ParamValues } from './lib/params.ts';
import { QUANT_INCLUDES, QUANT_TYPES, blocksPerRow, quantDefines, quantGeometry } from './lib/quant.ts';
import { checkQ8Activations, quantizeActivations, type Q8Activations } from './act_quant.ts';
import type { GpuWeight, GpuWeightType } from './lib/weights.ts';
import type { MoeGating } from './moe.ref.ts';
import { roundActivations, type GgmlRounding } from './act_quant.ts';

export type { MoeGating } from './moe.ref.ts';

/** Expert weight types the MoE kernels decode (all of kernels/lib/quant.wgsl). */
export const MOE_WEIGHT_TYPES: readonly GpuWeightType[] = QUANT_TYPES;
/** Workgroup sizes offered (decode expert kernels). */
export const MOE_WG_SIZES = [64, 128, 256] as const;
/** Router workgroup sizes offered (one workgroup per token reads the whole router: the more lanes the better). */
export const MOE_ROUTER_WG_SIZES = [64, 128, 256, 512, 1024] as const;
/** Rows per invocation offered for the decode expert kernels (each activation part is reused RPT times). */
export const MOE_ROWS_PER_THREAD = [1, 2, 4] as const;
/** Most chunks of one expert tensor bound in one dispatch. */
export const MOE_MAX_CHUNK_BINDINGS = 8;
/** Most experts per token (router workgroup array). */
export const MOE_MAX_K = 16;

/**
 * ggml-cpu's rounding of each expert product's input (act_quant.ts ggmlRoundingFor of the weight type), applied
 * in place; an absent entry stays f32. x is rounded after the router has read it; the shared expert reads x
 * too, so the caller passes `sharedX` when the shared gate/up round differently.
 */
export interface MoeRounding {
  /** x before the routed gate+up. */
  readonly x?: GgmlRounding;
  /** The GLU rows before the routed down. */
  readonly h?: GgmlRounding;
  /** The shared expert's GLU row before its down. */
  readonly sharedH?: GgmlRounding;
}

const INCLUDES: Readonly<Record<string, string>> = { ...QUANT_INCLUDES, moe_common: commonSource };

// ---- shared helpers ------------------------------------------------------------------------------------

type Defines = Record<string, string | number | boolean>;

function baseDefines(ctx: KernelContext): Defines {
  return ctx.subgroups ? { USE_SUBGROUPS: true } : {};
}

function withParams(source: string, schema: ParamSchema): string {
  return source.replace('PARAMS_STRUCT', wgslParamsStruct(schema));
}

/**
 * WGSL for `n` weight buffers at bindings first.. and the accessors quant.wgsl needs, `qw_load(word)` (and
 * `qw_load4` for 16-byte-aligned types), reading the buffer selected by the private `q_sel`.
 */
function weightBindingsWgsl(first: number, n: number, vec4: boolean): string {
  const elem = vec4 ? 'vec4<u32>' : 'u32';
  const decl = Array.from({ length: n }, (_, i) => `@group(0) @binding(${first + i}) var<storage, read> wbuf${i}: array<${elem}>;`);
  const accessor = (name: string, ret: string, idx: string, suffix: string): string => {
    const read = (i: number): string => `wbuf${i}[${idx}]${suffix}`;
    const body =
      n === 1
        ? `  return ${read(0)};`
        : `  switch q_sel {\n${Array.from({ length: n - 1 }, (_, i) => `    case ${i}u: { return ${read(i)}; }`).join('\n')}\n` +
          `    default: { return ${read(n - 1)}; }\n  }`;
    return `fn ${name}(i: u32) -> ${ret} {\n${body}\n}`;
  };
  const fns = vec4
    ? [accessor('qw_load', 'u32', 'i >> 2u', '[i & 3u]'), accessor('qw_load4', 'vec4<u32>', 'i >> 2u', '')]
    : [accessor('qw_load', 'u32', 'i', '')];
  return [...decl, 'var<private> q_sel: u32;', ...fns].join('\n');
}

function checkWorkgroup(ctx: KernelContext, wg: number, tpr: number, who: string, sizes: readonly number[] = MOE_WG_SIZES): void {
  check(
    sizes.includes(wg) && wg <= ctx.info.limits.maxComputeInvocationsPerWorkgroup,
    () => `${who}: workgroup size ${wg} is not one of ${sizes.join(', ')} within the device limit`,
  );
  check(Number.isInteger(tpr) && tpr >= 1 && (tpr & (tpr - 1)) === 0 && tpr <= wg, () => `${who}: threads per row ${tpr} must be a power of two <= ${wg}`);
}

function checkRpt(rpt: number, who: string): void {
  check((MOE_ROWS_PER_THREAD as readonly number[]).includes(rpt), () => `${who}: rows per thread ${rpt} is not one of ${MOE_ROWS_PER_THREAD.join(', ')}`);
}

function pow2Floor(n: number): number {
  return 2 ** Math.floor(Math.log2(Math.max(1, n)));
}

function checkBuffer(buf: GPUBuffer, offsetElems: number, nElems: number, who: string, what: string): void {
  check(Number.isInteger(offsetElems) && offsetElems >= 0, () => `${who}: ${what} offset ${offsetElems} must be a non-negative integer`);
  check((offsetElems + nElems) * 4 <= buf.size, () => `${who}: ${what} holds ${buf.size / 4} elements < ${offsetElems} + ${nElems}`);
}

function checkPositiveInt(n: number, who: string, what: string): void {
  check(Number.isInteger(n) && n > 0, () => `${who}: ${what} must be a positive integer, got ${n}`);
}

/** Experts per chunk of a 3-D expert tensor (chunks hold whole experts, all but the last the same count). */
function expertsPerChunk(w: GpuWeight, who: string): number {
  const epc = w.chunks[0].rows / w.rowGroup;
  w.chunks.forEach((c, i) =>
    check(c.firstRow === i * epc * w.rowGroup, () => `${who}: ${w.name} chunk ${i} does not start at expert ${i * epc}`),
  );
  return epc;
}

interface ExpertWindow {
  readonly lo: number;
  readonly hi: number;
  /** Per tensor: first chunk bound and how many. */
  readonly c0: readonly number[];
  readonly n: readonly number[];
}

/**
 * Splits experts [0, nExpert) into consecutive windows whose chunks (of every tensor in `ws`) fit `budget`
 * storage bindings, at most MOE_MAX_CHUNK_BINDINGS per tensor. One window in the common case.
 */
function expertWindows(ws: readonly GpuWeight[], epc: readonly number[], nExpert: number, budget: number, who: string): ExpertWindow[] {
  const chunkOf = (i: number, e: number): number => Math.floor(e / epc[i]);
  const need = (lo: number, hi: number): number[] => ws.map((_, i) => chunkOf(i, hi - 1) - chunkOf(i, lo) + 1);
  const fits = (lo: number, hi: number): boolean => {
    const n = need(lo, hi);
    return n.every((c) => c <= MOE_MAX_CHUNK_BINDINGS) && n.reduce((a, b) => a + b, 0) <= budget;
  };
  check(fits(0, 1), () => `${who}: the device's storage-buffer limit leaves ${budget} bindings for ${ws.length} weight tensors`);
  const out: ExpertWindow[] = [];
  for (let lo = 0; lo < nExpert; ) {
    let hi = lo + 1;
    while (hi < nExpert && fits(lo, hi + 1)) hi++;
    out.push({ lo, hi, c0: ws.map((_, i) => chunkOf(i, lo)), n: need(lo, hi) });
    lo = hi;
  }
  return out;
}


function storageBudget(ctx: KernelContext, fixed: number, override: number | undefined): number {
  return (override ?? ctx.info.limits.maxStorageBuffersPerShaderStage) - fixed;
}

// ---- router --------------------------------------------------------------------------------------------

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
  ['scale', 'f32'],
] as const;

export interface MoeRouterArgs {
  /** Activations (n_tokens, xStride) f32; the MoE block's normalised input. */
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

  const vec4 = nEmbd % 4 === 0 && xOffset % 4 === 0 && xStride % 4 === 0;
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
    scale,
  };
  const params = ctx.uniform(MOE_ROUTER_PARAMS, values, 'moe_router.params');
  const pipeline = ctx.pipeline({
    family: 'moe_router',
    source: withParams(routerSource, MOE_ROUTER_PARAMS),
    defines,
    includes: INCLUDES,
    overrides: { WG: workgroupSize },
  });
  const [gx, gy] = grid2d(nTokens, ctx.info.limits.maxComputeWorkgroupsPerDimension);
  return ctx.dispatch(pipeline, [params, ...buffers], [gx, gy], params);
}

// ---- gate + up (decode) --------------------------------------------------------------------------------

export const MOE_GATE_UP_PARAMS = [
  ['n_ff', 'u32'],
  ['n_blocks', 'u32'],
  ['row_words', 'u32'],
  ['x_off', 'u32'],
  ['h_off', 'u32'],
  ['h_stride', 'u32'],
  ['ids_off', 'u32'],
  ['e_lo', 'u32'],
  ['e_hi', 'u32'],
  ['g_epc', 'u32'],
  ['g_c0', 'u32'],
  ['u_epc', 'u32'],
  ['u_c0', 'u32'],
  ['u_sel0', 'u32'],
] as const;

/** Tuning and test knobs shared by the decode wrappers. */
export interface MoeDecodeTuning {
  /** One of MOE_WG_SIZES (default 128). */
  readonly workgroupSize?: number;
  /** Invocations per team (power of two <= workgroupSize); default from the row's (block, part) count. */
  readonly threadsPerRow?: number;
  /** Rows per team, one of MOE_ROWS_PER_THREAD (default 1): each activation part serves that many rows. */
  readonly rowsPerThread?: number;
  /** Pretend the device allows this many storage buffers per stage (tests of the windowed path). */
  readonly maxStorageBuffers?: number;
}

export interface MoeGateUpArgs extends MoeDecodeTuning {
  /** (n_embd) f32 at xOffset. */
  readonly x: GPUBuffer;
  readonly xOffset?: number;
  /** act_quant's int8 form of x: read instead of x, integer dot products (Q4_K, Q8_0 experts). */
  readonly xq?: Q8Activations;
  /** ffn_gate_exps / ffn_up_exps: ne [n_embd, n_ff, n_expert], same type. */
  readonly gate: GpuWeight;
  readonly up: GpuWeight;
  /** (k) u32 expert ids (written by moeRouter). */
  readonly ids: GPUBuffer;
  readonly idsOffset?: number;
  readonly k: number;
  /** Out: (k, n_ff) f32. */
  readonly h: GPUBuffer;
  readonly hOffset?: number;
}

interface GateUpCore extends MoeDecodeTuning {
  readonly x: GPUBuffer;
  readonly xOffset: number;
  readonly xq?: Q8Activations;
  readonly gate: GpuWeight;
  readonly up: GpuWeight;
  readonly ids?: GPUBuffer;
  readonly idsOffset: number;
  readonly k: number;
  readonly nExpert: number;
  readonly nEmbd: number;
  readonly nFf: number;
  readonly h: GPUBuffer;
  readonly hOffset: number;
}

function gateUpDispatches(ctx: KernelContext, a: GateUpCore, who: string): Dispatch[] {
  const { gate, up, nEmbd, nFf, k, workgroupSize = 128, rowsPerThread: rpt = 1 } = a;
  check(gate.type === up.type, () => `${who}: gate (${gate.type}) and up (${up.type}) must have the same type`);
  const geo = quantGeometry(gate.type, who);
  const nb = blocksPerRow(gate.type, nEmbd, who);
  // 16 lanes per row measured best on an H200 for OLMoE and DBRX shapes (Q4_K); fewer for short rows.
  const tpr = a.threadsPerRow ?? Math.min(16, pow2Floor(nb * geo.parts), workgroupSize);
  checkWorkgroup(ctx, workgroupSize, tpr, who);
  checkRpt(rpt, who);
  checkBuffer(a.x, a.xOffset, nEmbd, who, 'x');
  checkBuffer(a.h, a.hOffset, k * nFf, who, 'h');
  if (a.ids) checkBuffer(a.ids, a.idsOffset, k, who, 'ids');
  check(a.h !== a.x && a.h !== a.ids, () => `${who}: h must not alias x or ids`);
  if (a.xq) checkQ8Activations(a.xq, gate.type, nEmbd, who, 'x');
  const dense = !a.ids;
  const epc = dense ? [1, 1] : [expertsPerChunk(gate, who), expertsPerChunk(up, who)];
  const fixed = dense ? 2 : 3;
  const windows = dense
    ? [{ lo: 0, hi: 1, c0: [0, 0], n: [1, 1] }]
    : expertWindows([gate, up], epc, a.nExpert, storageBudget(ctx, fixed, a.maxStorageBuffers), who);
  const rows = (workgroupSize / tpr) * rpt;
  return windows.map((win) => {
    const nBuf = win.n[0] + win.n[1];
    const defines: Defines = { ...baseDefines(ctx), ...quantDefines(gate.type, who), N_WBUF: nBuf, RPT: rpt, X_VEC4: a.xOffset % 4 === 0, X_Q8: a.xq !== undefined };
    if (dense) defines.DENSE = true;
    const values: ParamValues<typeof MOE_GATE_UP_PARAMS> = {
      n_ff: nFf,
      n_blocks: nb,
      row_words: gate.rowStride / 4,
      x_off: a.xOffset,
      h_off: a.hOffset,
      h_stride: nFf,
      ids_off: a.idsOffset,
      e_lo: win.lo,
      e_hi: win.hi,
      g_epc: epc[0],
      g_c0: win.c0[0],
      u_epc: epc[1],
      u_c0: win.c0[1],
      u_sel0: win.n[0],
    };
    const params = ctx.uniform(MOE_GATE_UP_PARAMS, values, 'moe_gate_up.params');
    const source = withParams(gateUpSource, MOE_GATE_UP_PARAMS).replace('WEIGHT_BINDINGS', weightBindingsWgsl(fixed + 1, nBuf, geo.vec4));
    const pipeline = ctx.pipeline({ family: 'moe_gate_up', source, defines, includes: INCLUDES, overrides: { WG: workgroupSize, TPR: tpr } });
    const wbufs = [
      ...gate.chunks.slice(win.c0[0], win.c0[0] + win.n[0]).map((c) => c.buffer),
      ...up.chunks.slice(win.c0[1], win.c0[1] + win.n[1]).map((c) => c.buffer),
    ];
    const xb = a.xq?.buffer ?? a.x;
    const fixedBufs = a.ids ? [xb, a.h, a.ids] : [xb, a.h];
    return ctx.dispatch(pipeline, [params, ...fixedBufs, ...wbufs], [Math.ceil(nFf / rows), dense ? 1 : k], params);
  });
}

export function moeGateUp(ctx: KernelContext, a: MoeGateUpArgs): Dispatch[] {
  const who = 'moeGateUp';
  const { gate, up } = a;
  check(gate.dims.length === 3, () => `${who}: ${gate.name} must be 3-D [n_embd, n_ff, n_expert], got [${gate.dims.join(', ')}]`);
  check(
    up.dims.length === 3 && up.dims.every((d, i) => d === gate.dims[i]),
    () => `${who}: ${up.name} [${up.dims.join(', ')}] must match ${gate.name} [${gate.dims.join(', ')}]`,
  );
  const [nEmbd, nFf, nExpert] = gate.dims;
  check(Number.isInteger(a.k) && a.k >= 1 && a.k <= nExpert, () => `${who}: k = ${a.k} must be in 1..${nExpert}`);
  return gateUpDispatches(
    ctx,
    { ...a, xOffset: a.xOffset ?? 0, idsOffset: a.idsOffset ?? 0, hOffset: a.hOffset ?? 0, nExpert, nEmbd, nFf },
    who,
  );
}

// ---- down + combine (decode) ---------------------------------------------------------------------------

export const MOE_DOWN_PARAMS = [
  ['n_embd', 'u32'],
  ['n_blocks', 'u32'],
  ['row_words', 'u32'],
  ['k', 'u32'],
  ['h_off', 'u32'],
  ['h_stride', 'u32'],
  ['ids_off', 'u32'],
  ['w_off', 'u32'],
  ['res_off', 'u32'],
  ['y_off', 'u32'],
  ['e_lo', 'u32'],
  ['e_hi', 'u32'],
  ['epc', 'u32'],
  ['c0', 'u32'],
  ['xq_n', 'u32'],
] as const;

export interface MoeDownArgs extends MoeDecodeTuning {
  /** (k, n_ff) f32 from moeGateUp. */
  readonly h: GPUBuffer;
  readonly hOffset?: number;
  /** act_quant's int8 form of h (k·n_ff values): read instead of h, integer dot products (Q4_K, Q8_0 experts). */
  readonly hq?: Q8Activations;
  /** ffn_down_exps: ne [n_ff, n_embd, n_expert]. */
  readonly down: GpuWeight;
  readonly ids: GPUBuffer;
  readonly idsOffset?: number;
  /** (k) f32 router weights. */
  readonly weights: GPUBuffer;
  readonly weightsOffset?: number;
  readonly k: number;
  /** (n_embd) f32; absent: y accumulates (y += MoE(x)). Must be a different buffer from y. */
  readonly residual?: GPUBuffer;
  readonly residualOffset?: number;
  /** Out: (n_embd) f32. */
  readonly y: GPUBuffer;
  readonly yOffset?: number;
}

interface DownCore extends MoeDecodeTuning {
  readonly h: GPUBuffer;
  readonly hOffset: number;
  readonly hq?: Q8Activations;
  readonly down: GpuWeight;
  readonly ids?: GPUBuffer;
  readonly idsOffset: number;
  readonly weights: GPUBuffer;
  readonly weightsOffset: number;
  readonly k: number;
  readonly nExpert: number;
  readonly nFf: number;
  readonly nEmbd: number;
  readonly residual?: GPUBuffer;
  readonly residualOffset: number;
  readonly y: GPUBuffer;
  readonly yOffset: number;
}

function downDispatches(ctx: KernelContext, a: DownCore, who: string): Dispatch[] {
  const { down, nEmbd, nFf, k, workgroupSize = 128, rowsPerThread: rpt = 1 } = a;
  const geo = quantGeometry(down.type, who);
  const nb = blocksPerRow(down.type, nFf, who);
  // Lanes stride over one expert's row at a time: up to 64 (best measured for DBRX's 10752-long rows).
  const tpr = a.threadsPerRow ?? Math.min(64, pow2Floor(nb * geo.parts), workgroupSize);
  checkWorkgroup(ctx, workgroupSize, tpr, who);
  checkRpt(rpt, who);
  checkBuffer(a.h, a.hOffset, k * nFf, who, 'h');
  checkBuffer(a.weights, a.weightsOffset, k, who, 'weights');
  checkBuffer(a.y, a.yOffset, nEmbd, who, 'y');
  if (a.ids) checkBuffer(a.ids, a.idsOffset, k, who, 'ids');
  if (a.residual) checkBuffer(a.residual, a.residualOffset, nEmbd, who, 'residual');
  check(
    a.y !== a.h && a.y !== a.weights && a.y !== a.ids && a.y !== a.residual,
    () => `${who}: y must not alias h, ids, weights or residual (omit residual to accumulate into y)`,
  );
  if (a.hq) checkQ8Activations(a.hq, down.type, k * nFf, who, 'h', nFf);
  const dense = !a.ids;
  const epc = dense ? 1 : expertsPerChunk(down, who);
  const fixed = 3 + (dense ? 0 : 1) + 1; // act, rw, y, ids?, residual (first window)
  const windows = dense
    ? [{ lo: 0, hi: 1, c0: [0], n: [1] }]
    : expertWindows([down], [epc], a.nExpert, storageBudget(ctx, fixed, a.maxStorageBuffers), who);
  const rows = (workgroupSize / tpr) * rpt;
  const [gx, gy] = grid2d(Math.ceil(nEmbd / rows), ctx.info.limits.maxComputeWorkgroupsPerDimension);
  return windows.map((win, wi) => {
    const accum = wi > 0 || !a.residual;
    const defines: Defines = { ...baseDefines(ctx), ...quantDefines(down.type, who), N_WBUF: win.n[0], RPT: rpt, X_VEC4: a.hOffset % 4 === 0, X_Q8: a.hq !== undefined };
    const buffers: GPUBuffer[] = [a.hq?.buffer ?? a.h, a.weights, a.y];
    if (a.residual && !accum) {
      defines.B_RES = buffers.length + 1;
      buffers.push(a.residual);
    } else defines.ACCUM = true;
    if (a.ids) {
      defines.B_IDS = buffers.length + 1;
      buffers.push(a.ids);
    } else defines.DENSE = true;
    const values: ParamValues<typeof MOE_DOWN_PARAMS> = {
      n_embd: nEmbd,
      n_blocks: nb,
      row_words: down.rowStride / 4,
      k,
      h_off: a.hOffset,
      h_stride: nFf,
      ids_off: a.idsOffset,
      w_off: a.weightsOffset,
      res_off: a.residualOffset,
      y_off: a.yOffset,
      e_lo: win.lo,
      e_hi: win.hi,
      epc,
      c0: win.c0[0],
      xq_n: a.hq?.n ?? 0,
    };
    const params = ctx.uniform(MOE_DOWN_PARAMS, values, 'moe_down.params');
    const source = withParams(downSource, MOE_DOWN_PARAMS).replace('WEIGHT_BINDINGS', weightBindingsWgsl(buffers.length + 1, win.n[0], geo.vec4));
    const pipeline = ctx.pipeline({ family: 'moe_down', source, defines, includes: INCLUDES, overrides: { WG: workgroupSize, TPR: tpr } });
    const wbufs = down.chunks.slice(win.c0[0], win.c0[0] + win.n[0]).map((c) => c.buffer);
    return ctx.dispatch(pipeline, [params, ...buffers, ...wbufs], [gx, gy], params);
  });
}

export function moeDownCombine(ctx: KernelContext, a: MoeDownArgs): Dispatch[] {
  const who = 'moeDownCombine';
  const { down } = a;
  check(down.dims.length === 3, () => `${who}: ${down.name} must be 3-D [n_ff, n_embd, n_expert], got [${down.dims.join(', ')}]`);
  const [nFf, nEmbd, nExpert] = down.dims;
  check(Number.isInteger(a.k) && a.k >= 1 && a.k <= nExpert, () => `${who}: k = ${a.k} must be in 1..${nExpert}`);
  return downDispatches(
    ctx,
    {
      ...a,
      hOffset: a.hOffset ?? 0,
      idsOffset: a.idsOffset ?? 0,
      weightsOffset: a.weightsOffset ?? 0,
      residualOffset: a.residualOffset ?? 0,
      yOffset: a.yOffset ?? 0,
      nExpert,
      nFf,
      nEmbd,
    },
    who,
  );
}

// ---- shared expert (Qwen2-MoE) -------------------------------------------------------------------------

export interface MoeSharedExpertArgs extends MoeDecodeTuning {
  readonly x: GPUBuffer;
  readonly xOffset?: number;
  /** ffn_gate_shexp / ffn_up_shexp: ne [n_embd, n_ff_sh]; ffn_down_shexp: ne [n_ff_sh, n_embd]. */
  readonly gate: GpuWeight;
  readonly up: GpuWeight;
  readonly down: GpuWeight;
  /** The sigmoid gate: moeRouter's `weights` buffer, at the shared slot (weightsOffset + k). */
  readonly gateWeight: GPUBuffer;
  readonly gateWeightOffset: number;
  /** Scratch (n_ff_sh) f32. */
  readonly h: GPUBuffer;
  readonly hOffset?: number;
  /** Round h in place between gate+up and down (ggml-cpu emulation; see MoeRounding). */
  readonly roundH?: GgmlRounding;
  /** y += gate · down_sh(silu(gate_sh·x) ⊙ up_sh·x). */
  readonly y: GPUBuffer;
  readonly yOffset?: number;
}

export function moeSharedExpert(ctx: KernelContext, a: MoeSharedExpertArgs): Dispatch[] {
  const who = 'moeSharedExpert';
  const { gate, up, down } = a;
  check(gate.dims.length === 2, () => `${who}: ${gate.name} must be 2-D [n_embd, n_ff_sh], got [${gate.dims.join(', ')}]`);
  const [nEmbd, nFf] = gate.dims;
  check(up.dims.length === 2 && up.dims[0] === nEmbd && up.dims[1] === nFf, () => `${who}: ${up.name} [${up.dims.join(', ')}] must be [${nEmbd}, ${nFf}]`);
  check(down.dims.length === 2 && down.dims[0] === nFf && down.dims[1] === nEmbd, () => `${who}: ${down.name} [${down.dims.join(', ')}] must be [${nFf}, ${nEmbd}]`);
  for (const w of [gate, up, down]) check(w.chunks.length === 1, () => `${who}: ${w.name} must fit one binding (${w.chunks.length} chunks)`);
  const hOffset = a.hOffset ?? 0;
  return [
    ...gateUpDispatches(ctx, { ...a, xOffset: a.xOffset ?? 0, idsOffset: 0, hOffset, k: 1, nExpert: 1, nEmbd, nFf }, who),
    ...(a.roundH ? [roundActivations(ctx, { x: a.h, xOffset: hOffset, n: nFf, rounding: a.roundH })] : []),
    ...downDispatches(
      ctx,
      {
        ...a,
        h: a.h,
        hOffset,
        idsOffset: 0,
        weights: a.gateWeight,
        weightsOffset: a.gateWeightOffset,
        k: 1,
        nExpert: 1,
        nFf,
        nEmbd,
        residualOffset: 0,
        yOffset: a.yOffset ?? 0,
      },
      who,
    ),
  ];
}

// ---- one decode MoE block ------------------------------------------------------------------------------

export interface MoeDecodeArgs extends MoeDecodeTuning {
  readonly x: GPUBuffer;
  readonly xOffset?: number;
  readonly router: GpuWeight;
  readonly gate: GpuWeight;
  readonly up: GpuWeight;
  readonly down: GpuWeight;
  readonly k: number;
  readonly gating: MoeGating;
  readonly scale?: number;
  readonly residual: GPUBuffer;
  readonly residualOffset?: number;
  readonly y: GPUBuffer;
  readonly yOffset?: number;
  /** Scratch: ids (k+1 u32), weights (k+1 f32), h (k·n_ff + n_ff_sh f32). */
  readonly ids: GPUBuffer;
  readonly weights: GPUBuffer;
  readonly h: GPUBuffer;
  readonly counts?: { readonly buffer: GPUBuffer; readonly offset: number };
  readonly shared?: { readonly gateInp: GpuWeight; readonly gate: GpuWeight; readonly up: GpuWeight; readonly down: GpuWeight };
  /** The router's workgroup size (MOE_ROUTER_WG_SIZES; default moeRouterDefaultWorkgroup). */
  readonly routerWorkgroupSize?: number;
  /** ggml-cpu emulation: inputs rounded in place (x and h are then overwritten). */
  readonly rounding?: MoeRounding;
  /**
   * Int8 activations for the routed experts (Q4_K/Q8_0): x and h are quantized once each (act_quant, 2 more
   * dispatches) into these buffers (n_embd and k·n_ff values) and gate+up and down take integer dot products,
   * llama.cpp's arithmetic. Not with `rounding` of the same input (the same values, computed in f32); either
   * may be absent (e.g. Q4_K gate/up beside Q6_K down: x int8, h rounded in place).
   */
  readonly int8?: { readonly x?: Q8Activations; readonly h?: Q8Activations };
  /** The shared expert's gate+up input (n_embd at xOffset); default x. */
  readonly sharedX?: GPUBuffer;
}

/** Router, gate+up, down+combine (and the shared expert): y = residual + MoE(x) for one token. */
export function moeDecode(ctx: KernelContext, a: MoeDecodeArgs): Dispatch[] {
  const { k } = a;
  const tuning: MoeDecodeTuning = { workgroupSize: a.workgroupSize, rowsPerThread: a.rowsPerThread, maxStorageBuffers: a.maxStorageBuffers };
  const [nEmbd, nFf] = a.gate.dims;
  const r = a.rounding ?? {};
  const q8 = a.int8;
  check(!(q8?.x && r.x) && !(q8?.h && r.h), () => 'moeDecode: int8 activations and rounding in place of one input are exclusive');
  check(a.sharedX === undefined || (a.shared !== undefined && a.sharedX !== a.x), () => 'moeDecode: sharedX needs a shared expert and a buffer other than x');
  const out: Dispatch[] = [
    moeRouter(ctx, {
      x: a.x,
      xOffset: a.xOffset,
      router: a.router,
      k,
      gating: a.gating,
      scale: a.scale,
      ids: a.ids,
      weights: a.weights,
      counts: a.counts,
      sharedGate: a.shared?.gateInp,
      workgroupSize: a.routerWorkgroupSize,
    }),
    // After the router: it (and the shared gate) read x in f32.
    ...(r.x ? [roundActivations(ctx, { x: a.x, xOffset: a.xOffset, n: nEmbd, rounding: r.x })] : []),
    ...(q8?.x ? [quantizeActivations(ctx, { x: a.x, xOffset: a.xOffset, out: q8.x })] : []),
    ...moeGateUp(ctx, { ...tuning, x: a.x, xOffset: a.xOffset, xq: q8?.x, gate: a.gate, up: a.up, ids: a.ids, k, h: a.h }),
    ...(r.h ? [roundActivations(ctx, { x: a.h, n: nFf, rows: k, rounding: r.h })] : []),
    ...(q8?.h ? [quantizeActivations(ctx, { x: a.h, out: q8.h })] : []),
    ...moeDownCombine(ctx, {
      ...tuning,
      h: a.h,
      hq: q8?.h,
      down: a.down,
      ids: a.ids,
      weights: a.weights,
      k,
      residual: a.residual,
      residualOffset: a.residualOffset,
      y: a.y,
      yOffset: a.yOffset,
    }),
  ];
  if (a.shared) {
    const s = a.shared;
    out.push(
      ...moeSharedExpert(ctx, {
        ...tuning,
        x: a.sharedX ?? a.x,
        xOffset: a.xOffset,
        gate: s.gate,
        up: s.up,
        down: s.down,
        gateWeight: a.weights,
        gateWeightOffset: k,
        h: a.h,
        hOffset: k * nFf,
        roundH: r.sharedH,
        y: a.y,
        yOffset: a.yOffset,
      }),
    );
  }
  return out;
}

// ---- prefill (T tokens) --------------------------------------------------------------------------------

/** Rows (routes) per grouped-matmul tile and output features per workgroup (moe_mm.wgsl TM / TN). */
export const MOE_MM_TILE_ROWS = 32;
export const MOE_MM_TILE_COLS = 64;

export interface MoePrefillDims {
  /** Largest T the scratch serves. */
  readonly maxTokens: number;
  readonly nEmbd: number;
  readonly nFf: number;
  readonly nExpert: number;
  readonly k: number;
  /** Shared expert's n_ff (Qwen2-MoE), if any. */
  readonly nFfShared?: number;
}

/** GPU scratch of moePrefill, allocated once for the largest T (all f32/u32). */
export interface MoePrefillScratch {
  readonly dims: MoePrefillDims;
  /** (T, ks) router outputs, ks = k (+1 with a shared expert). */
  readonly ids: GPUBuffer;
  readonly weights: GPUBuffer;
  /** (n_expert) per-expert route counts; zero between uses (the grouping step resets it). */
  readonly hist: GPUBuffer;
  /** (T·k) each route's position in its expert's list; sorted: route per sorted position; inv: its inverse. */
  readonly slotPos: GPUBuffer;
  readonly sorted: GPUBuffer;
  readonly inv: GPUBuffer;
  /** Tile list of the grouped products (moe_scan.wgsl). */
  readonly tiles: GPUBuffer;
  /** (T·k, n_ff) GLU outputs and (T·k, n_embd) down outputs, sorted by expert. */
  readonly hs: GPUBuffer;
  readonly ys: GPUBuffer;
  /** (T, n_ff_sh) and (T, n_embd): the shared expert's. */
  readonly hsh?: GPUBuffer;
  readonly ysh?: GPUBuffer;
}

/** Upper bound on the tile count: each non-empty expert has at most one partial tile. */
export function moeMaxTiles(nTokens: number, k: number, nExpert: number): number {
  const routes = nTokens * k;
  return Math.min(nExpert, routes) + Math.floor(routes / MOE_MM_TILE_ROWS);
}

export function createMoePrefillScratch(ctx: KernelContext, d: MoePrefillDims): MoePrefillScratch {
  const who = 'createMoePrefillScratch';
  for (const [n, v] of Object.entries(d)) if (v !== undefined) checkPositiveInt(v, who, n);
  const routes = d.maxTokens * d.k;
  const ks = d.k + (d.nFfShared ? 1 : 0);
  const f = (n: number, label: string): GPUBuffer => ctx.storage(n * 4, `moe_prefill.${label}`);
  return {
    dims: { ...d },
    ids: f(d.maxTokens * ks, 'ids'),
    weights: f(d.maxTokens * ks, 'weights'),
    hist: f(d.nExpert, 'hist'),
    slotPos: f(routes, 'slotPos'),
    sorted: f(routes, 'sorted'),
    inv: f(routes, 'inv'),
    tiles: f(4 + 4 * moeMaxTiles(d.maxTokens, d.k, d.nExpert), 'tiles'),
    hs: f(routes * d.nFf, 'hs'),
    ys: f(routes * d.nEmbd, 'ys'),
    hsh: d.nFfShared ? f(d.maxTokens * d.nFfShared, 'hsh') : undefined,
    ysh: d.nFfShared ? f(d.maxTokens * d.nEmbd, 'ysh') : undefined,
  };
}

export function destroyMoePrefillScratch(s: MoePrefillScratch): void {
  for (const b of [s.ids, s.weights, s.hist, s.slotPos, s.sorted, s.inv, s.tiles, s.hs, s.ys, s.hsh, s.ysh]) b?.destroy();
}

export const MOE_SCAN_PARAMS = [
  ['n_expert', 'u32'],
  ['k', 'u32'],
  ['ks', 'u32'],
  ['n_tokens', 'u32'],
  ['ids_off', 'u32'],
  ['slot_off', 'u32'],
  ['tm', 'u32'],
] as const;

export const MOE_MM_PARAMS = [
  ['n_out', 'u32'],
  ['n_blocks', 'u32'],
  ['row_words', 'u32'],
  ['n_tokens', 'u32'],
  ['k', 'u32'],
  ['x_off', 'u32'],
  ['x_stride', 'u32'],
  ['out_off', 'u32'],
  ['out_stride', 'u32'],
  ['e_lo', 'u32'],
  ['e_hi', 'u32'],
  ['g_epc', 'u32'],
  ['g_c0', 'u32'],
  ['u_epc', 'u32'],
  ['u_c0', 'u32'],
  ['u_sel0', 'u32'],
] as const;

export const MOE_COMBINE_PARAMS = [
  ['n_embd', 'u32'],
  ['n_tokens', 'u32'],
  ['k', 'u32'],
  ['ks', 'u32'],
  ['w_off', 'u32'],
  ['res_off', 'u32'],
  ['res_stride', 'u32'],
  ['y_off', 'u32'],
  ['y_stride', 'u32'],
] as const;

interface MmCore {
  /** gate (GATE_UP) or down weights, and up for GATE_UP. */
  readonly w: GpuWeight;
  readonly up?: GpuWeight;
  /** Activations: x (GATE_UP, gathered by token) or the sorted GLU rows (down). */
  readonly x: GPUBuffer;
  readonly xOffset: number;
  readonly xStride: number;
  readonly out: GPUBuffer;
  readonly outStride: number;
  readonly nTokens: number;
  readonly k: number;
  readonly nExpert: number;
  /** Tile list and sorted routes; absent: DENSE (2-D weights over all tokens). */
  readonly tiles?: GPUBuffer;
  readonly sorted?: GPUBuffer;
  readonly maxTiles: number;
  readonly maxStorageBuffers?: number;
}

function mmDispatches(ctx: KernelContext, a: MmCore, who: string): Dispatch[] {
  const { w, up } = a;
  const gateUp = up !== undefined;
  if (up) check(up.type === w.type, () => `${who}: gate (${w.type}) and up (${up.type}) must have the same type`);
  const geo = quantGeometry(w.type, who);
  const nIn = w.dims[0];
  const nOut = w.dims[1];
  const nb = blocksPerRow(w.type, nIn, who);
  const dense = !a.tiles;
  const ws = up ? [w, up] : [w];
  const epc = dense ? ws.map(() => 1) : ws.map((t) => expertsPerChunk(t, who));
  const fixedBufs: GPUBuffer[] = [a.x, a.out];
  if (a.tiles) fixedBufs.push(a.tiles);
  if (a.tiles && gateUp && a.sorted) fixedBufs.push(a.sorted);
  const windows = dense
    ? [{ lo: 0, hi: 1, c0: ws.map(() => 0), n: ws.map(() => 1) }]
    : expertWindows(ws, epc, a.nExpert, storageBudget(ctx, fixedBufs.length, a.maxStorageBuffers), who);
  const nTiles = dense ? Math.ceil(a.nTokens / MOE_MM_TILE_ROWS) : a.maxTiles;
  const maxWg = ctx.info.limits.maxComputeWorkgroupsPerDimension;
  check(nTiles <= maxWg, () => `${who}: ${nTiles} tiles exceed the grid limit ${maxWg}; prefill fewer tokens at once`);
  const shared = (MOE_MM_TILE_ROWS + (gateUp ? 2 : 1) * MOE_MM_TILE_COLS) * 33 * 4;
  check(shared <= ctx.info.limits.maxComputeWorkgroupStorageSize, () => `${who}: needs ${shared} bytes of workgroup memory`);
  check(ctx.info.limits.maxComputeInvocationsPerWorkgroup >= 256, () => `${who}: needs 256 invocations per workgroup`);
  return windows.map((win) => {
    const nBuf = win.n.reduce((x, y) => x + y, 0);
    const defines: Defines = {
      ...quantDefines(w.type, who),
      N_WBUF: nBuf,
      X_VEC4: a.xOffset % 4 === 0 && a.xStride % 4 === 0,
      GATE_UP: gateUp,
      DENSE: dense,
    };
    const values: ParamValues<typeof MOE_MM_PARAMS> = {
      n_out: nOut,
      n_blocks: nb,
      row_words: w.rowStride / 4,
      n_tokens: a.nTokens,
      k: a.k,
      x_off: a.xOffset,
      x_stride: a.xStride,
      out_off: 0,
      out_stride: a.outStride,
      e_lo: win.lo,
      e_hi: win.hi,
      g_epc: epc[0],
      g_c0: win.c0[0],
      u_epc: epc[epc.length - 1],
      u_c0: win.c0[win.c0.length - 1],
      u_sel0: win.n[0],
    };
    const params = ctx.uniform(MOE_MM_PARAMS, values, 'moe_mm.params');
    const source = withParams(mmSource, MOE_MM_PARAMS).replace('WEIGHT_BINDINGS', weightBindingsWgsl(fixedBufs.length + 1, nBuf, geo.vec4));
    const pipeline = ctx.pipeline({ family: 'moe_mm', source, defines, includes: INCLUDES });
    const wbufs = ws.flatMap((t, i) => t.chunks.slice(win.c0[i], win.c0[i] + win.n[i]).map((c) => c.buffer));
    return ctx.dispatch(pipeline, [params, ...fixedBufs, ...wbufs], [Math.ceil(nOut / MOE_MM_TILE_COLS), nTiles], params);
  });
}

export interface MoePrefillArgs {
  /** (n_tokens, xStride) f32 activations (the normalised input of the MoE block). */
  readonly x: GPUBuffer;
  readonly xOffset?: number;
  readonly xStride?: number;
  readonly nTokens: number;
  readonly router: GpuWeight;
  readonly gate: GpuWeight;
  readonly up: GpuWeight;
  readonly down: GpuWeight;
  readonly k: number;
  readonly gating: MoeGating;
  readonly scale?: number;
  /** (n_tokens, n_embd) f32; absent: y accumulates. Must differ from y. */
  readonly residual?: GPUBuffer;
  readonly residualOffset?: number;
  readonly residualStride?: number;
  /** Out: (n_tokens, yStride) f32. */
  readonly y: GPUBuffer;
  readonly yOffset?: number;
  readonly yStride?: number;
  readonly counts?: { readonly buffer: GPUBuffer; readonly offset: number };
  readonly shared?: { readonly gateInp: GpuWeight; readonly gate: GpuWeight; readonly up: GpuWeight; readonly down: GpuWeight };
  readonly scratch: MoePrefillScratch;
  /** Router workgroup size (one of MOE_ROUTER_WG_SIZES; default moeRouterDefaultWorkgroup). */
  readonly workgroupSize?: number;
  /** Pretend the device allows this many storage buffers per stage (tests of the windowed path). */
  readonly maxStorageBuffers?: number;
  /** ggml-cpu emulation: inputs rounded in place (x rows and the scratch's GLU rows are then overwritten). */
  readonly rounding?: MoeRounding;
  /** The shared expert's gate+up input, at x's offset and stride; default x. */
  readonly sharedX?: GPUBuffer;
}

/**
 * The MoE block for T tokens, 5 dispatches (+2 with a shared expert), all sized on the CPU from T with
 * upper-bound grids (workgroups past the GPU-computed tile count exit at once; no indirect dispatch):
 *   1. moe_router over T workgroups: ids/weights (T, k), usage counters, per-expert counts (atomics) and each
 *      route's position in its expert's list;
 *   2. moe_scan (1 workgroup): exclusive prefix over experts, tile list (expert, first row, rows), scatter of
 *      routes to sorted order and the inverse permutation; resets the counts;
 *   3. moe_mm GATE_UP: per (expert tile of 32 routes, 64 features): silu(gate·x) ⊙ up·x into hs (sorted);
 *   4. moe_mm down: per (tile, 64 features): down·hs into ys (sorted);
 *   (shared expert: moe_mm DENSE gate+up and down over all T tokens into hsh, ysh;)
 *   5. moe_combine: y[t] = residual[t] + Σ_j w[t][j]·ys[inv[t·k + j]] (+ w[t][k]·ysh[t]).
 * Each expert's weight tile is read once per tile of up to 32 routes.
 */
export function moePrefill(ctx: KernelContext, a: MoePrefillArgs): Dispatch[] {
  const who = 'moePrefill';
  const s = a.scratch;
  const { gate, up, down, k, nTokens } = a;
  check(gate.dims.length === 3 && down.dims.length === 3, () => `${who}: expert tensors must be 3-D`);
  const [nEmbd, nFf, nExpert] = gate.dims;
  check(
    up.dims.every((v, i) => v === gate.dims[i]) && down.dims[0] === nFf && down.dims[1] === nEmbd && down.dims[2] === nExpert,
    () => `${who}: expert shapes ${gate.name} [${gate.dims.join(', ')}], ${up.name} [${up.dims.join(', ')}], ${down.name} [${down.dims.join(', ')}] do not agree`,
  );
  checkPositiveInt(nTokens, who, 'nTokens');
  const d = s.dims;
  check(
    nTokens <= d.maxTokens && d.nEmbd === nEmbd && d.nFf === nFf && d.nExpert === nExpert && d.k === k,
    () => `${who}: scratch is for T <= ${d.maxTokens}, n_embd ${d.nEmbd}, n_ff ${d.nFf}, ${d.nExpert} experts, k ${d.k}`,
  );
  check(nExpert <= 2048, () => `${who}: n_expert ${nExpert} > 2048`);
  const sh = a.shared;
  check(!sh || (s.hsh !== undefined && s.ysh !== undefined && d.nFfShared === sh.gate.dims[1]), () => `${who}: scratch has no room for the shared expert`);
  const xOffset = a.xOffset ?? 0;
  const xStride = a.xStride ?? nEmbd;
  const yOffset = a.yOffset ?? 0;
  const yStride = a.yStride ?? nEmbd;
  const resOffset = a.residualOffset ?? 0;
  const resStride = a.residualStride ?? nEmbd;
  const ks = k + (sh ? 1 : 0);
  checkBuffer(a.y, yOffset, (nTokens - 1) * yStride + nEmbd, who, 'y');
  if (a.residual) checkBuffer(a.residual, resOffset, (nTokens - 1) * resStride + nEmbd, who, 'residual');
  check(a.y !== a.residual && a.y !== a.x, () => `${who}: y must not alias x or residual (omit residual to accumulate)`);
  check(a.sharedX === undefined || (sh !== undefined && a.sharedX !== a.x && a.sharedX !== a.y), () => `${who}: sharedX needs a shared expert and a buffer other than x and y`);
  const maxTiles = moeMaxTiles(nTokens, k, nExpert);

  const out: Dispatch[] = [
    moeRouter(ctx, {
      x: a.x,
      xOffset,
      xStride,
      nTokens,
      router: a.router,
      k,
      gating: a.gating,
      scale: a.scale,
      ids: s.ids,
      weights: s.weights,
      counts: a.counts,
      sharedGate: sh?.gateInp,
      grouping: { hist: s.hist, slotPos: s.slotPos },
      workgroupSize: a.workgroupSize,
    }),
  ];
  const scanValues: ParamValues<typeof MOE_SCAN_PARAMS> = {
    n_expert: nExpert,
    k,
    ks,
    n_tokens: nTokens,
    ids_off: 0,
    slot_off: 0,
    tm: MOE_MM_TILE_ROWS,
  };
  const scanParams = ctx.uniform(MOE_SCAN_PARAMS, scanValues, 'moe_scan.params');
  const scanPipeline = ctx.pipeline({
    family: 'moe_scan',
    source: withParams(scanSource, MOE_SCAN_PARAMS),
    defines: { MAX_E: Math.ceil(nExpert / 64) * 64 },
    overrides: { WG: 256 },
  });
  out.push(ctx.dispatch(scanPipeline, [scanParams, s.ids, s.slotPos, s.hist, s.sorted, s.inv, s.tiles], [1], scanParams));

  const r = a.rounding ?? {};
  // After the router: it (and the shared gate) read x in f32.
  if (r.x) out.push(roundActivations(ctx, { x: a.x, xOffset, n: nEmbd, rows: nTokens, stride: xStride, rounding: r.x }));
  const tuning = { nTokens, k, nExpert, maxTiles, maxStorageBuffers: a.maxStorageBuffers };
  out.push(...mmDispatches(ctx, { ...tuning, w: gate, up, x: a.x, xOffset, xStride, out: s.hs, outStride: nFf, tiles: s.tiles, sorted: s.sorted }, `${who} gate+up`));
  // hs holds one GLU row per route (T·k rows, sorted by expert).
  if (r.h) out.push(roundActivations(ctx, { x: s.hs, n: nFf, rows: nTokens * k, rounding: r.h }));
  out.push(...mmDispatches(ctx, { ...tuning, w: down, x: s.hs, xOffset: 0, xStride: nFf, out: s.ys, outStride: nEmbd, tiles: s.tiles }, `${who} down`));
  if (sh && s.hsh && s.ysh) {
    const nFfSh = sh.gate.dims[1];
    check(
      sh.gate.dims.length === 2 && sh.gate.dims[0] === nEmbd && sh.up.dims.every((v, i) => v === sh.gate.dims[i]) && sh.down.dims[0] === nFfSh && sh.down.dims[1] === nEmbd,
      () => `${who}: shared expert shapes do not agree with n_embd ${nEmbd}`,
    );
    const dense = { ...tuning, nExpert: 1 };
    if (a.sharedX) checkBuffer(a.sharedX, xOffset, (nTokens - 1) * xStride + nEmbd, who, 'sharedX');
    out.push(...mmDispatches(ctx, { ...dense, w: sh.gate, up: sh.up, x: a.sharedX ?? a.x, xOffset, xStride, out: s.hsh, outStride: nFfSh }, `${who} shared gate+up`));
    if (r.sharedH) out.push(roundActivations(ctx, { x: s.hsh, n: nFfSh, rows: nTokens, rounding: r.sharedH }));
    out.push(...mmDispatches(ctx, { ...dense, w: sh.down, x: s.hsh, xOffset: 0, xStride: nFfSh, out: s.ysh, outStride: nEmbd }, `${who} shared down`));
  }

  const cValues: ParamValues<typeof MOE_COMBINE_PARAMS> = {
    n_embd: nEmbd,
    n_tokens: nTokens,
    k,
    ks,
    w_off: 0,
    res_off: resOffset,
    res_stride: resStride,
    y_off: yOffset,
    y_stride: yStride,
  };
  const cParams = ctx.uniform(MOE_COMBINE_PARAMS, cValues, 'moe_combine.params');
  const cDefines: Defines = {};
  const cBufs: GPUBuffer[] = [s.ys, s.inv, s.weights, a.y];
  if (a.residual) {
    cDefines.B_RES = cBufs.length + 1;
    cBufs.push(a.residual);
  } else cDefines.ACCUM = true;
  if (sh && s.ysh) {
    cDefines.SHARED = true;
    cDefines.B_YSH = cBufs.length + 1;
    cBufs.push(s.ysh);
  }
  const cPipeline = ctx.pipeline({ family: 'moe_combine', source: withParams(combineSource, MOE_COMBINE_PARAMS), defines: cDefines, overrides: { WG: 256 } });
  out.push(ctx.dispatch(cPipeline, [cParams, ...cBufs], [Math.ceil(nEmbd / 256), nTokens], cParams));
  return out;
}
