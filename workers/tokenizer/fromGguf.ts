/**
 * @file GGUF metadata → `TokenizerSpec`, with llama.cpp's defaults for absent keys (llama_vocab::impl::load):
 * `gpt2` vocabularies default BOS = EOS = 11 and add no BOS unless the pre-tokenizer is llama-3-like;
 * `llama` ones default BOS 1, EOS 2, UNK 0, add BOS and a space prefix. Special ids outside the vocabulary are
 * dropped (llama.cpp disables them with a warning). Mistyped keys surface as `GgufError` naming the key.
 */
import type { GgufMetadata } from '../gguf/metadata.ts';
import { TokenizerError, type TokenizerSpec } from './spec.ts';

const K = 'tokenizer.ggml.';
/** Pre-tokenizers for which llama.cpp turns `add_bos` on by default. */
const PRE_ADD_BOS = new Set([
  'llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'falcon-h1', 'pixtral', 'midm-2.0', 'lfm2', 'jina-v5-nano', 'tekken',
  'chameleon',
]);

/** Builds the spec from a model's metadata; throws `TokenizerError` when the file has no usable tokenizer. */
export function tokenizerSpecFromMetadata(meta: GgufMetadata): TokenizerSpec {
  const model = meta.optString(K + 'model');
  if (model === undefined) throw new TokenizerError(`the model has no tokenizer (metadata key '${K}model' is absent)`);
  if (model !== 'gpt2' && model !== 'llama') {
    throw new TokenizerError(`unsupported tokenizer model '${model}' (${K}model); supported: gpt2 (byte-level BPE), llama (SentencePiece)`);
  }
  const tokens = meta.stringArray(K + 'tokens');
  const n = tokens.length;
  const tokenTypes = meta.optNumberArray(K + 'token_type') ?? [];
  if (tokenTypes.length !== 0 && tokenTypes.length < n) {
    throw new TokenizerError(`${K}token_type has ${tokenTypes.length} entries for ${n} tokens`);
  }
  const scores = meta.optNumberArray(K + 'scores');
  if (scores !== undefined && scores.length < n) {
    throw new TokenizerError(`${K}scores has ${scores.length} entries for ${n} tokens`);
  }
  const merges = meta.optStringArray(K + 'merges');
  if (model === 'gpt2' && merges === undefined) throw new TokenizerError(`byte-level BPE tokenizer without merges (${K}merges is absent)`);
  const pre = meta.optString(K + 'pre') ?? 'default';

  const id = (key: string, fallback: number | undefined): number | undefined => {
    const v = meta.optNumber(K + key) ?? fallback;
    return v !== undefined && Number.isInteger(v) && v >= 0 && v < n ? v : undefined;
  };
  const isGpt2 = model === 'gpt2';
  const noBos = isGpt2 && (pre === 'glm4' || pre === 'chatglm-bpe');
  return {
    model,
    pre,
    tokens,
    tokenTypes: tokenTypes.length > n ? tokenTypes.slice(0, n) : tokenTypes,
    merges: merges ?? [],
    ...(scores !== undefined ? { scores } : {}),
    bos: noBos && !meta.has(K + 'bos_token_id') ? undefined : id('bos_token_id', isGpt2 ? 11 : 1),
    eos: id('eos_token_id', isGpt2 ? 11 : 2),
    eot: id('eot_token_id', undefined),
    eom: id('eom_token_id', undefined),
    pad: id('padding_token_id', undefined),
    unk: id('unknown_token_id', isGpt2 ? undefined : 0),
    addBos: meta.optBool(K + 'add_bos_token') ?? (isGpt2 ? PRE_ADD_BOS.has(pre) : true),
    addEos: meta.optBool(K + 'add_eos_token') ?? false,
    addSpacePrefix: model === 'llama' ? (meta.optBool(K + 'add_space_prefix') ?? true) : false,
    chatTemplate: meta.optString('tokenizer.chat_template'),
  };
}
