/**
 * @file wllama (`@wllama/wllama` 3.8.1: llama.cpp compiled to one wasm with its WebGPU backend built in) behind
 * the engines' interface (a Chat and Compare engine; app/appStore.ts holds the one provider), and the measurement `bench:browser --peer wllama` runs through it. It runs the
 * same GGUF files as Brix (the app's model list: catalog, bundled demo, added URLs, picked files), on the GPU
 * through llama.cpp's WebGPU backend where the adapter is a real GPU, else on its wasm CPU path (which beats any
 * software WebGPU adapter). Only types come from the library here; wllamaBrowser.ts loads it lazily.
 */
import type {
  ChatCompletionChunk,
  ChatCompletionMessage,
  ChatCompletionParams,
  RawCompletionParams,
  RawCompletionResponse,
  ResultTimings,
} from '@wllama/wllama/esm/index.js';
import { AbortError } from '../../workers/errors.ts';
import { spread } from '../../workers/bench/bench.ts';
import type { BenchParams, Spread } from '../../workers/measurement.ts';
import type { ChatMessage, FinishReason, GenerateRequest, GenerationResult, LoadProgress, ModelInfo, TokenDelta } from '../../workers/protocol.ts';
import type { ModelEntry } from '../features/models/catalog.ts';
import { WllamaEngineError } from './errors.ts';
import { StatsClock, type ReportedStats } from './stats.ts';
import { opaqueModelInfo, optionId, type ChatEngine, type EngineProvider, type ModelOption } from './types.ts';

export const WLLAMA_VERSION = '3.8.1';

/** Where wllama computes: llama.cpp's WebGPU backend, or its wasm CPU path. */
export type WllamaBackend = 'webgpu' | 'wasm';

/** What the adapter probe says, as far as the backend choice needs it. */
export interface AdapterKind {
  /** A WebGPU adapter exists. */
  readonly webgpu: boolean;
  /** It is a software one (SwiftShader, lavapipe: isFallbackAdapter or a CPU device). */
  readonly software: boolean;
}

/**
 * WebGPU on a real GPU; the wasm CPU path on a software adapter or none. On SwiftShader wllama's wasm path
 * decodes faster than any WebGPU engine (bench:browser --peer wllama measures it), so that is what it uses there.
 */
export function wllamaBackendFor(a: AdapterKind): WllamaBackend {
  return a.webgpu && !a.software ? 'webgpu' : 'wasm';
}

/** Where the GGUF comes from: a URL (the first split part; wllama finds the others) or blobs (a picked file). */
export type WllamaSource = { readonly kind: 'url'; readonly url: string } | { readonly kind: 'blobs'; readonly blobs: readonly Blob[] };

/** The part of the `Wllama` class used here, so tests can pass a fake. */
export interface WllamaLike {
  createCompletion(options: RawCompletionParams & { stream?: false }): Promise<RawCompletionResponse>;
  createChatCompletion(options: ChatCompletionParams & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
  exit(): Promise<void>;
}

export interface WllamaLoadOptions {
  readonly backend: WllamaBackend;
  readonly contextSize: number;
  readonly onProgress?: (loaded: number, total: number) => void;
  readonly signal?: AbortSignal;
}

export interface WllamaDeps {
  /** Loads the library and the model (wllamaBrowser.ts). */
  create(source: WllamaSource, o: WllamaLoadOptions): Promise<WllamaLike>;
  /** The adapter, for the backend choice. */
  adapter(): Promise<AdapterKind>;
  /** The app's model list. */
  entries(): readonly ModelEntry[];
  /** The URL (absolute) of an entry's GGUF, or its blob; undefined where wllama cannot read it. */
  sourceOf(entry: ModelEntry): Promise<WllamaSource | undefined>;
  readonly contextSize: () => number;
  readonly now: () => number;
}

const WORDS = (
  'the of and to in is was for on that with as by at from his her they you this are be have had not but what all were when ' +
  'we there can an your which their said if do will each about how up out them then she many some so these would other ' +
  'into has more two like him see time could no make than first been its who now people my made over did down only way ' +
  'find use may water long little very after words called just where most know get through back much before go good new'
).split(' ');

/**
 * A deterministic text of `n` ordinary English words, in a scrambled order (so a MoE router sees varied
 * tokens, as with Brix's bench prompt). wllama 3.8 takes text prompts only (a token-id prompt crashes its
 * worker), so the measurement calibrates the word count to the prompt length it wants.
 */
export function wordPrompt(n: number): string {
  return Array.from({ length: n }, (_, i) => WORDS[(i * 61 + Math.floor(i / WORDS.length)) % WORDS.length]).join(' ');
}

/** One run of the peer measurement (run 0 is the warm-up). */
export interface PeerRun {
  readonly run: number;
  readonly runs: number;
  readonly prefillTokensPerSecond: number;
  readonly decodeTokensPerSecond: number;
  readonly timeToFirstTokenMs: number;
}

/** wllama's figures for the same prompt and token counts as Brix's bench (llama-server's own timings). */
export interface PeerMeasurement {
  readonly engine: string;
  readonly backend: WllamaBackend;
  readonly genTokens: number;
  readonly runs: number;
  readonly prefillTokensPerSecond: Spread;
  readonly decodeTokensPerSecond: Spread;
  /** Prompt tokens llama.cpp counted (median over the runs): the text prompt is fitted to the asked length. */
  readonly promptTokens: number;
  /** Prompt evaluation time (llama-server's prompt_ms), the time to the first token. */
  readonly timeToFirstTokenMs: Spread;
  /** Wall time of each whole request, measured here. */
  readonly wallMs: Spread;
}

function timingsOf(r: RawCompletionResponse): ResultTimings {
  const t = r.timings;
  if (!t || !(t.prompt_ms > 0) || !(t.predicted_ms > 0)) throw new WllamaEngineError('wllama returned no timings for the completion');
  return t;
}

/**
 * The bench measurement through wllama: warm-up runs that also fit the text prompt to `promptTokens` tokens
 * (llama.cpp's tokenizer decides the count; within 2 % or 2 tokens, at most three tries), then `runs` runs,
 * each a fresh evaluation of the whole prompt (no prompt cache) then `genTokens` greedy tokens (EOS ignored),
 * timed by llama-server's own counters; medians over the runs.
 */
export async function measureWllama(
  w: WllamaLike,
  p: BenchParams,
  o: { readonly backend: WllamaBackend; readonly now: () => number; readonly onRun?: (r: PeerRun) => void; readonly signal?: AbortSignal },
): Promise<PeerMeasurement> {
  const prefill: number[] = [];
  const decode: number[] = [];
  const ttft: number[] = [];
  const wall: number[] = [];
  const promptN: number[] = [];
  const tolerance = Math.max(2, Math.round(p.promptTokens * 0.02));
  let words = Math.max(1, Math.floor(p.promptTokens / 2));
  let calibrated = false;
  let warmups = 0;
  for (let run = 0; run <= p.runs; ) {
    o.signal?.throwIfAborted();
    const t0 = o.now();
    const res = await w.createCompletion(
      Object.assign(
        { prompt: wordPrompt(words), max_tokens: p.genTokens, temp: 0, top_k: 1, ignore_eos: true, seed: 1, abortSignal: o.signal },
        // Every run evaluates the whole prompt (llama-server would answer it from its cache).
        { cache_prompt: false },
      ),
    );
    const ms = o.now() - t0;
    const t = timingsOf(res);
    if (t.cache_n > 0) throw new WllamaEngineError(`wllama answered ${t.cache_n} prompt tokens from its cache`);
    const r: PeerRun = {
      run,
      runs: p.runs,
      prefillTokensPerSecond: t.prompt_n / (t.prompt_ms / 1000),
      decodeTokensPerSecond: t.predicted_n / (t.predicted_ms / 1000),
      timeToFirstTokenMs: t.prompt_ms,
    };
    o.onRun?.(r);
    if (!calibrated) {
      warmups++;
      if (Math.abs(t.prompt_n - p.promptTokens) <= tolerance || warmups >= 3) calibrated = true;
      else words = Math.max(1, Math.round((words * p.promptTokens) / t.prompt_n));
      if (run === 0 && calibrated) run = 1;
      continue;
    }
    prefill.push(r.prefillTokensPerSecond);
    decode.push(r.decodeTokensPerSecond);
    ttft.push(r.timeToFirstTokenMs);
    wall.push(ms);
    promptN.push(t.prompt_n);
    run++;
  }
  return {
    engine: `wllama ${WLLAMA_VERSION}`,
    backend: o.backend,
    promptTokens: spread(promptN).median,
    genTokens: p.genTokens,
    runs: p.runs,
    prefillTokensPerSecond: spread(prefill),
    decodeTokensPerSecond: spread(decode),
    timeToFirstTokenMs: spread(ttft),
    wallMs: spread(wall),
  };
}

export function toWllamaMessages(messages: readonly ChatMessage[]): ChatCompletionMessage[] {
  return messages.map((m): ChatCompletionMessage => ({ role: m.role, content: m.content }));
}

function finishOf(r: ChatCompletionChunk['choices'][number]['finish_reason']): FinishReason | undefined {
  switch (r) {
    case 'stop':
    case 'tool_calls':
    case 'content_filter':
      return 'eog';
    case 'length':
      return 'length';
    case null:
      return undefined;
  }
}

export function reportedFromTimings(t: ResultTimings | undefined): ReportedStats {
  if (!t) return {};
  return {
    promptTokens: t.prompt_n + t.cache_n,
    generatedTokens: t.predicted_n,
    timeToFirstTokenMs: t.prompt_ms,
    prefillTokensPerSecond: t.prompt_n > 0 ? t.prompt_per_second : undefined,
    decodeTokensPerSecond: t.predicted_per_second,
  };
}

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export class WllamaChatEngine implements ChatEngine {
  readonly kind = 'wllama' as const;
  private w: WllamaLike | undefined;
  private disposed = false;
  backend: WllamaBackend | undefined;

  constructor(
    readonly model: ModelOption,
    private readonly deps: WllamaDeps,
  ) {}

  async load(onProgress?: (p: LoadProgress, text?: string) => void, signal?: AbortSignal): Promise<ModelInfo> {
    const entry = this.deps.entries().find((e) => e.id === this.model.ref);
    if (!entry) throw new WllamaEngineError(`no model "${this.model.ref}" in the list`);
    const source = await this.deps.sourceOf(entry);
    if (!source) throw new WllamaEngineError(`wllama cannot read ${entry.name}: it needs the GGUF's URL or the picked file`);
    const backend = wllamaBackendFor(await this.deps.adapter().catch((): AdapterKind => ({ webgpu: false, software: true })));
    signal?.throwIfAborted();
    try {
      this.w = await this.deps.create(source, {
        backend,
        contextSize: this.deps.contextSize(),
        signal,
        onProgress: (loaded, total) => onProgress?.({ phase: 'download', loaded, total }),
      });
    } catch (e) {
      if (signal?.aborted || (e instanceof Error && e.name === 'AbortError')) throw new AbortError('loading was cancelled');
      throw new WllamaEngineError(`wllama failed to load ${entry.name}: ${messageOf(e)}`);
    }
    this.backend = backend;
    if (this.disposed) {
      void this.w.exit().catch(() => undefined);
      this.w = undefined;
      throw new AbortError('the pane was closed while its model loaded');
    }
    return { ...opaqueModelInfo(entry.name, `wllama (${backend === 'webgpu' ? 'WebGPU' : 'wasm CPU'})`, 0, this.deps.contextSize()), fileBytes: entry.sizeBytes ?? 0 };
  }

  async generate(request: GenerateRequest, onToken?: (d: TokenDelta) => void, signal?: AbortSignal): Promise<GenerationResult> {
    const w = this.w;
    if (!w) throw new WllamaEngineError(`${this.model.name} is not loaded`);
    const clock = new StatsClock(this.deps.now);
    let text = '';
    if (signal?.aborted) return { text, tokenIds: [], stats: clock.finish('abort') };
    const s = request.sampling;
    let finish: FinishReason = 'eog';
    let timings: ResultTimings | undefined;
    try {
      const stream = await w.createChatCompletion({
        messages: toWllamaMessages(request.messages),
        stream: true,
        max_tokens: s.maxTokens,
        temperature: s.temperature,
        top_p: s.topP,
        top_k: s.topK,
        seed: s.seed,
        penalty_repeat: s.repetitionPenalty,
        ...(s.stop.length > 0 ? { stop: [...s.stop] } : {}),
        abortSignal: signal,
      });
      for await (const chunk of stream) {
        const choice = chunk.choices[0];
        const piece = choice?.delta.content ?? '';
        if (piece !== '') {
          text += piece;
          clock.delta();
          onToken?.({ text: piece, tokenIds: [] });
        }
        const f = choice ? finishOf(choice.finish_reason) : undefined;
        if (f) finish = f;
        if (chunk.timings) timings = chunk.timings;
      }
    } catch (e) {
      if (!signal?.aborted) throw new WllamaEngineError(`wllama failed while generating: ${messageOf(e)}`);
    }
    if (signal?.aborted) finish = 'abort';
    return { text, tokenIds: [], stats: clock.finish(finish, reportedFromTimings(timings)) };
  }

  async unload(): Promise<void> {
    const w = this.w;
    this.w = undefined;
    if (w) await w.exit();
  }

  dispose(): void {
    this.disposed = true;
    const w = this.w;
    this.w = undefined;
    if (w) void w.exit().catch(() => undefined);
  }
}

/** A model from the app's list as a wllama option (the same GGUF Brix runs). */
export function wllamaOption(e: ModelEntry, backend: WllamaBackend | undefined): ModelOption {
  const where = backend === undefined ? '' : backend === 'webgpu' ? ' on its WebGPU backend' : ' on its wasm CPU path (faster than WebGPU on this software adapter)';
  return {
    id: optionId('wllama', e.id),
    kind: 'wllama',
    ref: e.id,
    name: e.name,
    downloadBytes: e.sizeBytes,
    ...(e.sizeApprox ? { downloadApprox: true } : {}),
    note: `llama.cpp (wllama ${WLLAMA_VERSION}) in this tab${where}`,
  };
}

export function wllamaProvider(deps: WllamaDeps): EngineProvider {
  return {
    kind: 'wllama',
    async listModels() {
      const backend = wllamaBackendFor(await deps.adapter().catch((): AdapterKind => ({ webgpu: false, software: true })));
      return deps
        .entries()
        .filter((e) => e.url !== undefined || e.file !== undefined)
        .map((e) => wllamaOption(e, backend));
    },
    create: (model) => new WllamaChatEngine(model, deps),
  };
}
