/**
 * @file Byte-level BPE tokenizer against js-tiktoken's cl100k_base (an independent implementation of the same
 * vocabulary), using the vocabulary stored in the shared cl100k GGUF (read through our GGUF reader), plus the
 * behaviour around it: special-token parsing, BOS/EOS, end-of-generation ids, decoding, errors.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getEncoding, type Tiktoken } from 'js-tiktoken';
import { beforeAll, describe, expect, it } from 'vitest';
import { openFileSource } from '../../scripts/lib/nodeSource.ts';
import { buildVocab, vocabTokenizerSpec } from '../../scripts/lib/vocab.ts';
import { readGguf } from '../../workers/gguf/reader.ts';
import { tokenizerSpecFromMetadata } from '../../workers/tokenizer/fromGguf.ts';
import { TokenizerError, type TokenizerSpec } from '../../workers/tokenizer/spec.ts';
import { Tokenizer } from '../../workers/tokenizer/tokenizer.ts';
import { corpus, forTiktoken } from './fixtures/tokenizer/corpus.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CL100K_GGUF = path.resolve(repoRoot, '../shared/models/brix-cl100k-65m-q8_0.gguf');

/** The cl100k spec from the shared GGUF; without it, the same vocabulary built from js-tiktoken. */
async function cl100kSpec(): Promise<TokenizerSpec> {
  if (!existsSync(CL100K_GGUF)) {
    console.warn(`[tokenizer.test] ${CL100K_GGUF} not found: using buildVocab('cl100k') instead of the GGUF vocabulary`);
    return vocabTokenizerSpec(buildVocab('cl100k'));
  }
  const src = await openFileSource(CL100K_GGUF);
  try {
    return tokenizerSpecFromMetadata((await readGguf(src)).metadata);
  } finally {
    await src.close();
  }
}

let tok: Tokenizer;
let spec: TokenizerSpec;
let tiktoken: Tiktoken;

beforeAll(async () => {
  spec = await cl100kSpec();
  tok = Tokenizer.fromSpec(spec);
  tiktoken = getEncoding('cl100k_base');
});

describe('cl100k byte-level BPE vs js-tiktoken', () => {
  it('gives the same ids on every corpus case and decodes back to the text', () => {
    const cases = forTiktoken(corpus());
    expect(cases.length).toBeGreaterThan(1000);
    const mismatches: string[] = [];
    let tokens = 0;
    for (const text of cases) {
      const ours = tok.encode(text);
      const ref = tiktoken.encode(text, [], []);
      tokens += ours.length;
      if (ours.length !== ref.length || ours.some((t, i) => t !== ref[i])) {
        mismatches.push(`${JSON.stringify(text.slice(0, 80))}: ours ${JSON.stringify(ours.slice(0, 20))} ref ${JSON.stringify(ref.slice(0, 20))}`);
      }
      if (tok.decode(ours) !== text) mismatches.push(`round trip failed: ${JSON.stringify(text.slice(0, 80))}`);
    }
    expect(mismatches.slice(0, 10)).toEqual([]);
    expect(mismatches.length).toBe(0);
    expect(tokens).toBeGreaterThan(20_000);
  });

  it('matches on this repository’s own source text (code, comments, JSON)', async () => {
    const { readFileSync, readdirSync } = await import('node:fs');
    const dir = path.join(repoRoot, 'workers/tokenizer');
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) {
      const text = readFileSync(path.join(dir, f), 'utf8');
      expect(tok.encode(text), f).toEqual(tiktoken.encode(text, [], []));
    }
  });

  it('splits "Hello world" and a newline run as cl100k does', () => {
    expect(tok.encode('Hello world')).toEqual([9906, 1917]);
    expect(tok.encode('\n\n\n')).toEqual(tiktoken.encode('\n\n\n'));
    expect(tok.tokenText(9906)).toBe('Hello');
    expect(tok.tokenText(1917)).toBe('Ġworld');
  });
});

describe('special tokens', () => {
  it('parses control tokens only with parseSpecial', () => {
    const text = '<|im_start|>user\nHi<|im_end|>\n';
    const parsed = tok.encode(text, { parseSpecial: true });
    expect(parsed[0]).toBe(100278);
    expect(parsed).toContain(100279);
    expect(parsed).toEqual([100278, ...tiktoken.encode('user\nHi'), 100279, ...tiktoken.encode('\n')]);
    const plain = tok.encode(text);
    expect(plain).not.toContain(100278);
    expect(plain).toEqual(tiktoken.encode(text, [], []));
  });

  it('decodes control tokens to their text unless skipSpecial', () => {
    const ids = tok.encode('<|im_start|>assistant\nOK<|im_end|>', { parseSpecial: true });
    expect(tok.decode(ids)).toBe('<|im_start|>assistant\nOK<|im_end|>');
    expect(tok.decode(ids, { skipSpecial: true })).toBe('assistant\nOK');
    expect(tok.isSpecial(100279)).toBe(true);
    expect(tok.isSpecial(9906)).toBe(false);
  });

  it('adds BOS/EOS only when the spec asks and addSpecial is set', () => {
    expect(spec.addBos).toBe(false);
    expect(tok.encode('Hi', { addSpecial: true })).toEqual(tok.encode('Hi'));
    const withBos = Tokenizer.fromSpec({ ...spec, addBos: true, addEos: true });
    expect(withBos.encode('Hi', { addSpecial: true })).toEqual([100257, ...tok.encode('Hi'), 100257]);
    expect(withBos.encode('', { addSpecial: true })).toEqual([100257, 100257]);
    expect(withBos.encode('Hi')).toEqual(tok.encode('Hi'));
  });

  it('knows BOS/EOS and the end-of-generation ids', () => {
    expect(tok.bos).toBe(100257);
    expect(tok.eos).toBe(100257);
    expect(tok.eot).toBe(100279);
    expect(tok.vocabSize).toBe(100352);
    expect([...tok.eogIds].sort((a, b) => a - b)).toEqual([100257, 100279]);
    expect(tok.isEog(100279)).toBe(true);
    expect(tok.isEog(100278)).toBe(false);
  });

  it('finds EOG tokens by text when the spec names none (as llama.cpp does)', () => {
    const t = Tokenizer.fromSpec({ ...spec, eos: undefined, eot: undefined, bos: undefined });
    expect(t.eot).toBe(100279); // first of '<|eot_id|>', '<|im_end|>', ... present
    expect(t.isEog(100279)).toBe(true);
    expect(t.isEog(100257)).toBe(true); // <|endoftext|>
  });

  it('decodes unused [PAD] tokens to nothing', () => {
    expect(tok.tokenText(100300)).toBe('[PAD100300]');
    expect(tok.decode([9906, 100300, 1917])).toBe('Hello world');
  });
});

describe('errors', () => {
  it('rejects an unknown pre-tokenizer by name', () => {
    expect(() => Tokenizer.fromSpec({ ...spec, pre: 'no-such-pre' })).toThrow(TokenizerError);
    expect(() => Tokenizer.fromSpec({ ...spec, pre: 'no-such-pre' })).toThrow(/unknown pre-tokenizer 'no-such-pre'/);
  });

  it('treats an empty pre-tokenizer name as llama.cpp\'s default', () => {
    const t = Tokenizer.fromSpec({ ...spec, pre: '' });
    // The default pre-tokenizer isolates punctuation runs and 3-digit groups differently from dbrx's.
    expect(t.decode(t.encode("It's 12345!?"))).toBe("It's 12345!?");
  });

  it('rejects out-of-range ids and inconsistent specs', () => {
    expect(() => tok.decode([100352])).toThrow(TokenizerError);
    expect(() => tok.decode([-1])).toThrow(/outside the vocabulary/);
    expect(() => tok.tokenText(1.5)).toThrow(TokenizerError);
    expect(() => Tokenizer.fromSpec({ ...spec, bos: 999_999 })).toThrow(/BOS token id 999999/);
    expect(() => Tokenizer.fromSpec({ ...spec, tokenTypes: [1, 2] })).toThrow(/token_type has 2 entries/);
    expect(() => Tokenizer.fromSpec({ ...spec, addBos: true, bos: undefined })).toThrow(/no BOS/);
    expect(() => Tokenizer.fromSpec({ ...spec, tokens: [], tokenTypes: [] })).toThrow(/empty vocabulary/);
  });

  it('replaces lone surrogates by U+FFFD instead of failing', () => {
    expect(tok.encode('a\ud800b')).toEqual(tok.encode('a\ufffdb'));
  });
});
