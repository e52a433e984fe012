/**
 * @file Dispatch wrappers for one token's MoE block (kernels/moe_gate_up.wgsl, moe_down.wgsl, with moeRouter
 * from moe_router.ts). The engine records these once per layer and encodes them every token; routing stays on
 * the GPU (expert ids are never read back). 3 dispatches per MoE block (+2 for a Qwen2-MoE shared expert):
 *   moeGateUp(ctx, {x, gate, up, ids, k, h}): Dispatch[]
 *       h[j] = silu(gate_{ids[j]}·x) ⊙ (up_{ids[j]}·x) over the selected experts only, grid (ceil(n_ff/R), k).
 *   moeDownCombine(ctx, {h, down, ids, weights, k, residual?, y}): Dispatch[]
 *       y = residual + Σ_j weights[j]·down_{ids[j]}·h[j] in one kernel (without `residual`: y += ...).
 *   moeSharedExpert(ctx, {x, gate, up, down, gateWeight, h, y}): Dispatch[]
 *       y += sigmoid(x·w_gate_shexp) · down_sh(silu(gate_sh·x) ⊙ up_sh·x); the sigmoid gate is computed by
 *       moeRouter (`sharedGate`) into slot k of `weights`, so this is 2 small dense dispatches.
 *   moeDecode(ctx, {...}): Dispatch[] — the router and the above in order for one MoE block; with `norm`, the
 *       router also normalises the block's input into x (the norm dispatch before the block folded in).
 *
 * Every wrapper checks shapes, offsets and buffer sizes and throws KernelShapeError. Tuning knobs
 * (MoeDecodeTuning): workgroupSize (MOE_WG_SIZES, default 128), threadsPerRow (lanes per team, default 16 for
 * gate+up and 64 for down, fewer for short rows: the fastest on an H200 for OLMoE and DBRX shapes),
 * rowsPerThread (MOE_ROWS_PER_THREAD, default 1).
 *
 * `rounding` (moeDecode): the engine's llama.cpp-CPU emulation. roundActivations dispatches replace the expert
 * products' inputs by ggml-cpu's rounding of them, in place: x after the router has read it (and with `norm`
 * written it; the router and the shared-expert gate multiply in f32, as in llama.cpp), the GLU rows before down.
 *
 * The Dispatch[] results are usually one dispatch; more when the experts are split into binding windows
 * (moe_bindings.ts; down+combine accumulates into y after the first).
 */
import gateUpSource from './moe_gate_up.wgsl?raw';
import downSource from './moe_down.wgsl?raw';
import { check, grid2d, type Dispatch, type KernelContext } from './lib/context.ts';
import type { ParamValues } from './lib/params.ts';
import { blocksPerRow, quantDefines, quantGeometry } from './lib/quant.ts';
import { checkQ8Activations, quantizeActivations, roundActivations, type GgmlRounding, type Q8Activations } from './act_quant.ts';
import type { GpuWeight } from './lib/weights.ts';
import type { MoeGating } from './moe.ref.ts';
import {
  MOE_INCLUDES,
  baseDefines,
  checkBuffer,
  checkRpt,
  checkWorkgroup,
  expertWindows,
  expertsPerChunk,
  pow2Floor,
  storageBudget,
  weightBindingsWgsl,
  withParams,
  type Defines,
  type MoeRounding,
} from './moe_bindings.ts';
import { moeRouter } from './moe_router.ts';
import type { NormKind } from './norm.ref.ts';

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
    const pipeline = ctx.pipeline({ family: 'moe_gate_up', source, defines, includes: MOE_INCLUDES, overrides: { WG: workgroupSize, TPR: tpr } });
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
    const pipeline = ctx.pipeline({ family: 'moe_down', source, defines, includes: MOE_INCLUDES, overrides: { WG: workgroupSize, TPR: tpr } });
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
  /** The experts' input (n_embd) f32: the normalised row (written by the router when `norm` is given). */
  readonly x: GPUBuffer;
  readonly xOffset?: number;
  /**
   * The block's input norm, folded into the router: it reads `input` (n_embd, e.g. the residual), writes
   * x = norm(input)·weight and routes x. Without it, x is already normalised.
   */
  readonly norm?: {
    readonly kind: NormKind;
    readonly weight: GPUBuffer;
    readonly weightOffset?: number;
    readonly eps: number;
    readonly input: GPUBuffer;
    readonly inputOffset?: number;
  };
  /**
   * Recorded right after the router, before x is rounded or quantized (the caller's preparation of a copy of x,
   * e.g. `sharedX`, which needs the x the router has just normalised).
   */
  readonly afterRouter?: readonly Dispatch[];
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
  const nm = a.norm;
  const out: Dispatch[] = [
    moeRouter(ctx, {
      x: nm ? nm.input : a.x,
      xOffset: nm ? nm.inputOffset : a.xOffset,
      norm: nm ? { kind: nm.kind, weight: nm.weight, weightOffset: nm.weightOffset, eps: nm.eps, out: a.x, outOffset: a.xOffset } : undefined,
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
    ...(a.afterRouter ?? []),
    // After the router: it (and the shared gate) read x in f32, or write it (norm).
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
