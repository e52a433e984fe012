/**
 * @file Dispatch wrapper for kernels/elementwise.wgsl: residual adds, products, SiLU-gating (GLU) and scaled
 * residuals (Granite) on f32 vectors at element offsets, so one buffer can hold several vectors. With
 * `bPeriod`, b repeats every bPeriod elements (a bias row added to every token row of a (T, n) block).
 */
import source from './elementwise.wgsl?raw';
import { check, grid2d, type Dispatch, type KernelContext } from './lib/context.ts';
import { wgslParamsStruct, type ParamValues } from './lib/params.ts';
import type { ElementwiseOp } from './elementwise.ref.ts';

export const ELEMENTWISE_PARAMS = [
  ['n', 'u32'],
  ['a_off', 'u32'],
  ['b_off', 'u32'],
  ['y_off', 'u32'],
  ['b_period', 'u32'],
  ['scale', 'f32'],
] as const;

const DEFINE: Readonly<Record<ElementwiseOp, string>> = {
  add: 'OP_ADD',
  mul: 'OP_MUL',
  silu_mul: 'OP_SILU_MUL',
  scale_add: 'OP_SCALE_ADD',
};

export interface ElementwiseArgs {
  readonly op: ElementwiseOp;
  readonly n: number;
  readonly a: GPUBuffer;
  readonly b: GPUBuffer;
  /** May alias a or b only if the GPU allows it: WebGPU forbids a read and read_write binding of one buffer, so pass a distinct buffer. */
  readonly y: GPUBuffer;
  readonly aOffset?: number;
  readonly bOffset?: number;
  readonly yOffset?: number;
  readonly scale?: number;
  /** b[bOffset + i % bPeriod] instead of b[bOffset + i]: b is one row broadcast over n / bPeriod rows. */
  readonly bPeriod?: number;
  readonly workgroupSize?: number;
}

export const ELEMENTWISE_WG_SIZES = [64, 128, 256] as const;

export function elementwise(ctx: KernelContext, args: ElementwiseArgs): Dispatch {
  const { n, aOffset = 0, bOffset = 0, yOffset = 0, scale = 1, workgroupSize = 256 } = args;
  const period = args.bPeriod ?? n;
  check(Number.isInteger(n) && n > 0, () => `elementwise: n must be a positive integer, got ${n}`);
  check(Number.isInteger(period) && period > 0, () => `elementwise: bPeriod must be a positive integer, got ${period}`);
  const bLen = Math.min(n, period);
  check((aOffset + n) * 4 <= args.a.size, () => `elementwise: a holds ${args.a.size / 4} < ${aOffset + n} floats`);
  check((bOffset + bLen) * 4 <= args.b.size, () => `elementwise: b holds ${args.b.size / 4} < ${bOffset + bLen} floats`);
  check((yOffset + n) * 4 <= args.y.size, () => `elementwise: y holds ${args.y.size / 4} < ${yOffset + n} floats`);
  check(args.y !== args.a && args.y !== args.b, () => 'elementwise: y must not alias an input');
  const values: ParamValues<typeof ELEMENTWISE_PARAMS> = { n, a_off: aOffset, b_off: bOffset, y_off: yOffset, b_period: period, scale };
  const params = ctx.uniform(ELEMENTWISE_PARAMS, values, 'elementwise.params');
  const pipeline = ctx.pipeline({
    family: 'elementwise',
    source: source.replace('PARAMS_STRUCT', wgslParamsStruct(ELEMENTWISE_PARAMS)),
    defines: { [DEFINE[args.op]]: true, B_PERIOD: period < n },
    overrides: { WG: workgroupSize },
  });
  const [gx, gy] = grid2d(Math.ceil(n / workgroupSize), ctx.info.limits.maxComputeWorkgroupsPerDimension);
  return ctx.dispatch(pipeline, [params, args.a, args.b, args.y], [gx, gy], params);
}
