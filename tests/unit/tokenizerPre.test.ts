/**
 * @file Pre-tokenizers (`tokenizer.ggml.pre`): hand-checked word splits for the main families, and for every
 * family we support, the same ids as llama.cpp on the corpus — each pre-tokenizer is written into a
 * vocab-only GGUF with the small cl100k vocabulary (merges cannot cross word boundaries, so a different split
 * shows up as different ids) and loaded by node-llama-cpp with `vocabOnly`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getLlama, LlamaLogLevel, type Llama } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildVocab, type VocabSpec } from '../../scripts/lib/vocab.ts';
import { kv, writeGgufToBytes } from '../../workers/gguf/writer.ts';
import { PreTokenizer } from '../../workers/tokenizer/preTokenize.ts';
import { TokenizerError } from '../../workers/tokenizer/spec.ts';
import { Tokenizer } from '../../workers/tokenizer/tokenizer.ts';
import { corpusSections, generatedCases } from './fixtures/tokenizer/corpus.ts';

describe('word splits', () => {
  const text = 'Hello world123 4567!!\n\n  x';
  it('dbrx / llama-3: digits in threes, punctuation keeps its newlines, a space before a letter joins it', () => {
    const want = ['Hello', ' world', '123', ' ', '456', '7', '!!\n\n', ' ', ' x'];
    expect(PreTokenizer.forName('dbrx').split(text)).toEqual(want);
    expect(PreTokenizer.forName('llama-bpe').split(text)).toEqual(want);
    expect(PreTokenizer.forName('llama-bpe').ignoreMerges).toBe(true);
    expect(PreTokenizer.forName('dbrx').ignoreMerges).toBe(false);
    expect(PreTokenizer.forName('dbrx').split("I'M HE'LL we'Ve")).toEqual(['I', "'M", ' HE', "'LL", ' we', "'Ve"]);
  });

  it('gpt-2 / olmo: digit runs whole, lower-case contractions only', () => {
    const want = ['Hello', ' world', '123', ' 4567', '!!', '\n\n ', ' x'];
    expect(PreTokenizer.forName('gpt-2').split(text)).toEqual(want);
    expect(PreTokenizer.forName('olmo').split(text)).toEqual(want);
    expect(PreTokenizer.forName('olmo').split("I'M it's")).toEqual(['I', "'", 'M', ' it', "'s"]);
  });

  it('qwen2: single digits', () => {
    expect(PreTokenizer.forName('qwen2').split('x 2024')).toEqual(['x', ' ', '2', '0', '2', '4']);
  });

  it('Unicode White_Space, not JavaScript \\s: U+0085 is whitespace, U+FEFF is not', () => {
    expect(PreTokenizer.forName('dbrx').split('!\u0085x')).toEqual(['!', '\u0085x']);
    expect(PreTokenizer.forName('dbrx').split('!\ufeffx')).toEqual(['!\ufeff', 'x']);
  });

  it('an unknown name is a TokenizerError; empty means default', () => {
    expect(() => PreTokenizer.forName('gpt3000')).toThrow(TokenizerError);
    expect(() => PreTokenizer.forName('toString')).toThrow(/unknown pre-tokenizer 'toString'/);
    expect(PreTokenizer.forName('').name).toBe('default');
    expect(PreTokenizer.forName(undefined).name).toBe('default');
  });

  it('never loses text', () => {
    for (const name of ['dbrx', 'gpt-2', 'qwen2', 'gpt-4o', 'default', 'deepseek-v3', 'bloom', 'tekken']) {
      const pre = PreTokenizer.forName(name);
      for (const s of [...corpusSections(), ...generatedCases()]) expect(pre.split(s).join('')).toBe(s);
    }
  });
});

/** Pre-tokenizer names compared with llama.cpp: one or two per family in preTokenize.ts. */
const PRE_NAMES = [
  'dbrx', 'llama-bpe', 'qwen2', 'olmo', 'gpt-2', 'gpt-4o', 'refact', 'default', 'falcon', 'deepseek-coder',
  'deepseek-v3', 'tekken', 'seed-coder', 'bailingmoe', 'bloom', 'viking', 'qwen35',
];

describe('same ids as llama.cpp for every pre-tokenizer', () => {
  let llama: Llama;
  let dir: string;
  let vocab: VocabSpec;
  // Short cases, every other generated one: most of these regexes run through std::regex in llama.cpp, which
  // is slow (the dbrx/llama-3 family is compared on the whole corpus in tokenizerLlamaCpp.test.ts).
  const cases = [...corpusSections(), ...generatedCases().filter((s, i) => s.length <= 120 && i % 2 === 0)];

  beforeAll(async () => {
    vocab = buildVocab('small');
    dir = mkdtempSync(path.join(tmpdir(), 'brix-pre-'));
    llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.fatal });
  }, 60_000);
  afterAll(async () => {
    await llama?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(PRE_NAMES)('%s', async (pre) => {
    const file = path.join(dir, `${pre}.gguf`);
    const kvs = [
      kv.string('general.architecture', 'llama'),
      kv.u32('llama.context_length', 128),
      kv.u32('llama.embedding_length', 64),
      kv.u32('llama.block_count', 1),
      kv.u32('llama.feed_forward_length', 64),
      kv.u32('llama.attention.head_count', 4),
      kv.f32('llama.attention.layer_norm_rms_epsilon', 1e-5),
      kv.string('tokenizer.ggml.model', 'gpt2'),
      kv.string('tokenizer.ggml.pre', pre),
      kv.strings('tokenizer.ggml.tokens', vocab.tokens),
      kv.i32s('tokenizer.ggml.token_type', vocab.tokenTypes),
      kv.strings('tokenizer.ggml.merges', vocab.merges),
      kv.u32('tokenizer.ggml.bos_token_id', vocab.bos),
      kv.u32('tokenizer.ggml.eos_token_id', vocab.eos),
    ];
    writeFileSync(file, await writeGgufToBytes(kvs, []));
    const model = await llama.loadModel({ modelPath: file, vocabOnly: true });
    try {
      const tok = Tokenizer.fromSpec({ model: 'gpt2', pre, tokens: vocab.tokens, tokenTypes: vocab.tokenTypes, merges: vocab.merges, bos: vocab.bos, eos: vocab.eos, addBos: false, addEos: false });
      const mismatches: string[] = [];
      for (const text of cases) {
        const ours = tok.encode(text);
        const ref = model.tokenize(text, false);
        if (ours.length !== ref.length || ours.some((t, i) => t !== ref[i])) mismatches.push(JSON.stringify(text.slice(0, 60)));
      }
      expect(mismatches.slice(0, 5)).toEqual([]);
    } finally {
      await model.dispose();
    }
  });
});
