/**
 * @file Dispatch wrappers for T tokens' MoE block (kernels/moe_scan.wgsl, moe_mm.wgsl, moe_combine.wgsl, with
 * moeRouter from moe_router.ts), 5 dispatches (+2 for a shared expert): createMoePrefillScratch(ctx, dims) once,
 * then
 *   moePrefill(ctx, {x, nTokens, router, gate, up, down, k, gating, residual?, y, scratch, shared?}): Dispatch[]
 *       route all T tokens, group routes by expert (counts, prefix, scatter), grouped gate+up and down
 *       products per (expert, tile of 32 routes), un-permute and combine (see moePrefill below).
 * `rounding` as in moe_decode.ts. Every wrapper checks shapes, offsets and buffer sizes and throws
 * KernelShapeError.
 */
import scanSource from './moe_scan.wgsl?raw';
import mmSource from './moe_mm.wgsl?raw';
import combineSource from './moe_combine.wgsl?raw';
import { check, type Dispatch, type KernelContext } from './lib/context.ts';
import type { ParamValues } from './lib/params.ts';
import { blocksPerRow, quantDefines, quantGeometry } from './lib/quant.ts';
import { roundActivations } from './act_quant.ts';
import type { GpuWeight } from './lib/weights.ts';
import type { MoeGating } from './moe.ref.ts';
import {
  MOE_INCLUDES,
  checkBuffer,
  checkPositiveInt,
  expertWindows,
  expertsPerChunk,
  storageBudget,
  weightBindingsWgsl,
  withParams,
  type Defines,
  type MoeRounding,
} from './moe_bindings.ts';
import { moeRouter } from './moe_router.ts';

/** Rows (routes) per grouped-matmul tile and output features per workgroup (moe_mm.wgsl TM / TN). */
export const MOE_MM_TILE_ROWS = 32;
export const MOE_MM_TILE_COLS = 64;
/** TN with compact workgroup memory (KernelContext.compact): 8.4 KiB of tiles for gate/up instead of 21 KiB. */
export const MOE_MM_TILE_COLS_COMPACT = 16;

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
  const tn = ctx.compact ? MOE_MM_TILE_COLS_COMPACT : MOE_MM_TILE_COLS;
  const shared = (MOE_MM_TILE_ROWS + (gateUp ? 2 : 1) * tn) * 33 * 4;
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
      COMPACT: ctx.compact,
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
    const pipeline = ctx.pipeline({ family: 'moe_mm', source, defines, includes: MOE_INCLUDES });
    const wbufs = ws.flatMap((t, i) => t.chunks.slice(win.c0[i], win.c0[i] + win.n[i]).map((c) => c.buffer));
    return ctx.dispatch(pipeline, [params, ...fixedBufs, ...wbufs], [Math.ceil(nOut / tn), nTiles], params);
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
