/**
 * @file The vocabulary builder for generated models (scripts/lib/vocab.ts): it must reproduce the shared demo
 * GGUFs' vocabularies exactly (tokens, types, merges, specials, template), and its truncated vocabularies must
 * be self-consistent BPEs: our tokenizer on `small` equals tiktoken's algorithm restricted to the same ranks.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import cl100kBase from 'js-tiktoken/ranks/cl100k_base';
import { Tiktoken } from 'js-tiktoken/lite';
import { describe, expect, it } from 'vitest';
import { openFileSource } from '../../scripts/lib/nodeSource.ts';
import { buildVocab, CHATML_TEMPLATE, VocabError, vocabTokenizerSpec, type VocabKind } from '../../scripts/lib/vocab.ts';
import { readGguf } from '../../workers/gguf/reader.ts';
import { tokenizerSpecFromMetadata } from '../../workers/tokenizer/fromGguf.ts';
import { TokenType } from '../../workers/tokenizer/spec.ts';
import { Tokenizer } from '../../workers/tokenizer/tokenizer.ts';
import { corpus, forTiktoken } from './fixtures/tokenizer/corpus.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe.each([
  ['brix-cl100k-65m-q8_0.gguf', 'cl100k'],
  ['brix-demo-30m-q8_0.gguf', 32_000],
] as const)('%s', (file, kind: VocabKind) => {
  const gguf = path.resolve(repoRoot, '../shared/models', file);
  it('is reproduced exactly by buildVocab', async () => {
    if (!existsSync(gguf)) {
      console.warn(`[tokenizerVocab.test] ${gguf} not found: skipping`);
      return;
    }
    const src = await openFileSource(gguf);
    const spec = tokenizerSpecFromMetadata((await readGguf(src)).metadata);
    await src.close();
    const v = buildVocab(kind);
    expect(v.tokens.length).toBe(spec.tokens.length);
    expect(v.tokens).toEqual(spec.tokens);
    expect(v.tokenTypes).toEqual(spec.tokenTypes);
    expect(v.merges).toEqual(spec.merges);
    expect([v.bos, v.eos, v.eot, v.pad]).toEqual([spec.bos, spec.eos, spec.eot, spec.pad]);
    expect(v.pre).toBe(spec.pre);
    expect(v.chatTemplate).toBe(spec.chatTemplate);
  });
});

describe('buildVocab layouts', () => {
  it('cl100k: DBRX specials at 100257-100279, [PADi] elsewhere, 100,352 tokens', () => {
    const v = buildVocab('cl100k');
    expect(v.tokens.length).toBe(100_352);
    expect(v.merges.length).toBe(100_000);
    const at = (i: number) => [v.tokens[i], v.tokenTypes[i]];
    expect(at(100_257)).toEqual(['<|endoftext|>', TokenType.control]);
    expect(at(100_260)).toEqual(['<|fim_suffix|>', TokenType.control]);
    expect(at(100_276)).toEqual(['<|endofprompt|>', TokenType.control]);
    expect(at(100_277)).toEqual(['<|pad|>', TokenType.control]);
    expect(at(100_278)).toEqual(['<|im_start|>', TokenType.control]);
    expect(at(100_279)).toEqual(['<|im_end|>', TokenType.control]);
    expect(at(100_256)).toEqual(['[PAD100256]', TokenType.unused]);
    expect(at(100_261)).toEqual(['[PAD100261]', TokenType.unused]);
    expect(at(100_351)).toEqual(['[PAD100351]', TokenType.unused]);
    expect([v.bos, v.eos, v.eot, v.pad]).toEqual([100_257, 100_257, 100_279, 100_277]);
    expect(v.chatTemplate).toBe(CHATML_TEMPLATE);
  });

  it('every merge joins two lower-ranked tokens into the token of its rank', () => {
    const v = buildVocab('cl100k');
    const idOf = new Map(v.tokens.map((t, i) => [t, i]));
    for (let i = 0; i < v.merges.length; i += 97) {
      const [a, b] = v.merges[i].split(' ');
      const ia = idOf.get(a) ?? -1;
      const ib = idOf.get(b) ?? -1;
      expect(ia).toBeGreaterThanOrEqual(0);
      expect(ib).toBeGreaterThanOrEqual(0);
      expect(Math.max(ia, ib)).toBeLessThan(256 + i);
      expect(idOf.get(a + b)).toBe(256 + i);
    }
  });

  it('small: 4,096 ranks, specials right after, padded to a multiple of 64', () => {
    const v = buildVocab('small');
    expect(v.tokens.length).toBe(4160);
    expect(v.merges.length).toBe(4096 - 256);
    expect(v.tokens.slice(4096, 4104)).toEqual([
      '<|endoftext|>', '<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>', '<|endofprompt|>', '<|pad|>', '<|im_start|>', '<|im_end|>',
    ]);
    expect([v.bos, v.eos, v.eot, v.pad]).toEqual([4096, 4096, 4103, 4101]);
    expect(v.tokens[4104]).toBe('[PAD4104]');
    expect(buildVocab(1000).tokens.length).toBe(1024);
  });

  it('small is a self-consistent BPE: same ids as tiktoken restricted to the first 4,096 ranks', () => {
    const [head, offset, ...ranks] = cl100kBase.bpe_ranks.split('\n')[0].split(' ');
    const ref = new Tiktoken({
      pat_str: cl100kBase.pat_str,
      special_tokens: {},
      bpe_ranks: [head, offset, ...ranks.slice(0, 4096)].join(' '),
    });
    const tok = Tokenizer.fromSpec(vocabTokenizerSpec(buildVocab('small')));
    let n = 0;
    // js-tiktoken's merge loop is quadratic; the few very long runs are covered by the cl100k comparison.
    for (const text of forTiktoken(corpus()).filter((t) => t.length <= 1000)) {
      const ours = tok.encode(text);
      expect(ours, JSON.stringify(text.slice(0, 60))).toEqual(ref.encode(text));
      expect(tok.decode(ours)).toBe(text);
      n += ours.length;
    }
    expect(n).toBeGreaterThan(30_000);
  });

  it('rejects sizes it cannot build', () => {
    expect(() => buildVocab(255)).toThrow(VocabError);
    expect(() => buildVocab(100_257)).toThrow(/\[256, 100256\]/);
    expect(() => buildVocab(1000.5)).toThrow(VocabError);
  });
});
