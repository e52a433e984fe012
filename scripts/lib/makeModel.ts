/**
 * @file The synthetic model generator behind `make-model`: GGUFs of every architecture we run (dbrx, llama
 * dense/Mixtral-style, qwen2moe, qwen3moe, olmoe, granitemoe), at tiny test sizes or real shapes (presets),
 * with deterministic seeded random weights, written tensor by tensor (quantized chunk by chunk) through the
 * streaming GGUF writer so even multi-GB files never sit in memory. The tensor list comes from
 * workers/gguf/arch.ts `expectedTensors`, so a generated file always passes `describeModel` and llama.cpp's loader.
 *
 * Routers get a larger weight scale (`routerScale`, default 8: router logits have a std of about 8) so the top-k
 * experts are separated from the rest by clear margins; quantized engines and llama.cpp, which round
 * activations differently, then select the same experts.
 */
import {
  expectedTensors,
  readModelConfig,
  SUPPORTED_ARCHS,
  type ModelArch,
  type ModelConfig,
} from '../../workers/gguf/arch.ts';
import { GgufError } from '../../workers/gguf/errors.ts';
import { GgmlType, ggmlTypeInfo, tensorBytes, type GgmlType as GgmlTypeId } from '../../workers/gguf/ggmlTypes.ts';
import { GgufMetadata, type GgufKv } from '../../workers/gguf/metadata.ts';
import { GgufStreamWriter, kv, type ByteSink, type GgufTensorSpec } from '../../workers/gguf/writer.ts';
import { quantize } from '../../workers/quant/quantize.ts';
import { buildVocab, type VocabSpec } from './vocab.ts';

export const QUANT_RECIPES = ['f32', 'f16', 'q8_0', 'q4_0', 'q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k', 'mixed-q2_k', 'mixed-q3_k_m', 'mixed-q4_k_m'] as const;
export type QuantRecipe = (typeof QUANT_RECIPES)[number];
export const PRESET_NAMES = ['olmoe-1b-7b', 'granite-3b-a800m', 'granite-1b-a400m', 'dbrx'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];
export type VocabChoice = 'small' | 'cl100k' | number;

export class MakeModelError extends Error {
  override name = 'MakeModelError';
}

export interface GraniteMultipliers {
  embedding: number;
  attention: number;
  residual: number;
  logit: number;
}

export interface ModelSpec {
  arch: ModelArch;
  name: string;
  layers: number;
  embd: number;
  heads: number;
  kvHeads: number;
  /** Head size; default embd / heads (qwen3moe may differ, written as attention.key_length). */
  headDim: number;
  /** Dense FFN width, or per-expert width when experts > 0. */
  ff: number;
  experts: number;
  expertsUsed: number;
  /** Shared expert width (qwen2moe: required; llama/granitemoe: optional; others: 0). */
  sharedFf: number;
  vocab: VocabChoice;
  ctx: number;
  ropeBase: number;
  normEps: number;
  /** dbrx only. */
  clampKqv: number;
  /** granitemoe only. */
  granite: GraniteMultipliers | undefined;
  /** No output.weight (llama, qwen3moe, granitemoe may tie). */
  tied: boolean;
  /** Router weight scale relative to 1/√fan_in (see the file header). */
  routerScale: number;
}

const DEFAULTS: Record<ModelArch, Partial<ModelSpec>> = {
  dbrx: { normEps: 1e-5, clampKqv: 8, ropeBase: 500000, tied: false },
  llama: { normEps: 1e-5, ropeBase: 10000, tied: false },
  qwen2moe: { normEps: 1e-6, ropeBase: 1000000, tied: false },
  qwen3moe: { normEps: 1e-6, ropeBase: 1000000, tied: false },
  olmoe: { normEps: 1e-5, ropeBase: 10000, tied: false },
  granitemoe: {
    normEps: 1e-6,
    ropeBase: 10000,
    tied: true,
    granite: { embedding: 12, attention: 0.015625, residual: 0.22, logit: 6 },
  },
};

/** Real model shapes (HF config.json of each). The vocabulary is ours (cl100k-based) at the real size. */
export const PRESETS: Record<PresetName, Partial<ModelSpec>> = {
  // allenai/OLMoE-1B-7B-0924
  'olmoe-1b-7b': {
    arch: 'olmoe', layers: 16, embd: 2048, heads: 16, kvHeads: 16, ff: 1024, experts: 64, expertsUsed: 8,
    vocab: 50304, ctx: 4096, ropeBase: 10000, normEps: 1e-5,
  },
  // ibm-granite/granite-3.0-3b-a800m
  'granite-3b-a800m': {
    arch: 'granitemoe', layers: 32, embd: 1536, heads: 24, kvHeads: 8, ff: 512, experts: 40, expertsUsed: 8,
    vocab: 49155, ctx: 4096, ropeBase: 10000, normEps: 1e-6, tied: true,
    granite: { embedding: 12, attention: 0.015625, residual: 0.22, logit: 6 },
  },
  // ibm-granite/granite-3.0-1b-a400m
  'granite-1b-a400m': {
    arch: 'granitemoe', layers: 24, embd: 1024, heads: 16, kvHeads: 8, ff: 512, experts: 32, expertsUsed: 8,
    vocab: 49155, ctx: 4096, ropeBase: 10000, normEps: 1e-6, tied: true,
    granite: { embedding: 12, attention: 0.015625, residual: 0.22, logit: 6 },
  },
  // databricks/dbrx-base (132B): use --layers to make it smaller.
  dbrx: {
    arch: 'dbrx', layers: 40, embd: 6144, heads: 48, kvHeads: 8, ff: 10752, experts: 16, expertsUsed: 4,
    vocab: 'cl100k', ctx: 32768, ropeBase: 500000, normEps: 1e-5, clampKqv: 8,
  },
};

/** Fills in defaults and validates; `partial` holds preset values overridden by explicit flags. */
export function resolveConfig(partial: Partial<ModelSpec>): ModelSpec {
  const arch = partial.arch;
  if (arch === undefined) throw new MakeModelError(`--arch is required (one of ${SUPPORTED_ARCHS.join(', ')})`);
  const d = { ...DEFAULTS[arch], ...partial };
  const need = (k: 'layers' | 'embd' | 'heads' | 'ff'): number => {
    const v = d[k];
    if (v === undefined) throw new MakeModelError(`--${k} is required for --arch ${arch} (or use --preset)`);
    return v;
  };
  const heads = need('heads');
  const embd = need('embd');
  const experts = d.experts ?? (arch === 'llama' || arch === 'granitemoe' ? 0 : undefined);
  if (experts === undefined) throw new MakeModelError(`--experts is required for --arch ${arch}`);
  const ff = need('ff');
  const cfg: ModelSpec = {
    arch,
    name: d.name ?? `brix-synthetic-${arch}`,
    layers: need('layers'),
    embd,
    heads,
    kvHeads: d.kvHeads ?? heads,
    headDim: d.headDim ?? embd / heads,
    ff,
    experts,
    expertsUsed: d.expertsUsed ?? (experts > 0 ? Math.min(2, experts) : 0),
    sharedFf: d.sharedFf ?? (arch === 'qwen2moe' ? ff : 0),
    vocab: d.vocab ?? 'small',
    ctx: d.ctx ?? 2048,
    ropeBase: d.ropeBase ?? 10000,
    normEps: d.normEps ?? 1e-5,
    clampKqv: arch === 'dbrx' ? (d.clampKqv ?? 8) : 0,
    granite: arch === 'granitemoe' ? d.granite : undefined,
    tied: d.tied ?? false,
    routerScale: d.routerScale ?? 8,
  };
  validateConfig(cfg);
  return cfg;
}

function validateConfig(c: ModelSpec): void {
  const pos = (name: string, v: number, min = 1): void => {
    if (!Number.isInteger(v) || v < min) throw new MakeModelError(`--${name} must be an integer ≥ ${min}, got ${v}`);
  };
  pos('layers', c.layers);
  pos('embd', c.embd);
  pos('heads', c.heads);
  pos('kv-heads', c.kvHeads);
  pos('ff', c.ff);
  pos('experts', c.experts, 0);
  pos('experts-used', c.expertsUsed, 0);
  pos('shared-ff', c.sharedFf, 0);
  pos('ctx', c.ctx);
  if (!Number.isInteger(c.headDim) || c.headDim < 2 || c.headDim % 2 !== 0) {
    throw new MakeModelError(`head size ${c.headDim} (embd / heads) must be an even integer`);
  }
  if (c.heads % c.kvHeads !== 0) throw new MakeModelError(`--heads ${c.heads} must be a multiple of --kv-heads ${c.kvHeads}`);
  if (c.experts > 0 && (c.expertsUsed < 1 || c.expertsUsed > c.experts)) {
    throw new MakeModelError(`--experts-used must be in 1..${c.experts}, got ${c.expertsUsed}`);
  }
  if (c.experts === 0 && !(c.arch === 'llama' || c.arch === 'granitemoe')) {
    throw new MakeModelError(`--arch ${c.arch} is a mixture of experts: --experts must be > 0`);
  }
  if (c.experts === 0 && c.expertsUsed !== 0) throw new MakeModelError('--experts-used needs --experts > 0');
  if ((c.arch === 'dbrx' || c.arch === 'olmoe' || c.arch === 'qwen2moe') && c.headDim * c.heads !== c.embd) {
    throw new MakeModelError(`--arch ${c.arch} needs heads × head size = embd`);
  }
  if (c.arch === 'olmoe' && c.kvHeads !== c.heads) {
    // llama.cpp's olmoe loader sizes attn_k_norm to n_embd, i.e. assumes MHA.
    throw new MakeModelError('--arch olmoe needs --kv-heads equal to --heads (llama.cpp sizes its K norm to n_embd)');
  }
  if (c.arch === 'qwen2moe' && c.sharedFf === 0) throw new MakeModelError('--arch qwen2moe needs --shared-ff > 0');
  if (c.sharedFf > 0 && !(c.arch === 'qwen2moe' || ((c.arch === 'llama' || c.arch === 'granitemoe') && c.experts > 0))) {
    throw new MakeModelError(`--shared-ff is not supported for --arch ${c.arch}${c.experts === 0 ? ' without experts' : ''}`);
  }
  if (c.tied && (c.arch === 'dbrx' || c.arch === 'qwen2moe' || c.arch === 'olmoe')) {
    throw new MakeModelError(`--arch ${c.arch} always has a separate output.weight`);
  }
}

// ---------------------------------------------------------------- vocabulary

/** `small`/`cl100k` from vocab.ts; N: exactly N tokens = the first N−8 cl100k ranks + DBRX's 8 special tokens. */
export function makeVocab(v: VocabChoice): VocabSpec {
  if (v === 'small' || v === 'cl100k') return buildVocab(v);
  if (!Number.isInteger(v) || v < 264 || v > 100264) throw new MakeModelError(`--vocab N must be in 264..100264, got ${v}`);
  const full = buildVocab(v - 8);
  return { ...full, tokens: full.tokens.slice(0, v), tokenTypes: full.tokenTypes.slice(0, v) };
}

// ---------------------------------------------------------------- metadata

const FILE_TYPE: Record<QuantRecipe, number> = {
  f32: 0, f16: 1, q4_0: 2, q8_0: 7, q2_k: 10, q3_k: 11, q4_k: 14, q5_k: 16, q6_k: 18, 'mixed-q2_k': 10, 'mixed-q3_k_m': 12, 'mixed-q4_k_m': 15,
};

export function modelMetadata(c: ModelSpec, quant: QuantRecipe, vocab: VocabSpec): GgufKv[] {
  const a = c.arch;
  const k = (s: string): string => `${a}.${s}`;
  const out: GgufKv[] = [
    kv.string('general.architecture', a),
    kv.string('general.name', c.name),
    kv.string(
      'general.description',
      `Synthetic ${a} model with seeded random weights (brix make-model); routers scaled ×${c.routerScale} for clear top-k margins.`,
    ),
    kv.u32('general.file_type', FILE_TYPE[quant]),
  ];
  if (quant !== 'f32' && quant !== 'f16') out.push(kv.u32('general.quantization_version', 2));
  out.push(
    kv.u32(k('context_length'), c.ctx),
    kv.u32(k('embedding_length'), c.embd),
    kv.u32(k('block_count'), c.layers),
  );
  if (a === 'qwen2moe' || a === 'qwen3moe') {
    // Dense width as HF intermediate_size; the experts' own width has its own key.
    out.push(kv.u32(k('feed_forward_length'), c.ff * Math.max(1, c.expertsUsed)));
    out.push(kv.u32(k('expert_feed_forward_length'), c.ff));
  } else {
    out.push(kv.u32(k('feed_forward_length'), c.ff));
  }
  out.push(kv.u32(k('attention.head_count'), c.heads), kv.u32(k('attention.head_count_kv'), c.kvHeads));
  if (c.headDim * c.heads !== c.embd || a === 'qwen3moe') {
    out.push(kv.u32(k('attention.key_length'), c.headDim), kv.u32(k('attention.value_length'), c.headDim));
  }
  out.push(kv.f32(k('rope.freq_base'), c.ropeBase));
  if (a === 'llama' || a === 'granitemoe') out.push(kv.u32(k('rope.dimension_count'), c.headDim));
  if (a === 'dbrx') {
    out.push(kv.f32(k('attention.layer_norm_epsilon'), c.normEps), kv.f32(k('attention.clamp_kqv'), c.clampKqv));
  } else {
    out.push(kv.f32(k('attention.layer_norm_rms_epsilon'), c.normEps));
  }
  if (c.experts > 0) out.push(kv.u32(k('expert_count'), c.experts), kv.u32(k('expert_used_count'), c.expertsUsed));
  if (c.sharedFf > 0) out.push(kv.u32(k('expert_shared_feed_forward_length'), c.sharedFf));
  if (a === 'llama') out.push(kv.u32(k('vocab_size'), vocab.tokens.length));
  if (c.granite) {
    out.push(
      kv.f32(k('embedding_scale'), c.granite.embedding),
      kv.f32(k('attention.scale'), c.granite.attention),
      kv.f32(k('residual_scale'), c.granite.residual),
      kv.f32(k('logit_scale'), c.granite.logit),
    );
  }
  out.push(
    kv.string('tokenizer.ggml.model', 'gpt2'),
    kv.string('tokenizer.ggml.pre', vocab.pre),
    kv.strings('tokenizer.ggml.tokens', vocab.tokens),
    kv.i32s('tokenizer.ggml.token_type', vocab.tokenTypes),
    kv.strings('tokenizer.ggml.merges', vocab.merges),
    kv.u32('tokenizer.ggml.bos_token_id', vocab.bos),
    kv.u32('tokenizer.ggml.eos_token_id', vocab.eos),
    kv.u32('tokenizer.ggml.eot_token_id', vocab.eot),
    kv.u32('tokenizer.ggml.padding_token_id', vocab.pad),
    kv.bool('tokenizer.ggml.add_bos_token', false),
    kv.string('tokenizer.chat_template', vocab.chatTemplate),
  );
  return out;
}

// ---------------------------------------------------------------- tensor types (quant recipes)

/** llama.cpp's use_more_bits: first and last eighth of the layers, and every third in between. */
export function useMoreBits(i: number, n: number): boolean {
  const e = Math.floor(n / 8);
  return i < e || i >= Math.floor((7 * n) / 8) || (i - e) % 3 === 2;
}

const BASE_TYPE: Record<QuantRecipe, GgmlTypeId> = {
  f32: GgmlType.F32,
  f16: GgmlType.F16,
  q8_0: GgmlType.Q8_0,
  q4_0: GgmlType.Q4_0,
  q2_k: GgmlType.Q2_K,
  q3_k: GgmlType.Q3_K,
  q4_k: GgmlType.Q4_K,
  q5_k: GgmlType.Q5_K,
  q6_k: GgmlType.Q6_K,
  'mixed-q2_k': GgmlType.Q2_K,
  'mixed-q3_k_m': GgmlType.Q3_K,
  'mixed-q4_k_m': GgmlType.Q4_K,
};

/** llama.cpp tensor_type_fallback: rows that are not whole 256-blocks take a 32-block type (or F16). */
function fallback(type: GgmlTypeId, ne0: number): GgmlTypeId {
  if (ne0 % ggmlTypeInfo(type).blockSize === 0) return type;
  const next: Partial<Record<GgmlTypeId, GgmlTypeId>> = {
    [GgmlType.Q2_K]: GgmlType.Q4_0,
    [GgmlType.Q3_K]: GgmlType.Q4_0,
    [GgmlType.Q4_K]: GgmlType.Q5_0,
    [GgmlType.Q5_K]: GgmlType.Q5_1,
    [GgmlType.Q6_K]: GgmlType.Q8_0,
  };
  const t = next[type] ?? GgmlType.F16;
  return ne0 % ggmlTypeInfo(t).blockSize === 0 ? t : GgmlType.F16;
}

/**
 * The storage type of a tensor under a recipe. Norms, 1-D tensors and routers stay F32 (llama.cpp never
 * quantizes them). `mixed-q4_k_m` follows llama.cpp's Q4_K_M: output (or tied token_embd) Q6_K, attn_v and
 * ffn_down* Q6_K in use_more_bits layers, fused attn_qkv Q5_K, 8-expert models attn_v/attn_k Q8_0 and
 * attn_output Q5_K, everything else Q4_K, with the 32-block fallbacks. `mixed-q2_k` and `mixed-q3_k_m` follow
 * llama.cpp's Q2_K and Q3_K_M (llama_tensor_get_type_impl; attn_qkv counts as attn_v there): see mixedLowBit.
 */
export function tensorTypeFor(
  name: string,
  dims: readonly number[],
  c: Pick<ModelSpec, 'layers' | 'experts' | 'tied'> & Partial<Pick<ModelSpec, 'heads' | 'kvHeads'>>,
  quant: QuantRecipe,
): GgmlTypeId {
  if (dims.length < 2 || name.endsWith('_norm.weight') || name.includes('ffn_gate_inp')) return GgmlType.F32;
  const base = BASE_TYPE[quant];
  if (quant === 'f32' || quant === 'f16') return base;
  const ne0 = dims[0];
  const layer = /^blk\.(\d+)\./.exec(name);
  const i = layer ? Number(layer[1]) : -1;
  const isOutput = name === 'output.weight' || (c.tied && name === 'token_embd.weight');
  if (quant === 'mixed-q2_k' || quant === 'mixed-q3_k_m') {
    if (isOutput) return ne0 % 256 === 0 ? GgmlType.Q6_K : GgmlType.Q8_0;
    return fallback(mixedLowBit(name, i, c, quant), ne0);
  }
  if (quant !== 'mixed-q4_k_m') return fallback(base, ne0);
  let t: GgmlTypeId = GgmlType.Q4_K;
  if (isOutput) t = ne0 % 256 === 0 ? GgmlType.Q6_K : GgmlType.Q8_0;
  else if (name.includes('attn_v.weight')) t = c.experts === 8 ? GgmlType.Q8_0 : useMoreBits(i, c.layers) ? GgmlType.Q6_K : GgmlType.Q4_K;
  else if (name.includes('attn_k.weight')) t = c.experts === 8 ? GgmlType.Q8_0 : GgmlType.Q4_K;
  else if (name.includes('attn_output.weight')) t = c.experts === 8 ? GgmlType.Q5_K : GgmlType.Q4_K;
  else if (name.includes('attn_qkv.weight')) t = GgmlType.Q5_K;
  else if (name.includes('ffn_down')) t = useMoreBits(i, c.layers) ? GgmlType.Q6_K : GgmlType.Q4_K;
  return fallback(t, ne0);
}

/**
 * llama.cpp's Q2_K and Q3_K_M mixes for a non-output tensor of layer i (-1: token_embd). Q2_K: attn_v/attn_qkv
 * Q4_K where n_head / n_head_kv ≥ 4 else Q3_K, attn_output and ffn_down Q3_K, the rest Q2_K. Q3_K_M: attn_v/qkv
 * Q5_K in the first two layers then Q4_K, attn_output Q4_K, ffn_down Q5_K in the first sixteenth of the
 * layers then Q4_K, the rest Q3_K. 8-expert models (Mixtral): attn_v and attn_k Q8_0, attn_output Q5_K.
 */
function mixedLowBit(
  name: string,
  i: number,
  c: Pick<ModelSpec, 'layers' | 'experts'> & Partial<Pick<ModelSpec, 'heads' | 'kvHeads'>>,
  quant: 'mixed-q2_k' | 'mixed-q3_k_m',
): GgmlTypeId {
  const q2 = quant === 'mixed-q2_k';
  const gqa = (c.heads ?? 1) / (c.kvHeads ?? c.heads ?? 1);
  if (name.includes('attn_v.weight') || name.includes('attn_qkv.weight')) {
    if (c.experts === 8) return GgmlType.Q8_0;
    if (q2) return gqa >= 4 ? GgmlType.Q4_K : GgmlType.Q3_K;
    return i < 2 ? GgmlType.Q5_K : GgmlType.Q4_K;
  }
  if (name.includes('attn_k.weight') && c.experts === 8) return GgmlType.Q8_0;
  if (name.includes('attn_output.weight')) return c.experts === 8 ? GgmlType.Q5_K : q2 ? GgmlType.Q3_K : GgmlType.Q4_K;
  if (name.includes('ffn_down')) return q2 ? GgmlType.Q3_K : i < Math.floor(c.layers / 16) ? GgmlType.Q5_K : GgmlType.Q4_K;
  return q2 ? GgmlType.Q2_K : GgmlType.Q3_K;
}

// ---------------------------------------------------------------- plan

export type TensorInit = { kind: 'norm' } | { kind: 'uniform'; bound: number };

export interface PlannedTensor extends GgufTensorSpec {
  readonly init: TensorInit;
}

export interface ModelPlan {
  readonly config: ModelSpec;
  readonly quant: QuantRecipe;
  readonly hparams: ModelConfig;
  readonly metadata: GgufKv[];
  readonly tensors: PlannedTensor[];
}

function initFor(name: string, dims: readonly number[], c: ModelSpec): TensorInit {
  if (name.endsWith('_norm.weight')) return { kind: 'norm' };
  const fanIn = dims[0];
  const std1 = Math.sqrt(3 / fanIn); // uniform bound with variance 1/fan_in
  if (name.endsWith('ffn_gate_inp.weight')) return { kind: 'uniform', bound: c.routerScale * std1 };
  if (name === 'token_embd.weight') return { kind: 'uniform', bound: c.tied ? std1 : 0.5 };
  return { kind: 'uniform', bound: std1 };
}

export function planModel(c: ModelSpec, quant: QuantRecipe, vocab: VocabSpec = makeVocab(c.vocab)): ModelPlan {
  const metadata = modelMetadata(c, quant, vocab);
  // Derive the hyper-parameters exactly as a reader would, then ask arch.ts which tensors that implies.
  const hparams = readModelConfig(new GgufMetadata(metadata), c.tied ? [] : [{ name: 'output.weight', dims: [c.embd, vocab.tokens.length] }]);
  const tensors = expectedTensors(hparams)
    .filter((t) => !t.optional || t.name === 'output.weight')
    .map((t) => ({ name: t.name, dims: [...t.dims], type: tensorTypeFor(t.name, t.dims, c, quant), init: initFor(t.name, t.dims, c) }));
  // llama.cpp's converters write token_embd first and the output head last.
  const rank = (n: string): number => (n === 'token_embd.weight' ? 0 : n.startsWith('blk.') ? 1 : 2);
  tensors.sort((a, b) => rank(a.name) - rank(b.name));
  return { config: c, quant, hparams, metadata, tensors };
}

// ---------------------------------------------------------------- weights

/** FNV-1a of a string, for per-tensor seeds. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** mulberry32: small, fast, good enough for weights; one stream per tensor. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Streams the f32 values of one tensor in chunks of whole rows (values do not depend on the chunking). */
export function* tensorValues(t: PlannedTensor, seed: number, maxChunk = 1 << 22): Generator<Float32Array> {
  const ne0 = t.dims.length > 0 ? t.dims[0] : 1;
  const rows = t.dims.slice(1).reduce((a, b) => a * b, 1);
  const next = rng(fnv1a(t.name) ^ seed);
  const rowsPer = Math.max(1, Math.floor(maxChunk / ne0));
  for (let r = 0; r < rows; r += rowsPer) {
    const n = Math.min(rowsPer, rows - r) * ne0;
    const out = new Float32Array(n);
    if (t.init.kind === 'norm') for (let i = 0; i < n; i++) out[i] = 1 + (next() * 2 - 1) * 0.05;
    else {
      const b = t.init.bound;
      for (let i = 0; i < n; i++) out[i] = (next() * 2 - 1) * b;
    }
    yield out;
  }
}

export interface WriteProgress {
  name: string;
  type: GgmlTypeId;
  bytes: number;
  index: number;
  count: number;
}

export interface WriteOptions {
  /**
   * Tensors with more elements than this are written as one quantized tile of TILE_ROWS seeded random rows,
   * repeated: valid blocks at the speed of a copy (the K-quant quantizers run at ~1 M values/s, hours for a
   * real-shape model). Used by the presets, whose files exist to measure speed, not to be distinct weights.
   */
  readonly tileAbove?: number;
}

/** Rows in the repeated tile of a large tensor (see WriteOptions.tileAbove). */
export const TILE_ROWS = 64;

/** Writes the whole model into `sink`, quantizing chunk by chunk. Returns the file size. */
export async function writeModel(
  plan: ModelPlan,
  sink: ByteSink,
  seed: number,
  onTensor?: (p: WriteProgress) => void,
  opts: WriteOptions = {},
): Promise<number> {
  const w = new GgufStreamWriter(sink, plan.metadata, plan.tensors);
  await w.begin();
  for (const [index, t] of plan.tensors.entries()) {
    const elems = t.dims.reduce((a, b) => a * b, 1);
    const rows = elems / (t.dims[0] ?? 1);
    if (opts.tileAbove !== undefined && elems > opts.tileAbove && rows > TILE_ROWS) {
      const tileVals = tensorValues(t, seed, t.dims[0] * TILE_ROWS).next().value;
      if (!tileVals) throw new GgufError('io', `make-model: no values for ${t.name}`);
      const tile = quantize(t.type, tileVals);
      const reps = Math.floor(rows / TILE_ROWS);
      const buf = new Uint8Array(tile.length * Math.min(reps, 64));
      for (let i = 0; i < buf.length; i += tile.length) buf.set(tile, i);
      for (let r = 0; r < reps; r += 64) await w.writeTensorData(t.name, buf.subarray(0, tile.length * Math.min(64, reps - r)));
      const rest = rows - reps * TILE_ROWS;
      if (rest > 0) await w.writeTensorData(t.name, tile.subarray(0, (tile.length / TILE_ROWS) * rest));
    } else for (const chunk of tensorValues(t, seed)) await w.writeTensorData(t.name, quantize(t.type, chunk));
    onTensor?.({ name: t.name, type: t.type, bytes: tensorBytes(t.type, t.dims), index, count: plan.tensors.length });
  }
  await w.finish();
  return w.layout.size;
}

/** In-memory model, for tests and small fixtures. */
export async function makeModelBytes(c: ModelSpec, quant: QuantRecipe, seed: number): Promise<Uint8Array> {
  const plan = planModel(c, quant);
  const chunks: Uint8Array[] = [];
  const size = await writeModel(plan, { write: async (b) => void chunks.push(b.slice()) }, seed);
  const out = new Uint8Array(size);
  let at = 0;
  for (const ch of chunks) {
    out.set(ch, at);
    at += ch.length;
  }
  if (at !== size) throw new GgufError('io', `make-model: wrote ${at} bytes, expected ${size}`);
  return out;
}
