/**
 * @file Dispatch wrapper for kernels/matvec.wgsl, the decode (one token) product y = W·x over a GGUF weight
 * of any type in kernels/lib/quant.ts, dequantized inside the dot product. A weight split into several chunks
 * (binding limit) gets one dispatch per chunk, each writing its rows of y; the engine encodes them in order.
 * With `norm`, x is the raw row and every workgroup applies RMSNorm/LayerNorm to it on the fly (matvec.wgsl
 * NORM): y = W·norm(x) in one dispatch per chunk, as norm.ts followed by matvec would compute it.
 */
import source from './matvec.wgsl?raw';
import { check, grid2d, type Dispatch, type KernelContext } from './lib/context.ts';
import { wgslParamsStruct, type ParamValues } from './lib/params.ts';
import { QUANT_INCLUDES, blocksPerRow, quantDefines } from './lib/quant.ts';
import type { GpuWeight, GpuWeightType } from './lib/weights.ts';
import { checkQ8Activations, q8ActivationBytes, type Q8Activations } from './act_quant.ts';
import type { FoldedNorm } from './norm.ts';

export const MATVEC_PARAMS = [
  ['n_in', 'u32'],
  ['n_rows', 'u32'],
  ['row_words', 'u32'],
  ['x_off', 'u32'],
  ['y_off', 'u32'],
  ['g_off', 'u32'],
  ['eps', 'f32'],
] as const;

export const MATVEC_WG_SIZES = [64, 128, 256] as const;
export const MATVEC_ROWS = [1, 2, 4] as const;
export type MatvecWorkgroupSize = (typeof MATVEC_WG_SIZES)[number];
export type MatvecRows = (typeof MATVEC_ROWS)[number];

export interface MatvecVariant {
  /** Threads per workgroup. Default: by row length (matvecDefaultVariant). */
  readonly workgroupSize?: MatvecWorkgroupSize;
  /** Weight rows per workgroup (each thread works on all of them). Default 4. */
  readonly rows?: MatvecRows;
  /** Subgroup reduction; default ctx.subgroups. */
  readonly subgroups?: boolean;
}

/** A norm folded into the product (matvec.wgsl NORM): y = W·norm(x), norm as kernels/norm.ts defines it. */
export type MatvecNorm = FoldedNorm;

export interface MatvecArgs {
  /** ggml dims [n_in, n_out] (or [n_in, a, b...]: every row). */
  readonly weight: GpuWeight;
  /** f32 activations, n_in elements from xOffset; or int8 activations from act_quant (Q4_K and Q8_0 weights,
   * integer dot products as llama.cpp's; the rounding must be the weight type's, Q8_WEIGHT_TYPES). */
  readonly x: GPUBuffer | Q8Activations;
  readonly xOffset?: number;
  /** f32 output, one element per weight row from yOffset. Must not be x. */
  readonly y: GPUBuffer;
  readonly yOffset?: number;
  /** y += W·x instead of y = W·x (fused residual add). */
  readonly accumulate?: boolean;
  /** Normalise x first (f32 activations only; each workgroup recomputes the row's scale). */
  readonly norm?: MatvecNorm;
  readonly variant?: MatvecVariant;
}

/**
 * The variant used when the caller names none, from bench-kernels sweeps on an NVIDIA H200 (subgroups 32):
 * 64 threads and 4 rows per workgroup for most quant types, 2 rows for the heavier-decoding Q5_K/Q6_K and the
 * float types (128 threads), subgroup reduction where available. With int8 activations: Q4_K 64 threads × 4
 * rows (81 % of read bandwidth at 6144×100352), Q8_0 256 threads × 2 rows (100 %).
 */
export function matvecDefaultVariant(ctx: KernelContext, type: GpuWeightType, int8 = false): Required<MatvecVariant> {
  if (int8 && type === 'Q8_0') return { workgroupSize: 256, rows: 2, subgroups: ctx.subgroups };
  const float = type === 'F32' || type === 'F16' || type === 'BF16';
  const rows: MatvecRows = float || type === 'Q5_K' || type === 'Q6_K' ? 2 : 4;
  return { workgroupSize: float ? 128 : 64, rows, subgroups: ctx.subgroups };
}

export function matvec(ctx: KernelContext, args: MatvecArgs): Dispatch[] {
  const { weight: w, y, xOffset = 0, yOffset = 0 } = args;
  const nIn = w.rowElems;
  blocksPerRow(w.type, nIn, `matvec ${w.name}`);
  const xq = 'kind' in args.x ? args.x : undefined;
  const x: GPUBuffer = 'kind' in args.x ? args.x.buffer : args.x;
  if (xq) {
    checkQ8Activations(xq, w.type, nIn, `matvec ${w.name}`, 'activations');
    check(xOffset === 0, () => `matvec ${w.name}: int8 activations take no x offset`);
  }
  const v = { ...matvecDefaultVariant(ctx, w.type, 'kind' in args.x), ...args.variant };
  check(MATVEC_WG_SIZES.includes(v.workgroupSize), () => `matvec: workgroup size ${v.workgroupSize} not in ${MATVEC_WG_SIZES.join(',')}`);
  check(MATVEC_ROWS.includes(v.rows), () => `matvec: rows per workgroup ${v.rows} not in ${MATVEC_ROWS.join(',')}`);
  check(!v.subgroups || ctx.subgroups, () => 'matvec: subgroups requested but the device has none');
  const nm = args.norm;
  const gOffset = nm?.weightOffset ?? 0;
  if (nm) {
    check(!xq, () => `matvec ${w.name}: a folded norm needs f32 activations, not int8 ones (quantize the normalised row instead)`);
    check(nm.kind === 'layer' || nm.kind === 'rms', () => `matvec ${w.name}: unknown norm kind`);
    check(Number.isFinite(nm.eps) && nm.eps >= 0, () => `matvec ${w.name}: norm eps must be a finite non-negative number`);
    check(Number.isInteger(gOffset) && gOffset >= 0, () => `matvec ${w.name}: bad norm weight offset ${gOffset}`);
    check((gOffset + nIn) * 4 <= nm.weight.size, () => `matvec ${w.name}: norm weight holds ${nm.weight.size / 4} < ${gOffset + nIn} floats`);
    check(nm.weight !== y, () => `matvec ${w.name}: y must not alias the norm weight`);
  }
  // Values reduced per workgroup (matvec.wgsl NRED): the dot products, plus the norm's sums.
  const nRed = !nm ? v.rows : nm.kind === 'layer' ? 2 * v.rows + 2 : v.rows + 1;
  const shared = v.workgroupSize * nRed * 4;
  check(
    shared <= ctx.info.limits.maxComputeWorkgroupStorageSize,
    () => `matvec: ${shared} bytes of workgroup memory exceed the device's ${ctx.info.limits.maxComputeWorkgroupStorageSize}`,
  );
  check(Number.isInteger(xOffset) && xOffset >= 0, () => `matvec: bad x offset ${xOffset}`);
  check(Number.isInteger(yOffset) && yOffset >= 0, () => `matvec: bad y offset ${yOffset}`);
  if (!xq) check((xOffset + nIn) * 4 <= x.size, () => `matvec ${w.name}: x holds ${x.size / 4} < ${xOffset + nIn} floats`);
  else check(q8ActivationBytes(nIn) <= x.size, () => `matvec ${w.name}: int8 activations hold ${x.size} < ${q8ActivationBytes(nIn)} bytes`);
  check((yOffset + w.rows) * 4 <= y.size, () => `matvec ${w.name}: y holds ${y.size / 4} < ${yOffset + w.rows} floats`);
  check(x !== y, () => `matvec ${w.name}: y must not alias x`);

  const pipeline = ctx.pipeline({
    family: 'matvec',
    source: source.replace('PARAMS_STRUCT', wgslParamsStruct(MATVEC_PARAMS)),
    includes: QUANT_INCLUDES,
    defines: {
      ...quantDefines(w.type, 'matvec'),
      ROWS: v.rows,
      X_VEC4: xOffset % 4 === 0,
      X_Q8: xq !== undefined,
      ACCUMULATE: args.accumulate === true,
      USE_SUBGROUPS: v.subgroups,
      NORM: nm !== undefined,
      NORM_LAYER: nm?.kind === 'layer',
      G_VEC4: nm !== undefined && gOffset % 4 === 0,
    },
    overrides: { WG: v.workgroupSize },
  });
  const maxWg = ctx.info.limits.maxComputeWorkgroupsPerDimension;
  return w.chunks.map((c) => {
    const values: ParamValues<typeof MATVEC_PARAMS> = {
      n_in: nIn,
      n_rows: c.rows,
      row_words: w.rowStride / 4,
      x_off: xOffset,
      y_off: yOffset + c.firstRow,
      g_off: gOffset,
      eps: nm?.eps ?? 0,
    };
    const params = ctx.uniform(MATVEC_PARAMS, values, `matvec.params ${w.name}`);
    const [gx, gy] = grid2d(Math.ceil(c.rows / v.rows), maxWg);
    return ctx.dispatch(pipeline, nm ? [params, c.buffer, x, y, nm.weight] : [params, c.buffer, x, y], [gx, gy], params);
  });
}
