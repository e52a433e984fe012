/**
 * @file The WebLLM adapter (app/engines/webllm.ts) against the library's real types and its real `Chat`
 * front (so `chat.completions.create` goes through web-llm's own code into our fake `chatCompletion`): the
 * request it sends (messages, stream + include_usage, sampling), init reports as LoadProgress (download bytes
 * in MiB, cache upload, shader steps), statistics from usage.extra and measured where missing, Stop calling
 * interruptGenerate, offline loads failing with OfflineError (unless cached), network failures while loading
 * explained, unload/dispose, and the catalog filtered to chat models.
 */
import { describe, expect, it } from 'vitest';
import {
  Chat,
  Completions,
  Embeddings,
  prebuiltAppConfig,
  type AppConfig,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionRequest,
  type ChatCompletionRequestBase,
  type ChatCompletionRequestNonStreaming,
  type ChatCompletionRequestStreaming,
  type Completion,
  type CompletionCreateParams,
  type CompletionCreateParamsBase,
  type CompletionCreateParamsNonStreaming,
  type CompletionCreateParamsStreaming,
  type CreateEmbeddingResponse,
  type InitProgressCallback,
  type InitProgressReport,
  type LogLevel,
  type MLCEngineInterface,
  type ModelRecord,
  type ResumeProbeResult,
  type ResumeResult,
} from '@mlc-ai/web-llm';
import {
  WebLLMChatEngine,
  explainLoadError,
  progressFromReport,
  reportedFromUsage,
  toWebLLMRequest,
  webllmOption,
  webllmProvider,
  type WebLLMDeps,
} from '../../app/engines/webllm.ts';
import { OfflineError, WebLLMError } from '../../app/engines/errors.ts';
import type { GenerateRequest, LoadProgress } from '../../workers/protocol.ts';

const MiB = 1024 * 1024;

/** An MLCEngineInterface whose chatCompletion streams scripted chunks; it records requests and interrupts. */
class FakeMLCEngine implements MLCEngineInterface {
  readonly chat: Chat = new Chat(this);
  readonly completions: Completions = new Completions(this);
  readonly embeddings: Embeddings = new Embeddings(this);
  readonly requests: ChatCompletionRequestBase[] = [];
  interrupts = 0;
  unloads = 0;
  private interrupted = false;

  constructor(
    private readonly chunks: readonly ChatCompletionChunk[],
    /** Called before each chunk is yielded (to interrupt mid-stream). */
    private readonly beforeChunk: (i: number) => void = () => undefined,
  ) {}

  setInitProgressCallback(): void {}
  getInitProgressCallback(): InitProgressCallback | undefined {
    return undefined;
  }
  setAppConfig(_c: AppConfig): void {}
  async reload(): Promise<void> {}

  chatCompletion(request: ChatCompletionRequestNonStreaming): Promise<ChatCompletion>;
  chatCompletion(request: ChatCompletionRequestStreaming): Promise<AsyncIterable<ChatCompletionChunk>>;
  chatCompletion(request: ChatCompletionRequestBase): Promise<AsyncIterable<ChatCompletionChunk> | ChatCompletion>;
  chatCompletion(request: ChatCompletionRequest): Promise<AsyncIterable<ChatCompletionChunk> | ChatCompletion>;
  async chatCompletion(request: ChatCompletionRequestBase): Promise<AsyncIterable<ChatCompletionChunk> | ChatCompletion> {
    this.requests.push(request);
    this.interrupted = false;
    const chunks = this.chunks;
    const before = this.beforeChunk;
    const self = this;
    async function* gen(): AsyncGenerator<ChatCompletionChunk> {
      for (const [i, c] of chunks.entries()) {
        before(i);
        // Like WebLLM: after interruptGenerate the stream ends with finish_reason "abort".
        if (self.interrupted) {
          yield chunk(null, 'abort');
          return;
        }
        yield c;
      }
    }
    return gen();
  }

  completion(request: CompletionCreateParamsNonStreaming): Promise<Completion>;
  completion(request: CompletionCreateParamsStreaming): Promise<AsyncIterable<Completion>>;
  completion(request: CompletionCreateParamsBase): Promise<AsyncIterable<Completion> | Completion>;
  completion(request: CompletionCreateParams): Promise<AsyncIterable<Completion> | Completion>;
  async completion(): Promise<AsyncIterable<Completion> | Completion> {
    throw new Error('not used');
  }
  async embedding(): Promise<CreateEmbeddingResponse> {
    throw new Error('not used');
  }
  async listResumableSessions(): Promise<ResumeProbeResult[]> {
    return [];
  }
  async resumeChatCompletion(): Promise<ResumeResult | AsyncIterable<ChatCompletionChunk>> {
    throw new Error('not used');
  }
  async deleteResumableSession(): Promise<void> {}
  runtimeStatsText = async (): Promise<string> => '';
  interruptGenerate = (): void => {
    this.interrupts++;
    this.interrupted = true;
  };
  unload = async (): Promise<void> => {
    this.unloads++;
  };
  resetChat = async (): Promise<void> => {};
  getMessage = async (): Promise<string> => '';
  async getMaxStorageBufferBindingSize(): Promise<number> {
    return 128 * MiB;
  }
  async getGPUVendor(): Promise<string> {
    return '';
  }
  async forwardTokensAndSample(): Promise<number> {
    return 0;
  }
  setLogLevel(_l: LogLevel): void {}
}

function chunk(content: string | null, finish: ChatCompletionChunk.Choice['finish_reason'] = null): ChatCompletionChunk {
  return { id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finish }] };
}

const USAGE_CHUNK: ChatCompletionChunk = {
  id: 'x',
  object: 'chat.completion.chunk',
  created: 0,
  model: 'm',
  choices: [],
  usage: {
    prompt_tokens: 12,
    completion_tokens: 3,
    total_tokens: 15,
    extra: { e2e_latency_s: 0.5, prefill_tokens_per_s: 240, decode_tokens_per_s: 31.5, time_to_first_token_s: 0.05, time_per_output_token_s: 0.03 },
  },
};

const REQUEST: GenerateRequest = {
  messages: [
    { role: 'system', content: 'sys' },
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello' },
    { role: 'user', content: 'More' },
  ],
  sampling: { temperature: 0.7, topK: 40, topP: 0.95, repetitionPenalty: 1.1, seed: 3, maxTokens: 16, stop: ['###'] },
};

const OPTION = webllmOption({ model: 'https://huggingface.co/mlc-ai/x', model_id: 'SmolLM2-135M-Instruct-q0f32-MLC', model_lib: 'lib.wasm', vram_required_MB: 629.5 });

function deps(over: Partial<WebLLMDeps> & { engine?: FakeMLCEngine; reports?: readonly InitProgressReport[] } = {}): WebLLMDeps & { terminated: () => number } {
  let terminated = 0;
  let t = 0;
  const engine = over.engine ?? new FakeMLCEngine([]);
  return {
    create:
      over.create ??
      (async (_id, onReport) => {
        for (const r of over.reports ?? []) onReport(r);
        return { engine, terminate: () => terminated++ };
      }),
    modelList: over.modelList ?? (async () => []),
    isOnline: over.isOnline ?? (() => true),
    isCached: over.isCached ?? (async () => false),
    now: over.now ?? (() => (t += 10)),
    terminated: () => terminated,
  };
}

describe('request mapping', () => {
  it('maps messages by role and the sampling fields; stream with include_usage', () => {
    const r = toWebLLMRequest(REQUEST);
    expect(r).toEqual({
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello' },
        { role: 'user', content: 'More' },
      ],
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.7,
      top_p: 0.95,
      max_tokens: 16,
      seed: 3,
      repetition_penalty: 1.1,
      stop: ['###'],
    });
    const plain = toWebLLMRequest({ ...REQUEST, sampling: { ...REQUEST.sampling, repetitionPenalty: 1, stop: [] } });
    expect('repetition_penalty' in plain).toBe(false);
    expect('stop' in plain).toBe(false);
  });
});

describe('progressFromReport', () => {
  it("reads bytes (MiB) from WebLLM's fetch texts, with rate and time left", () => {
    const p = progressFromReport({
      progress: 0.25,
      timeElapsed: 10,
      text: 'Fetching param cache[3/108]: 150MB fetched. 25% completed, 10 secs elapsed. It can take a while when we first visit this page to populate the cache. Later refreshes will become faster.',
    });
    expect(p.phase).toBe('download');
    expect(p.loaded).toBe(150 * MiB);
    expect(p.total).toBe(600 * MiB);
    expect(p.rate).toBe(15 * MiB);
    expect(p.etaSeconds).toBeCloseTo(30);
  });

  it('maps loading from its cache to upload, shader modules to compile steps, and anything else to thousandths', () => {
    expect(progressFromReport({ progress: 0.5, timeElapsed: 1, text: 'Loading model from cache[2/4]: 64MB loaded. 50% completed, 1 secs elapsed.' })).toMatchObject({
      phase: 'upload',
      loaded: 64 * MiB,
      total: 128 * MiB,
    });
    expect(progressFromReport({ progress: 0.24, timeElapsed: 3, text: 'Loading GPU shader modules[12/50]: 24% completed, 3 secs elapsed.' })).toEqual({
      phase: 'compile',
      loaded: 12,
      total: 50,
    });
    expect(progressFromReport({ progress: 0, timeElapsed: 0, text: 'Start to fetch params' })).toEqual({ phase: 'download', loaded: 0, total: 1000 });
    expect(progressFromReport({ progress: 1, timeElapsed: 9, text: 'Finish loading on WebGPU - swiftshader' })).toEqual({ phase: 'download', loaded: 1000, total: 1000 });
  });
});

describe('WebLLMChatEngine', () => {
  it('loads through create with mapped progress (and the raw text), and reports the catalog VRAM as gpuBytes', async () => {
    const seen: { p: LoadProgress; text?: string }[] = [];
    const d = deps({ reports: [{ progress: 0.5, timeElapsed: 2, text: 'Fetching param cache[1/2]: 10MB fetched. 50% completed, 2 secs elapsed.' }] });
    const e = new WebLLMChatEngine(OPTION, d);
    const info = await e.load((p, text) => seen.push({ p, text }));
    expect(seen).toHaveLength(1);
    expect(seen[0].p).toMatchObject({ phase: 'download', loaded: 10 * MiB, total: 20 * MiB });
    expect(seen[0].text).toMatch(/^Fetching param cache/);
    expect(info.name).toBe('SmolLM2-135M-Instruct-q0f32-MLC');
    expect(info.architecture).toBe('webllm');
    expect(info.gpuBytes).toBe(629.5 * MiB);
  });

  it('streams through chat.completions.create and takes TTFT and speeds from usage.extra', async () => {
    const fake = new FakeMLCEngine([chunk('Hel'), chunk('lo'), chunk('', 'stop'), USAGE_CHUNK]);
    const e = new WebLLMChatEngine(OPTION, deps({ engine: fake }));
    await e.load();
    const deltas: string[] = [];
    const r = await e.generate(REQUEST, (d) => deltas.push(d.text));
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]).toMatchObject({ stream: true, stream_options: { include_usage: true }, seed: 3, max_tokens: 16 });
    expect(deltas).toEqual(['Hel', 'lo']);
    expect(r.text).toBe('Hello');
    expect(r.stats).toMatchObject({
      promptTokens: 12,
      generatedTokens: 3,
      timeToFirstTokenMs: 50,
      prefillTokensPerSecond: 240,
      decodeTokensPerSecond: 31.5,
      finishReason: 'eog',
    });
  });

  it('measures TTFT and decode speed on the client when there is no usage; length maps to length', async () => {
    const fake = new FakeMLCEngine([chunk('a'), chunk('b'), chunk('c', 'length')]);
    const e = new WebLLMChatEngine(OPTION, deps({ engine: fake }));
    await e.load();
    const r = await e.generate(REQUEST);
    expect(r.stats.finishReason).toBe('length');
    expect(r.stats.generatedTokens).toBe(3);
    expect(r.stats.timeToFirstTokenMs).toBeGreaterThan(0);
    expect(r.stats.decodeTokensPerSecond).toBeGreaterThan(0);
    expect(Number.isNaN(r.stats.promptTokens)).toBe(true);
    expect(reportedFromUsage(undefined)).toEqual({});
  });

  it('Stop calls interruptGenerate; the answer so far is the result with finishReason abort', async () => {
    const ac = new AbortController();
    const fake = new FakeMLCEngine([chunk('one '), chunk('two '), chunk('three '), chunk('', 'stop')], (i) => {
      if (i === 2) ac.abort();
    });
    const e = new WebLLMChatEngine(OPTION, deps({ engine: fake }));
    await e.load();
    const r = await e.generate(REQUEST, undefined, ac.signal);
    expect(fake.interrupts).toBe(1);
    expect(r.text).toBe('one two ');
    expect(r.stats.finishReason).toBe('abort');
  });

  it('offline and not cached: OfflineError before anything starts; cached: loads', async () => {
    let created = 0;
    const offline = deps({
      isOnline: () => false,
      create: async () => {
        created++;
        return { engine: new FakeMLCEngine([]), terminate: () => undefined };
      },
    });
    const err = await new WebLLMChatEngine(OPTION, offline).load().catch((x: unknown) => x);
    expect(err).toBeInstanceOf(OfflineError);
    expect(err instanceof Error && err.message).toMatch(/offline/);
    expect(created).toBe(0);
    const cached = deps({ isOnline: () => false, isCached: async () => true });
    await expect(new WebLLMChatEngine(OPTION, cached).load()).resolves.toMatchObject({ name: OPTION.ref });
  });

  it('a network failure while loading is OfflineError; anything else WebLLMError', async () => {
    const failing = (msg: string): WebLLMDeps =>
      deps({
        create: async () => {
          throw new TypeError(msg);
        },
      });
    await expect(new WebLLMChatEngine(OPTION, failing('Failed to fetch')).load()).rejects.toBeInstanceOf(OfflineError);
    const other = await new WebLLMChatEngine(OPTION, failing('Cannot find adapter that matches the request')).load().catch((x: unknown) => x);
    expect(other).toBeInstanceOf(WebLLMError);
    expect(other instanceof Error && other.message).toMatch(/Cannot find adapter/);
    expect(explainLoadError(new Error('boom'), 'm', false)).toBeInstanceOf(OfflineError);
  });

  it('generate before load is a WebLLMError; dispose unloads and terminates the worker', async () => {
    const fake = new FakeMLCEngine([]);
    const d = deps({ engine: fake });
    const e = new WebLLMChatEngine(OPTION, d);
    await expect(e.generate(REQUEST)).rejects.toBeInstanceOf(WebLLMError);
    await e.load();
    e.dispose();
    await expect.poll(() => d.terminated()).toBe(1);
    expect(fake.unloads).toBe(1);
  });
});

describe('catalog', () => {
  it("lists WebLLM's prebuilt chat models (no embedding or vision models) with their VRAM estimate", async () => {
    const list: readonly ModelRecord[] = prebuiltAppConfig.model_list;
    const p = webllmProvider(deps({ modelList: async () => list }));
    const opts = await p.listModels();
    expect(opts.length).toBeGreaterThan(10);
    expect(opts.length).toBeLessThan(list.length);
    for (const o of opts) {
      expect(o.id).toBe(`webllm:${o.ref}`);
      expect(o.kind).toBe('webllm');
    }
    expect(opts.some((o) => /embed/i.test(o.ref))).toBe(false);
    const withVram = list.find((r) => r.vram_required_MB !== undefined && opts.some((o) => o.ref === r.model_id));
    expect(withVram).toBeDefined();
    if (withVram?.vram_required_MB !== undefined) {
      expect(opts.find((o) => o.ref === withVram.model_id)?.gpuBytesEstimate).toBe(withVram.vram_required_MB * MiB);
    }
    expect(p.create(opts[0])).toBeInstanceOf(WebLLMChatEngine);
  });
});
