/**
 * @file Our tokenizer against llama.cpp's (node-llama-cpp 3.21.1, CPU prebuilt) on both shared demo models:
 * the same ids for every corpus case, with and without special-token parsing, including the code points where
 * js-tiktoken cannot serve as a reference (U+0085, U+FEFF). Decoding is compared with llama.cpp's detokenize on
 * texts its `clean_spaces` pass leaves alone (it rewrites " ," → "," etc.; we deliberately do not).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFileSource } from '../../scripts/lib/nodeSource.ts';
import { readGguf } from '../../workers/gguf/reader.ts';
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

  it.skipIf(!present)('has llama.cpp’s BOS/EOS/EOT', () => {
    expect(tok.bos).toBe(model.tokens.bos);
    expect(tok.eos).toBe(model.tokens.eos);
    expect(tok.eot).toBe(model.tokens.eot);
    expect(tok.isEog(model.tokens.eot ?? -1)).toBe(true);
  });
});
