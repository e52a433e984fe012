/**
 * @file Dispatch wrapper for kernels/act_quant.wgsl: rounds a decode step's f32 activations to int8 once, in
 * the layout the int8 matvec (matvec with `Q8Activations`) reads, so every weight row that meets the same input
 * (Q, K, V; gate and up) reuses one quantization. The rounding is ggml-cpu's (Q8_K for K-quant weights, Q8_0
 * for Q4_0/Q8_0), so results match llama.cpp's integer dot products rather than an f32 product. Both
 * functions can fold the norm that precedes a product (`norm`: RMSNorm/LayerNorm of one raw row, as norm.ts
 * computes it), writing the normalised row to `norm.out` for other readers.
 */
import source from './act_quant.wgsl?raw';
import { check, grid2d, type Dispatch, type KernelContext } from './lib/context.ts';
import { wgslParamsStruct, type ParamValues } from './lib/params.ts';
import type { FoldedNormOut } from './norm.ts';
import { WEIGHT_TYPES, Q8_WEIGHT_TYPES, isQ8WeightType, type GgmlRounding, type GpuWeightType, type Q8ScaleBlock, type Q8WeightType } from './lib/weightTypes.ts';

export const ACT_QUANT_PARAMS = [
  ['n', 'u32'],
  ['x_off', 'u32'],
  ['stride', 'u32'],
  ['xn_off', 'u32'],
  ['g_off', 'u32'],
  ['eps', 'f32'],
] as const;

/**
 * A norm folded into act_quant (one row): x is the raw row; the kernel normalises it (norm.ts's kinds and
 * formulas), writes the f32 normalised row to `out` (rounded, for roundActivations) and quantizes that.
 */
export type ActNorm = FoldedNormOut;

/** Shape checks of a folded norm over n values read from x; the extra bindings and params. */
function normBinding(a: ActNorm | undefined, x: GPUBuffer, n: number, who: string): { xn_off: number; g_off: number; eps: number } {
  if (!a) return { xn_off: 0, g_off: 0, eps: 0 };
  const outOffset = a.outOffset ?? 0;
  const weightOffset = a.weightOffset ?? 0;
  check(a.kind === 'layer' || a.kind === 'rms', () => `${who}: unknown norm kind`);
  check(Number.isFinite(a.eps) && a.eps >= 0, () => `${who}: norm eps must be a finite non-negative number`);
  check(Number.isInteger(outOffset) && outOffset >= 0, () => `${who}: bad norm output offset ${outOffset}`);
  check(Number.isInteger(weightOffset) && weightOffset >= 0, () => `${who}: bad norm weight offset ${weightOffset}`);
  check((outOffset + n) * 4 <= a.out.size, () => `${who}: norm output holds ${a.out.size / 4} < ${outOffset + n} floats`);
  check((weightOffset + n) * 4 <= a.weight.size, () => `${who}: norm weight holds ${a.weight.size / 4} < ${weightOffset + n} floats`);
  check(a.out !== x && a.out !== a.weight, () => `${who}: the norm output must not alias x or the norm weight`);
  return { xn_off: outOffset, g_off: weightOffset, eps: a.eps };
}

// The int8 weight types and their activation scale blocks are the type table's (lib/weightTypes.ts).
export { Q8_WEIGHT_TYPES, isQ8WeightType, type Q8ScaleBlock, type Q8WeightType };

/** Int8 activations: `n` values in act_quant.wgsl's layout (q words, then one aux vec4 per 32 elements). */
export interface Q8Activations {
  readonly kind: 'q8';
  readonly buffer: GPUBuffer;
  readonly n: number;
  readonly scaleBlock: Q8ScaleBlock;
}

/**
 * Shape guard of the int8 kernels: `q` must pair with the weight type (its ggml rounding, Q8_WEIGHT_TYPES) and
 * hold `n` values; rows of `row` values (MoE down's k rows of n_ff) must be whole scale blocks, so no block
 * straddles two rows.
 */
export function checkQ8Activations(q: Q8Activations, type: GpuWeightType, n: number, who: string, what: string, row = n): void {
  check(isQ8WeightType(type), () => `${who}: int8 ${what} needs ${Object.keys(Q8_WEIGHT_TYPES).join('/')} weights, not ${type}`);
  check(isQ8WeightType(type) && q.scaleBlock === Q8_WEIGHT_TYPES[type], () => `${who}: ${type} pairs with other activation scales than ${q.scaleBlock}-element ones`);
  check(q.n === n, () => `${who}: int8 ${what} holds ${q.n} values, needs ${n}`);
  check(row % q.scaleBlock === 0, () => `${who}: rows of ${row} are not whole ${q.scaleBlock}-element scale blocks`);
}

/** Bytes of the layout: n int8 + 16 bytes per 32 elements. */
export function q8ActivationBytes(n: number): number {
  return n + (n / 32) * 16;
}

export function createQ8Activations(ctx: KernelContext, n: number, scaleBlock: Q8ScaleBlock, label = 'q8.x'): Q8Activations {
  check(Number.isInteger(n) && n > 0 && n % scaleBlock === 0, () => `q8 activations: n = ${n} is not a positive multiple of ${scaleBlock}`);
  return { kind: 'q8', buffer: ctx.storage(q8ActivationBytes(n), label), n, scaleBlock };
}

export interface ActQuantArgs {
  /** f32 input, `out.n` elements from xOffset. */
  readonly x: GPUBuffer;
  readonly xOffset?: number;
  readonly out: Q8Activations;
  /** Normalise x first (x is then the raw row; norm(x) is also written to norm.out). */
  readonly norm?: ActNorm;
}

export function quantizeActivations(ctx: KernelContext, a: ActQuantArgs): Dispatch {
  const { x, out, xOffset = 0 } = a;
  check(Number.isInteger(xOffset) && xOffset >= 0, () => `act_quant: bad x offset ${xOffset}`);
  check((xOffset + out.n) * 4 <= x.size, () => `act_quant: x holds ${x.size / 4} < ${xOffset + out.n} floats`);
  check(out.n % out.scaleBlock === 0, () => `act_quant: n = ${out.n} is not a multiple of ${out.scaleBlock}`);
  check(out.buffer.size >= q8ActivationBytes(out.n), () => `act_quant: output holds ${out.buffer.size} < ${q8ActivationBytes(out.n)} bytes`);
  check(out.buffer !== x, () => 'act_quant: output must not alias x');
  const nm = a.norm;
  const normValues = normBinding(nm, x, out.n, 'act_quant');
  if (nm) check(nm.out !== out.buffer && nm.weight !== out.buffer, () => 'act_quant: the int8 output must not alias the norm buffers');
  const values: ParamValues<typeof ACT_QUANT_PARAMS> = { n: out.n, x_off: xOffset, stride: 0, ...normValues };
  const params = ctx.uniform(ACT_QUANT_PARAMS, values, 'act_quant.params');
  const pipeline = ctx.pipeline({
    family: 'act_quant',
    source: source.replace('PARAMS_STRUCT', wgslParamsStruct(ACT_QUANT_PARAMS)),
    defines: { SCALE_256: out.scaleBlock === 256, ...normDefines(nm, 3) },
  });
  const [gx, gy] = grid2d(Math.ceil(out.n / 256), ctx.info.limits.maxComputeWorkgroupsPerDimension);
  return ctx.dispatch(pipeline, nm ? [params, x, out.buffer, nm.out, nm.weight] : [params, x, out.buffer], [gx, gy], params);
}

/** NORM defines; the norm output and weight take bindings first, first + 1. */
function normDefines(a: ActNorm | undefined, first: number): Record<string, boolean | number> {
  return a ? { NORM: true, NORM_LAYER: a.kind === 'layer', B_XN: first, B_G: first + 1 } : {};
}

export type { GgmlRounding };

/** ggml-cpu's rounding of a product's input for this weight type (the type table's); undefined: plain f32. */
export function ggmlRoundingFor(type: GpuWeightType): GgmlRounding | undefined {
  return WEIGHT_TYPES[type].rounding;
}

export interface RoundActivationsArgs {
  /** f32 rows, rounded in place. */
  readonly x: GPUBuffer;
  readonly xOffset?: number;
  /** Elements per row: a multiple of the rounding's block (256 for q8_K, 32 for q8_0, 4 for f16/bf16). */
  readonly n: number;
  readonly rows?: number;
  /** Elements from one row to the next (default n). */
  readonly stride?: number;
  readonly rounding: GgmlRounding;
  /** Normalise the row first (one row; x is then read only, and norm.out receives the rounded norm(x)). */
  readonly norm?: ActNorm;
}

const ROUNDING_BLOCK: Readonly<Record<GgmlRounding, number>> = { q8_K: 256, q8_0: 32, f16: 4, bf16: 4 };

/**
 * Replaces each row of x by the values ggml-cpu's rounding of it represents (q·d, or f16/bf16 values), so an
 * f32 product computes what llama.cpp computes (the engine's llama.cpp-rounding mode). One dispatch. With
 * `norm`, x (one row) is left as it is and norm.out receives the rounding of norm(x).
 */
export function roundActivations(ctx: KernelContext, a: RoundActivationsArgs): Dispatch {
  const { x, n, rounding, xOffset = 0, rows = 1, stride = n } = a;
  const block = ROUNDING_BLOCK[rounding];
  check(Number.isInteger(n) && n > 0 && n % block === 0, () => `act_quant round: n = ${n} is not a positive multiple of ${block} (${rounding})`);
  check(Number.isInteger(rows) && rows >= 1 && rows <= ctx.info.limits.maxComputeWorkgroupsPerDimension, () => `act_quant round: bad row count ${rows}`);
  check(Number.isInteger(stride) && stride >= n, () => `act_quant round: stride ${stride} < n ${n}`);
  check(Number.isInteger(xOffset) && xOffset >= 0, () => `act_quant round: bad x offset ${xOffset}`);
  check((xOffset + (rows - 1) * stride + n) * 4 <= x.size, () => `act_quant round: x holds ${x.size / 4} < ${xOffset + (rows - 1) * stride + n} floats`);
  const nm = a.norm;
  check(!nm || rows === 1, () => `act_quant round: a folded norm takes one row, not ${rows}`);
  const values: ParamValues<typeof ACT_QUANT_PARAMS> = { n, x_off: xOffset, stride, ...normBinding(nm, x, n, 'act_quant round') };
  const params = ctx.uniform(ACT_QUANT_PARAMS, values, 'act_quant.round.params');
  const pipeline = ctx.pipeline({
    family: 'act_quant',
    source: source.replace('PARAMS_STRUCT', wgslParamsStruct(ACT_QUANT_PARAMS)),
    defines: {
      ROUND_IN_PLACE: true,
      SCALE_256: rounding === 'q8_K',
      ROUND_HALF: rounding === 'f16' || rounding === 'bf16',
      ROUND_BF16: rounding === 'bf16',
      ...normDefines(nm, 2),
    },
  });
  return ctx.dispatch(pipeline, nm ? [params, x, nm.out, nm.weight] : [params, x], [Math.ceil(n / 256), rows], params);
}
