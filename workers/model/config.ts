/**
 * @file The one description of a model: what the GPU engine, the CPU reference, make-model, inspect and the
 * benchmark know about it. `workers/gguf/arch.ts` produces it from GGUF metadata (keys exactly as llama.cpp's
 * loader reads them) and checks every tensor's shape against it. Architecture differences are data here
 * (norm kind, RoPE style, q/k norm, top-k renormalisation, Granite scales, clamp, the pre-FFN norm's name),
 * so no consumer ever branches on `arch`.
 *
 * Per-architecture facts (llama.cpp v0.4.0 sources):
 * | arch       | norm           | RoPE   | q/k norm            | router                    | extras                          |
 * |------------|----------------|--------|---------------------|---------------------------|---------------------------------|
 * | dbrx       | LayerNorm      | neox   | —                   | softmax → top-k → ÷sum    | fused QKV clamped to ±clamp_kqv |
 * | llama      | RMS            | normal | —                   | softmax → top-k → ÷sum    | dense FFN when no experts       |
 * | qwen2moe   | RMS            | neox   | —                   | softmax → top-k (no ÷sum) | shared expert × sigmoid(x·w)    |
 * | qwen3moe   | RMS            | neox   | per head (head_dim) | softmax → top-k → ÷sum    |                                 |
 * | olmoe      | RMS            | neox   | whole projection    | softmax → top-k (no ÷sum) |                                 |
 * | granitemoe | RMS            | normal | —                   | softmax → top-k → ÷sum    | embedding/attention/residual/logit scales, optional shared expert |
 */

export const SUPPORTED_ARCHS = ['dbrx', 'llama', 'qwen2moe', 'qwen3moe', 'olmoe', 'granitemoe'] as const;
export type ModelArch = (typeof SUPPORTED_ARCHS)[number];

/** RoPE pairing: 'normal' rotates adjacent pairs (llama), 'neox' the two halves of each head. */
export type RopeStyle = 'neox' | 'normal';
export type NormKind = 'layer' | 'rms';
/** Where Q/K RMSNorm applies: none, per head over head_dim (Qwen3-MoE), or over the whole projection (OLMoE). */
export type QkNorm = 'none' | 'head' | 'full';

export interface RopeConfig {
  readonly style: RopeStyle;
  /** Rotated dims per head (= headDim for every architecture here). */
  readonly nRot: number;
  readonly freqBase: number;
  /** Linear scaling: positions × this (1 = none). */
  readonly freqScale: number;
}

export interface ModelConfig {
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
  /** 0 = dense FFN. */
  readonly nExpert: number;
  readonly nExpertUsed: number;
  /** Training context length. */
  readonly nCtxTrain: number;
  readonly norm: NormKind;
  readonly normEps: number;
  readonly rope: RopeConfig;
  /** Clamp of the Q/K/V projections (0 = none; DBRX only). */
  readonly clampKqv: number;
  readonly qkNorm: QkNorm;
  /** Divide the top-k router probabilities by their sum. */
  readonly normTopK: boolean;
  /** Shared expert output × sigmoid(x·ffn_gate_inp_shexp) (qwen2moe). */
  readonly sharedExpertGated: boolean;
  /** Granite: token embeddings × this (1 elsewhere). */
  readonly embeddingScale: number;
  /** Q·K scale: 1/√headDim unless Granite's attention.scale says otherwise. */
  readonly attentionScale: number;
  /** Granite: attention and FFN outputs × this before each residual add (1 elsewhere). */
  readonly residualScale: number;
  /** Granite: logits ÷ this (1 elsewhere). */
  readonly logitScale: number;
  /** No output.weight: logits use token_embd. */
  readonly tiedOutput: boolean;
  /** Attention uses one fused `attn_qkv` (DBRX always; others when the file has it). */
  readonly fusedQkv: boolean;
  /** The file has Q/K/V biases (Qwen2-MoE usually does). */
  readonly qkvBias: boolean;
  /** Name of the pre-FFN norm tensor: DBRX calls it attn_output_norm. */
  readonly ffnNormName: 'ffn_norm' | 'attn_output_norm';
}
