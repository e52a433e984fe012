/**
 * @file Architecture descriptors: which MoE/dense families we run, the hyper-parameters each one reads from
 * GGUF metadata (keys exactly as llama.cpp's loader reads them: src/llama-model.cpp, src/models/<arch>.cpp),
 * and the tensors (names and ggml shapes) llama.cpp expects. `describeModel` turns a file into the one model
 * description (`ModelConfig`, workers/model/config.ts) and checks every tensor against it, so the engine never
 * discovers a wrong shape mid-forward. Per-architecture differences are the data in ARCH_INFO.
 */
import { GgufError } from './errors.ts';
import type { GgufMetadata } from './metadata.ts';
import type { GgufModel } from './model.ts';
import type { GgufTensorInfo } from './reader.ts';
import { SUPPORTED_ARCHS, type ModelArch, type ModelConfig, type NormKind, type QkNorm, type RopeStyle } from '../model/config.ts';

export { SUPPORTED_ARCHS, type ModelArch, type ModelConfig } from '../model/config.ts';

export function isSupportedArch(a: string): a is ModelArch {
  return (SUPPORTED_ARCHS as readonly string[]).includes(a);
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

interface ArchTraits {
  readonly rope: RopeStyle;
  readonly norm: NormKind;
  /** Divide the top-k router probabilities by their sum. */
  readonly renorm: boolean;
  readonly qk: QkNorm;
  readonly outputOptional: boolean;
  readonly moeRequired: boolean;
  /** Reads attention.clamp_kqv (required) and clamps Q/K/V (llama.cpp: dbrx only among these). */
  readonly clamp: boolean;
  /** Always one fused attn_qkv. */
  readonly fusedQkv: boolean;
  /** Qwen2-MoE: shared expert × sigmoid(x · ffn_gate_inp_shexp). */
  readonly sharedGate: boolean;
  /** Granite's embedding/attention/residual/logit scales. */
  readonly graniteScales: boolean;
  readonly ffnNormName: 'ffn_norm' | 'attn_output_norm';
  /** Where the expert FFN width lives: feed_forward_length, or expert_feed_forward_length (Qwen MoE). */
  readonly expertFf: boolean;
  /** Reads expert_shared_feed_forward_length: required (qwen2moe), optional, or never. */
  readonly sharedFf: 'required' | 'optional' | 'none';
}

const TRAIT_DEFAULTS = {
  outputOptional: false,
  moeRequired: true,
  clamp: false,
  fusedQkv: false,
  sharedGate: false,
  graniteScales: false,
  ffnNormName: 'ffn_norm',
  expertFf: false,
  sharedFf: 'none',
} as const satisfies Partial<ArchTraits>;

const ARCH_INFO: Record<ModelArch, ArchTraits> = {
  dbrx: { ...TRAIT_DEFAULTS, rope: 'neox', norm: 'layer', renorm: true, qk: 'none', clamp: true, fusedQkv: true, ffnNormName: 'attn_output_norm' },
  llama: { ...TRAIT_DEFAULTS, rope: 'normal', norm: 'rms', renorm: true, qk: 'none', outputOptional: true, moeRequired: false, sharedFf: 'optional' },
  qwen2moe: { ...TRAIT_DEFAULTS, rope: 'neox', norm: 'rms', renorm: false, qk: 'none', sharedGate: true, expertFf: true, sharedFf: 'required' },
  qwen3moe: { ...TRAIT_DEFAULTS, rope: 'neox', norm: 'rms', renorm: true, qk: 'head', outputOptional: true, expertFf: true },
  olmoe: { ...TRAIT_DEFAULTS, rope: 'neox', norm: 'rms', renorm: false, qk: 'full' },
  granitemoe: {
    ...TRAIT_DEFAULTS,
    rope: 'normal',
    norm: 'rms',
    renorm: true,
    qk: 'none',
    outputOptional: true,
    moeRequired: false,
    graniteScales: true,
    sharedFf: 'optional',
  },
};

/** Linear RoPE scaling as llama.cpp's load_hparams reads it (1 = none); other scaling types are not supported. */
function ropeFreqScale(md: GgufMetadata, arch: string): number {
  const type = md.optString(`${arch}.rope.scaling.type`) ?? 'linear';
  if (type === 'none') return 1;
  if (type !== 'linear') fail('bad-metadata', `${arch}.rope.scaling.type '${type}' is not supported (linear or none only)`);
  const factor = md.optNumber(`${arch}.rope.scaling.factor`) ?? md.optNumber(`${arch}.rope.scale_linear`) ?? 0;
  return factor === 0 ? 1 : 1 / factor;
}

/** Reads the model description from metadata; `tensors` (when given) settles tied output, fused QKV and biases. */
export function readModelConfig(md: GgufMetadata, tensors?: readonly Pick<GgufTensorInfo, 'name' | 'dims'>[]): ModelConfig {
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
  if (info.expertFf) {
    const exp = layerUniform(md, k('expert_feed_forward_length'), n_layer);
    n_ff = count(md, k('expert_feed_forward_length'), exp ?? (ffDense !== undefined ? Math.floor(ffDense / n_expert_used) : undefined));
  } else {
    n_ff = count(md, k('feed_forward_length'), ffDense);
  }
  const sharedKey = k('expert_shared_feed_forward_length');
  if (info.sharedFf === 'required') n_ff_shexp = count(md, sharedKey, md.optNumber(sharedKey) ?? ffDense);
  else if (info.sharedFf === 'optional') n_ff_shexp = count(md, sharedKey, md.optNumber(sharedKey) ?? 0, 0);

  const epsKey = k(info.norm === 'layer' ? 'attention.layer_norm_epsilon' : 'attention.layer_norm_rms_epsilon');
  const norm_eps = real(epsKey, md.number(epsKey), { min: 0 });
  // Only architectures whose llama.cpp graph clamps use the key (dbrx.cpp); elsewhere it is checked and ignored.
  const clampKey = k('attention.clamp_kqv');
  const clampRead = real(clampKey, info.clamp ? md.number(clampKey) : (md.optNumber(clampKey) ?? 0), { min: 0 });
  const clamp_kqv = info.clamp ? clampRead : 0;
  const rope_base = real(k('rope.freq_base'), md.optNumber(k('rope.freq_base')) ?? 10000, { min: 0, above: true });
  const granite =
    info.graniteScales
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
  const fused_qkv = info.fusedQkv || has('blk.0.attn_qkv.weight') === true;
  const qkv_bias = has('blk.0.attn_q.bias') === true || has('blk.0.attn_qkv.bias') === true;

  if (head_dim_v !== head_dim) fail('bad-metadata', `value head size ${head_dim_v} ≠ key head size ${head_dim} (llama.cpp asserts equality for ${arch})`);
  if (n_rot !== head_dim) fail('bad-metadata', `rope.dimension_count ${n_rot} ≠ head size ${head_dim} (llama.cpp asserts n_embd_head == n_rot for ${arch})`);
  if (granite && granite.logit === 0) fail('bad-metadata', `${arch}.logit_scale is 0`);

  return {
    arch,
    nVocab: n_vocab,
    nLayer: n_layer,
    nEmbd: n_embd,
    nHead: n_head,
    nHeadKv: n_head_kv,
    headDim: head_dim,
    nFf: n_ff,
    nFfShexp: n_ff_shexp,
    nExpert: n_expert,
    nExpertUsed: n_expert_used,
    nCtxTrain: ctx,
    norm: info.norm,
    normEps: norm_eps,
    rope: { style: info.rope, nRot: n_rot, freqBase: rope_base, freqScale: ropeFreqScale(md, arch) },
    clampKqv: clamp_kqv,
    qkNorm: info.qk,
    normTopK: info.renorm,
    sharedExpertGated: info.sharedGate,
    // Granite scales: 0 means absent (llama.cpp tests `!= 0` before applying each one).
    embeddingScale: granite && granite.embedding !== 0 ? granite.embedding : 1,
    attentionScale: granite && granite.attention !== 0 ? granite.attention : 1 / Math.sqrt(head_dim),
    residualScale: granite && granite.residual !== 0 ? granite.residual : 1,
    logitScale: granite ? granite.logit : 1,
    tiedOutput: tied,
    fusedQkv: fused_qkv,
    qkvBias: qkv_bias,
    ffnNormName: info.ffnNormName,
  };
}

/** The tensors llama.cpp's loader creates for these hyper-parameters (ggml ne order). */
export function expectedTensors(hp: ModelConfig): ExpectedTensor[] {
  const E = hp.nEmbd;
  const V = hp.nVocab;
  const F = hp.nFf;
  const X = hp.nExpert;
  const S = hp.nFfShexp;
  const q = hp.headDim * hp.nHead;
  const kd = hp.headDim * hp.nHeadKv;
  const vd = hp.headDim * hp.nHeadKv;
  const out: ExpectedTensor[] = [
    { name: 'token_embd.weight', dims: [E, V] },
    { name: 'output_norm.weight', dims: [E] },
  ];
  if (!hp.tiedOutput) out.push({ name: 'output.weight', dims: [E, V], optional: ARCH_INFO[hp.arch].outputOptional });
  const t = (i: number, s: string, dims: number[], optional = false): void => void out.push({ name: `blk.${i}.${s}`, dims, optional });

  for (let i = 0; i < hp.nLayer; i++) {
    t(i, 'attn_norm.weight', [E]);
    if (hp.ffnNormName === 'attn_output_norm') {
      // DBRX's block: fused QKV without biases, its pre-FFN norm named attn_output_norm, always MoE.
      t(i, 'attn_qkv.weight', [E, E + 2 * kd]);
      t(i, 'attn_output.weight', [E, E]);
      t(i, 'attn_output_norm.weight', [E]);
      t(i, 'ffn_gate_inp.weight', [E, X]);
      t(i, 'ffn_gate_exps.weight', [E, F, X]);
      t(i, 'ffn_down_exps.weight', [F, E, X]);
      t(i, 'ffn_up_exps.weight', [E, F, X]);
      continue;
    }
    if (hp.fusedQkv) {
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
    if (hp.qkNorm === 'head') {
      t(i, 'attn_q_norm.weight', [hp.headDim]);
      t(i, 'attn_k_norm.weight', [hp.headDim]);
    } else if (hp.qkNorm === 'full') {
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
      if (hp.sharedExpertGated) t(i, 'ffn_gate_inp_shexp.weight', [E]);
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
export function checkTensors(tensors: readonly Pick<GgufTensorInfo, 'name' | 'dims'>[], hp: ModelConfig): void {
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

/** The model's description, with every tensor checked against it. */
export function describeModel(model: Pick<GgufModel, 'metadata' | 'tensors'>): ModelConfig {
  const hp = readModelConfig(model.metadata, model.tensors);
  checkTensors(model.tensors, hp);
  return hp;
}
