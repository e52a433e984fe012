/**
 * @file The WebLLM engine (`@mlc-ai/web-llm`) behind the compare view's interface, in its own worker like
 * ours: its prebuilt catalog as model options, its init reports mapped to our LoadProgress, streaming through
 * its OpenAI-style `chat.completions.create({stream: true, stream_options: {include_usage: true}})`, Stop via
 * `interruptGenerate()`, and statistics from `usage` / `usage.extra` (TTFT, prefill and decode tok/s), measured
 * on the client where missing. WebLLM fetches its weights and model library from the internet: offline (or
 * when those fetches fail) loading fails with an `OfflineError` that says so, unless the model is cached.
 * Only types come from the library here; the library itself (6 MB) is loaded lazily by webllmBrowser.ts.
 */
import type {
  ChatCompletionChunk,
  ChatCompletionMessageParam,
  ChatCompletionRequestStreaming,
  CompletionUsage,
  InitProgressReport,
  MLCEngineInterface,
  ModelRecord,
} from '@mlc-ai/web-llm';
import { AbortError } from '../../workers/errors.ts';
import type { ChatMessage, FinishReason, GenerateRequest, GenerationResult, LoadProgress, ModelInfo, TokenDelta } from '../../workers/protocol.ts';
import { OfflineError, WebLLMError } from './errors.ts';
import { StatsClock, type ReportedStats } from './stats.ts';
import { opaqueModelInfo, optionId, type ChatEngine, type EngineProvider, type ModelOption } from './types.ts';

/** A WebLLM engine in its worker, and how to end that worker. */
export interface WebLLMHandle {
  readonly engine: MLCEngineInterface;
  terminate(): void;
}

export interface WebLLMDeps {
  /** Starts a worker and loads `modelId` into it (CreateWebWorkerMLCEngine); an abort ends the worker. */
  create(modelId: string, onReport: (r: InitProgressReport) => void, signal?: AbortSignal): Promise<WebLLMHandle>;
  /** The prebuilt catalog (`prebuiltAppConfig.model_list`). */
  modelList(): Promise<readonly ModelRecord[]>;
  /** navigator.onLine. */
  isOnline(): boolean;
  /** Whether the weights are in WebLLM's cache already (then loading works offline). */
  isCached(modelId: string): Promise<boolean>;
  readonly now: () => number;
}

const MiB = 1024 * 1024;
/** ModelType.embedding and ModelType.VLM in web-llm's config (a const enum we cannot import as a value here). */
const NOT_CHAT_TYPES: ReadonlySet<number> = new Set([1, 2]);

/** Our messages as WebLLM's (OpenAI) message params. */
export function toWebLLMMessages(messages: readonly ChatMessage[]): ChatCompletionMessageParam[] {
  return messages.map((m): ChatCompletionMessageParam => {
    switch (m.role) {
      case 'system':
        return { role: 'system', content: m.content };
      case 'user':
        return { role: 'user', content: m.content };
      case 'assistant':
        return { role: 'assistant', content: m.content };
    }
  });
}

/**
 * Our request as WebLLM's streaming request. top_k is not part of WebLLM's request (its model config's value
 * applies); a repetition penalty of 1 (off) is left out.
 */
export function toWebLLMRequest(request: GenerateRequest): ChatCompletionRequestStreaming {
  const s = request.sampling;
  return {
    messages: toWebLLMMessages(request.messages),
    stream: true,
    stream_options: { include_usage: true },
    temperature: s.temperature,
    top_p: s.topP,
    max_tokens: s.maxTokens,
    seed: s.seed,
    ...(s.repetitionPenalty !== 1 ? { repetition_penalty: s.repetitionPenalty } : {}),
    ...(s.stop.length > 0 ? { stop: [...s.stop] } : {}),
  };
}

/**
 * WebLLM's init report ({progress 0..1, timeElapsed s, text}) as our LoadProgress. Its texts look like
 * "Fetching param cache[3/108]: 150MB fetched. 10% completed, 12 secs elapsed. …" (a download; its MB are
 * MiB), "Loading model from cache[3/108]: 150MB loaded. …" (cache to GPU) and "Loading GPU shader
 * modules[12/50]: 24% completed, …": bytes or steps are read from them when present, else the fraction is
 * reported in thousandths.
 */
export function progressFromReport(r: InitProgressReport): LoadProgress {
  const text = r.text;
  const steps = /\[(\d+)\/(\d+)\]/.exec(text);
  if (/shader module|compil|pipeline/i.test(text) && steps) {
    return { phase: 'compile', loaded: Number(steps[1]), total: Number(steps[2]) };
  }
  const mb = /(\d+(?:\.\d+)?)\s*MB (fetched|loaded)/i.exec(text);
  const progress = Math.min(1, Math.max(0, r.progress));
  if (mb) {
    const loaded = Number(mb[1]) * MiB;
    const total = progress > 0 ? Math.max(loaded, Math.round(loaded / progress)) : 0;
    const rate = r.timeElapsed > 0 ? loaded / r.timeElapsed : undefined;
    const etaSeconds = rate && total > loaded ? (total - loaded) / rate : undefined;
    return { phase: mb[2].toLowerCase() === 'loaded' ? 'upload' : 'download', loaded, total, rate, etaSeconds };
  }
  return { phase: /shader module|compil/i.test(text) ? 'compile' : 'download', loaded: Math.round(progress * 1000), total: 1000 };
}

/** What WebLLM's usage (and its `extra`) says about the run. */
export function reportedFromUsage(u: CompletionUsage | undefined): ReportedStats {
  if (!u) return {};
  const x = u.extra;
  return {
    promptTokens: u.prompt_tokens,
    generatedTokens: u.completion_tokens,
    timeToFirstTokenMs: x && Number.isFinite(x.time_to_first_token_s) ? x.time_to_first_token_s * 1000 : undefined,
    prefillTokensPerSecond: x?.prefill_tokens_per_s,
    decodeTokensPerSecond: x?.decode_tokens_per_s,
  };
}

function finishOf(r: ChatCompletionChunk.Choice['finish_reason']): FinishReason | undefined {
  switch (r) {
    case 'stop':
      return 'eog';
    case 'length':
      return 'length';
    case 'abort':
      return 'abort';
    case 'tool_calls':
      return 'eog';
    case null:
      return undefined;
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const NETWORK_FAILURE = /failed to fetch|networkerror|network error|load failed|err_internet_disconnected|err_name_not_resolved|fetch failed/i;

/** A load failure as the error a person can act on. */
export function explainLoadError(e: unknown, modelId: string, online: boolean): Error {
  if (e instanceof AbortError || (e instanceof Error && e.name === 'AbortError')) return e instanceof Error ? e : new AbortError();
  const msg = messageOf(e);
  if (!online || NETWORK_FAILURE.test(msg)) {
    return new OfflineError(
      `WebLLM could not download ${modelId}: ${online ? 'the network request failed' : 'this browser is offline'}. ` +
        `WebLLM fetches its models from huggingface.co and its model library from raw.githubusercontent.com; connect and try again. (${msg})`,
    );
  }
  return new WebLLMError(`WebLLM failed to load ${modelId}: ${msg}`);
}

export class WebLLMChatEngine implements ChatEngine {
  readonly kind = 'webllm' as const;
  private handle: WebLLMHandle | undefined;
  private disposed = false;

  constructor(
    readonly model: ModelOption,
    private readonly deps: WebLLMDeps,
  ) {}

  async load(onProgress?: (p: LoadProgress, text?: string) => void, signal?: AbortSignal): Promise<ModelInfo> {
    const id = this.model.ref;
    if (!this.deps.isOnline() && !(await this.deps.isCached(id).catch(() => false))) {
      throw new OfflineError(
        `this browser is offline and WebLLM has not downloaded ${id} yet: WebLLM models come from the internet (huggingface.co). Connect and try again, or pick a Brix model.`,
      );
    }
    signal?.throwIfAborted();
    try {
      this.handle = await this.deps.create(id, (r) => onProgress?.(progressFromReport(r), r.text), signal);
    } catch (e) {
      throw explainLoadError(e, id, this.deps.isOnline());
    }
    if (this.disposed) {
      this.handle.terminate();
      throw new AbortError('the pane was closed while its model loaded');
    }
    return opaqueModelInfo(id, 'webllm', this.model.gpuBytesEstimate ?? 0);
  }

  async generate(request: GenerateRequest, onToken?: (d: TokenDelta) => void, signal?: AbortSignal): Promise<GenerationResult> {
    const h = this.handle;
    if (!h) throw new WebLLMError(`${this.model.ref} is not loaded`);
    const clock = new StatsClock(this.deps.now);
    let text = '';
    if (signal?.aborted) return { text, tokenIds: [], stats: clock.finish('abort') };
    const onAbort = (): void => h.engine.interruptGenerate();
    signal?.addEventListener('abort', onAbort, { once: true });
    let finish: FinishReason = 'eog';
    let usage: CompletionUsage | undefined;
    try {
      const stream = await h.engine.chat.completions.create(toWebLLMRequest(request));
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
        if (chunk.usage) usage = chunk.usage;
      }
    } catch (e) {
      if (!signal?.aborted) throw new WebLLMError(`WebLLM failed while generating: ${messageOf(e)}`);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    if (signal?.aborted) finish = 'abort';
    return { text, tokenIds: [], stats: clock.finish(finish, reportedFromUsage(usage)) };
  }

  async unload(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    if (h) await h.engine.unload();
  }

  dispose(): void {
    this.disposed = true;
    const h = this.handle;
    this.handle = undefined;
    if (!h) return;
    // Free the GPU in order when the worker answers in time; the worker goes regardless.
    void Promise.race([h.engine.unload().catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]).finally(() => h.terminate());
  }
}

/** A catalog entry as a model option (chat models only). */
export function webllmOption(r: ModelRecord): ModelOption {
  const needs = r.required_features?.length ? `; needs ${r.required_features.join(', ')}` : '';
  return {
    id: optionId('webllm', r.model_id),
    kind: 'webllm',
    ref: r.model_id,
    name: r.model_id,
    gpuBytesEstimate: r.vram_required_MB !== undefined ? r.vram_required_MB * MiB : undefined,
    note: `WebLLM prebuilt model, downloaded from the internet${r.low_resource_required ? '; fits low-memory devices' : ''}${needs}`,
    needs: {
      ...(r.buffer_size_required_bytes !== undefined ? { bindingBytes: r.buffer_size_required_bytes } : {}),
      ...(r.required_features?.includes('shader-f16') ? { f16: true } : {}),
    },
  };
}

export function webllmProvider(deps: WebLLMDeps): EngineProvider {
  return {
    kind: 'webllm',
    async listModels() {
      const list = await deps.modelList();
      return list.filter((r) => r.model_type === undefined || !NOT_CHAT_TYPES.has(r.model_type)).map(webllmOption);
    },
    create: (model) => new WebLLMChatEngine(model, deps),
  };
}
