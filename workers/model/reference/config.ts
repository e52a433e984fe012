/**
 * @file What the CPU reference needs to know about a model, per architecture, read from GGUF metadata the way
 * llama.cpp's loaders read it (`src/llama-model.cpp` load_hparams, `src/models/<arch>.cpp` load_arch_hparams)
 * and spelled out as explicit switches (norm kind, RoPE style, q/k norm, top-k renormalisation, Granite scales)
 * so the forward pass itself has no `if (arch === ...)`. Nothing is assumed: head size, expert counts, vocab
 * and epsilons all come from the file; tensor shapes are checked against them when the weights load.
 *
 * Per-architecture facts (llama.cpp v0.4.0 sources):
 * | arch       | norm           | RoPE | q/k norm          | router                      | extras                         |
 * |------------|----------------|------|-------------------|-----------------------------|--------------------------------|
 * | dbrx       | LayerNorm, eps `attention.layer_norm_epsilon` | neox | — | softmax → top-k → ÷sum | fused QKV clamped to ±clamp_kqv |
 * | llama      | RMS, `attention.layer_norm_rms_epsilon` | norm | —  | softmax → top-k → ÷sum      | dense FFN when no experts      |
 * | qwen2moe   | RMS            | neox | —                 | softmax → top-k (no ÷sum)   | shared expert × sigmoid(x·w)   |
 * | qwen3moe   | RMS            | neox | per head (head_dim) | softmax → top-k → ÷sum    |                                |
 * | olmoe      | RMS            | neox | whole projection  | softmax → top-k (no ÷sum)   |                                |
 * | granitemoe | RMS            | norm | —                 | softmax → top-k → ÷sum      | embedding/attention/residual/logit scales, optional shared expert |
 */
import type { GgufMetadata } from '../../gguf/metadata.ts';
import type { RopeMode } from './ops.ts';

export class ReferenceModelError extends Error {
  override name = 'ReferenceModelError';
}

export const REFERENCE_ARCHS = ['dbrx', 'llama', 'qwen2moe', 'qwen3moe', 'olmoe', 'granitemoe', 'granite'] as const;
export type ReferenceArch = (typeof REFERENCE_ARCHS)[number];

export function isReferenceArch(a: string): a is ReferenceArch {
  return (REFERENCE_ARCHS as readonly string[]).includes(a);
}

export interface ReferenceConfig {
  readonly arch: ReferenceArch;
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  /** Per-head size of Q and K (attention.key_length, default n_embd / n_head). */
  readonly headDim: number;
  /** Per-head size of V (attention.value_length, default n_embd / n_head). */
  readonly headDimV: number;
  readonly nCtxTrain: number;
  readonly norm: 'layer' | 'rms';
  readonly normEps: number;
  readonly rope: { readonly mode: RopeMode; readonly nRot: number; readonly freqBase: number; readonly freqScale: number };
  /** Clamp of the Q/K/V projections (0 = none; only DBRX reads it). */
  readonly clampKqv: number;
  /** RMS norm of Q and K before RoPE: per head (qwen3moe), over the whole projection (olmoe) or none. */
  readonly qkNorm: 'none' | 'head' | 'full';
  /** 0 = dense FFN. */
  readonly nExpert: number;
  readonly nExpertUsed: number;
  /** Divide the top-k router probabilities by their sum. */
  readonly normTopK: boolean;
  /** Shared expert output × sigmoid(x·ffn_gate_inp_shexp) (qwen2moe). */
  readonly sharedExpertGated: boolean;
  /** Granite: token embeddings × this (1 elsewhere). */
  readonly embeddingScale: number;
  /** Q·K scale (1/√head_dim unless the file says otherwise; Granite reads attention.scale). */
  readonly attentionScale: number;
  /** Granite: attention and FFN outputs × this before each residual add (1 elsewhere). */
  readonly residualScale: number;
  /** Granite: logits ÷ this (1 elsewhere). */
  readonly logitScale: number;
  /** output.weight may be absent (tied to token_embd). */
  readonly tiedOutputAllowed: boolean;
  /** Name of the pre-FFN norm tensor: DBRX calls it attn_output_norm. */
  readonly ffnNormName: 'ffn_norm' | 'attn_output_norm';
}

/** A u32 key that llama.cpp reads with get_key_or_arr: a scalar, or a per-layer array that must be uniform here. */
function uniformCount(md: GgufMetadata, key: string, fallback?: number): number {
  const v = md.get(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    return md.number(key); // throws GgufError('missing-metadata') naming the key
  }
  if (Array.isArray(v)) {
    const nums = md.numberArray(key);
    if (nums.length === 0 || nums.some((n) => n !== nums[0])) {
      throw new ReferenceModelError(`metadata key '${key}': per-layer values differ (${nums.join(', ')}); the reference supports uniform layers only`);
    }
    return nums[0];
  }
  return md.number(key);
}

function positiveInt(v: number, what: string): number {
  if (!Number.isInteger(v) || v <= 0) throw new ReferenceModelError(`${what} must be a positive integer, found ${v}`);
  return v;
}

/** Reads the reference configuration of a model from its metadata (throws for architectures it does not run). */
export function referenceConfig(md: GgufMetadata): ReferenceConfig {
  const arch = md.string('general.architecture');
  if (!isReferenceArch(arch)) {
    throw new ReferenceModelError(`architecture '${arch}' is not supported by the CPU reference (supported: ${REFERENCE_ARCHS.join(', ')})`);
  }
  const k = (s: string): string => `${arch}.${s}`;

  const nEmbd = positiveInt(md.number(k('embedding_length')), k('embedding_length'));
  const nLayer = positiveInt(md.number(k('block_count')), k('block_count'));
  const nHead = positiveInt(uniformCount(md, k('attention.head_count')), k('attention.head_count'));
  const nHeadKv = positiveInt(uniformCount(md, k('attention.head_count_kv'), nHead), k('attention.head_count_kv'));
  if (nHead % nHeadKv !== 0) throw new ReferenceModelError(`head_count ${nHead} is not a multiple of head_count_kv ${nHeadKv}`);
  const headDim = positiveInt(md.optNumber(k('attention.key_length')) ?? nEmbd / nHead, 'head size (attention.key_length or n_embd / n_head)');
  const headDimV = positiveInt(md.optNumber(k('attention.value_length')) ?? nEmbd / nHead, 'value head size');
  if (headDimV !== headDim) throw new ReferenceModelError(`key_length ${headDim} ≠ value_length ${headDimV}: not supported (llama.cpp asserts equality for these architectures)`);
  const nRot = md.optNumber(k('rope.dimension_count')) ?? headDim;
  // Every graph we mirror asserts n_embd_head == n_rot.
  if (nRot !== headDim) throw new ReferenceModelError(`rope.dimension_count ${nRot} ≠ head size ${headDim} (llama.cpp asserts n_embd_head == n_rot for ${arch})`);

  const scalingType = md.optString(k('rope.scaling.type')) ?? 'linear';
  if (scalingType !== 'linear' && scalingType !== 'none') {
    throw new ReferenceModelError(`rope.scaling.type '${scalingType}' is not supported by the CPU reference (linear or none only)`);
  }
  const ropeFactor = md.optNumber(k('rope.scaling.factor')) ?? md.optNumber(k('rope.scale_linear')) ?? 0;
  const freqScale = scalingType === 'none' || ropeFactor === 0 ? 1 : 1 / ropeFactor;
  const freqBase = md.optNumber(k('rope.freq_base')) ?? 10000;

  const nExpert = md.optNumber(k('expert_count')) ?? 0;
  const nExpertUsed = nExpert > 0 ? uniformCount(md, k('expert_used_count'), 0) : 0;
  if (nExpert > 0 && (nExpertUsed <= 0 || nExpertUsed > nExpert)) {
    throw new ReferenceModelError(`expert_used_count ${nExpertUsed} must be in 1..expert_count (${nExpert})`);
  }

  const isGranite = arch === 'granitemoe' || arch === 'granite';
  const needsExperts = arch !== 'llama' && arch !== 'granite';
  if (needsExperts && nExpert === 0) throw new ReferenceModelError(`${arch} needs ${k('expert_count')} > 0`);

  const norm = arch === 'dbrx' ? 'layer' : 'rms';
  const normEps = norm === 'layer' ? md.number(k('attention.layer_norm_epsilon')) : md.number(k('attention.layer_norm_rms_epsilon'));

  // Granite: attention.scale replaces 1/√d when present and non-zero (llama.cpp: f_attention_scale == 0 → 1/√d).
  const attnScaleKey = isGranite ? (md.optNumber(k('attention.scale')) ?? 0) : 0;
  const logitScale = isGranite ? md.number(k('logit_scale')) : 1;
  if (logitScale === 0) throw new ReferenceModelError(`${k('logit_scale')} is 0`);

  return {
    arch,
    nLayer,
    nEmbd,
    nHead,
    nHeadKv,
    headDim,
    headDimV,
    nCtxTrain: md.optNumber(k('context_length')) ?? 0,
    norm,
    normEps,
    rope: {
      mode: arch === 'llama' || isGranite ? 'norm' : 'neox',
      nRot,
      freqBase,
      freqScale,
    },
    clampKqv: arch === 'dbrx' ? md.number(k('attention.clamp_kqv')) : 0,
    qkNorm: arch === 'qwen3moe' ? 'head' : arch === 'olmoe' ? 'full' : 'none',
    nExpert,
    nExpertUsed,
    normTopK: arch !== 'qwen2moe' && arch !== 'olmoe',
    sharedExpertGated: arch === 'qwen2moe',
    // llama.cpp scales only when the value is non-zero (0 means "absent").
    embeddingScale: isGranite ? md.optNumber(k('embedding_scale')) || 1 : 1,
    attentionScale: attnScaleKey !== 0 ? attnScaleKey : 1 / Math.sqrt(headDim),
    residualScale: isGranite ? md.optNumber(k('residual_scale')) || 1 : 1,
    logitScale,
    tiedOutputAllowed: arch === 'llama' || arch === 'qwen3moe' || isGranite,
    ffnNormName: arch === 'dbrx' ? 'attn_output_norm' : 'ffn_norm',
  };
}
