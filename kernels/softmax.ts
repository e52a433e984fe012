/**
 * @file Dispatch wrapper for kernels/softmax.wgsl: row softmax or log-softmax of `scale·x` (scale = 1/temperature,
 * or 1) over T rows, max subtracted first. The engine needs it for probabilities shown to the user (log-probs
 * of the vocabulary); attention and sampling have their own fused softmaxes.
 *
 * API:
 *   softmax(ctx, a: SoftmaxArgs): Dispatch — rows at x[xOffset + r·xStride ..+n); out of place (`y`) or in place.
 *   SOFTMAX_WG_SIZES: offered workgroup sizes (powers of two).
 */
import source from './softmax.wgsl?raw';
import wgReduceSource from './lib/wg_reduce.wgsl?raw';
import { check, grid2d, type Dispatch, type KernelContext } from './lib/context.ts';
import { wgslParamsStruct, type ParamValues } from './lib/params.ts';
import { bindSpan } from './lib/span.ts';

export const SOFTMAX_PARAMS = [
  ['n', 'u32'],
  ['n_rows', 'u32'],
  ['x_off', 'u32'],
  ['x_stride', 'u32'],
  ['y_off', 'u32'],
  ['y_stride', 'u32'],
  ['scale', 'f32'],
] as const;

export const SOFTMAX_WG_SIZES = [64, 128, 256, 512, 1024] as const;

export interface SoftmaxArgs {
  readonly n: number;
  readonly nRows?: number;
  readonly x: GPUBuffer;
  readonly xOffset?: number;
  /** Elements between rows (default n). */
  readonly xStride?: number;
  /** Output; omit for in place. */
  readonly y?: GPUBuffer;
  readonly yOffset?: number;
  readonly yStride?: number;
  /** Multiplies x before the softmax (1/temperature); default 1. */
  readonly scale?: number;
  /** log-softmax instead of softmax. */
  readonly log?: boolean;
  readonly workgroupSize?: number;
  readonly subgroups?: boolean;
}

export function softmax(ctx: KernelContext, a: SoftmaxArgs): Dispatch {
  const what = 'softmax';
  const { n, nRows = 1, xOffset = 0, yOffset = 0, scale = 1 } = a;
  // A few long rows (a vocabulary): as many invocations as the device allows; many rows: 256.
  const workgroupSize = a.workgroupSize ?? (nRows <= 64 && n >= 8192 ? Math.min(1024, ctx.info.limits.maxComputeInvocationsPerWorkgroup) : 256);
  const xStride = a.xStride ?? n;
  const yStride = a.yStride ?? n;
  check(Number.isInteger(n) && n > 0, () => `${what}: n must be a positive integer, got ${n}`);
  check(Number.isInteger(nRows) && nRows > 0, () => `${what}: nRows must be a positive integer, got ${nRows}`);
  check(xStride >= n && yStride >= n, () => `${what}: row strides shorter than n`);
  check(Number.isFinite(scale), () => `${what}: scale must be finite`);
  check((SOFTMAX_WG_SIZES as readonly number[]).includes(workgroupSize), () => `${what}: workgroup size ${workgroupSize} not in ${SOFTMAX_WG_SIZES.join('/')}`);
  check(workgroupSize <= ctx.info.limits.maxComputeInvocationsPerWorkgroup, () => `${what}: workgroup size ${workgroupSize} over the device limit`);
  const inplace = a.y === undefined || a.y === a.x;
  check(!inplace || a.y === undefined || (yOffset === xOffset && yStride === xStride), () => `${what}: y aliases x at a different place`);
  const x = bindSpan(ctx, a.x, xOffset, xOffset + (nRows - 1) * xStride + n, 4, `${what}: x`);
  const y = !inplace && a.y ? bindSpan(ctx, a.y, yOffset, yOffset + (nRows - 1) * yStride + n, 4, `${what}: y`) : undefined;
  const values: ParamValues<typeof SOFTMAX_PARAMS> = {
    n,
    n_rows: nRows,
    x_off: xOffset - x.shift,
    x_stride: xStride,
    y_off: y ? yOffset - y.shift : 0,
    y_stride: yStride,
    scale,
  };
  const params = ctx.uniform(SOFTMAX_PARAMS, values, `${what}.params`);
  const pipeline = ctx.pipeline({
    family: 'softmax',
    source: source.replace('PARAMS_STRUCT', wgslParamsStruct(SOFTMAX_PARAMS)),
    defines: { INPLACE: inplace, LOG_SOFTMAX: !!a.log, USE_SUBGROUPS: (a.subgroups ?? true) && ctx.subgroups },
    includes: { wg_reduce: wgReduceSource },
    overrides: { WG: workgroupSize },
  });
  const buffers: (GPUBuffer | GPUBufferBinding)[] = [params, x.resource];
  if (y) buffers.push(y.resource);
  const [gx, gy] = grid2d(nRows, ctx.info.limits.maxComputeWorkgroupsPerDimension);
  return ctx.dispatch(pipeline, buffers, [gx, gy], params);
}
