/**
 * @file Dispatch wrapper for kernels/embedding.wgsl (`get_rows`): the f32 embeddings of a list of token ids
 * (a u32 buffer on the GPU, so sampling can feed the next step without a readback), from a table of any type
 * in kernels/lib/quant.ts, optionally scaled (Granite's embedding multiplier). One dispatch per table chunk.
 */
import source from './embedding.wgsl?raw';
import { check, grid2d, type Dispatch, type KernelContext } from './lib/context.ts';
import { wgslParamsStruct, type ParamValues } from './lib/params.ts';
import { QUANT_INCLUDES, blocksPerRow, quantDefines, quantGeometry } from './lib/quant.ts';
import type { GpuWeight } from './lib/weights.ts';

export const EMBEDDING_PARAMS = [
  ['n_embd', 'u32'],
  ['n_tokens', 'u32'],
  ['row_words', 'u32'],
  ['ids_off', 'u32'],
  ['out_off', 'u32'],
  ['first_row', 'u32'],
  ['n_rows', 'u32'],
  ['total_rows', 'u32'],
  ['zero_bad', 'u32'],
  ['scale', 'f32'],
] as const;

export const EMBEDDING_WG_SIZES = [64, 256] as const;

export interface EmbeddingArgs {
  /** ggml dims [n_embd, n_vocab]. */
  readonly table: GpuWeight;
  /** u32 token ids, `tokens` of them from idsOffset. Ids past the table give zero rows. */
  readonly ids: GPUBuffer;
  readonly idsOffset?: number;
  readonly tokens: number;
  /** f32 (tokens, n_embd) from outOffset. */
  readonly out: GPUBuffer;
  readonly outOffset?: number;
  /** Multiplies every value (Granite: embedding_multiplier). Default 1. */
  readonly scale?: number;
  readonly workgroupSize?: (typeof EMBEDDING_WG_SIZES)[number];
}

export function embedding(ctx: KernelContext, args: EmbeddingArgs): Dispatch[] {
  const { table: w, ids, out, tokens, idsOffset = 0, outOffset = 0, scale = 1, workgroupSize = 64 } = args;
  const nEmbd = w.rowElems;
  blocksPerRow(w.type, nEmbd, `embedding ${w.name}`);
  check(Number.isInteger(tokens) && tokens > 0, () => `embedding ${w.name}: token count must be a positive integer, got ${tokens}`);
  check(Number.isInteger(idsOffset) && idsOffset >= 0, () => `embedding: bad ids offset ${idsOffset}`);
  check(Number.isInteger(outOffset) && outOffset >= 0, () => `embedding: bad out offset ${outOffset}`);
  check((idsOffset + tokens) * 4 <= ids.size, () => `embedding ${w.name}: ids hold ${ids.size / 4} < ${idsOffset + tokens} ids`);
  check((outOffset + tokens * nEmbd) * 4 <= out.size, () => `embedding ${w.name}: out holds ${out.size / 4} < ${outOffset + tokens * nEmbd} floats`);
  check(Number.isFinite(scale), () => `embedding ${w.name}: scale ${scale} is not finite`);
  check(EMBEDDING_WG_SIZES.includes(workgroupSize), () => `embedding: workgroup size ${workgroupSize} not in ${EMBEDDING_WG_SIZES.join(',')}`);
  check(ids !== out, () => `embedding ${w.name}: out must not alias ids`);

  const pipeline = ctx.pipeline({
    family: 'embedding',
    source: source.replace('PARAMS_STRUCT', wgslParamsStruct(EMBEDDING_PARAMS)),
    includes: QUANT_INCLUDES,
    defines: quantDefines(w.type, 'embedding'),
    overrides: { WG: workgroupSize },
  });
  const g = quantGeometry(w.type, 'embedding');
  const threads = (nEmbd / g.blockElems) * g.parts * tokens;
  const [gx, gy] = grid2d(Math.ceil(threads / workgroupSize), ctx.info.limits.maxComputeWorkgroupsPerDimension);
  return w.chunks.map((c, i) => {
    const values: ParamValues<typeof EMBEDDING_PARAMS> = {
      n_embd: nEmbd,
      n_tokens: tokens,
      row_words: w.rowStride / 4,
      ids_off: idsOffset,
      out_off: outOffset,
      first_row: c.firstRow,
      n_rows: c.rows,
      total_rows: w.rows,
      zero_bad: i === 0 ? 1 : 0,
      scale,
    };
    const params = ctx.uniform(EMBEDDING_PARAMS, values, `embedding.params ${w.name}`);
    return ctx.dispatch(pipeline, [params, c.buffer, ids, out], [gx, gy], params);
  });
}
