/**
 * @file The wllama adapter (app/engines/wllama.ts) against a fake of the library's completion API: the backend
 * choice (WebGPU on a real GPU, wasm on a software adapter or none), the peer measurement (the text prompt
 * fitted to the asked length, no prompt cache, llama-server's timings as tok/s, medians over the runs after
 * the warm-up), the compare engine's streaming, statistics, Stop and errors, and the model list (the same GGUFs
 * as Brix's).
 */
import { describe, expect, it } from 'vitest';
import type { ChatCompletionChunk, ChatCompletionParams, RawCompletionParams, RawCompletionResponse, ResultTimings } from '@wllama/wllama/esm/index.js';
import {
  WllamaChatEngine,
  measureWllama,
  wllamaBackendFor,
  wllamaProvider,
  wordPrompt,
  type WllamaDeps,
  type WllamaLike,
  type WllamaSource,
} from '../../app/engines/wllama.ts';
import { WllamaEngineError } from '../../app/engines/errors.ts';
import type { ModelEntry } from '../../app/features/models/catalog.ts';
import type { GenerateRequest } from '../../workers/protocol.ts';

const timings = (t: Partial<ResultTimings>): ResultTimings => ({
  cache_n: 0,
  prompt_n: 0,
  prompt_ms: 0,
  prompt_per_token_ms: 0,
  prompt_per_second: 0,
  predicted_n: 0,
  predicted_ms: 0,
  predicted_per_token_ms: 0,
  predicted_per_second: 0,
  ...t,
});

/** Counts 1.5 tokens per word (as a real tokenizer might), times prefill at 1 ms and decode at 10 ms a token. */
class FakeWllama implements WllamaLike {
  readonly requests: RawCompletionParams[] = [];
  readonly chats: ChatCompletionParams[] = [];
  exits = 0;
  cacheN = 0;
  omitTimings = false;
  chunks: ChatCompletionChunk[] = [];
  async createCompletion(options: RawCompletionParams & { stream?: false }): Promise<RawCompletionResponse> {
    this.requests.push(options);
    const words = typeof options.prompt === 'string' ? options.prompt.split(' ').length : 0;
    const promptN = Math.round(words * 1.5);
    const gen = options.max_tokens ?? 0;
    return {
      id: '',
      object: 'text_completion',
      created: 0,
      model: '',
      choices: [{ text: 'x', index: 0, finish_reason: 'length', logprobs: null }],
      usage: { prompt_tokens: promptN, completion_tokens: gen, total_tokens: promptN + gen },
      ...(this.omitTimings ? {} : { timings: timings({ cache_n: this.cacheN, prompt_n: promptN, prompt_ms: promptN, predicted_n: gen, predicted_ms: gen * 10 }) }),
    };
  }
  async createChatCompletion(options: ChatCompletionParams & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>> {
    this.chats.push(options);
    const chunks = this.chunks;
    const signal = options.abortSignal;
    return (async function* () {
      for (const c of chunks) {
        if (signal?.aborted) throw new Error('aborted');
        yield c;
      }
    })();
  }
  async exit(): Promise<void> {
    this.exits++;
  }
}

const chunk = (content: string, finish: ChatCompletionChunk['choices'][number]['finish_reason'] = null, t?: Partial<ResultTimings>): ChatCompletionChunk => ({
  id: '',
  object: 'chat.completion.chunk',
  created: 0,
  model: '',
  choices: [{ index: 0, delta: { content }, finish_reason: finish, logprobs: null }],
  ...(t ? { timings: timings(t) } : {}),
});

describe('wllamaBackendFor', () => {
  it('uses WebGPU on a real GPU and the wasm CPU path on a software adapter or none', () => {
    expect(wllamaBackendFor({ webgpu: true, software: false })).toBe('webgpu');
    expect(wllamaBackendFor({ webgpu: true, software: true })).toBe('wasm');
    expect(wllamaBackendFor({ webgpu: false, software: true })).toBe('wasm');
  });
});

describe('measureWllama', () => {
  const now = (() => {
    let t = 0;
    return () => (t += 5);
  })();

  it('fits the text prompt to the asked length, turns the prompt cache off and reports medians of the measured runs', async () => {
    const w = new FakeWllama();
    const runs: number[] = [];
    const m = await measureWllama(w, { promptTokens: 300, genTokens: 20, runs: 3 }, { backend: 'wasm', now, onRun: (r) => runs.push(r.run) });
    // First try 150 words (225 tokens), then 200 words (300 tokens): one extra warm-up, then three runs.
    expect(w.requests.map((r) => (typeof r.prompt === 'string' ? r.prompt.split(' ').length : -1))).toEqual([150, 200, 200, 200, 200]);
    expect(runs).toEqual([0, 0, 1, 2, 3]);
    for (const r of w.requests) {
      expect(Reflect.get(r, 'cache_prompt')).toBe(false);
      expect(r.ignore_eos).toBe(true);
      expect(r.max_tokens).toBe(20);
      expect(r.top_k).toBe(1);
    }
    expect(m.promptTokens).toBe(300);
    expect(m.prefillTokensPerSecond.median).toBeCloseTo(1000);
    expect(m.decodeTokensPerSecond.median).toBeCloseTo(100);
    expect(m.timeToFirstTokenMs.median).toBeCloseTo(300);
    expect(m.runs).toBe(3);
    expect(m.engine).toBe('wllama 3.8.1');
  });

  it('fails clearly when the prompt came from the cache or timings are missing', async () => {
    const cached = new FakeWllama();
    cached.cacheN = 10;
    await expect(measureWllama(cached, { promptTokens: 30, genTokens: 2, runs: 1 }, { backend: 'wasm', now })).rejects.toThrow(/from its cache/);
    const bare = new FakeWllama();
    bare.omitTimings = true;
    await expect(measureWllama(bare, { promptTokens: 30, genTokens: 2, runs: 1 }, { backend: 'wasm', now })).rejects.toBeInstanceOf(WllamaEngineError);
  });

  it('builds a deterministic prompt of varied words', () => {
    const p = wordPrompt(64).split(' ');
    expect(p).toHaveLength(64);
    expect(new Set(p).size).toBeGreaterThan(40);
    expect(wordPrompt(64)).toBe(wordPrompt(64));
  });
});

const ENTRIES: ModelEntry[] = [
  { id: 'demo', name: 'Brix Demo 30M', origin: 'bundled', url: 'models/demo/manifest.json', sizeBytes: 28e6 },
  { id: 'gone', name: 'A file from last session', origin: 'file' },
];

function deps(w: FakeWllama, over: Partial<WllamaDeps> = {}): WllamaDeps & { created: { source: WllamaSource; backend: string }[] } {
  const created: { source: WllamaSource; backend: string }[] = [];
  return {
    created,
    create: async (source, o) => {
      created.push({ source, backend: o.backend });
      return w;
    },
    adapter: async () => ({ webgpu: true, software: true }),
    entries: () => ENTRIES,
    sourceOf: async (e) => (e.url ? { kind: 'url', url: `http://localhost/${e.url}` } : undefined),
    contextSize: () => 256,
    now: () => 0,
    ...over,
  };
}

const request: GenerateRequest = {
  messages: [{ role: 'user', content: 'Hi' }],
  sampling: { temperature: 0.7, topK: 40, topP: 0.9, repetitionPenalty: 1, maxTokens: 16, seed: 7, stop: [] },
};

describe('WllamaChatEngine', () => {
  it('loads the same GGUF Brix lists, on the wasm path on a software adapter, and streams with wllama timings as statistics', async () => {
    const w = new FakeWllama();
    w.chunks = [chunk('Hel'), chunk('lo'), chunk('', 'length', { prompt_n: 9, prompt_ms: 30, prompt_per_second: 300, predicted_n: 2, predicted_ms: 20, predicted_per_second: 100 })];
    const d = deps(w);
    const provider = wllamaProvider(d);
    const options = await provider.listModels();
    expect(options.map((o) => o.id)).toEqual(['wllama:demo']);
    expect(options[0].note).toMatch(/wasm CPU path/);
    const engine = provider.create(options[0]);
    const info = await engine.load();
    expect(d.created[0]).toEqual({ source: { kind: 'url', url: 'http://localhost/models/demo/manifest.json' }, backend: 'wasm' });
    expect(info.architecture).toMatch(/wasm/);
    const deltas: string[] = [];
    const r = await engine.generate(request, (t) => deltas.push(t.text));
    expect(deltas).toEqual(['Hel', 'lo']);
    expect(r.text).toBe('Hello');
    expect(r.stats.finishReason).toBe('length');
    expect(r.stats.decodeTokensPerSecond).toBe(100);
    expect(r.stats.prefillTokensPerSecond).toBe(300);
    expect(r.stats.timeToFirstTokenMs).toBe(30);
    expect(w.chats[0].messages).toEqual([{ role: 'user', content: 'Hi' }]);
    expect(w.chats[0].seed).toBe(7);
    expect(w.chats[0].top_k).toBe(40);
    await engine.unload();
    expect(w.exits).toBe(1);
  });

  it('uses WebGPU on a real GPU, stops on abort with finish "abort", and explains load failures', async () => {
    const w = new FakeWllama();
    w.chunks = [chunk('a'), chunk('b')];
    const d = deps(w, { adapter: async () => ({ webgpu: true, software: false }) });
    const engine = new WllamaChatEngine({ id: 'wllama:demo', kind: 'wllama', ref: 'demo', name: 'Brix Demo 30M' }, d);
    await engine.load();
    expect(d.created[0].backend).toBe('webgpu');
    const ac = new AbortController();
    const r = await engine.generate(request, () => ac.abort(), ac.signal);
    expect(r.stats.finishReason).toBe('abort');
    expect(r.text).toBe('a');

    const failing = new WllamaChatEngine(
      { id: 'wllama:demo', kind: 'wllama', ref: 'demo', name: 'Brix Demo 30M' },
      deps(w, { create: async () => Promise.reject(new Error('Cannot allocate WebAssembly.Memory')) }),
    );
    await expect(failing.load()).rejects.toThrow(/wllama failed to load Brix Demo 30M: Cannot allocate/);
    const unreadable = new WllamaChatEngine({ id: 'wllama:gone', kind: 'wllama', ref: 'gone', name: 'x' }, deps(w));
    await expect(unreadable.load()).rejects.toBeInstanceOf(WllamaEngineError);
    await expect(new WllamaChatEngine({ id: 'wllama:demo', kind: 'wllama', ref: 'demo', name: 'x' }, deps(w)).generate(request)).rejects.toThrow(/not loaded/);
  });
});
