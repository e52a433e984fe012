/**
 * @file Dispatch wrapper for kernels/matmul.wgsl, the prefill product Y = X·Wᵀ for T tokens over a GGUF weight
 * of any type in kernels/lib/quant.ts: weight tiles are dequantized into workgroup memory once and reused by a
 * tile of tokens. A weight split into chunks gets one dispatch per chunk (each writes its columns of Y).
 */
import source from './matmul.wgsl?raw';
import { check, type Dispatch, type KernelContext } from './lib/context.ts';
import { wgslParamsStruct, type ParamValues } from './lib/params.ts';
import { QUANT_INCLUDES, blocksPerRow, quantDefines } from './lib/quant.ts';
import type { GpuWeight } from './lib/weights.ts';

export const MATMUL_PARAMS = [
  ['n_in', 'u32'],
  ['n_rows', 'u32'],
  ['row_words', 'u32'],
  ['n_tokens', 'u32'],
  ['x_off', 'u32'],
  ['x_stride', 'u32'],
  ['y_off', 'u32'],
  ['y_stride', 'u32'],
  ['slots', 'u32'],
] as const;

/** vec4 slots of the reduction dimension per step (matmul.wgsl SLOTS). */
const SLOTS = 8;

/** Tokens per workgroup tile (rows per tile are 64). */
export const MATMUL_TOKEN_TILES = [16, 32, 64] as const;
export type MatmulTokenTile = (typeof MATMUL_TOKEN_TILES)[number];

export interface MatmulArgs {
  /** ggml dims [n_in, n_out]. */
  readonly weight: GpuWeight;
  readonly tokens: number;
  /** f32 (tokens, n_in) from xOffset, token rows xStride elements apart (default n_in). */
  readonly x: GPUBuffer;
  readonly xOffset?: number;
  readonly xStride?: number;
  /** f32 (tokens, n_out) from yOffset, token rows yStride elements apart (default n_out). Must not be x. */
  readonly y: GPUBuffer;
  readonly yOffset?: number;
  readonly yStride?: number;
  /** Y += X·Wᵀ (fused residual add). */
  readonly accumulate?: boolean;
  /** Tokens per tile; default: the smallest tile holding all tokens, at most 64. */
  readonly tokenTile?: MatmulTokenTile;
}

export function matmulDefaultTokenTile(tokens: number): MatmulTokenTile {
  return tokens <= 16 ? 16 : tokens <= 32 ? 32 : 64;
}

export function matmul(ctx: KernelContext, args: MatmulArgs): Dispatch[] {
  const { weight: w, x, y, tokens, xOffset = 0, yOffset = 0 } = args;
  const nIn = w.rowElems;
  const xStride = args.xStride ?? nIn;
  const yStride = args.yStride ?? w.rows;
  // Compact workgroup memory: the smallest token tile (10 KiB of tiles instead of 16 KiB at TT = 64).
  const tt = args.tokenTile ?? (ctx.compact ? 16 : matmulDefaultTokenTile(tokens));
  blocksPerRow(w.type, nIn, `matmul ${w.name}`);
  check(Number.isInteger(tokens) && tokens > 0, () => `matmul ${w.name}: token count must be a positive integer, got ${tokens}`);
  check(MATMUL_TOKEN_TILES.includes(tt), () => `matmul: token tile ${tt} not in ${MATMUL_TOKEN_TILES.join(',')}`);
  for (const [name, v] of [['xOffset', xOffset], ['yOffset', yOffset], ['xStride', xStride], ['yStride', yStride]] as const)
    check(Number.isInteger(v) && v >= 0, () => `matmul ${w.name}: bad ${name} ${v}`);
  check(xStride >= nIn, () => `matmul ${w.name}: x stride ${xStride} < n_in ${nIn}`);
  check(yStride >= w.rows, () => `matmul ${w.name}: y stride ${yStride} < n_out ${w.rows}`);
  const xEnd = xOffset + (tokens - 1) * xStride + nIn;
  const yEnd = yOffset + (tokens - 1) * yStride + w.rows;
  check(xEnd * 4 <= x.size, () => `matmul ${w.name}: x holds ${x.size / 4} < ${xEnd} floats`);
  check(yEnd * 4 <= y.size, () => `matmul ${w.name}: y holds ${y.size / 4} < ${yEnd} floats`);
  check(x !== y, () => `matmul ${w.name}: y must not alias x`);
  const tr = ctx.compact ? 16 : 64;
  const shared = SLOTS * (tr + tt) * 16;
  check(
    shared <= ctx.info.limits.maxComputeWorkgroupStorageSize && ctx.info.limits.maxComputeInvocationsPerWorkgroup >= 256,
    () => `matmul: token tile ${tt} needs ${shared} bytes of workgroup memory and 256 invocations`,
  );

  const pipeline = ctx.pipeline({
    family: 'matmul',
    source: source.replace('PARAMS_STRUCT', wgslParamsStruct(MATMUL_PARAMS)),
    includes: QUANT_INCLUDES,
    defines: {
      ...quantDefines(w.type, 'matmul'),
      TT: tt,
      X_VEC4: xOffset % 4 === 0 && xStride % 4 === 0,
      ACCUMULATE: args.accumulate === true,
      COMPACT: ctx.compact,
    },
  });
  const tokenTiles = Math.ceil(tokens / tt);
  return w.chunks.map((c) => {
    const values: ParamValues<typeof MATMUL_PARAMS> = {
      n_in: nIn,
      n_rows: c.rows,
      row_words: w.rowStride / 4,
      n_tokens: tokens,
      x_off: xOffset,
      x_stride: xStride,
      y_off: yOffset + c.firstRow,
      y_stride: yStride,
      slots: SLOTS,
    };
    const params = ctx.uniform(MATMUL_PARAMS, values, `matmul.params ${w.name}`);
    return ctx.dispatch(pipeline, [params, c.buffer, x, y], [Math.ceil(c.rows / tr), tokenTiles], params);
  });
}
