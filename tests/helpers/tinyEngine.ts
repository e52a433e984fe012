/**
 * @file A BrixEngine on a fake runner and a tiny byte-level vocabulary (every printable ASCII character, newline
 * and the ChatML specials as control tokens), with the chat template of your choice in the GGUF: for tests of
 * prompt building, templates and errors through the engine, the worker protocol and `serve`, without a GPU.
 */
import { BrixEngine, type EngineDeps } from '../../workers/engine/engine.ts';
import type { Runner, EvalOptions } from '../../workers/engine/runner.ts';
import { arrayBufferSource } from '../../workers/gguf/byteSource.ts';
import { writeGgufToBytes, kv } from '../../workers/gguf/writer.ts';
import type { ModelConfig } from '../../workers/gguf/arch.ts';
import type { GpuContext } from '../../workers/gpu/device.ts';
import { Tokenizer } from '../../workers/tokenizer/tokenizer.ts';
import { tokenizerSpecFromMetadata } from '../../workers/tokenizer/fromGguf.ts';
import { readGguf } from '../../workers/gguf/reader.ts';

/** Byte-level spellings of ' '..'~' and '\n' (GPT-2's byte map: space → Ġ, newline → Ċ). */
export const TINY_CHARS = [...Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i)), '\n'].map((c) =>
  c === ' ' ? 'Ġ' : c === '\n' ? 'Ċ' : c,
);
export const TINY_SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
export const IM_START = TINY_CHARS.length + 1;
export const IM_END = TINY_CHARS.length + 2;

export async function tinyGguf(template?: string): Promise<Uint8Array> {
  const tokens = [...TINY_CHARS, ...TINY_SPECIALS];
  const t = (name: string, dims: number[]) => ({ name, dims, type: 0 as const, data: new Uint8Array(dims.reduce((a, b) => a * b, 4)) });
  const sq = ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'].map((n) => t(`blk.0.${n}.weight`, [4, 4]));
  return writeGgufToBytes(
    [
      kv.string('general.architecture', 'llama'),
      kv.u32('llama.block_count', 1),
      kv.u32('llama.context_length', 4096),
      kv.u32('llama.embedding_length', 4),
      kv.u32('llama.feed_forward_length', 4),
      kv.u32('llama.attention.head_count', 1),
      kv.f32('llama.attention.layer_norm_rms_epsilon', 1e-5),
      kv.string('tokenizer.ggml.model', 'gpt2'),
      kv.string('tokenizer.ggml.pre', 'default'),
      kv.strings('tokenizer.ggml.tokens', tokens),
      kv.i32s('tokenizer.ggml.token_type', tokens.map((_, i) => (i < TINY_CHARS.length ? 1 : 3))),
      kv.strings('tokenizer.ggml.merges', []),
      kv.u32('tokenizer.ggml.eos_token_id', TINY_CHARS.length),
      kv.u32('tokenizer.ggml.eot_token_id', IM_END),
      kv.bool('tokenizer.ggml.add_bos_token', false),
      ...(template !== undefined ? [kv.string('tokenizer.chat_template', template)] : []),
    ],
    [
      t('token_embd.weight', [4, tokens.length]),
      t('output_norm.weight', [4]),
      t('output.weight', [4, tokens.length]),
      t('blk.0.attn_norm.weight', [4]),
      t('blk.0.ffn_norm.weight', [4]),
      ...sq,
    ],
  );
}

export async function tinyTokenizer(): Promise<Tokenizer> {
  const bytes = await tinyGguf();
  return Tokenizer.fromSpec(tokenizerSpecFromMetadata((await readGguf(arrayBufferSource(bytes, 'tiny.gguf'))).metadata));
}

/** Records each call; answers 'ok' then end of turn. */
export class FakeRunner implements Runner {
  readonly config = { nLayer: 1, nExpert: 0 } as unknown as ModelConfig; // only what the loop reads
  readonly gpuBytes = 0;
  calls: { tokens: number[]; pos: number }[] = [];
  script: number[] = ['o', 'k'].map((c) => TINY_CHARS.indexOf(c)).concat([IM_END]);
  constructor(readonly nCtx: number) {}
  async evalAndSample(tokens: readonly number[], pos: number, { step }: EvalOptions): Promise<number> {
    this.calls.push({ tokens: [...tokens], pos });
    return this.script[step] ?? IM_END;
  }
  async evalLogits(): Promise<Float32Array[]> {
    return [];
  }
  async expertUsage(): Promise<number[][]> {
    return [];
  }
  resetExpertUsage(): void {}
  destroy(): void {}
}

/** An engine (not yet loaded) whose model has `template`; `runner` is what it will run on. */
export async function tinyEngine(template?: string, nCtx = 4096): Promise<{ engine: BrixEngine; runner: FakeRunner }> {
  const bytes = await tinyGguf(template);
  const runner = new FakeRunner(nCtx);
  const fakeGpu = { device: { destroy: () => undefined }, lost: new Promise(() => undefined) } as unknown as GpuContext; // the fake runner never touches the device
  const deps: EngineDeps = {
    acquireGpu: async () => fakeGpu,
    openSource: async () => ({ first: arrayBufferSource(bytes, 'tiny.gguf') }),
    createRunner: async () => runner,
  };
  return { engine: new BrixEngine(deps), runner };
}
