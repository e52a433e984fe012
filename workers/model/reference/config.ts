/**
 * @file What the CPU reference needs to know about a model: the hyper-parameters from the shared architecture
 * descriptor (`describeModel`, workers/gguf/arch.ts, which also checks every tensor shape), turned into the
 * explicit switches the forward pass runs on (norm kind, RoPE style, q/k norm, top-k renormalisation, Granite
 * scales, which tensor is the pre-FFN norm), so the forward itself has no `if (arch === ...)`. Nothing is
 * assumed: head size, expert counts, vocab and epsilons all come from the file.
 *
 * Two points follow llama.cpp directly rather than the descriptor (checked against llama.cpp v0.4.0 sources):
 * Q/K/V clamping applies to DBRX only (`attention.clamp_kqv` is read by dbrx.cpp, mpt and olmo, never by the
 * other architectures here), and linear RoPE scaling (`rope.scaling.factor`) is read in load_hparams for all.
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
import { describeModel, type ModelArch } from '../../gguf/arch.ts';
import type { GgufModel } from '../../gguf/model.ts';
import type { RopeMode } from './ops.ts';

export class ReferenceModelError extends Error {
  override name = 'ReferenceModelError';
}

export interface ReferenceConfig {
  readonly arch: ModelArch;
  readonly nVocab: number;
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  /** Per-head size of Q, K and V. */
  readonly headDim: number;
  /** FFN width: dense, or per expert. */
  readonly nFf: number;
  /** Shared-expert width (0 = none). */
  readonly nFfShexp: number;
  readonly nCtxTrain: number;
  readonly norm: 'layer' | 'rms';
  readonly normEps: number;
  readonly rope: { readonly mode: RopeMode; readonly nRot: number; readonly freqBase: number; readonly freqScale: number };
  /** Clamp of the Q/K/V projections (0 = none; DBRX only). */
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
  /** Q·K scale: 1/√head_dim unless Granite's attention.scale says otherwise. */
  readonly attentionScale: number;
  /** Granite: attention and FFN outputs × this before each residual add (1 elsewhere). */
  readonly residualScale: number;
  /** Granite: logits ÷ this (1 elsewhere). */
  readonly logitScale: number;
  /** No output.weight: logits use token_embd. */
  readonly tiedOutput: boolean;
  /** Name of the pre-FFN norm tensor: DBRX calls it attn_output_norm. */
  readonly ffnNormName: 'ffn_norm' | 'attn_output_norm';
}

/** Linear RoPE scaling as llama.cpp's load_hparams reads it (1 = none); other scaling types are not supported. */
function ropeFreqScale(model: Pick<GgufModel, 'metadata'>, arch: string): number {
  const md = model.metadata;
  const type = md.optString(`${arch}.rope.scaling.type`) ?? 'linear';
  if (type === 'none') return 1;
  if (type !== 'linear') throw new ReferenceModelError(`${arch}.rope.scaling.type '${type}' is not supported by the CPU reference (linear or none only)`);
  const factor = md.optNumber(`${arch}.rope.scaling.factor`) ?? md.optNumber(`${arch}.rope.scale_linear`) ?? 0;
  return factor === 0 ? 1 : 1 / factor;
}

/** The reference configuration of a model (throws GgufError for unsupported or inconsistent files). */
export function referenceConfig(model: Pick<GgufModel, 'metadata' | 'tensors'>): ReferenceConfig {
  const hp = describeModel(model);
  if (hp.head_dim_v !== hp.head_dim) {
    throw new ReferenceModelError(`value head size ${hp.head_dim_v} ≠ key head size ${hp.head_dim} (llama.cpp asserts equality for ${hp.arch})`);
  }
  if (hp.n_rot !== hp.head_dim) {
    throw new ReferenceModelError(`rope.dimension_count ${hp.n_rot} ≠ head size ${hp.head_dim} (llama.cpp asserts n_embd_head == n_rot for ${hp.arch})`);
  }
  const g = hp.granite;
  if (g && g.logit === 0) throw new ReferenceModelError(`${hp.arch}.logit_scale is 0`);
  return {
    arch: hp.arch,
    nVocab: hp.n_vocab,
    nLayer: hp.n_layer,
    nEmbd: hp.n_embd,
    nHead: hp.n_head,
    nHeadKv: hp.n_head_kv,
    headDim: hp.head_dim,
    nFf: hp.n_ff,
    nFfShexp: hp.n_ff_shexp,
    nCtxTrain: hp.ctx,
    norm: hp.norm === 'layernorm' ? 'layer' : 'rms',
    normEps: hp.norm_eps,
    rope: { mode: hp.rope_type === 'neox' ? 'neox' : 'norm', nRot: hp.n_rot, freqBase: hp.rope_base, freqScale: ropeFreqScale(model, hp.arch) },
    clampKqv: hp.arch === 'dbrx' ? hp.clamp_kqv : 0,
    qkNorm: hp.qk_norm === 'per-head' ? 'head' : hp.qk_norm === 'full' ? 'full' : 'none',
    nExpert: hp.n_expert,
    nExpertUsed: hp.n_expert_used,
    normTopK: hp.gating.renorm,
    sharedExpertGated: hp.shared_expert_gate,
    // Granite scales: 0 means absent (llama.cpp tests `!= 0` before applying each one).
    embeddingScale: g && g.embedding !== 0 ? g.embedding : 1,
    attentionScale: g && g.attention !== 0 ? g.attention : 1 / Math.sqrt(hp.head_dim),
    residualScale: g && g.residual !== 0 ? g.residual : 1,
    logitScale: g ? g.logit : 1,
    tiedOutput: hp.tied_embeddings,
    ffnNormName: hp.arch === 'dbrx' ? 'attn_output_norm' : 'ffn_norm',
  };
}
