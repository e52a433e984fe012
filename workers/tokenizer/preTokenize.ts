/**
 * @file Pre-tokenizers for byte-level BPE: the regexes that cut text into words before BPE, chosen by
 * `tokenizer.ggml.pre` exactly as llama.cpp's `llm_tokenizer_bpe` does (src/llama-vocab.cpp), so that our ids
 * equal llama.cpp's. Semantics copied from llama.cpp `unicode_regex_split` (src/unicode.cpp):
 *  - a pre-tokenizer is a list of regexes applied in turn; each one re-splits every piece the previous one
 *    produced, and the text between matches becomes a piece of its own (nothing is ever dropped);
 *  - `\s` is Unicode White_Space (llama.cpp's `unicode_set_whitespace`, also tiktoken's and HF's `\s`), which
 *    differs from JavaScript's `\s` in two code points: U+0085 is whitespace, U+FEFF is not. We rewrite `\s`/`\S`
 *    into explicit classes so this holds;
 *  - `(?i:...)` is spelled out as `'[sS]|...` (JavaScript has no inline flags), as llama.cpp itself does.
 * Letters/numbers/marks come from the JavaScript engine's Unicode tables, which may be a different Unicode
 * version than llama.cpp's tables: code points assigned in between can split differently. That is the only
 * known divergence for the supported pre-tokenizers.
 *
 * Unknown `pre` names throw `TokenizerError` (llama.cpp refuses them too); a missing or empty name means
 * `default`, as in llama.cpp (which warns that quality will be degraded).
 */
import { TokenizerError } from './spec.ts';

/** Unicode White_Space, as a class body (without brackets). */
const WS = '\\t\\n\\v\\f\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000';

/**
 * Rewrites llama.cpp's regex source into a JavaScript `u`-mode regex: `\s` → White_Space (inside or outside a
 * class), `\S` → its complement. Other escapes pass through unchanged.
 */
function toJsRegex(src: string): RegExp {
  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\' && i + 1 < src.length) {
      const n = src[i + 1];
      i++;
      if (n === 's') out += inClass ? WS : `[${WS}]`;
      else if (n === 'S') {
        if (inClass) throw new TokenizerError(`pre-tokenizer regex uses \\S inside a class: ${src}`);
        out += `[^${WS}]`;
      } else out += '\\' + n;
      continue;
    }
    if (c === '[' && !inClass) inClass = true;
    else if (c === ']' && inClass) inClass = false;
    out += c;
  }
  return new RegExp(out, 'gu');
}

// The regexes below are llama.cpp's (src/llama-vocab.cpp, `llm_tokenizer_bpe`), in the same order.
const CONTRACTIONS_CI = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const LLAMA3 =
  CONTRACTIONS_CI +
  '|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';
const QWEN2 =
  CONTRACTIONS_CI + '|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';
const GPT4O =
  '[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+' +
  CONTRACTIONS_CI +
  '?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*' +
  CONTRACTIONS_CI +
  '?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';
const TEKKEN =
  '[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';
const SEED_CODER =
  CONTRACTIONS_CI +
  '|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';
const BAILING =
  "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";
const QWEN35 =
  CONTRACTIONS_CI +
  '|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';
const DEEPSEEK3 =
  "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";
const BLOOM = ' ?[^(\\s|.,!?…。，、।۔،)]+';

/** Regex lists by pre-tokenizer family (llama.cpp `LLAMA_VOCAB_PRE_TYPE_*`). */
const FAMILIES: Readonly<Record<string, readonly string[]>> = {
  default: ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2, '\\p{N}+', '[0-9][0-9][0-9]'],
  gpt2: [GPT2],
  llama3: [LLAMA3],
  qwen2: [QWEN2],
  qwen35: [QWEN35],
  gpt4o: [GPT4O],
  tekken: [TEKKEN],
  starcoder: ['\\p{N}', GPT2],
  falcon: ['[\\p{P}\\$\\+<=>\\^~\\|`]+', GPT2, '[0-9][0-9][0-9]'],
  deepseekCoder: ['[\r\n]', '\\s?\\p{L}+', '\\s?\\p{P}+', '[一-龥ࠀ-一가-퟿]+', '\\p{N}'],
  deepseek3: ['\\p{N}{1,3}', '[一-龥぀-ゟ゠-ヿ]+', DEEPSEEK3],
  seedCoder: [SEED_CODER],
  bailing: [BAILING],
  bloom: [BLOOM],
  viking: [BLOOM, '\\p{N}'],
};

interface PreInfo {
  readonly family: keyof typeof FAMILIES;
  /** llama.cpp `ignore_merges`: a word that is itself a token is emitted as-is, without BPE. */
  readonly ignoreMerges?: boolean;
}

/** `tokenizer.ggml.pre` names → family, as mapped in llama.cpp `llama_vocab::impl::load`. */
const PRE_NAMES: Readonly<Record<string, PreInfo>> = {
  default: { family: 'default' },
  // llama.cpp spells it `gpt-2`; `gpt2` is accepted too because converters and people write both.
  'gpt-2': { family: 'gpt2' },
  gpt2: { family: 'gpt2' },
  'phi-2': { family: 'gpt2' },
  'jina-es': { family: 'gpt2' },
  'jina-de': { family: 'gpt2' },
  'jina-v1-en': { family: 'gpt2' },
  'jina-v2-es': { family: 'gpt2' },
  'jina-v2-de': { family: 'gpt2' },
  'jina-v2-code': { family: 'gpt2' },
  'roberta-bpe': { family: 'gpt2' },
  gigachat: { family: 'gpt2' },
  'a.x-4.0': { family: 'gpt2' },
  mellum: { family: 'gpt2' },
  'modern-bert': { family: 'gpt2' },
  exaone4: { family: 'gpt2' },
  mpt: { family: 'gpt2' },
  olmo: { family: 'gpt2' },
  jais: { family: 'gpt2' },
  trillion: { family: 'gpt2' },
  'granite-docling': { family: 'gpt2' },
  llama3: { family: 'llama3', ignoreMerges: true },
  'llama-v3': { family: 'llama3', ignoreMerges: true },
  'llama-bpe': { family: 'llama3', ignoreMerges: true },
  falcon3: { family: 'llama3', ignoreMerges: true },
  'falcon-h1': { family: 'llama3', ignoreMerges: true },
  pixtral: { family: 'llama3', ignoreMerges: true },
  'midm-2.0': { family: 'llama3', ignoreMerges: true },
  lfm2: { family: 'llama3', ignoreMerges: true },
  'jina-v5-nano': { family: 'llama3', ignoreMerges: true },
  dbrx: { family: 'llama3' },
  'smaug-bpe': { family: 'llama3' },
  'chatglm-bpe': { family: 'llama3' },
  glm4: { family: 'llama3' },
  qwen2: { family: 'qwen2' },
  'deepseek-r1-qwen': { family: 'qwen2' },
  kormo: { family: 'qwen2' },
  f2llmv2: { family: 'qwen2' },
  megrez: { family: 'qwen2' },
  stablelm2: { family: 'qwen2' },
  hunyuan: { family: 'qwen2' },
  'solar-open': { family: 'qwen2' },
  'grok-2': { family: 'qwen2' },
  qwen35: { family: 'qwen35' },
  'gpt-4o': { family: 'gpt4o' },
  llama4: { family: 'gpt4o' },
  kanana2: { family: 'gpt4o' },
  talkie: { family: 'gpt4o' },
  'minimax-m2': { family: 'gpt4o' },
  tekken: { family: 'tekken', ignoreMerges: true },
  starcoder: { family: 'starcoder' },
  refact: { family: 'starcoder' },
  'command-r': { family: 'starcoder' },
  smollm: { family: 'starcoder' },
  codeshell: { family: 'starcoder' },
  exaone: { family: 'starcoder' },
  'minerva-7b': { family: 'starcoder' },
  mellum2: { family: 'starcoder' },
  falcon: { family: 'falcon' },
  'deepseek-coder': { family: 'deepseekCoder' },
  'deepseek-v3': { family: 'deepseek3' },
  'hunyuan-dense': { family: 'deepseek3' },
  'joyai-llm': { family: 'deepseek3' },
  'seed-coder': { family: 'seedCoder' },
  bailingmoe: { family: 'bailing' },
  bailingmoe2: { family: 'bailing' },
  'llada-moe': { family: 'bailing' },
  bloom: { family: 'bloom' },
  'poro-chat': { family: 'bloom' },
  'gpt3-finnish': { family: 'bloom' },
  viking: { family: 'viking' },
};

/** The `pre` names this module knows (for messages and tests). */
export const SUPPORTED_PRE_NAMES: readonly string[] = Object.keys(PRE_NAMES);

export class PreTokenizer {
  readonly name: string;
  readonly ignoreMerges: boolean;
  private readonly regexes: readonly RegExp[];

  private constructor(name: string, regexes: readonly RegExp[], ignoreMerges: boolean) {
    this.name = name;
    this.regexes = regexes;
    this.ignoreMerges = ignoreMerges;
  }

  /** `pre` = `tokenizer.ggml.pre`; undefined or '' → `default`. */
  static forName(pre: string | undefined): PreTokenizer {
    const name = pre === undefined || pre === '' ? 'default' : pre;
    const info = PRE_NAMES[name];
    if (!Object.hasOwn(PRE_NAMES, name) || info === undefined) {
      throw new TokenizerError(
        `unknown pre-tokenizer '${name}' (tokenizer.ggml.pre); supported: ${SUPPORTED_PRE_NAMES.join(', ')}`,
      );
    }
    return new PreTokenizer(name, FAMILIES[info.family].map(toJsRegex), info.ignoreMerges === true);
  }

  /** Splits `text` into words; their concatenation is `text`. */
  split(text: string): string[] {
    let pieces = [text];
    for (const re of this.regexes) {
      const next: string[] = [];
      for (const piece of pieces) splitOne(piece, re, next);
      pieces = next;
    }
    return pieces;
  }
}

/** One regex over one piece: matches and the gaps between them, in order; empty matches are dropped. */
function splitOne(piece: string, re: RegExp, out: string[]): void {
  re.lastIndex = 0;
  let last = 0;
  for (;;) {
    const m = re.exec(piece);
    if (m === null) break;
    const start = m.index;
    const end = start + m[0].length;
    if (end === start) {
      // Zero-length match: step past it (by code point) so the loop ends.
      re.lastIndex = start + ((piece.codePointAt(start) ?? 0) > 0xffff ? 2 : 1);
      if (re.lastIndex > piece.length) break;
      continue;
    }
    if (start > last) out.push(piece.slice(last, start));
    out.push(m[0]);
    last = end;
  }
  if (last < piece.length) out.push(piece.slice(last));
}
