/**
 * @file SentencePiece-style (`llama`) tokenization: hand-checked segmentations on a tiny vocabulary (score
 * order, '▁' for spaces, the space prefix, byte fallback), and llama.cpp agreement on the corpus with a
 * vocabulary trained here by a small BPE over the corpus (written as a metadata-only GGUF that node-llama-cpp
 * loads with `vocabOnly`).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GgufMetadata } from '../../workers/gguf/metadata.ts';
import { kv, writeGgufToBytes } from '../../workers/gguf/writer.ts';
import { tokenizerSpecFromMetadata } from '../../workers/tokenizer/fromGguf.ts';
import { TokenType, TokenizerError, type TokenizerSpec } from '../../workers/tokenizer/spec.ts';
import { StreamingDecoder } from '../../workers/tokenizer/streaming.ts';
import { Tokenizer } from '../../workers/tokenizer/tokenizer.ts';
import { corpus, corpusSections } from './fixtures/tokenizer/corpus.ts';

const hex = (b: number) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;

/** <unk>, <s>, </s>, 256 byte tokens, then `pieces` with descending scores (earlier = merged first). */
function spmSpec(pieces: readonly string[], extra: Partial<TokenizerSpec> = {}): TokenizerSpec {
  const tokens = ['<unk>', '<s>', '</s>'];
  const tokenTypes: number[] = [TokenType.unknown, TokenType.control, TokenType.control];
  const scores = [0, 0, 0];
  for (let b = 0; b < 256; b++) {
    tokens.push(hex(b));
    tokenTypes.push(TokenType.byte);
    scores.push(0);
  }
  pieces.forEach((p, i) => {
    tokens.push(p);
    tokenTypes.push(TokenType.normal);
    scores.push(-i);
  });
  return { model: 'llama', pre: 'default', tokens, tokenTypes, merges: [], scores, bos: 1, eos: 2, unk: 0, addBos: true, addEos: false, ...extra };
}

const PIECES = ['▁', 't', 'h', 'e', '▁t', 'he', '▁the', 'a', 'l', '▁a', 'll', '▁all', 'c', 'ca', '▁c', '▁cat', 's', 'é'];
const id = (p: string) => 259 + PIECES.indexOf(p);

describe('SentencePiece BPE on a tiny vocabulary', () => {
  const tok = Tokenizer.fromSpec(spmSpec(PIECES));

  it('merges by score, not by length, and prefixes a space', () => {
    // 'ca' outscores '▁c', and neither '▁ca' nor 'cat' is a token: "▁ ca t".
    expect(tok.encode('the cat')).toEqual([id('▁the'), id('▁'), id('ca'), id('t')]);
    expect(tok.encode('all the cats')).toEqual([id('▁all'), id('▁the'), id('▁'), id('ca'), id('t'), id('s')]);
    expect(tok.encode(' the')).toEqual([id('▁'), id('▁the')]);
  });

  it('falls back to byte tokens for characters outside the vocabulary', () => {
    expect(tok.encode('Hello')).toEqual([id('▁'), 3 + 0x48, id('e'), id('ll'), 3 + 0x6f]);
    expect(tok.encode('😀')).toEqual([id('▁'), 3 + 0xf0, 3 + 0x9f, 3 + 0x98, 3 + 0x80]);
    expect(tok.encode('é')).toEqual([id('▁'), id('é')]);
  });

  it('adds BOS (addBos defaults on for llama vocabularies) and parses specials on request', () => {
    expect(tok.encode('the', { addSpecial: true })).toEqual([1, id('▁the')]);
    // After a special token, text gets the space prefix again (llama.cpp: is_prev_special).
    expect(tok.encode('<s>the</s>x', { parseSpecial: true })).toEqual([1, id('▁the'), 2, id('▁'), 3 + 0x78]);
  });

  it('decodes ▁ as spaces, bytes as bytes, and drops the prefix space', () => {
    for (const s of ['the cat', 'all the cats', 'Hello  world', '😀 é', ' leading', 'a\nb']) {
      expect(tok.decode(tok.encode(s))).toBe(s);
      expect(tok.decode(tok.encode(s, { addSpecial: true }), { skipSpecial: true })).toBe(s);
    }
    expect(tok.decode([1, id('▁the')])).toBe('<s> the'); // like llama.cpp: BOS kept, so is the space
  });

  it('streams multi-byte characters spelled with byte tokens', () => {
    const ids = tok.encode('a😀b中');
    const dec = new StreamingDecoder(tok, { stripLeadingSpace: true });
    const chunks = ids.map((t) => dec.push(t));
    chunks.push(dec.flush());
    expect(chunks.join('')).toBe('a😀b中');
    expect(chunks.some((c) => c.includes('\ufffd'))).toBe(false);
    // Four byte tokens for the emoji: nothing is emitted until the last one.
    expect(chunks.filter((c) => c === '').length).toBeGreaterThanOrEqual(3 + 2);
  });

  it('uses the unknown token when a byte has no token, and errors without one', () => {
    const noBytes: TokenizerSpec = { model: 'llama', pre: '', tokens: ['<unk>', '▁', 'a'], tokenTypes: [2, 1, 1], merges: [], scores: [0, -1, -2], unk: 0, addBos: false, addEos: false };
    expect(Tokenizer.fromSpec(noBytes).encode('ab')).toEqual([1, 2, 0]);
    expect(() => Tokenizer.fromSpec({ ...noBytes, unk: undefined, tokenTypes: [1, 1, 1] }).encode('ab')).toThrow(TokenizerError);
  });

  it('honours add_space_prefix = false', () => {
    const t = Tokenizer.fromSpec(spmSpec(PIECES, { addSpacePrefix: false }));
    expect(t.encode('the')).toEqual([id('t'), id('he')]);
    expect(t.decode(t.encode(' the'))).toBe(' the');
  });
});

// ---- llama.cpp agreement on a trained vocabulary ----------------------------------------------------------

/** A small SentencePiece-style BPE vocabulary trained on `text`: frequent characters, then `nMerges` merges. */
function trainSpm(text: string, nMerges: number): string[] {
  const words = new Map<string, number>();
  for (const w of ('▁' + text.replaceAll(' ', '▁')).split(/(?=▁)/u)) words.set(w, (words.get(w) ?? 0) + 1);
  const charCount = new Map<string, number>();
  for (const [w, c] of words) for (const ch of w) charCount.set(ch, (charCount.get(ch) ?? 0) + c);
  // Rare characters are left to byte fallback.
  const chars = [...charCount].filter(([, c]) => c >= 3).sort((a, b) => b[1] - a[1]).map(([ch]) => ch);
  let segs = [...words].map(([w, c]) => ({ parts: [...w], c }));
  const pieces: string[] = [];
  const seen = new Set(chars);
  for (let m = 0; m < nMerges; m++) {
    const pairs = new Map<string, number>();
    for (const { parts, c } of segs) for (let i = 0; i + 1 < parts.length; i++) {
      const k = parts[i] + '\u0000' + parts[i + 1];
      pairs.set(k, (pairs.get(k) ?? 0) + c);
    }
    let best = '';
    let bestN = 1;
    for (const [k, n] of pairs) if (n > bestN || (n === bestN && best !== '' && k < best)) [best, bestN] = [k, n];
    if (best === '') break;
    const [a, b] = best.split('\u0000');
    if (!seen.has(a + b)) {
      pieces.push(a + b);
      seen.add(a + b);
    }
    segs = segs.map(({ parts, c }) => {
      const out: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (i + 1 < parts.length && parts[i] === a && parts[i + 1] === b) out.push(parts[i++] + b);
        else out.push(parts[i]);
      }
      return { parts: out, c };
    });
  }
  // Merged pieces first (highest scores), then single characters, as in llama's vocabularies.
  return [...pieces, ...chars.filter((ch) => !/^<0x[0-9A-F]{2}>$/.test(ch))];
}

describe('SentencePiece BPE vs llama.cpp (vocab-only GGUF)', () => {
  let llama: Llama;
  let model: LlamaModel;
  let tok: Tokenizer;
  let dir: string;

  beforeAll(async () => {
    const spec = spmSpec(trainSpm(corpusSections().join('\n'), 1500));
    dir = mkdtempSync(path.join(tmpdir(), 'brix-spm-'));
    const file = path.join(dir, 'spm-vocab.gguf');
    const kvs = [
      kv.string('general.architecture', 'llama'),
      kv.u32('llama.context_length', 128),
      kv.u32('llama.embedding_length', 64),
      kv.u32('llama.block_count', 1),
      kv.u32('llama.feed_forward_length', 64),
      kv.u32('llama.attention.head_count', 4),
      kv.f32('llama.attention.layer_norm_rms_epsilon', 1e-5),
      kv.string('tokenizer.ggml.model', 'llama'),
      kv.strings('tokenizer.ggml.tokens', spec.tokens),
      kv.f32s('tokenizer.ggml.scores', spec.scores ?? []),
      kv.i32s('tokenizer.ggml.token_type', spec.tokenTypes),
    ];
    writeFileSync(file, await writeGgufToBytes(kvs, []));
    tok = Tokenizer.fromSpec(tokenizerSpecFromMetadata(new GgufMetadata(kvs)));
    // 'fatal': llama.cpp logs "missing tensor 'token_embd.weight'" for a vocab-only file, then loads the vocabulary.
    llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.fatal });
    model = await llama.loadModel({ modelPath: file, vocabOnly: true });
  }, 60_000);
  afterAll(async () => {
    await model?.dispose();
    await llama?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads llama.cpp defaults from the GGUF (BOS 1, EOS 2, UNK 0, add BOS)', () => {
    expect([tok.bos, tok.eos, tok.unk, tok.addBos, tok.addSpacePrefix]).toEqual([1, 2, 0, true, true]);
    expect(tok.vocabSize).toBeGreaterThan(1000);
  });

  it('tokenizes the corpus like llama.cpp, with and without special parsing', () => {
    const mismatches: string[] = [];
    let n = 0;
    for (const text of [...corpus(), '<s>the</s>x', '<unk> and <s>', '']) {
      for (const parseSpecial of [false, true]) {
        const ours = tok.encode(text, { parseSpecial });
        const ref = model.tokenize(text, parseSpecial);
        n += ref.length;
        if (ours.length !== ref.length || ours.some((t, i) => t !== ref[i])) {
          mismatches.push(`${JSON.stringify(text.slice(0, 50))}: ${JSON.stringify(ours.slice(0, 12))} vs ${JSON.stringify(ref.slice(0, 12))}`);
        }
      }
    }
    expect(mismatches.slice(0, 10)).toEqual([]);
    expect(n).toBeGreaterThan(50_000);
  });

  it('decodes like llama.cpp and round-trips plain text', () => {
    for (const text of corpus()) {
      const ids = model.tokenize(text); // equal to ours (previous test), typed as llama.cpp tokens
      expect(tok.decode(ids)).toBe(text);
      expect(tok.decode(ids)).toBe(model.detokenize(ids, true));
    }
  });
});
