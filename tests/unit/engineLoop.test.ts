/**
 * @file The engine's generation loop on a fake runner and a tiny byte-level vocabulary: prompt building,
 * KV prefix reuse, EOG / max-tokens / stop strings / abort, the sliding window that keeps the system prompt,
 * stats, and that the engine stays usable after an abort or an error.
 */
import { describe, expect, it } from 'vitest';
import { BrixEngine, type EngineDeps } from '../../workers/engine/engine.ts';
import type { Runner, EvalOptions } from '../../workers/engine/runner.ts';
import { arrayBufferSource } from '../../workers/gguf/byteSource.ts';
import { writeGgufToBytes, kv } from '../../workers/gguf/writer.ts';
import type { ModelConfig } from '../../workers/gguf/arch.ts';
import type { GpuContext } from '../../workers/gpu/device.ts';
import type { GenerateRequest } from '../../workers/protocol.ts';
import { AbortError } from '../../workers/errors.ts';

/** A vocab of single characters a..z, space, and the ChatML/EOG specials; merges none. */
const CHARS = 'abcdefghijklmnopqrstuvwxyz !\n'.split('').map((c) => (c === ' ' ? 'Ġ' : c === '\n' ? 'Ċ' : c));
const SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];

async function tinyGguf(): Promise<Uint8Array> {
  const tokens = [...CHARS, ...SPECIALS];
  return writeGgufToBytes(
    [
      kv.string('general.architecture', 'llama'),
      kv.u32('llama.block_count', 1),
      kv.u32('llama.context_length', 64),
      kv.u32('llama.embedding_length', 4),
      kv.u32('llama.feed_forward_length', 4),
      kv.u32('llama.attention.head_count', 1),
      kv.f32('llama.attention.layer_norm_rms_epsilon', 1e-5),
      kv.string('tokenizer.ggml.model', 'gpt2'),
      kv.string('tokenizer.ggml.pre', 'default'),
      kv.strings('tokenizer.ggml.tokens', tokens),
      kv.i32s('tokenizer.ggml.token_type', tokens.map((_, i) => (i < CHARS.length ? 1 : 3))),
      kv.strings('tokenizer.ggml.merges', []),
      kv.u32('tokenizer.ggml.eos_token_id', CHARS.length),
      kv.u32('tokenizer.ggml.eot_token_id', CHARS.length + 2),
      kv.bool('tokenizer.ggml.add_bos_token', false),
    ],
    tinyTensors(tokens.length),
  );
}

/** Zero F32 tensors with the shapes llama.cpp's loader expects for a 1-layer, 4-wide llama. */
function tinyTensors(nVocab: number): { name: string; dims: number[]; type: 0; data: Uint8Array }[] {
  const t = (name: string, dims: number[]) => ({ name, dims, type: 0 as const, data: new Uint8Array(dims.reduce((a, b) => a * b, 4)) });
  const sq = ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'].map((n) => t(`blk.0.${n}.weight`, [4, 4]));
  return [
    t('token_embd.weight', [4, nVocab]),
    t('output_norm.weight', [4]),
    t('output.weight', [4, nVocab]),
    t('blk.0.attn_norm.weight', [4]),
    t('blk.0.ffn_norm.weight', [4]),
    ...sq,
  ];
}

const id = (c: string): number => CHARS.indexOf(c === ' ' ? 'Ġ' : c);

class FakeRunner implements Runner {
  readonly config = { nLayer: 1, nExpert: 0 } as unknown as ModelConfig; // only what the loop reads
  readonly gpuBytes = 0;
  calls: { tokens: number[]; pos: number }[] = [];
  script: number[] = [];
  failAt = -1;
  /** Aborts this controller inside the next call and rejects as the GPU runner does between prompt chunks. */
  abortInNextCall: AbortController | undefined;
  constructor(readonly nCtx: number) {}
  async evalAndSample(tokens: readonly number[], pos: number, { step, signal }: EvalOptions): Promise<number> {
    if (step === this.failAt) throw new Error('boom');
    this.calls.push({ tokens: [...tokens], pos });
    if (this.abortInNextCall) {
      this.abortInNextCall.abort();
      this.abortInNextCall = undefined;
      if (signal?.aborted) throw new AbortError('prompt processing aborted');
    }
    return this.script[step] ?? id('z');
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

async function setup(
  nCtx = 48,
  lost: Promise<{ destroyed: boolean; message: string }> = new Promise(() => undefined),
): Promise<{ engine: BrixEngine; runner: FakeRunner }> {
  const bytes = await tinyGguf();
  const runner = new FakeRunner(nCtx);
  const fakeGpu = { device: { destroy: () => undefined }, lost } as unknown as GpuContext; // the fake runner never touches the device
  const deps: EngineDeps = {
    acquireGpu: async () => fakeGpu,
    openSource: async () => ({ first: arrayBufferSource(bytes, 'tiny.gguf') }),
    createRunner: async () => runner,
  };
  const engine = new BrixEngine(deps);
  await engine.load({ kind: 'path', path: 'tiny.gguf' }, {});
  return { engine, runner };
}

const req = (content: string, over: Partial<GenerateRequest['sampling']> = {}, system?: string): GenerateRequest => ({
  messages: [...(system ? [{ role: 'system' as const, content: system }] : []), { role: 'user', content }],
  sampling: { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0, maxTokens: 5, stop: [], ...over },
});

describe('BrixEngine generation loop', () => {
  it('streams tokens, stops at EOG, reports stats', async () => {
    const { engine, runner } = await setup();
    runner.script = [id('h'), id('i'), CHARS.length + 2];
    const deltas: string[] = [];
    const r = await engine.generate(req('hey'), (d) => deltas.push(d.text));
    expect(r.text).toBe('hi');
    expect(deltas.join('')).toBe('hi');
    expect(r.stats.finishReason).toBe('eog');
    expect(r.stats.generatedTokens).toBe(2);
    expect(r.stats.promptTokens).toBe(runner.calls[0].tokens.length);
    // The prompt went through the ChatML template with its control tokens.
    expect(runner.calls[0].tokens).toContain(CHARS.length + 1);
    expect(runner.calls[1]).toEqual({ tokens: [id('h')], pos: r.stats.promptTokens });
  });

  it('stops at max tokens and at stop strings, which are never emitted', async () => {
    const { engine, runner } = await setup();
    runner.script = 'abcdefgh'.split('').map(id);
    const r = await engine.generate(req('x', { maxTokens: 3 }));
    expect(r.text).toBe('abc');
    expect(r.stats.finishReason).toBe('length');
    const r2 = await engine.generate(req('x', { maxTokens: 8, stop: ['de'] }));
    expect(r2.text).toBe('abc');
    expect(r2.stats.finishReason).toBe('stop');
  });

  it('reuses the cached prefix on the next turn', async () => {
    const { engine, runner } = await setup(128);
    runner.script = [id('o'), CHARS.length + 2];
    const first = await engine.generate(req('ab'));
    const n1 = first.stats.promptTokens;
    const firstCall = runner.calls[0].tokens;
    runner.calls = [];
    await engine.generate({ ...req('ab'), messages: [...req('ab').messages, { role: 'assistant', content: 'o' }, { role: 'user', content: 'c' }] });
    // Only the new suffix is evaluated: it starts at or after the old prompt.
    expect(runner.calls[0].pos, `first ${firstCall} then ${runner.calls[0].tokens}`).toBeGreaterThanOrEqual(n1);
  });

  it('an aborted signal ends with finishReason abort and the engine stays usable', async () => {
    const { engine, runner } = await setup();
    runner.script = 'abcdefgh'.split('').map(id);
    const ac = new AbortController();
    const r = await engine.generate(req('x', { maxTokens: 8 }), (d) => {
      if (d.text === 'b') ac.abort();
    }, ac.signal);
    expect(r.stats.finishReason).toBe('abort');
    expect(r.text).toBe('ab');
    const again = await engine.generate(req('y', { maxTokens: 2 }));
    expect(again.text).toBe('ab');
  });

  it('an abort while the prompt is processed ends with abort and the next turn re-evaluates that prompt', async () => {
    const { engine, runner } = await setup(128);
    runner.script = [id('o'), CHARS.length + 2];
    await engine.generate(req('ab'));
    const next = { ...req('ab'), messages: [...req('ab').messages, { role: 'assistant' as const, content: 'o' }, { role: 'user' as const, content: 'cd' }] };
    runner.calls = [];
    const ac = new AbortController();
    runner.abortInNextCall = ac;
    const r = await engine.generate(next, undefined, ac.signal);
    expect(r.stats.finishReason).toBe('abort');
    expect(r.text).toBe('');
    const aborted = runner.calls[0];
    runner.calls = [];
    runner.script = [id('k'), CHARS.length + 2];
    expect((await engine.generate(next)).text).toBe('k');
    // The aborted prompt's tokens were not taken as cached: the same suffix runs again from the same position.
    expect(runner.calls[0]).toEqual(aborted);
  });

  it('an error mid-generation leaves the engine usable', async () => {
    const { engine, runner } = await setup();
    runner.failAt = 1;
    await expect(engine.generate(req('x'))).rejects.toThrow('boom');
    runner.failAt = -1;
    runner.script = [id('k'), CHARS.length];
    expect((await engine.generate(req('x'))).text).toBe('k');
  });

  it('drops the oldest turns but keeps the system prompt when the context is too small', async () => {
    const { engine, runner } = await setup(64);
    runner.script = [CHARS.length];
    const long = 'abcdefghijklmnop';
    const r = await engine.generate({
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: long },
        { role: 'assistant', content: long },
        { role: 'user', content: 'q' },
      ],
      sampling: { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0, maxTokens: 8, stop: [] },
    });
    expect(r.stats.truncatedTokens).toBeGreaterThan(0);
    const sent = runner.calls[0].tokens;
    expect(sent.length).toBeLessThanOrEqual(64 - 8);
    const text = sent.map((t) => CHARS[t] ?? '#').join('');
    expect(text).toContain('sys');
    expect(text).toContain('q');
  });

  it('a lost GPU device turns every later call into GpuDeviceLostError', async () => {
    let lose: (v: { destroyed: boolean; message: string }) => void = () => undefined;
    const { engine, runner } = await setup(48, new Promise((r) => (lose = r)));
    runner.script = [id('a'), CHARS.length];
    expect((await engine.generate(req('x'))).text).toBe('a');
    lose({ destroyed: false, message: 'driver reset' });
    await new Promise((r) => setTimeout(r, 0));
    await expect(engine.generate(req('x'))).rejects.toMatchObject({ name: 'GpuDeviceLostError' });
  });

  it('resumes an answer from the tokens already delivered (continueFrom): same text, nothing emitted twice', async () => {
    const { engine, runner } = await setup();
    runner.script = 'abcdef'.split('').map(id);
    const whole = await engine.generate(req('x', { maxTokens: 6, stop: ['ef'] }));
    expect(whole.text).toBe('abcd');
    const promptLen = whole.stats.promptTokens;
    await engine.unload();
    const again = await setup();
    again.runner.script = runner.script;
    const deltas: string[] = [];
    const resumed = await again.engine.generate({ ...req('x', { maxTokens: 6, stop: ['ef'] }), continueFrom: [id('a'), id('b')] }, (d) => deltas.push(d.text));
    expect(resumed.text).toBe(whole.text);
    expect(resumed.tokenIds).toEqual(whole.tokenIds);
    expect(deltas.join('')).toBe('cd');
    expect(resumed.stats.finishReason).toBe('stop');
    // Prompt and delivered tokens in one evaluation; sampling goes on at step 2.
    expect(again.runner.calls[0]).toEqual({ tokens: [...again.runner.calls[0].tokens.slice(0, promptLen), id('a'), id('b')], pos: 0 });
    expect(again.runner.calls[1]).toEqual({ tokens: [id('c')], pos: promptLen + 2 });
  });

  it('simulateDeviceLoss makes the next call a GpuDeviceLostError and tells onDeviceLost; restoreContext fills the cache', async () => {
    let lose: (v: { destroyed: boolean; message: string }) => void = () => undefined;
    const { engine, runner } = await setup(48, new Promise((r) => (lose = r)));
    runner.script = [id('a'), CHARS.length];
    const first = await engine.generate(req('x'));
    // A fresh engine (as after a reload) gets the conversation back into its cache in one evaluation...
    const other = await setup();
    other.runner.script = [id('b'), CHARS.length];
    await other.engine.restoreContext(req('x'), first.tokenIds);
    expect(other.runner.calls).toHaveLength(1);
    expect(other.runner.calls[0].tokens.at(-1)).toBe(id('a'));
    // ...and the next turn of that conversation evaluates only what is new.
    await other.engine.generate({ ...req('x'), messages: [...req('x').messages, { role: 'assistant', content: 'a' }, { role: 'user', content: 'y' }] });
    expect(other.runner.calls[1].pos).toBeGreaterThan(first.stats.promptTokens);
    const seen: string[] = [];
    engine.onDeviceLost((e) => seen.push(e.name));
    expect(engine.simulateDeviceLoss()).toBe(true);
    await expect(engine.generate(req('x'))).rejects.toMatchObject({ name: 'GpuDeviceLostError' });
    lose({ destroyed: true, message: 'destroyed' }); // what device.destroy() resolves `lost` with
    await new Promise((r) => setTimeout(r, 0));
    expect(seen).toEqual(['GpuDeviceLostError']);
  });

  it('passes the load options (context size, activation precision) to the runner, and no activations unless asked', async () => {
    const bytes = await tinyGguf();
    const seen: { contextSize?: number; activations?: string }[] = [];
    const fakeGpu = { device: { destroy: () => undefined }, lost: new Promise(() => undefined) } as unknown as GpuContext;
    const engine = new BrixEngine({
      acquireGpu: async () => fakeGpu,
      openSource: async () => ({ first: arrayBufferSource(bytes, 'tiny.gguf') }),
      createRunner: async ({ options }) => {
        seen.push(options);
        return new FakeRunner(48);
      },
    });
    await engine.load({ kind: 'path', path: 'tiny.gguf' }, { contextSize: 40, activations: 'int8' });
    await engine.unload();
    await engine.load({ kind: 'path', path: 'tiny.gguf' }, {});
    expect(seen).toEqual([{ contextSize: 40, activations: 'int8' }, { contextSize: undefined }]);
    expect('activations' in seen[1]).toBe(false);
  });

  it('refuses to generate without a model', async () => {
    const engine = new BrixEngine({
      acquireGpu: async () => {
        throw new Error('unused');
      },
      openSource: async () => {
        throw new Error('unused');
      },
      createRunner: async () => {
        throw new Error('unused');
      },
    });
    await expect(engine.generate(req('x'))).rejects.toMatchObject({ name: 'EngineStateError' });
  });
});
