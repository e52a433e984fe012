/**
 * @file Dispatch wrapper for kernels/rope.wgsl: the fused attention prologue (clamp → Q/K norm → RoPE → Q out,
 * K/V into the cache: one dispatch per layer), and the prologue description and bindings it shares with the
 * fused decode attention (attention.ts `attentionDecodeFused`, which runs the same arithmetic, from
 * lib/qkv_prologue.wgsl, inside its split-K kernel).
 *
 * RoPE matches ggml_rope_ext without YaRN (ext_factor 0, attn_factor 1): θ_i = freq_scale·(pos·s^i)/ff_i with
 * s = base^(−2/n_rot) in f32 and the power built by repeated f32 multiplication (ggml_rope_cache_init), so θ is
 * bit-identical to llama.cpp's CPU backend; cos/sin are computed to ~1 ulp by our own reduction (not the
 * GPU's sin/cos, which are loose for large arguments). Differences from ggml: none intended for these inputs;
 * YaRN (ext_factor ≠ 0) and multi-section (M-RoPE) modes are not implemented. The Q/K norm's sum of squares is
 * taken in one fixed order (32 lanes, then a tree) whatever the workgroup size.
 *
 * API:
 *   qkvRope(ctx, a: QkvRopeArgs): Dispatch — T tokens' Q (n_head heads), K and V (n_kv heads) read from `src` at
 *     offsets/strides; optional clamp (DBRX clamp_kqv, applied to all of Q, K and V first), optional Q/K RMSNorm
 *     ('head' | 'full'), RoPE on Q and K, Q written to qOut (T, n_head, hd), K and V to the cache
 *     (n_kv, n_ctx, hd) at each token's position. Grid: T·(n_head + 2·n_kv) workgroups.
 *   QkvPrologue: what the prologue reads and writes (all of QkvRopeArgs but T, qOut and the workgroup size).
 *   bindQkvPrologue(ctx, what, a, nTok, firstBinding): its checks, parameter values (QKV_PROLOGUE_PARAMS),
 *     optional bindings and defines, for a kernel that #includes "qkv_prologue" (QKV_PROLOGUE_INCLUDES).
 *   fusedQkvLayout(nHead, nKv, headDim, base = 0): offsets and stride of a fused QKV output (T, n_embd + 2·n_kv·hd).
 *   ropeThetaScale(freqBase, nRot): base^(−2/n_rot) rounded to f32, as ggml computes it.
 */
import source from './rope.wgsl?raw';
import prologueSource from './lib/qkv_prologue.wgsl?raw';
import { check, grid2d, type Dispatch, type KernelContext } from './lib/context.ts';
import { wgslParamsStruct, type ParamValues } from './lib/params.ts';
import { bindCache, bindPositions, checkHeads, type Positions } from './kv_cache.ts';
import { bindSpan, type Span } from './lib/span.ts';
import { ropeThetaScale, type RopeStyle } from './rope.ref.ts';

export { ropeThetaScale };

/** The include of every kernel running the prologue's arithmetic. */
export const QKV_PROLOGUE_INCLUDES: Readonly<Record<string, string>> = { qkv_prologue: prologueSource };

/**
 * The prologue's parameters besides the heads and Q's offset and stride (`q_off`, `q_stride`, `n_head`, `n_kv`,
 * `hd`, which each kernel's schema has anyway).
 */
export const QKV_PROLOGUE_PARAMS = [
  ['k_off', 'u32'],
  ['k_stride', 'u32'],
  ['v_off', 'u32'],
  ['v_stride', 'u32'],
  ['n_rot', 'u32'],
  ['qw_off', 'u32'],
  ['kw_off', 'u32'],
  ['ff_off', 'u32'],
  ['theta_scale', 'f32'],
  ['freq_scale', 'f32'],
  ['clamp', 'f32'],
  ['eps', 'f32'],
] as const;

export const QKV_ROPE_PARAMS = [
  ['n_head', 'u32'],
  ['n_kv', 'u32'],
  ['hd', 'u32'],
  ['n_tok', 'u32'],
  ['q_off', 'u32'],
  ['q_stride', 'u32'],
  ['qo_off', 'u32'],
  ['qo_stride', 'u32'],
  ['kc_off', 'u32'],
  ['vc_off', 'u32'],
  ['n_ctx', 'u32'],
  ['pos_off', 'u32'],
  ['pos0', 'u32'],
  ...QKV_PROLOGUE_PARAMS,
] as const;

export const QKV_ROPE_WG_SIZES = [32, 64, 128] as const;

export interface RopeConfig {
  readonly style: RopeStyle;
  /** Rotated dimensions per head (even, ≤ headDim); default headDim. */
  readonly nRot?: number;
  readonly freqBase: number;
  /** Linear position scaling (θ·freqScale); default 1. */
  readonly freqScale?: number;
  /** Per-pair divisors of θ (llama3 `rope_freqs.weight`), (nRot/2) f32 at `offset`. */
  readonly freqFactors?: { readonly buffer: GPUBuffer; readonly offset?: number };
}

/** What the attention prologue reads and writes: the projection, the clamp / norm / RoPE options, the cache. */
export interface QkvPrologue {
  readonly nHead: number;
  readonly nKv: number;
  readonly headDim: number;
  readonly rope: RopeConfig;
  /** Q of token t, head h at qOffset + t·qStride + h·headDim; K and V likewise with n_kv heads. */
  readonly src: GPUBuffer;
  readonly qOffset: number;
  readonly kOffset: number;
  readonly vOffset: number;
  readonly qStride?: number;
  readonly kStride?: number;
  readonly vStride?: number;
  /** Clamp Q, K and V to ±clamp first (DBRX `clamp_kqv`); omit or 0 for none. */
  readonly clamp?: number;
  readonly qkNorm?: {
    readonly mode: 'head' | 'full';
    readonly qWeight: GPUBuffer;
    readonly kWeight: GPUBuffer;
    readonly qWeightOffset?: number;
    readonly kWeightOffset?: number;
    readonly eps: number;
  };
  readonly kCache: GPUBuffer;
  readonly vCache: GPUBuffer;
  readonly kCacheOffset?: number;
  readonly vCacheOffset?: number;
  readonly nCtx: number;
  readonly kvF16?: boolean;
  readonly positions: Positions;
}

export interface QkvRopeArgs extends QkvPrologue {
  readonly nTok: number;
  /** (T, n_head, hd) at qOutOffset, tokens qOutStride apart (default n_head·hd). */
  readonly qOut: GPUBuffer;
  readonly qOutOffset?: number;
  readonly qOutStride?: number;
  readonly workgroupSize?: number;
}

/** Offsets and token stride of DBRX's fused QKV output (T, n_embd + 2·n_kv·hd): Q, then K, then V. */
export function fusedQkvLayout(nHead: number, nKv: number, headDim: number, base = 0) {
  const stride = (nHead + 2 * nKv) * headDim;
  return { qOffset: base, kOffset: base + nHead * headDim, vOffset: base + (nHead + nKv) * headDim, qStride: stride, kStride: stride, vStride: stride };
}

function checkRope(what: string, r: RopeConfig, headDim: number): number {
  const nRot = r.nRot ?? headDim;
  check(Number.isInteger(nRot) && nRot >= 2 && nRot % 2 === 0 && nRot <= headDim, () => `${what}: nRot ${nRot} must be even, ≥ 2 and ≤ headDim ${headDim}`);
  check(Number.isFinite(r.freqBase) && r.freqBase > 0, () => `${what}: freqBase must be positive, got ${r.freqBase}`);
  check(r.freqScale === undefined || (Number.isFinite(r.freqScale) && r.freqScale > 0), () => `${what}: freqScale must be positive`);
  check(r.style === 'neox' || r.style === 'normal', () => `${what}: unknown RoPE style`);
  return nRot;
}

/** Assigns consecutive binding numbers to optional bindings; returns defines naming them. */
function optionalBindings(first: number, entries: readonly (readonly [name: string, span: Span | undefined])[]) {
  const defines: Record<string, number> = {};
  const resources: GPUBufferBinding[] = [];
  let b = first;
  for (const [name, span] of entries) {
    if (!span) continue;
    defines[name] = b++;
    resources.push(span.resource);
  }
  return { defines, resources };
}

/** The prologue's bindings for a kernel that #includes "qkv_prologue" (see bindQkvPrologue). */
export interface BoundPrologue {
  /** Q's offset and stride into `src` (the kernel's `q_off`, `q_stride`) and QKV_PROLOGUE_PARAMS. */
  readonly values: ParamValues<typeof QKV_PROLOGUE_PARAMS> & { readonly q_off: number; readonly q_stride: number };
  readonly src: Span;
  /** Optional bindings (positions first when a buffer gives them, then ff, qw, kw), numbered from firstBinding. */
  readonly optional: readonly GPUBufferBinding[];
  readonly defines: Readonly<Record<string, boolean | number>>;
  /** The positions' params and, when a buffer gives them, its binding (also the first of `optional`). */
  readonly pos: { readonly posOff: number; readonly pos0: number; readonly resource: GPUBufferBinding | undefined };
  readonly cache: ReturnType<typeof bindCache>;
  readonly nRot: number;
}

/**
 * Checks the prologue of `nTok` tokens and binds what it reads: src, the cache, the positions (binding
 * `firstBinding` when they come from a buffer, define B_POS), frequency factors (B_FF) and norm weights (B_QW,
 * B_KW) on the following numbers.
 */
export function bindQkvPrologue(ctx: KernelContext, what: string, a: QkvPrologue, nTok: number, firstBinding: number): BoundPrologue {
  const { nHead, nKv, headDim: hd } = a;
  checkHeads(what, nHead, nKv, hd);
  check(Number.isInteger(nTok) && nTok > 0, () => `${what}: nTok must be a positive integer, got ${nTok}`);
  const nRot = checkRope(what, a.rope, hd);
  const qStride = a.qStride ?? nHead * hd;
  const kStride = a.kStride ?? nKv * hd;
  const vStride = a.vStride ?? nKv * hd;
  check(qStride >= nHead * hd && kStride >= nKv * hd && vStride >= nKv * hd, () => `${what}: token strides shorter than a row`);
  const clampV = a.clamp ?? 0;
  check(Number.isFinite(clampV) && clampV >= 0, () => `${what}: clamp must be a finite non-negative number`);
  const end = (off: number, stride: number, row: number) => off + (nTok - 1) * stride + row;
  const src = bindSpan(
    ctx,
    a.src,
    Math.min(a.qOffset, a.kOffset, a.vOffset),
    Math.max(end(a.qOffset, qStride, nHead * hd), end(a.kOffset, kStride, nKv * hd), end(a.vOffset, vStride, nKv * hd)),
    4,
    `${what}: src`,
  );
  const cache = bindCache(ctx, what, { ...a, headDim: hd });
  const pos = bindPositions(ctx, what, a.positions, nTok);
  const ffOff = a.rope.freqFactors?.offset ?? 0;
  const ff = a.rope.freqFactors ? bindSpan(ctx, a.rope.freqFactors.buffer, ffOff, ffOff + nRot / 2, 4, `${what}: freq factors`) : undefined;
  let qw: Span | undefined;
  let kw: Span | undefined;
  const n = a.qkNorm;
  if (n) {
    const full = n.mode === 'full';
    check(Number.isFinite(n.eps) && n.eps >= 0, () => `${what}: norm eps must be finite and non-negative`);
    const qo = n.qWeightOffset ?? 0;
    const ko = n.kWeightOffset ?? 0;
    qw = bindSpan(ctx, n.qWeight, qo, qo + (full ? nHead * hd : hd), 4, `${what}: Q norm weight`);
    kw = bindSpan(ctx, n.kWeight, ko, ko + (full ? nKv * hd : hd), 4, `${what}: K norm weight`);
  }
  const opt = optionalBindings(firstBinding, [
    ['B_POS', pos.span],
    ['B_FF', ff],
    ['B_QW', qw],
    ['B_KW', kw],
  ]);
  return {
    values: {
      q_off: a.qOffset - src.shift,
      q_stride: qStride,
      k_off: a.kOffset - src.shift,
      k_stride: kStride,
      v_off: a.vOffset - src.shift,
      v_stride: vStride,
      n_rot: nRot,
      qw_off: qw && n ? (n.qWeightOffset ?? 0) - qw.shift : 0,
      kw_off: kw && n ? (n.kWeightOffset ?? 0) - kw.shift : 0,
      ff_off: ff ? ffOff - ff.shift : 0,
      theta_scale: ropeThetaScale(a.rope.freqBase, nRot),
      freq_scale: a.rope.freqScale ?? 1,
      clamp: clampV,
      eps: n?.eps ?? 0,
    },
    src,
    optional: opt.resources,
    defines: {
      NEOX: a.rope.style === 'neox',
      KV_F16: !!a.kvF16,
      POS_PARAM: !pos.span,
      CLAMP: clampV > 0,
      FREQ_FACTORS: !!ff,
      QK_NORM: !!n,
      QK_NORM_FULL: n?.mode === 'full',
      ...opt.defines,
    },
    pos: { posOff: pos.posOff, pos0: pos.pos0, resource: pos.span?.resource },
    cache,
    nRot,
  };
}

export function qkvRope(ctx: KernelContext, a: QkvRopeArgs): Dispatch {
  const what = 'qkvRope';
  const { nTok, nHead, nKv, headDim: hd, workgroupSize = 64 } = a;
  check((QKV_ROPE_WG_SIZES as readonly number[]).includes(workgroupSize), () => `${what}: workgroup size ${workgroupSize} not in ${QKV_ROPE_WG_SIZES.join('/')}`);
  const pro = bindQkvPrologue(ctx, what, a, nTok, 5);
  const qOutOffset = a.qOutOffset ?? 0;
  const qOutStride = a.qOutStride ?? nHead * hd;
  check(qOutStride >= nHead * hd, () => `${what}: qOutStride ${qOutStride} shorter than n_head·hd`);
  const qOut = bindSpan(ctx, a.qOut, qOutOffset, qOutOffset + (nTok - 1) * qOutStride + nHead * hd, 4, `${what}: qOut`);
  const values: ParamValues<typeof QKV_ROPE_PARAMS> = {
    ...pro.values,
    n_head: nHead,
    n_kv: nKv,
    hd,
    n_tok: nTok,
    qo_off: qOutOffset - qOut.shift,
    qo_stride: qOutStride,
    kc_off: pro.cache.kOff,
    vc_off: pro.cache.vOff,
    n_ctx: a.nCtx,
    pos_off: pro.pos.posOff,
    pos0: pro.pos.pos0,
  };
  const params = ctx.uniform(QKV_ROPE_PARAMS, values, `${what}.params`);
  const pipeline = ctx.pipeline({
    family: 'rope',
    source: source.replace('PARAMS_STRUCT', wgslParamsStruct(QKV_ROPE_PARAMS)),
    defines: pro.defines,
    includes: QKV_PROLOGUE_INCLUDES,
    overrides: { WG: workgroupSize },
  });
  const buffers: (GPUBuffer | GPUBufferBinding)[] = [params, pro.src.resource, qOut.resource, pro.cache.k.resource, pro.cache.v.resource, ...pro.optional];
  const [gx, gy] = grid2d(nTok * (nHead + 2 * nKv), ctx.info.limits.maxComputeWorkgroupsPerDimension);
  return ctx.dispatch(pipeline, buffers, [gx, gy], params);
}
