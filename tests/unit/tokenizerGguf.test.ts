/**
 * @file GGUF metadata → TokenizerSpec: llama.cpp's defaults for absent keys, dropped out-of-range special ids,
 * and named errors for files without a usable tokenizer.
 */
import { describe, expect, it } from 'vitest';
import { GgufError } from '../../workers/gguf/errors.ts';
import { GgufMetadata, type GgufKv } from '../../workers/gguf/metadata.ts';
import { kv } from '../../workers/gguf/writer.ts';
import { tokenizerSpecFromMetadata } from '../../workers/tokenizer/fromGguf.ts';
import { TokenizerError } from '../../workers/tokenizer/spec.ts';
import { Tokenizer } from '../../workers/tokenizer/tokenizer.ts';

const bytes = Array.from({ length: 20 }, (_, i) => String.fromCharCode(0x21 + i)); // "!".."4"
const gpt2 = (extra: GgufKv[] = []) =>
  new GgufMetadata([
    kv.string('tokenizer.ggml.model', 'gpt2'),
    kv.strings('tokenizer.ggml.tokens', [...bytes, '!"', '<|im_end|>']),
    kv.strings('tokenizer.ggml.merges', ['! "']),
    ...extra,
  ]);

describe('tokenizerSpecFromMetadata', () => {
  it('reads a byte-level BPE tokenizer with llama.cpp defaults (BOS = EOS = 11, no BOS added, pre default)', () => {
    const spec = tokenizerSpecFromMetadata(gpt2());
    expect(spec.model).toBe('gpt2');
    expect(spec.pre).toBe('default');
    expect(spec.tokens).toHaveLength(22);
    expect(spec.tokenTypes).toEqual([]);
    expect(spec.merges).toEqual(['! "']);
    expect([spec.bos, spec.eos, spec.eot, spec.pad, spec.unk]).toEqual([11, 11, undefined, undefined, undefined]);
    expect([spec.addBos, spec.addEos]).toEqual([false, false]);
    expect(spec.chatTemplate).toBeUndefined();
    const tok = Tokenizer.fromSpec(spec);
    expect(tok.encode('!"#')).toEqual([20, 2]);
    expect(tok.eot).toBe(21); // found by text
  });

  it('takes explicit ids, flags, template; llama-3 pre-tokenizers add BOS by default', () => {
    const spec = tokenizerSpecFromMetadata(
      gpt2([
        kv.string('tokenizer.ggml.pre', 'llama-bpe'),
        kv.u32('tokenizer.ggml.bos_token_id', 1),
        kv.u32('tokenizer.ggml.eos_token_id', 21),
        kv.u32('tokenizer.ggml.padding_token_id', 3),
        kv.string('tokenizer.chat_template', '{{ x }}'),
      ]),
    );
    expect([spec.bos, spec.eos, spec.pad, spec.addBos]).toEqual([1, 21, 3, true]);
    expect(spec.chatTemplate).toBe('{{ x }}');
    const off = tokenizerSpecFromMetadata(gpt2([kv.string('tokenizer.ggml.pre', 'llama-bpe'), kv.bool('tokenizer.ggml.add_bos_token', false)]));
    expect(off.addBos).toBe(false);
  });

  it('drops special ids outside the vocabulary, as llama.cpp does', () => {
    const spec = tokenizerSpecFromMetadata(gpt2([kv.u32('tokenizer.ggml.eos_token_id', 999), kv.u32('tokenizer.ggml.eot_token_id', 22)]));
    expect(spec.eos).toBeUndefined();
    expect(spec.eot).toBeUndefined();
  });

  it('SentencePiece defaults: BOS 1, EOS 2, UNK 0, add BOS, space prefix', () => {
    const spec = tokenizerSpecFromMetadata(
      new GgufMetadata([
        kv.string('tokenizer.ggml.model', 'llama'),
        kv.strings('tokenizer.ggml.tokens', ['<unk>', '<s>', '</s>', '▁a']),
        kv.f32s('tokenizer.ggml.scores', [0, 0, 0, -1]),
        kv.i32s('tokenizer.ggml.token_type', [2, 3, 3, 1]),
      ]),
    );
    expect([spec.bos, spec.eos, spec.unk, spec.addBos, spec.addSpacePrefix]).toEqual([1, 2, 0, true, true]);
    expect(Tokenizer.fromSpec(spec).encode('a', { addSpecial: true })).toEqual([1, 3]);
  });

  it('names what is missing or wrong', () => {
    expect(() => tokenizerSpecFromMetadata(new GgufMetadata([]))).toThrow(TokenizerError);
    expect(() => tokenizerSpecFromMetadata(new GgufMetadata([]))).toThrow(/no tokenizer/);
    const bert = new GgufMetadata([kv.string('tokenizer.ggml.model', 'bert'), kv.strings('tokenizer.ggml.tokens', ['a'])]);
    expect(() => tokenizerSpecFromMetadata(bert)).toThrow(/unsupported tokenizer model 'bert'/);
    const noMerges = new GgufMetadata([kv.string('tokenizer.ggml.model', 'gpt2'), kv.strings('tokenizer.ggml.tokens', ['a'])]);
    expect(() => tokenizerSpecFromMetadata(noMerges)).toThrow(/without merges/);
    const shortTypes = gpt2([kv.i32s('tokenizer.ggml.token_type', [1, 1])]);
    expect(() => tokenizerSpecFromMetadata(shortTypes)).toThrow(/token_type has 2 entries for 22 tokens/);
    const mistyped = new GgufMetadata([kv.string('tokenizer.ggml.model', 'gpt2'), kv.string('tokenizer.ggml.tokens', 'abc')]);
    expect(() => tokenizerSpecFromMetadata(mistyped)).toThrow(GgufError);
    const unknownPre = tokenizerSpecFromMetadata(gpt2([kv.string('tokenizer.ggml.pre', 'mystery')]));
    expect(() => Tokenizer.fromSpec(unknownPre)).toThrow(/unknown pre-tokenizer 'mystery'/);
  });
});
