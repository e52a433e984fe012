/**
 * @file StreamingDecoder on a byte-level vocabulary: token by token, emoji, CJK and combining sequences whose
 * UTF-8 bytes are split across tokens must never come out as U+FFFD, and the pieces must add up to `decode`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { buildVocab, vocabTokenizerSpec } from '../../scripts/lib/vocab.ts';
import { StreamingDecoder } from '../../workers/tokenizer/streaming.ts';
import { Tokenizer } from '../../workers/tokenizer/tokenizer.ts';
import { corpusSections, generatedCases } from './fixtures/tokenizer/corpus.ts';

let tok: Tokenizer;
beforeAll(() => {
  // The 32k demo vocabulary: few CJK/emoji tokens, so most of those characters span several byte tokens.
  tok = Tokenizer.fromSpec(vocabTokenizerSpec(buildVocab(32_000)));
});

function stream(ids: readonly number[], skipSpecial = false): string[] {
  const dec = new StreamingDecoder(tok, { skipSpecial });
  const out = ids.map((id) => dec.push(id));
  out.push(dec.flush());
  return out;
}

const TEXTS = [
  '😀👍🏽👨‍👩‍👧‍👦🇺🇦 done',
  '中文：我能吞下玻璃而不伤身体。日本語のテキスト、한국어 텍스트',
  'Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇ and 𠀋𠂢𪚥𩸽',
  'हिन्दी ไทย العربية',
];

describe('StreamingDecoder', () => {
  it('really splits characters across tokens in these texts (the case under test)', () => {
    const split = TEXTS.filter((t) => tok.encode(t).some((id) => new TextDecoder().decode(tok.tokenBytes(id)).includes('\ufffd')));
    expect(split.length).toBe(TEXTS.length);
  });

  it('emits only whole characters and adds up to decode(all)', () => {
    for (const text of TEXTS) {
      const ids = tok.encode(text);
      const chunks = stream(ids);
      expect(chunks.join('')).toBe(tok.decode(ids));
      expect(chunks.join('')).toBe(text);
      for (const c of chunks) expect(c).not.toContain('\ufffd');
      // Something was held back at least once.
      expect(chunks.filter((c) => c === '').length).toBeGreaterThan(0);
    }
  });

  it('agrees with decode on the whole corpus', () => {
    for (const text of [...corpusSections(), ...generatedCases()]) {
      const ids = tok.encode(text);
      const chunks = stream(ids);
      expect(chunks.join('')).toBe(text);
      if (!text.includes('\ufffd')) expect(chunks.some((c) => c.includes('\ufffd'))).toBe(false);
    }
  });

  it('skips special tokens when asked, like decode', () => {
    const ids = tok.encode('<|im_start|>assistant\n你好<|im_end|>', { parseSpecial: true });
    expect(stream(ids).join('')).toBe('<|im_start|>assistant\n你好<|im_end|>');
    expect(stream(ids, true).join('')).toBe(tok.decode(ids, { skipSpecial: true }));
    expect(stream(ids, true).join('')).toBe('assistant\n你好');
  });

  it('flush() emits U+FFFD once for a character cut off at the end, then starts clean', () => {
    const ids = tok.encode('😀');
    expect(ids.length).toBeGreaterThan(1);
    const dec = new StreamingDecoder(tok);
    for (const id of ids.slice(0, -1)) expect(dec.push(id)).toBe('');
    expect(dec.flush()).toBe('\ufffd');
    for (const id of ids) dec.push(id);
    expect(dec.flush()).toBe('');
  });
});
