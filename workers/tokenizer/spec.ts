/**
 * @file What a tokenizer is made of, independent of where it came from: `TokenizerSpec` is the plain-data
 * description (vocabulary, token types, merges or scores, special ids, flags) that both the GGUF loader
 * (`fromGguf.ts`) and the test/model-generator vocabularies (`scripts/lib/vocab.ts`) produce, and that
 * `Tokenizer.fromSpec` consumes. Keeping it plain data lets it cross the worker boundary and be built in tests.
 */
import { registerErrorClass } from '../errors.ts';

/** `tokenizer.ggml.token_type` values (llama.cpp `llama_token_type`). */
export const TokenType = {
  undefined: 0,
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;

export interface TokenizerSpec {
  /** `gpt2`: byte-level BPE with merges; `llama`: SentencePiece-style BPE driven by scores. */
  model: 'gpt2' | 'llama';
  /** `tokenizer.ggml.pre`: picks the pre-tokenizer regexes for `gpt2` (ignored by `llama`). */
  pre: string;
  tokens: string[];
  /** Same length as `tokens`; see `TokenType`. */
  tokenTypes: number[];
  /** `gpt2` only: "left right" pairs, rank = index. */
  merges: string[];
  /** `llama` only: per-token merge priority (higher merges first). */
  scores?: number[];
  bos?: number;
  eos?: number;
  eot?: number;
  eom?: number;
  pad?: number;
  unk?: number;
  addBos: boolean;
  addEos: boolean;
  /** `llama` only (`tokenizer.ggml.add_space_prefix`, default true like llama.cpp): prepend a space to text
   *  that starts the input or follows a special token. */
  addSpacePrefix?: boolean;
  chatTemplate?: string;
}

/** Bad tokenizer data (inconsistent spec, unknown model or pre-tokenizer) or bad input ids. */
export class TokenizerError extends Error {
  override name = 'TokenizerError';
}
registerErrorClass('TokenizerError', TokenizerError);
