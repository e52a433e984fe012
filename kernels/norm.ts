/**
 * @file Dispatch wrapper for kernels/norm.wgsl: LayerNorm (weight, no bias: DBRX) and RMSNorm over T rows of n
 * f32 values, plus the two Q/K norm layouts as thin helpers over the same kernel. One workgroup per row, the
 * reduction in workgroup memory or with subgroups (`ctx.subgroups`), two reductions for LayerNorm's variance;
 * a row of up to 8·WG values is read once into registers.
 *
 * API:
 *   norm(ctx, args: NormArgs): Dispatch — rows r = t·heads + h at x[xOffset + t·xStride + h·n ..+n), weight
 *     w[wOffset ..+n) shared by all heads; out of place (`y`) or in place (no `y`).
 *   qkNorm(ctx, args: QkNormArgs): Dispatch[] — in place on Q and K inside a projection buffer:
 *     'head' (Qwen3-MoE: weight (head_dim) applied to every head) or 'full' (OLMoE: weight (n_head·head_dim) over
 *     all of Q, (n_kv·head_dim) over all of K). qkvRope (rope.ts) can fuse both into the RoPE pass instead.
 *   NORM_WG_SIZES: the workgroup sizes offered (powers of two); normWorkgroupSize(ctx, n, rows): the default.
 */
import source from './norm.wgsl?raw';
import wgReduceSource from './lib/wg_reduce.wgsl?raw';
import { check, grid2d, type Dispatch, type KernelContext } from './lib/context.ts';
import { wgslParamsStruct, type ParamValues } from './lib/params.ts';
import { bindSpan } from './lib/span.ts';
import type { NormKind } from './norm.ref.ts';

/**
 * A norm folded into the kernel that consumes its output (matvec, act_quant, moe_router): that kernel reads the raw
 * row and applies this norm itself, with norm.wgsl's kinds and formulas.
 */
export interface FoldedNorm {
  readonly kind: NormKind;
  /** f32 norm weight g, one value per row element from weightOffset. */
  readonly weight: GPUBuffer;
  readonly weightOffset?: number;
  readonly eps: number;
}

/** A folded norm whose consumer also writes the normalised row (f32) for other readers. */
export interface FoldedNormOut extends FoldedNorm {
  readonly out: GPUBuffer;
  readonly outOffset?: number;
}

export const NORM_PARAMS = [
  ['n', 'u32'],
  ['heads', 'u32'],
  ['n_tok', 'u32'],
  ['x_off', 'u32'],
  ['x_stride', 'u32'],
  ['y_off', 'u32'],
  ['y_stride', 'u32'],
  ['w_off', 'u32'],
  ['eps', 'f32'],
] as const;

export const NORM_WG_SIZES = [64, 128, 256, 512, 1024] as const;

/**
 * Enough invocations to hold a row in registers (8 values each), up to 1024 for the few long rows of decode,
 * 256 when there are many rows to spread over the GPU anyway.
 */
export function normWorkgroupSize(ctx: KernelContext, n: number, rows: number): number {
  const cap = Math.min(rows <= 64 ? 1024 : 256, ctx.info.limits.maxComputeInvocationsPerWorkgroup);
  return Math.max(64, Math.min(cap, 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(n / 8))))));
}

export interface NormArgs {
  readonly kind: NormKind;
  /** Row length. */
  readonly n: number;
  /** Tokens (T ≥ 1). */
  readonly nTok?: number;
  /** Rows per token, each n long and contiguous (per-head norms); default 1. */
  readonly heads?: number;
  readonly x: GPUBuffer;
  readonly xOffset?: number;
  /** Elements between tokens (default heads·n). */
  readonly xStride?: number;
  readonly w: GPUBuffer;
  readonly wOffset?: number;
  /** Output; omit to normalise in place. */
  readonly y?: GPUBuffer;
  readonly yOffset?: number;
  readonly yStride?: number;
  readonly eps: number;
  readonly workgroupSize?: number;
  /** Use subgroups when the device has them (default true). */
  readonly subgroups?: boolean;
}

export function norm(ctx: KernelContext, args: NormArgs): Dispatch {
  const what = `norm(${args.kind})`;
  const { n, nTok = 1, heads = 1, xOffset = 0, wOffset = 0, yOffset = 0 } = args;
  const workgroupSize = args.workgroupSize ?? normWorkgroupSize(ctx, n, nTok * heads);
  const xStride = args.xStride ?? heads * n;
  const yStride = args.yStride ?? heads * n;
  check(Number.isInteger(n) && n > 0, () => `${what}: n must be a positive integer, got ${n}`);
  check(Number.isInteger(nTok) && nTok > 0, () => `${what}: nTok must be a positive integer, got ${nTok}`);
  check(Number.isInteger(heads) && heads > 0, () => `${what}: heads must be a positive integer, got ${heads}`);
  check((NORM_WG_SIZES as readonly number[]).includes(workgroupSize), () => `${what}: workgroup size ${workgroupSize} not in ${NORM_WG_SIZES.join('/')}`);
  check(workgroupSize <= ctx.info.limits.maxComputeInvocationsPerWorkgroup, () => `${what}: workgroup size ${workgroupSize} over the device limit`);
  check(xStride >= heads * n && yStride >= heads * n, () => `${what}: token strides ${xStride}/${yStride} shorter than heads·n = ${heads * n}`);
  check(Number.isFinite(args.eps) && args.eps >= 0, () => `${what}: eps must be a finite non-negative number`);
  check(args.kind === 'layer' || args.kind === 'rms', () => `${what}: unknown norm kind`);
  const inplace = args.y === undefined || args.y === args.x;
  check(!inplace || args.y === undefined || yOffset === xOffset, () => `${what}: y aliases x at a different offset`);
  const span = (off: number, stride: number) => off + (nTok - 1) * stride + heads * n;
  const x = bindSpan(ctx, args.x, xOffset, span(xOffset, xStride), 4, `${what}: x`);
  const w = bindSpan(ctx, args.w, wOffset, wOffset + n, 4, `${what}: w`);
  const y = !inplace && args.y ? bindSpan(ctx, args.y, yOffset, span(yOffset, yStride), 4, `${what}: y`) : undefined;
  const values: ParamValues<typeof NORM_PARAMS> = {
    n,
    heads,
    n_tok: nTok,
    x_off: xOffset - x.shift,
    x_stride: xStride,
    y_off: y ? yOffset - y.shift : 0,
    y_stride: yStride,
    w_off: wOffset - w.shift,
    eps: args.eps,
  };
  const params = ctx.uniform(NORM_PARAMS, values, `${what}.params`);
  const sub = (args.subgroups ?? true) && ctx.subgroups;
  const pipeline = ctx.pipeline({
    family: 'norm',
    source: source.replace('PARAMS_STRUCT', wgslParamsStruct(NORM_PARAMS)),
    defines: { LAYER_NORM: args.kind === 'layer', RMS_NORM: args.kind === 'rms', INPLACE: inplace, USE_SUBGROUPS: sub },
    includes: { wg_reduce: wgReduceSource },
    overrides: { WG: workgroupSize },
  });
  const buffers: (GPUBuffer | GPUBufferBinding)[] = [params, w.resource, x.resource];
  if (y) buffers.push(y.resource);
  const [gx, gy] = grid2d(nTok * heads, ctx.info.limits.maxComputeWorkgroupsPerDimension);
  return ctx.dispatch(pipeline, buffers, [gx, gy], params);
}

export interface QkNormArgs {
  /** 'head': weights (head_dim) per head (Qwen3); 'full': weights over the whole Q / K projection (OLMoE). */
  readonly mode: 'head' | 'full';
  readonly nTok?: number;
  readonly nHead: number;
  readonly nKv: number;
  readonly headDim: number;
  /** Buffer with Q and K: Q of token t at qOffset + t·qStride, K at kOffset + t·kStride. */
  readonly x: GPUBuffer;
  readonly qOffset: number;
  readonly kOffset: number;
  readonly qStride?: number;
  readonly kStride?: number;
  readonly qWeight: GPUBuffer;
  readonly kWeight: GPUBuffer;
  readonly qWeightOffset?: number;
  readonly kWeightOffset?: number;
  readonly eps: number;
  readonly workgroupSize?: number;
  readonly subgroups?: boolean;
}

/** RMSNorm of Q and K in place, before RoPE: two dispatches. */
export function qkNorm(ctx: KernelContext, a: QkNormArgs): Dispatch[] {
  const hd = a.headDim;
  const per = a.mode === 'head';
  const common = { kind: 'rms' as const, nTok: a.nTok, x: a.x, eps: a.eps, workgroupSize: a.workgroupSize, subgroups: a.subgroups };
  return [
    norm(ctx, {
      ...common,
      n: per ? hd : a.nHead * hd,
      heads: per ? a.nHead : 1,
      xOffset: a.qOffset,
      xStride: a.qStride ?? a.nHead * hd,
      w: a.qWeight,
      wOffset: a.qWeightOffset,
    }),
    norm(ctx, {
      ...common,
      n: per ? hd : a.nKv * hd,
      heads: per ? a.nKv : 1,
      xOffset: a.kOffset,
      xStride: a.kStride ?? a.nKv * hd,
      w: a.kWeight,
      wOffset: a.kWeightOffset,
    }),
  ];
}
