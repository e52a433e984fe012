/**
 * @file Our tokenizer against llama.cpp's (node-llama-cpp 3.21.1, CPU prebuilt) on both shared demo models:
 * the same ids for every corpus case, with and without special-token parsing, including the code points where
 * js-tiktoken cannot serve as a reference (U+0085, U+FEFF). Decoding is compared with llama.cpp's detokenize on
 * texts its `clean_spaces` pass leaves alone (it rewrites " ," → "," etc.; we deliberately do not).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel, type Token } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFileSource } from '../../scripts/lib/nodeSource.ts';
import { buildVocab } from '../../scripts/lib/vocab.ts';
import { readGguf } from '../../workers/gguf/reader.ts';
import { GgufMetadata } from '../../workers/gguf/metadata.ts';
import { kv, writeGgufToBytes } from '../../workers/gguf/writer.ts';
import { TokenType } from '../../workers/tokenizer/spec.ts';
import { tokenizerSpecFromMetadata } from '../../workers/tokenizer/fromGguf.ts';
import { Tokenizer } from '../../workers/tokenizer/tokenizer.ts';
import { corpus } from './fixtures/tokenizer/corpus.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MODELS = ['brix-cl100k-65m-q8_0.gguf', 'brix-demo-30m-q8_0.gguf'];

/** Cases beyond the shared corpus: specials inside text, almost-specials, unused tokens, rare code points. */
const EXTRA = [
  'a\u0085b', '!\u0085x', '!\ufeffx', '\ufeffhello', 'x \ufeff y', '\u0085\u0085 \u0085\n',
  '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n',
  '<|endoftext|><|pad|>[PAD100300]<|fim_prefix|>x<|fim_suffix|>y<|fim_middle|>', '<|im_start|<|im_end|>>', '<|im_end',
  'text<|endofprompt|> more', '\u{e0100}\u{10ffff}\u{f0000}\u{323af}\u{31350}', '',
];

let llama: Llama | undefined;
beforeAll(async () => {
  if (MODELS.some((m) => existsSync(path.resolve(repoRoot, '../shared/models', m)))) {
    llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  }
}, 60_000);
afterAll(async () => {
  await llama?.dispose();
});

/** node-llama-cpp brands token ids; any integer id is one. */
const isToken = (n: number): n is Token => Number.isInteger(n);

/** Text that llama.cpp's clean_spaces pass would change (" ?", " !", " .", " ,", " '"). */
const touchedByCleanSpaces = (s: string) => / [?!.,']/.test(s);

describe.each(MODELS)('%s: same ids as llama.cpp', (file) => {
  const modelPath = path.resolve(repoRoot, '../shared/models', file);
  const present = existsSync(modelPath);
  if (!present) console.warn(`[tokenizerLlamaCpp.test] ${modelPath} not found: skipping the llama.cpp comparison for it`);
  let model: LlamaModel;
  let tok: Tokenizer;

  beforeAll(async () => {
    if (!present || !llama) return;
    model = await llama.loadModel({ modelPath, gpuLayers: 0 });
    const src = await openFileSource(modelPath);
    try {
      tok = Tokenizer.fromSpec(tokenizerSpecFromMetadata((await readGguf(src)).metadata));
    } finally {
      await src.close();
    }
  }, 60_000);
  afterAll(async () => {
    await model?.dispose();
  });

  it.skipIf(!present)('tokenizes the corpus identically, with and without special parsing', () => {
    const mismatches: string[] = [];
    let n = 0;
    for (const text of [...corpus(), ...EXTRA]) {
      for (const parseSpecial of [false, true]) {
        const ours = tok.encode(text, { parseSpecial });
        const ref = model.tokenize(text, parseSpecial);
        n += ref.length;
        if (ours.length !== ref.length || ours.some((t, i) => t !== ref[i])) {
          mismatches.push(`${parseSpecial ? 'special ' : ''}${JSON.stringify(text.slice(0, 60))}: ${JSON.stringify(ours.slice(0, 16))} vs ${JSON.stringify(ref.slice(0, 16))}`);
        }
      }
    }
    expect(mismatches.slice(0, 10)).toEqual([]);
    expect(n).toBeGreaterThan(50_000);
  });

  it.skipIf(!present)('special tokens in chat text become single ids only when parsed', () => {
    const text = '<|im_start|>user\nhi<|im_end|>\n';
    const parsed = tok.encode(text, { parseSpecial: true });
    expect(parsed).toEqual(model.tokenize(text, true));
    expect(parsed[0]).toBe(tok.encode('<|im_start|>', { parseSpecial: true })[0]);
    expect(tok.encode(text).length).toBeGreaterThan(parsed.length);
  });

  it.skipIf(!present)('decodes like llama.cpp and round-trips every case', () => {
    let compared = 0;
    for (const text of [...corpus(), ...EXTRA]) {
      const ids = tok.encode(text, { parseSpecial: true });
      expect(tok.decode(ids)).toBe(text);
      if (!touchedByCleanSpaces(text)) {
        const ref = model.tokenize(text, true); // the same ids (previous test), typed as llama.cpp tokens
        expect(tok.decode(ref), JSON.stringify(text.slice(0, 60))).toBe(model.detokenize(ref, true));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(500);
  });

  it.skipIf(!present)('ends generation on exactly llama.cpp’s EOG tokens', () => {
    const eog: number[] = [];
    for (let id = 0; id < tok.vocabSize; id++) if (isToken(id) && model.isEogToken(id)) eog.push(id);
    expect([...tok.eogIds].sort((a, b) => a - b)).toEqual(eog);
  });

  it.skipIf(!present)('has llama.cpp’s BOS/EOS/EOT', () => {
    expect(tok.bos).toBe(model.tokens.bos);
    expect(tok.eos).toBe(model.tokens.eos);
    expect(tok.eot).toBe(model.tokens.eot);
    expect(tok.isEog(4112)).toBe(false); // <|end|> with <|return|> and <|call|> present (gpt-oss rule)
    expect(tok.isEog(model.tokens.eot ?? -1)).toBe(true);
  });
});

describe('special-token rules on a vocabulary full of them (vocab-only GGUF)', () => {
  // Texts llama.cpp treats specially, stored with various types: some end generation, some become control
  // although typed normal, `<|end|>` stops ending generation when `<|return|>` and `<|call|>` exist, and
  // user-defined tokens are matched in text even without special parsing.
  const EXTRA_TOKENS: readonly (readonly [string, number])[] = [
    ['<|eot_id|>', TokenType.normal], ['<|eom_id|>', TokenType.control], ['<|end|>', TokenType.control],
    ['<|return|>', TokenType.control], ['<|call|>', TokenType.normal], ['<end_of_turn>', TokenType.userDefined],
    ['<|fim_pad|>', TokenType.normal], ['<|file_sep|>', TokenType.control], ['<tool>', TokenType.userDefined],
    ['<|channel|>', TokenType.control], ['</s>', TokenType.normal], ['<mask>', TokenType.unknown],
  ];
  let dir: string;
  let model: LlamaModel | undefined;
  let tok: Tokenizer;

  beforeAll(async () => {
    const v = buildVocab('small');
    EXTRA_TOKENS.forEach(([text, type], i) => {
      v.tokens[4110 + i] = text;
      v.tokenTypes[4110 + i] = type;
    });
    const kvs = [
      kv.string('general.architecture', 'llama'),
      kv.u32('llama.context_length', 128),
      kv.u32('llama.embedding_length', 64),
      kv.u32('llama.block_count', 1),
      kv.u32('llama.feed_forward_length', 64),
      kv.u32('llama.attention.head_count', 4),
      kv.f32('llama.attention.layer_norm_rms_epsilon', 1e-5),
      kv.string('tokenizer.ggml.model', 'gpt2'),
      kv.string('tokenizer.ggml.pre', 'llama-bpe'),
      kv.strings('tokenizer.ggml.tokens', v.tokens),
      kv.i32s('tokenizer.ggml.token_type', v.tokenTypes),
      kv.strings('tokenizer.ggml.merges', v.merges),
      kv.u32('tokenizer.ggml.bos_token_id', v.bos),
      kv.u32('tokenizer.ggml.eos_token_id', v.eos),
      // Named explicitly: without it llama.cpp picks EOT among the matching texts in hash-map order.
      kv.u32('tokenizer.ggml.eot_token_id', 4110),
    ];
    dir = mkdtempSync(path.join(tmpdir(), 'brix-specials-'));
    const file = path.join(dir, 'specials.gguf');
    writeFileSync(file, await writeGgufToBytes(kvs, []));
    tok = Tokenizer.fromSpec(tokenizerSpecFromMetadata(new GgufMetadata(kvs)));
    llama ??= await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
    model = await llama.loadModel({ modelPath: file, vocabOnly: true });
  }, 60_000);
  afterAll(async () => {
    await model?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('has the same EOG set and EOT/EOM/BOS as llama.cpp', () => {
    if (!model) throw new Error('model not loaded');
    const eog: number[] = [];
    for (let id = 0; id < tok.vocabSize; id++) if (isToken(id) && model.isEogToken(id)) eog.push(id);
    expect([...tok.eogIds].sort((a, b) => a - b)).toEqual(eog);
    expect(eog.length).toBeGreaterThanOrEqual(6);
    expect(tok.eot).toBe(model.tokens.eot);
    expect(tok.isEog(4112)).toBe(false); // <|end|> with <|return|> and <|call|> present (gpt-oss rule)
    expect(tok.addBos).toBe(true); // llama-bpe turns add_bos on by default
  });

  it('parses the special texts like llama.cpp, with and without special parsing', () => {
    if (!model) throw new Error('model not loaded');
    const texts = [
      ...EXTRA_TOKENS.map(([t]) => `a${t}b`),
      EXTRA_TOKENS.map(([t]) => t).join(' x '),
      '<tool><|channel|>analysis<|end|><|return|></s><mask>',
    ];
    for (const text of texts) {
      for (const parseSpecial of [false, true]) {
        expect(tok.encode(text, { parseSpecial }), `${parseSpecial} ${text}`).toEqual(model.tokenize(text, parseSpecial));
      }
      expect(tok.decode(tok.encode(text, { parseSpecial: true }))).toBe(text);
    }
  });
});
