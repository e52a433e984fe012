/**
 * @file Dispatch wrapper for kernels/embedding.wgsl: token embeddings from a table of any quant.wgsl type
 * (ggml get_rows), scaled (Granite's embedding multiplier). ids is a u32 buffer, so the engine can feed the
 * token the GPU sampler just wrote without a CPU round trip.
 */
import source from './embedding.wgsl?raw';
import { check, grid2d, type Dispatch, type KernelContext } from './lib/context.ts';
import { wgslParamsStruct, type ParamValues } from './lib/params.ts';
import { QUANT_INCLUDES, blocksPerRow, quantDefines } from './lib/quant.ts';
import type { GpuWeight } from './lib/weights.ts';

export const EMBEDDING_PARAMS = [
  ['n_embd', 'u32'],
  ['n_tok', 'u32'],
  ['row_words', 'u32'],
  ['row_lo', 'u32'],
  ['n_rows', 'u32'],
  ['ids_off', 'u32'],
  ['out_off', 'u32'],
  ['scale', 'f32'],
] as const;

export const EMBEDDING_WG_SIZES = [32, 64, 128] as const;

export interface EmbeddingArgs {
  /** token_embd: ne [n_embd, n_vocab]. */
  readonly table: GpuWeight;
  /** (T) u32 token ids at idsOffset; ids outside the table write nothing. */
  readonly ids: GPUBuffer;
  readonly idsOffset?: number;
  readonly nTok: number;
  /** Out: (T, n_embd) f32 at outOffset. */
  readonly out: GPUBuffer;
  readonly outOffset?: number;
  readonly scale?: number;
  readonly workgroupSize?: number;
}

export function embedding(ctx: KernelContext, a: EmbeddingArgs): Dispatch[] {
  const { table: w, nTok, idsOffset = 0, outOffset = 0, scale = 1, workgroupSize = 64 } = a;
  const who = `embedding ${w.name}`;
  check(w.dims.length === 2, () => `${who}: table must be 2-D [n_embd, n_vocab], got [${w.dims.join(', ')}]`);
  const nEmbd = w.rowElems;
  blocksPerRow(w.type, nEmbd, who);
  check(nEmbd % 4 === 0, () => `${who}: n_embd ${nEmbd} must be a multiple of 4`);
  check(Number.isInteger(nTok) && nTok > 0, () => `${who}: nTok must be a positive integer`);
  check((EMBEDDING_WG_SIZES as readonly number[]).includes(workgroupSize), () => `${who}: workgroup size ${workgroupSize} not in ${EMBEDDING_WG_SIZES.join('/')}`);
  check((idsOffset + nTok) * 4 <= a.ids.size, () => `${who}: ids holds ${a.ids.size / 4} < ${idsOffset + nTok} ids`);
  check((outOffset + nTok * nEmbd) * 4 <= a.out.size, () => `${who}: out holds ${a.out.size / 4} < ${outOffset + nTok * nEmbd} floats`);
  const pipeline = ctx.pipeline({
    family: 'embedding',
    source: source.replace('PARAMS_STRUCT', wgslParamsStruct(EMBEDDING_PARAMS)),
    includes: QUANT_INCLUDES,
    defines: quantDefines(w.type, who),
    overrides: { WG: workgroupSize },
  });
  const [gx, gy] = grid2d(nTok, ctx.info.limits.maxComputeWorkgroupsPerDimension);
  return w.chunks.map((c) => {
    const values: ParamValues<typeof EMBEDDING_PARAMS> = {
      n_embd: nEmbd,
      n_tok: nTok,
      row_words: w.rowStride / 4,
      row_lo: c.firstRow,
      n_rows: c.rows,
      ids_off: idsOffset,
      out_off: outOffset,
      scale,
    };
    const params = ctx.uniform(EMBEDDING_PARAMS, values, `${who}.params`);
    return ctx.dispatch(pipeline, [params, c.buffer, a.ids, a.out], [gx, gy], params);
  });
}
