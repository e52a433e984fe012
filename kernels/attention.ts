/**
 * @file Dispatch wrappers for kernels/attention.wgsl: causal GQA attention of T query tokens over the KV cache
 * (layout in kv_cache.ts), f32 math on an f32 or f16 cache, scale from a parameter (1/√hd, or Granite's
 * attention multiplier).
 *
 * - Decode (any T, meant for T = 1): flash-decoding. The cache is cut into chunks of `chunk` positions; one
 *   workgroup per (chunk, KV head × head group, token) scores its chunk for up to 8 query heads of the GQA group
 *   (K/V read once per group), then a reduce dispatch merges the chunks with their (max, sum) statistics. The
 *   grid covers all n_ctx positions; workgroups past the current length exit at once, so the recorded dispatch
 *   serves every step while positions grow. The chunk defaults to a size that gives ~128 workgroups at a full
 *   cache, at least 256 positions (DBRX's 8 KV heads: 256 at 4096, 512 at 32768 — the best measured on an H200
 *   for every shape tried); with one chunk the reduce is skipped (DIRECT).
 * - Fused decode (T = 1): the same split-K kernel reading the raw Q/K/V projection: every workgroup runs the
 *   attention prologue (clamp, Q/K norm, RoPE: lib/qkv_prologue.wgsl, the arithmetic of qkvRope, same bits) for
 *   its query heads, and the one whose chunk holds the position also for the new K/V, which it writes into the
 *   cache and uses from workgroup memory. One dispatch fewer per layer than qkvRope + attentionDecode.
 * - Prefill (T > 1): flash-attention-2 tiles, one workgroup per (BQ tokens, head), running softmax in registers.
 *
 * API:
 *   attentionDecode(ctx, a: AttentionArgs & { chunk?, scratch? }): Dispatch[] (1 or 2 dispatches)
 *   attentionDecodeFused(ctx, a: FusedDecodeArgs): Dispatch[] (1 or 2): qkvRope's prologue (QkvPrologue) and
 *     attentionDecode for one token; the cache then holds what qkvRope would have written.
 *   attentionPrefill(ctx, a: AttentionArgs): Dispatch
 *   attentionScratchBytes(nTok, nHead, headDim, nChunks): bytes of the decode partials buffer.
 *   decodePlan(ctx, a): the decode chunking (chunk, nChunks, heads per workgroup) the wrapper would use.
 * Requirements: headDim a multiple of 4 (≤ 256); q/out offsets and strides multiples of 4; nHead % nKv = 0.
 * attentionDecode and attentionPrefill: the caller must have written K/V of the T new tokens (qkvRope) before.
 */
import source from './attention.wgsl?raw';
import { check, type Dispatch, type KernelContext } from './lib/context.ts';
import { wgslParamsStruct, type ParamValues } from './lib/params.ts';
import { bindCache, bindPositions, checkHeads, type Positions } from './kv_cache.ts';
import { bindSpan } from './lib/span.ts';
import { bindQkvPrologue, QKV_PROLOGUE_INCLUDES, QKV_PROLOGUE_PARAMS, type QkvPrologue } from './rope.ts';

export const ATTENTION_PARAMS = [
  ['n_head', 'u32'],
  ['n_kv', 'u32'],
  ['hd', 'u32'],
  ['n_tok', 'u32'],
  ['n_ctx', 'u32'],
  ['chunk', 'u32'],
  ['n_chunks', 'u32'],
  ['hsub', 'u32'],
  ['n_hg', 'u32'],
  ['q_off', 'u32'],
  ['q_stride', 'u32'],
  ['o_off', 'u32'],
  ['o_stride', 'u32'],
  ['kc_off', 'u32'],
  ['vc_off', 'u32'],
  ['pos_off', 'u32'],
  ['pos0', 'u32'],
  ['part_off', 'u32'],
  ['bq', 'u32'],
  ['bc', 'u32'],
  ['scale', 'f32'],
  // The fused decode's prologue (PROLOGUE; q_off / q_stride then locate Q in the projection); 0 otherwise.
  ...QKV_PROLOGUE_PARAMS,
] as const;

type AttnValues = ParamValues<typeof ATTENTION_PARAMS>;

const NO_PROLOGUE: ParamValues<typeof QKV_PROLOGUE_PARAMS> = {
  k_off: 0,
  k_stride: 0,
  v_off: 0,
  v_stride: 0,
  n_rot: 0,
  qw_off: 0,
  kw_off: 0,
  ff_off: 0,
  theta_scale: 0,
  freq_scale: 0,
  clamp: 0,
  eps: 0,
};

export interface AttentionArgs {
  readonly nTok: number;
  readonly nHead: number;
  readonly nKv: number;
  readonly headDim: number;
  /** Cache capacity (positions). */
  readonly nCtx: number;
  /** Score multiplier: 1/√headDim, or the model's attention scale. */
  readonly scale: number;
  /** (T, n_head, hd) at qOffset, tokens qStride apart (default n_head·hd). */
  readonly q: GPUBuffer;
  readonly qOffset?: number;
  readonly qStride?: number;
  /** (T, n_head, hd) at outOffset, tokens outStride apart. */
  readonly out: GPUBuffer;
  readonly outOffset?: number;
  readonly outStride?: number;
  readonly kCache: GPUBuffer;
  readonly vCache: GPUBuffer;
  readonly kCacheOffset?: number;
  readonly vCacheOffset?: number;
  readonly kvF16?: boolean;
  /** Query positions; query t sees cache positions 0..pos[t]. */
  readonly positions: Positions;
  readonly workgroupSize?: number;
}

export interface DecodeArgs extends AttentionArgs {
  /** Positions per split-K chunk (power of two; default from n_ctx and the number of KV heads). */
  readonly chunk?: number;
  /** Query heads of a GQA group per workgroup (default: the whole group, at most 8). */
  readonly headsPerWorkgroup?: number;
  /** Partials buffer (attentionScratchBytes); allocated when omitted. */
  readonly scratch?: GPUBuffer;
  readonly scratchOffset?: number;
}

/** One token: the prologue's input (qkvRope's, without its Q output) and the decode attention's options. */
export type FusedDecodeArgs = QkvPrologue & Pick<DecodeArgs, 'scale' | 'out' | 'outOffset' | 'workgroupSize' | 'chunk' | 'headsPerWorkgroup' | 'scratch' | 'scratchOffset'>;

export const ATTENTION_WG_SIZES = [64, 128, 256] as const;

const QS4 = 512;
const SPLIT_SN = 4096;
/** Query heads per decode workgroup (HMAX in the shader). */
const DECODE_HMAX = 8;
const PREFILL_SN = 1024;
/**
 * Compact workgroup memory (KernelContext.compact, software adapters): fixed small query, score and K/V tile
 * slots (one pipeline per workgroup size whatever the head size; the shape picks heads per workgroup and tile
 * sizes within them): 5.3 KiB for decode, 6.6 KiB for prefill, instead of 29 and 33 KiB.
 */
const COMPACT_QS4 = 128;
const COMPACT_SPLIT_SN = 512;
const COMPACT_TILE4 = 136;
const COMPACT_PREFILL_SN = 64;
/** Prefill tile bounds with compact memory: tokens and keys. */
const COMPACT_BQ = 8;
const COMPACT_BC = 8;

interface Common {
  readonly values: Omit<AttnValues, 'chunk' | 'n_chunks' | 'hsub' | 'n_hg' | 'part_off' | 'bq' | 'bc' | 'o_off'>;
  readonly q: GPUBufferBinding;
  readonly out: { readonly resource: GPUBufferBinding; readonly off: number };
  readonly k: GPUBufferBinding;
  readonly v: GPUBufferBinding;
  readonly pos?: GPUBufferBinding;
  readonly defines: Readonly<Record<string, boolean>>;
  readonly wg: number;
}

function checkWg(ctx: KernelContext, what: string, a: { workgroupSize?: number; scale: number }): number {
  const wg = a.workgroupSize ?? defaultWg(ctx);
  check(Number.isFinite(a.scale), () => `${what}: scale must be finite`);
  check((ATTENTION_WG_SIZES as readonly number[]).includes(wg), () => `${what}: workgroup size ${wg} not in ${ATTENTION_WG_SIZES.join('/')}`);
  check(wg <= ctx.info.limits.maxComputeInvocationsPerWorkgroup, () => `${what}: workgroup size ${wg} over the device limit`);
  return wg;
}

function common(ctx: KernelContext, what: string, a: AttentionArgs): Common {
  const { nTok, nHead, nKv, headDim: hd, qOffset = 0, outOffset = 0 } = a;
  checkHeads(what, nHead, nKv, hd);
  check(Number.isInteger(nTok) && nTok > 0, () => `${what}: nTok must be a positive integer, got ${nTok}`);
  const wg = checkWg(ctx, what, a);
  const qStride = a.qStride ?? nHead * hd;
  const outStride = a.outStride ?? nHead * hd;
  check(qOffset % 4 === 0 && qStride % 4 === 0 && outOffset % 4 === 0 && outStride % 4 === 0, () => `${what}: q/out offsets and strides must be multiples of 4`);
  check(qStride >= nHead * hd && outStride >= nHead * hd, () => `${what}: token strides shorter than n_head·hd`);
  const q = bindSpan(ctx, a.q, qOffset, qOffset + (nTok - 1) * qStride + nHead * hd, 4, `${what}: q`);
  const out = bindSpan(ctx, a.out, outOffset, outOffset + (nTok - 1) * outStride + nHead * hd, 4, `${what}: out`);
  check(a.out !== a.q, () => `${what}: out must not alias q`);
  const cache = bindCache(ctx, what, a);
  const pos = bindPositions(ctx, what, a.positions, nTok);
  return {
    values: {
      n_head: nHead,
      n_kv: nKv,
      hd,
      n_tok: nTok,
      n_ctx: a.nCtx,
      q_off: qOffset - q.shift,
      q_stride: qStride,
      o_stride: outStride,
      kc_off: cache.kOff,
      vc_off: cache.vOff,
      pos_off: pos.posOff,
      pos0: pos.pos0,
      scale: a.scale,
      ...NO_PROLOGUE,
    },
    q: q.resource,
    out: { resource: out.resource, off: outOffset - out.shift },
    k: cache.k.resource,
    v: cache.v.resource,
    pos: pos.span?.resource,
    defines: { KV_F16: !!a.kvF16, POS_PARAM: !pos.span },
    wg,
  };
}

/**
 * 256 invocations (more loads in flight per workgroup) where the device allows, else 128; 64 with compact
 * workgroup memory (the decode kernel's reduction arrays are WG long).
 */
function defaultWg(ctx: KernelContext): number {
  if (ctx.compact) return 64;
  return ctx.info.limits.maxComputeInvocationsPerWorkgroup >= 256 ? 256 : 128;
}

const pow2floor = (x: number): number => 2 ** Math.floor(Math.log2(x));
const pow2ceil = (x: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, x)));

export interface DecodePlan {
  readonly chunk: number;
  readonly nChunks: number;
  /** Query heads per workgroup and head groups per KV head. */
  readonly hsub: number;
  readonly nHg: number;
  /** The kernel's query slots (vec4) and score slots: QS4 and SN. */
  readonly qs4: number;
  readonly sn: number;
}

export function decodePlan(
  ctx: KernelContext,
  a: Pick<DecodeArgs, 'nHead' | 'nKv' | 'headDim' | 'nCtx' | 'chunk' | 'workgroupSize' | 'headsPerWorkgroup'>,
): DecodePlan {
  const wg = a.workgroupSize ?? defaultWg(ctx);
  const hd4 = a.headDim / 4;
  const g = a.nHead / a.nKv;
  // Heads per workgroup: register accumulators (HMAX) and the query rows in workgroup memory bound the group.
  const qs4 = ctx.compact ? COMPACT_QS4 : QS4;
  const hsub = Math.min(g, DECODE_HMAX, Math.floor(qs4 / hd4), a.headsPerWorkgroup ?? g);
  check(Number.isInteger(hsub) && hsub >= 1, () => `attentionDecode: headsPerWorkgroup must be a positive integer`);
  const nHg = Math.ceil(g / hsub);
  const sn = ctx.compact ? COMPACT_SPLIT_SN : SPLIT_SN;
  const maxChunk = pow2floor(sn / hsub);
  // Short chunks, ~1024 workgroups over a full cache: at the positions a chat actually uses (a few hundred of a
  // 4096-position cache) enough workgroups are busy; 256-position chunks left OLMoE at 33 µs per layer on an H200.
  let chunk = a.chunk ?? Math.min(maxChunk, Math.max(64, pow2ceil((a.nCtx * a.nKv * nHg) / 1024)));
  check(Number.isInteger(chunk) && chunk > 0 && (chunk & (chunk - 1)) === 0, () => `attentionDecode: chunk ${chunk} must be a power of two`);
  check(chunk <= maxChunk, () => `attentionDecode: chunk ${chunk} exceeds ${maxChunk} for ${hsub} heads per workgroup`);
  chunk = Math.min(chunk, pow2ceil(a.nCtx));
  const limit = ctx.info.limits.maxComputeWorkgroupStorageSize;
  check(16 * qs4 + 4 * sn + 20 * wg + 128 <= limit, () => `attentionDecode: workgroup memory ${limit} too small`);
  return { chunk, nChunks: Math.ceil(a.nCtx / chunk), hsub, nHg, qs4, sn };
}

export function attentionScratchBytes(nTok: number, nHead: number, headDim: number, nChunks: number): number {
  return 16 * nTok * nHead * nChunks * (headDim / 4 + 1);
}

export function attentionDecode(ctx: KernelContext, a: DecodeArgs): Dispatch[] {
  const what = 'attentionDecode';
  const c = common(ctx, what, a);
  const plan = decodePlan(ctx, a);
  return recordDecode(ctx, what, a, plan, {
    values: { ...c.values, o_off: c.out.off, bq: 0, bc: 0 },
    defines: c.defines,
    overrides: {},
    includes: undefined,
    inputs: [c.q, c.k, c.v],
    out: c.out.resource,
    tail: c.pos ? [c.pos] : [],
    pos: c.pos,
    wg: c.wg,
    noAlias: [a.out, a.q],
  });
}

/**
 * attentionDecode for one token with qkvRope's prologue inside the split kernel (PROLOGUE): reads Q, K and V
 * from the projection, writes the new K/V into the cache (as qkvRope would) and attends over the cache.
 */
export function attentionDecodeFused(ctx: KernelContext, a: FusedDecodeArgs): Dispatch[] {
  const what = 'attentionDecodeFused';
  const { nHead, headDim: hd, outOffset = 0 } = a;
  const wg = checkWg(ctx, what, a);
  // Bindings 0..4: params, src, K, V, out (or partials); then positions, frequency factors, norm weights.
  const pro = bindQkvPrologue(ctx, what, a, 1, 5);
  check(outOffset % 4 === 0, () => `${what}: outOffset must be a multiple of 4`);
  const out = bindSpan(ctx, a.out, outOffset, outOffset + nHead * hd, 4, `${what}: out`);
  check(a.out !== a.src && a.out !== a.kCache && a.out !== a.vCache, () => `${what}: out must not alias the projection or the cache`);
  check(a.kCache !== a.src && a.vCache !== a.src, () => `${what}: the cache must not alias the projection`);
  const plan = decodePlan(ctx, { ...a, workgroupSize: wg });
  // The prologue's extra workgroup memory: new K and V rows (2·hd f32), norm factors; cos/sin use score slots.
  const limit = ctx.info.limits.maxComputeWorkgroupStorageSize;
  check(16 * plan.qs4 + 4 * plan.sn + 20 * wg + 128 + 8 * hd + 48 <= limit, () => `${what}: workgroup memory ${limit} too small`);
  check(pro.nRot <= plan.sn, () => `${what}: n_rot ${pro.nRot} over the score slots`);
  const values: Omit<AttnValues, 'chunk' | 'n_chunks' | 'hsub' | 'n_hg' | 'part_off'> = {
    ...pro.values,
    n_head: nHead,
    n_kv: a.nKv,
    hd,
    n_tok: 1,
    n_ctx: a.nCtx,
    o_off: outOffset - out.shift,
    o_stride: nHead * hd,
    kc_off: pro.cache.kOff,
    vc_off: pro.cache.vOff,
    pos_off: pro.pos.posOff,
    pos0: pro.pos.pos0,
    bq: 0,
    bc: 0,
    scale: a.scale,
  };
  return recordDecode(ctx, what, { ...a, nTok: 1 }, plan, {
    values,
    defines: { ...pro.defines, PROLOGUE: true },
    overrides: { NEW4: hd / 4 },
    includes: QKV_PROLOGUE_INCLUDES,
    inputs: [pro.src.resource, pro.cache.k.resource, pro.cache.v.resource],
    out: out.resource,
    tail: pro.optional,
    pos: pro.pos.resource,
    wg,
    noAlias: [a.out, a.src, a.kCache, a.vCache],
  });
}

interface DecodeRecord {
  readonly values: Omit<AttnValues, 'chunk' | 'n_chunks' | 'hsub' | 'n_hg' | 'part_off'>;
  /** The split kernel's defines besides SPLIT / DIRECT (KV_F16 and POS_PARAM among them). */
  readonly defines: Readonly<Record<string, boolean | number>>;
  readonly overrides: Readonly<Record<string, number>>;
  readonly includes: Readonly<Record<string, string>> | undefined;
  /** Bindings 1..3 of the split kernel, its output (binding 4), and its bindings from 5 on. */
  readonly inputs: readonly GPUBufferBinding[];
  readonly out: GPUBufferBinding;
  readonly tail: readonly GPUBufferBinding[];
  /** The positions buffer (the reduce's binding 3), when positions come from one. */
  readonly pos: GPUBufferBinding | undefined;
  readonly wg: number;
  /** Buffers the partials scratch must not be. */
  readonly noAlias: readonly GPUBuffer[];
}

/** The split kernel (DIRECT when one chunk covers the cache), else split + reduce over a partials scratch. */
function recordDecode(
  ctx: KernelContext,
  what: string,
  a: Pick<DecodeArgs, 'nTok' | 'nHead' | 'nKv' | 'headDim' | 'scratch' | 'scratchOffset'>,
  plan: DecodePlan,
  r: DecodeRecord,
): Dispatch[] {
  const maxDim = ctx.info.limits.maxComputeWorkgroupsPerDimension;
  check(plan.nChunks <= maxDim && a.nTok <= maxDim && a.nKv * plan.nHg <= maxDim, () => `${what}: grid too large`);
  const direct = plan.nChunks === 1;
  const overrides = { ...r.overrides, WG: r.wg, QS4: plan.qs4, SN: plan.sn };
  const src = source.replace('PARAMS_STRUCT', wgslParamsStruct(ATTENTION_PARAMS));
  const base: AttnValues = { ...r.values, chunk: plan.chunk, n_chunks: plan.nChunks, hsub: plan.hsub, n_hg: plan.nHg, part_off: 0 };
  const grid: [number, number, number] = [plan.nChunks, a.nKv * plan.nHg, a.nTok];
  const splitSpec = (direct: boolean) => ({ family: 'attention', source: src, defines: { ...r.defines, SPLIT: true, DIRECT: direct }, includes: r.includes, overrides });
  if (direct) {
    const params = ctx.uniform(ATTENTION_PARAMS, base, `${what}.params`);
    const buffers: GPUBufferBinding[] = [{ buffer: params }, ...r.inputs, r.out, ...r.tail];
    return [ctx.dispatch(ctx.pipeline(splitSpec(true)), buffers, grid, params)];
  }
  const need = attentionScratchBytes(a.nTok, a.nHead, a.headDim, plan.nChunks);
  const scratchOffset = a.scratchOffset ?? 0;
  check(scratchOffset % 4 === 0, () => `${what}: scratchOffset must be a multiple of 4 elements`);
  const scratch = a.scratch ?? ctx.storage(need, 'attention.partials');
  const part = bindSpan(ctx, scratch, scratchOffset, scratchOffset + need / 4, 4, `${what}: scratch`);
  check(!r.noAlias.includes(scratch), () => `${what}: scratch must not alias its inputs or out`);
  const values: AttnValues = { ...base, part_off: scratchOffset - part.shift };
  const params = ctx.uniform(ATTENTION_PARAMS, values, `${what}.params`);
  const sb: GPUBufferBinding[] = [{ buffer: params }, ...r.inputs, part.resource, ...r.tail];
  const reduce = ctx.pipeline({ family: 'attention', source: src, defines: { POS_PARAM: !r.pos, REDUCE: true }, overrides: { WG: 64 } });
  const rb: GPUBufferBinding[] = [{ buffer: params }, part.resource, r.out];
  if (r.pos) rb.push(r.pos);
  return [ctx.dispatch(ctx.pipeline(splitSpec(false)), sb, grid, params), ctx.dispatch(reduce, rb, [a.nHead, a.nTok, 1], params)];
}

export interface PrefillPlan {
  readonly bq: number;
  readonly bc: number;
  /** Workgroup memory: K (and V) tile, query and score slots (TILE4, QS4, SN). */
  readonly tile4: number;
  readonly qs4: number;
  readonly sn: number;
}

export function prefillPlan(ctx: KernelContext, headDim: number, workgroupSize = defaultWg(ctx)): PrefillPlan {
  const hd4 = headDim / 4;
  if (ctx.compact) {
    // BQ rows with ≥ hd4/4 invocations each (ACC = 4 vec4) and BC keys, within the fixed compact slots.
    const bq = Math.min(COMPACT_BQ, pow2floor(COMPACT_QS4 / hd4), pow2floor((16 * workgroupSize) / headDim), workgroupSize);
    const bc = Math.min(COMPACT_BC, Math.floor(COMPACT_TILE4 / (hd4 + 1)), Math.floor(COMPACT_PREFILL_SN / bq));
    check(bq >= 1 && bc >= 1, () => `attentionPrefill: head_dim ${headDim} does not fit the compact tiles`);
    return { bq, bc, tile4: COMPACT_TILE4, qs4: COMPACT_QS4, sn: COMPACT_PREFILL_SN };
  }
  const limit = ctx.info.limits.maxComputeWorkgroupStorageSize;
  const tile4 = Math.min(2048, Math.floor((limit - 16 * QS4 - 4 * PREFILL_SN - 64) / 32));
  // BQ rows: query tile in QS4, ≥ hd4/4 invocations per row (ACC = 4 vec4 each), at most 64.
  const bq = Math.min(pow2floor(QS4 / hd4), pow2floor((16 * workgroupSize) / headDim), 64, workgroupSize);
  const bc = Math.min(64, Math.floor(tile4 / (hd4 + 1)), Math.floor(PREFILL_SN / bq));
  check(bq >= 1 && bc >= 1, () => `attentionPrefill: head_dim ${headDim} does not fit workgroup memory ${limit}`);
  return { bq, bc, tile4, qs4: QS4, sn: PREFILL_SN };
}

export function attentionPrefill(ctx: KernelContext, a: AttentionArgs): Dispatch {
  const what = 'attentionPrefill';
  const c = common(ctx, what, a);
  const plan = prefillPlan(ctx, a.headDim, c.wg);
  const nb = Math.ceil(a.nTok / plan.bq);
  const maxDim = ctx.info.limits.maxComputeWorkgroupsPerDimension;
  check(nb <= maxDim && a.nHead <= maxDim, () => `${what}: grid too large`);
  const values: AttnValues = { ...c.values, chunk: 0, n_chunks: 0, hsub: 0, n_hg: 0, part_off: 0, bq: plan.bq, bc: plan.bc, o_off: c.out.off };
  const params = ctx.uniform(ATTENTION_PARAMS, values, `${what}.params`);
  const pipeline = ctx.pipeline({
    family: 'attention',
    source: source.replace('PARAMS_STRUCT', wgslParamsStruct(ATTENTION_PARAMS)),
    defines: { ...c.defines, PREFILL: true },
    overrides: { WG: c.wg, QS4: plan.qs4, TILE4: plan.tile4, SN: plan.sn },
  });
  const buffers: GPUBufferBinding[] = [{ buffer: params }, c.q, c.k, c.v, c.out.resource];
  if (c.pos) buffers.push(c.pos);
  return ctx.dispatch(pipeline, buffers, [nb, a.nHead, 1], params);
}
