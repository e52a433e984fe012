/**
 * @file Architecture descriptors: which MoE/dense families we run, the hyper-parameters each one reads from
 * GGUF metadata (keys exactly as llama.cpp's loader reads them: src/llama-model.cpp, src/models/<arch>.cpp),
 * and the tensors (names and ggml shapes) llama.cpp expects. `describeModel` turns a file into a typed
 * `ModelHParams` and checks every tensor against it, so the engine never discovers a wrong shape mid-forward.
 */
import { GgufError } from './errors.ts';
import type { GgufMetadata } from './metadata.ts';
import type { GgufModel } from './model.ts';
import type { GgufTensorInfo } from './reader.ts';

export const SUPPORTED_ARCHS = ['dbrx', 'llama', 'qwen2moe', 'qwen3moe', 'olmoe', 'granitemoe'] as const;
export type ModelArch = (typeof SUPPORTED_ARCHS)[number];

export function isSupportedArch(a: string): a is ModelArch {
  return (SUPPORTED_ARCHS as readonly string[]).includes(a);
}

export type RopeType = 'neox' | 'normal';
export type NormType = 'layernorm' | 'rmsnorm';
/** Where Q/K RMSNorm applies: none, per head over head_dim (Qwen3-MoE), or over the whole projection (OLMoE). */
export type QkNorm = 'none' | 'per-head' | 'full';

export interface MoeGating {
  /** Softmax over all experts, then top-k of the probabilities. */
  readonly kind: 'softmax-topk';
  /** Divide the k selected probabilities by their sum (DBRX, Mixtral, Qwen3-MoE, Granite) or not (Qwen2-MoE, OLMoE). */
  readonly renorm: boolean;
}

export interface GraniteScales {
  /** Token embeddings × embedding (0 = off). */
  readonly embedding: number;
  /** Attention logit scale replacing 1/√head_dim (0 = default). */
  readonly attention: number;
  /** Each residual branch × residual (0 = off). */
  readonly residual: number;
  /** Final logits ÷ logit. */
  readonly logit: number;
}

export interface ModelHParams {
  readonly arch: ModelArch;
  readonly n_vocab: number;
  readonly n_embd: number;
  readonly n_layer: number;
  readonly n_head: number;
  readonly n_head_kv: number;
  /** Key (and query) head size. */
  readonly head_dim: number;
  /** Value head size (equal to head_dim for every arch here). */
  readonly head_dim_v: number;
  /** Dense FFN width, or the per-expert width for MoE layers. */
  readonly n_ff: number;
  /** Shared-expert width (0 = no shared expert). */
  readonly n_ff_shexp: number;
  /** 0 for a dense model. */
  readonly n_expert: number;
  readonly n_expert_used: number;
  /** Training context length. */
  readonly ctx: number;
  readonly rope_base: number;
  readonly rope_type: RopeType;
  /** Rotated dims per head (rope.dimension_count, default head_dim). */
  readonly n_rot: number;
  readonly norm: NormType;
  readonly norm_eps: number;
  /** Clamp of the fused QKV output (DBRX), 0 = none. */
  readonly clamp_kqv: number;
  readonly gating: MoeGating;
  readonly qk_norm: QkNorm;
  /** Qwen2-MoE: the shared expert output is scaled by sigmoid(x · ffn_gate_inp_shexp). */
  readonly shared_expert_gate: boolean;
  readonly granite: GraniteScales | undefined;
  /** No `output.weight`: logits use token_embd. */
  readonly tied_embeddings: boolean;
  /** Attention uses one fused `attn_qkv` (DBRX always; others when the file has it). */
  readonly fused_qkv: boolean;
  /** The file has Q/K/V biases (Qwen2-MoE usually does). */
  readonly qkv_bias: boolean;
}

export interface ExpectedTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly optional?: boolean;
}

function fail(code: 'missing-metadata' | 'bad-metadata', msg: string): never {
  throw new GgufError(code, msg);
}

/** A u32-style count that may also be stored per layer (llama.cpp get_key_or_arr); per-layer values must agree. */
function layerUniform(md: GgufMetadata, key: string, nLayer: number): number | undefined {
  const v = md.get(key);
  if (v === undefined) return undefined;
  if (Array.isArray(v)) {
    const arr = md.numberArray(key);
    if (arr.length !== nLayer) fail('bad-metadata', `metadata '${key}': per-layer array has ${arr.length} entries for ${nLayer} layers`);
    if (arr.some((x) => x !== arr[0])) {
      fail('bad-metadata', `metadata '${key}': different values per layer (${arr.join(', ')}) are not supported`);
    }
    return arr[0];
  }
  return md.number(key);
}

function count(md: GgufMetadata, key: string, v: number | undefined, min = 1): number {
  if (v === undefined) fail('missing-metadata', `metadata key '${key}' is required`);
  if (!Number.isInteger(v) || v < min || v > 1 << 30) fail('bad-metadata', `metadata '${key}' = ${v} is not a valid count`);
  return v;
}

/**
 * A real-valued hyper-parameter, checked where it is read: NaN, ±Infinity or out of range would otherwise only
 * surface as NaNs out of the kernels. `min` is inclusive unless `above` (strictly greater).
 */
function real(key: string, v: number, bound: { min: number; above?: boolean }): number {
  const ok = Number.isFinite(v) && (bound.above ? v > bound.min : v >= bound.min);
  if (!ok) fail('bad-metadata', `metadata '${key}' = ${v} must be a finite number ${bound.above ? '>' : '≥'} ${bound.min}`);
  return v;
}

const ARCH_INFO: Record<ModelArch, { rope: RopeType; norm: NormType; renorm: boolean; qk: QkNorm; outputOptional: boolean; moeRequired: boolean }> = {
  dbrx: { rope: 'neox', norm: 'layernorm', renorm: true, qk: 'none', outputOptional: false, moeRequired: true },
  llama: { rope: 'normal', norm: 'rmsnorm', renorm: true, qk: 'none', outputOptional: true, moeRequired: false },
  qwen2moe: { rope: 'neox', norm: 'rmsnorm', renorm: false, qk: 'none', outputOptional: false, moeRequired: true },
  qwen3moe: { rope: 'neox', norm: 'rmsnorm', renorm: true, qk: 'per-head', outputOptional: true, moeRequired: true },
  olmoe: { rope: 'neox', norm: 'rmsnorm', renorm: false, qk: 'full', outputOptional: false, moeRequired: true },
  granitemoe: { rope: 'normal', norm: 'rmsnorm', renorm: true, qk: 'none', outputOptional: true, moeRequired: false },
};

/** Reads the hyper-parameters from metadata; `tensors` (when given) settles tied output, fused QKV and biases. */
export function readHParams(md: GgufMetadata, tensors?: readonly Pick<GgufTensorInfo, 'name' | 'dims'>[]): ModelHParams {
  const archName = md.string('general.architecture');
  if (!isSupportedArch(archName)) {
    throw new GgufError('unsupported-arch', `unsupported model architecture '${archName}'; supported: ${SUPPORTED_ARCHS.join(', ')}`);
  }
  const arch = archName;
  const info = ARCH_INFO[arch];
  const k = (s: string): string => `${arch}.${s}`;
  const has = (name: string): boolean | undefined => (tensors ? tensors.some((t) => t.name === name) : undefined);

  const n_layer = count(md, k('block_count'), md.optNumber(k('block_count')));
  const n_embd = count(md, k('embedding_length'), md.optNumber(k('embedding_length')));
  const ctx = count(md, k('context_length'), md.optNumber(k('context_length')));
  const n_head = count(md, k('attention.head_count'), layerUniform(md, k('attention.head_count'), n_layer));
  const n_head_kv = count(md, k('attention.head_count_kv'), layerUniform(md, k('attention.head_count_kv'), n_layer) ?? n_head);
  if (n_head % n_head_kv !== 0) fail('bad-metadata', `${arch}: head_count ${n_head} is not a multiple of head_count_kv ${n_head_kv}`);
  const keyLen = md.optNumber(k('attention.key_length'));
  if (keyLen === undefined && n_embd % n_head !== 0) fail('bad-metadata', `${arch}: embedding_length ${n_embd} is not a multiple of head_count ${n_head}`);
  const head_dim = count(md, k('attention.key_length'), keyLen ?? n_embd / n_head);
  const head_dim_v = count(md, k('attention.value_length'), md.optNumber(k('attention.value_length')) ?? head_dim);
  const n_rot = count(md, k('rope.dimension_count'), md.optNumber(k('rope.dimension_count')) ?? head_dim);
  if (n_rot > head_dim || n_rot % 2 !== 0) fail('bad-metadata', `${arch}: rope.dimension_count ${n_rot} does not fit head_dim ${head_dim}`);

  const n_expert = count(md, k('expert_count'), md.optNumber(k('expert_count')) ?? 0, 0);
  const n_expert_used = count(md, k('expert_used_count'), layerUniform(md, k('expert_used_count'), n_layer) ?? 0, 0);
  if (info.moeRequired && n_expert === 0) fail('missing-metadata', `${arch}: '${k('expert_count')}' must be > 0 for this architecture`);
  if (n_expert > 0 && (n_expert_used === 0 || n_expert_used > n_expert)) {
    fail('bad-metadata', `${arch}: expert_used_count ${n_expert_used} must be in 1..expert_count (${n_expert})`);
  }
  if (n_expert === 0 && n_expert_used !== 0) fail('bad-metadata', `${arch}: expert_used_count ${n_expert_used} without experts`);

  const ffDense = layerUniform(md, k('feed_forward_length'), n_layer);
  let n_ff: number;
  let n_ff_shexp = 0;
  if (arch === 'qwen2moe' || arch === 'qwen3moe') {
    const exp = layerUniform(md, k('expert_feed_forward_length'), n_layer);
    n_ff = count(md, k('expert_feed_forward_length'), exp ?? (ffDense !== undefined ? Math.floor(ffDense / n_expert_used) : undefined));
    if (arch === 'qwen2moe') {
      n_ff_shexp = count(md, k('expert_shared_feed_forward_length'), md.optNumber(k('expert_shared_feed_forward_length')) ?? ffDense);
    }
  } else {
    n_ff = count(md, k('feed_forward_length'), ffDense);
    if (arch === 'llama' || arch === 'granitemoe') {
      n_ff_shexp = count(md, k('expert_shared_feed_forward_length'), md.optNumber(k('expert_shared_feed_forward_length')) ?? 0, 0);
    }
  }

  const epsKey = k(info.norm === 'layernorm' ? 'attention.layer_norm_epsilon' : 'attention.layer_norm_rms_epsilon');
  const norm_eps = real(epsKey, md.number(epsKey), { min: 0 });
  const clampKey = k('attention.clamp_kqv');
  const clamp_kqv = real(clampKey, arch === 'dbrx' ? md.number(clampKey) : (md.optNumber(clampKey) ?? 0), { min: 0 });
  const rope_base = real(k('rope.freq_base'), md.optNumber(k('rope.freq_base')) ?? 10000, { min: 0, above: true });
  const granite =
    arch === 'granitemoe'
      ? {
          embedding: md.optNumber(k('embedding_scale')) ?? 0,
          attention: md.optNumber(k('attention.scale')) ?? 0,
          residual: md.optNumber(k('residual_scale')) ?? 0,
          logit: md.number(k('logit_scale')),
        }
      : undefined;

  const tokens = md.get('tokenizer.ggml.tokens');
  const embd = tensors?.find((t) => t.name === 'token_embd.weight');
  const n_vocab = count(
    md,
    k('vocab_size'),
    md.optNumber(k('vocab_size')) ?? (Array.isArray(tokens) ? tokens.length : embd?.dims[1]),
  );

  const tied = info.outputOptional ? has('output.weight') === false : false;
  const fused_qkv = arch === 'dbrx' || has('blk.0.attn_qkv.weight') === true;
  const qkv_bias = has('blk.0.attn_q.bias') === true || has('blk.0.attn_qkv.bias') === true;

  return {
    arch,
    n_vocab,
    n_embd,
    n_layer,
    n_head,
    n_head_kv,
    head_dim,
    head_dim_v,
    n_ff,
    n_ff_shexp,
    n_expert,
    n_expert_used,
    ctx,
    rope_base,
    rope_type: info.rope,
    n_rot,
    norm: info.norm,
    norm_eps,
    clamp_kqv,
    gating: { kind: 'softmax-topk', renorm: info.renorm },
    qk_norm: info.qk,
    shared_expert_gate: arch === 'qwen2moe',
    granite,
    tied_embeddings: tied,
    fused_qkv,
    qkv_bias,
  };
}

/** The tensors llama.cpp's loader creates for these hyper-parameters (ggml ne order). */
export function expectedTensors(hp: ModelHParams): ExpectedTensor[] {
  const E = hp.n_embd;
  const V = hp.n_vocab;
  const F = hp.n_ff;
  const X = hp.n_expert;
  const S = hp.n_ff_shexp;
  const q = hp.head_dim * hp.n_head;
  const kd = hp.head_dim * hp.n_head_kv;
  const vd = hp.head_dim_v * hp.n_head_kv;
  const out: ExpectedTensor[] = [
    { name: 'token_embd.weight', dims: [E, V] },
    { name: 'output_norm.weight', dims: [E] },
  ];
  if (!hp.tied_embeddings) out.push({ name: 'output.weight', dims: [E, V], optional: ARCH_INFO[hp.arch].outputOptional });
  const t = (i: number, s: string, dims: number[], optional = false): void => void out.push({ name: `blk.${i}.${s}`, dims, optional });

  for (let i = 0; i < hp.n_layer; i++) {
    t(i, 'attn_norm.weight', [E]);
    if (hp.arch === 'dbrx') {
      t(i, 'attn_qkv.weight', [E, E + 2 * kd]);
      t(i, 'attn_output.weight', [E, E]);
      t(i, 'attn_output_norm.weight', [E]);
      t(i, 'ffn_gate_inp.weight', [E, X]);
      t(i, 'ffn_gate_exps.weight', [E, F, X]);
      t(i, 'ffn_down_exps.weight', [F, E, X]);
      t(i, 'ffn_up_exps.weight', [E, F, X]);
      continue;
    }
    if (hp.fused_qkv) {
      t(i, 'attn_qkv.weight', [E, q + kd + vd]);
      t(i, 'attn_qkv.bias', [q + kd + vd], true);
    } else {
      t(i, 'attn_q.weight', [E, q]);
      t(i, 'attn_k.weight', [E, kd]);
      t(i, 'attn_v.weight', [E, vd]);
      t(i, 'attn_q.bias', [q], true);
      t(i, 'attn_k.bias', [kd], true);
      t(i, 'attn_v.bias', [vd], true);
    }
    t(i, 'attn_output.weight', [q, E]);
    if (hp.qk_norm === 'per-head') {
      t(i, 'attn_q_norm.weight', [hp.head_dim]);
      t(i, 'attn_k_norm.weight', [hp.head_dim]);
    } else if (hp.qk_norm === 'full') {
      t(i, 'attn_q_norm.weight', [E]);
      t(i, 'attn_k_norm.weight', [E]);
    }
    t(i, 'ffn_norm.weight', [E]);
    if (X === 0) {
      t(i, 'ffn_gate.weight', [E, F]);
      t(i, 'ffn_down.weight', [F, E]);
      t(i, 'ffn_up.weight', [E, F]);
      continue;
    }
    t(i, 'ffn_gate_inp.weight', [E, X]);
    t(i, 'ffn_gate_exps.weight', [E, F, X]);
    t(i, 'ffn_down_exps.weight', [F, E, X]);
    t(i, 'ffn_up_exps.weight', [E, F, X]);
    if (S > 0) {
      if (hp.shared_expert_gate) t(i, 'ffn_gate_inp_shexp.weight', [E]);
      t(i, 'ffn_gate_shexp.weight', [E, S]);
      t(i, 'ffn_down_shexp.weight', [S, E]);
      t(i, 'ffn_up_shexp.weight', [E, S]);
    }
  }
  return out;
}

/** Trailing 1s are not stored by GGUF writers; compare shapes without them. */
function sameShape(a: readonly number[], b: readonly number[]): boolean {
  const trim = (d: readonly number[]): number[] => {
    const r = [...d];
    while (r.length > 1 && r[r.length - 1] === 1) r.pop();
    return r;
  };
  const x = trim(a);
  const y = trim(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** Checks the file's tensors against `expectedTensors(hp)`: missing required → 'missing-tensor', wrong dims → 'bad-shape'. */
export function checkTensors(tensors: readonly Pick<GgufTensorInfo, 'name' | 'dims'>[], hp: ModelHParams): void {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const e of expectedTensors(hp)) {
    const t = byName.get(e.name);
    if (!t) {
      if (e.optional) continue;
      throw new GgufError('missing-tensor', `${hp.arch} model lacks tensor '${e.name}' (expected shape [${e.dims.join(', ')}])`);
    }
    if (!sameShape(t.dims, e.dims)) {
      throw new GgufError(
        'bad-shape',
        `tensor '${e.name}' has shape [${t.dims.join(', ')}] but the metadata implies [${e.dims.join(', ')}] (${hp.arch})`,
      );
    }
  }
}

/** Hyper-parameters of a model, with every tensor checked against them. */
export function describeModel(model: Pick<GgufModel, 'metadata' | 'tensors'>): ModelHParams {
  const hp = readHParams(model.metadata, model.tensors);
  checkTensors(model.tensors, hp);
  return hp;
}
