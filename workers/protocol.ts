/**
 * @file The typed message protocol between the app and an engine worker: the only engine module the app
 * imports besides `Engine`'s types. Requests and events are discriminated unions keyed by `type`; every event
 * echoes the `id` of the request it belongs to, so one worker can serve overlapping requests (generate + abort).
 * No `any`, no casts: the client narrows events with the type guards below.
 */
import type { GpuInfo } from '../kernels/lib/gpuInfo.ts';
import type { SerializedError } from './errors.ts';
import { benchParamsProblem, type BenchMeasurement, type BenchParams, type BenchRun, type BenchStep } from './measurement.ts';

export type { BenchMeasurement, BenchParams, BenchRun, BenchStep } from './measurement.ts';

/** Bumped on any incompatible change; `load` carries it and the worker refuses a mismatch. */
export const PROTOCOL_VERSION = 1;

export type Role = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  readonly role: Role;
  readonly content: string;
}

export interface SamplingParams {
  /** 0 = greedy. */
  readonly temperature: number;
  /** 0 = off. */
  readonly topK: number;
  /** 1 = off. */
  readonly topP: number;
  /** 1 = off; applied to tokens of the recent window. */
  readonly repetitionPenalty: number;
  /** Same seed, same text. */
  readonly seed: number;
  readonly maxTokens: number;
  /** Generation stops when the text ends with one of these; the stop string is not emitted. */
  readonly stop: readonly string[];
}

export const DEFAULT_SAMPLING: SamplingParams = {
  temperature: 0.7,
  topK: 40,
  topP: 0.95,
  // Off, as llama.cpp's current default (repeat_penalty 1.0): with temperature 0, sampling is plain greedy.
  repetitionPenalty: 1,
  seed: 0,
  maxTokens: 512,
  stop: [],
};

/** Where a model comes from. `path` is for Node only (CLI, tests). */
export type ModelSource =
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'file'; readonly file: Blob; readonly name: string }
  | { readonly kind: 'path'; readonly path: string };

/** How products meet quantized weights, resolved once at load (workers/engine/activationChoice.ts): 'f32'
 * activations (exact), 'int8' (activations rounded to 8 bits as llama.cpp does, integer dot products for Q4_K/Q8_0
 * weights: faster on large MoE models on a real GPU), 'ggml-cpu' (the same rounding, f32 products: tests), or
 * 'auto': int8 on a hardware adapter for a model whose products are mostly Q4_K/Q8_0, f32 otherwise. */
export type ActivationPrecision = 'auto' | 'f32' | 'ggml-cpu' | 'int8';
export const ACTIVATION_PRECISIONS: readonly ActivationPrecision[] = ['auto', 'f32', 'ggml-cpu', 'int8'];

export interface LoadOptions {
  /** KV cache length in tokens; default: the smaller of the model's context and what fits. */
  readonly contextSize?: number;
  readonly activations?: ActivationPrecision;
}

export type LoadPhase = 'download' | 'verify' | 'upload' | 'compile';

export interface LoadProgress {
  readonly phase: LoadPhase;
  readonly loaded: number;
  readonly total: number;
  /** Bytes per second over the recent window, when known. */
  readonly rate?: number;
  /** Seconds left at that rate, when known. */
  readonly etaSeconds?: number;
}

export interface ModelInfo {
  readonly name: string;
  readonly architecture: string;
  readonly nParams: number;
  readonly nLayer: number;
  readonly nExpert: number;
  readonly nExpertUsed: number;
  readonly contextSize: number;
  readonly vocabSize: number;
  readonly fileBytes: number;
  readonly gpuBytes: number;
  /** The activations the load resolved (LoadOptions.activations, 'auto' decided); absent when the host chose. */
  readonly activations?: Exclude<ActivationPrecision, 'auto'>;
}

export interface GenerateRequest {
  readonly messages: readonly ChatMessage[];
  readonly sampling: SamplingParams;
  /** Feed `messages[0].content` as raw text, without the chat template. */
  readonly raw?: boolean;
  /**
   * Token ids of this answer already delivered (an answer resumed after a GPU reset or an engine hand-over):
   * the engine evaluates them after the prompt and continues; they are not emitted again, but the result's
   * text and tokenIds include them.
   */
  readonly continueFrom?: readonly number[];
  /**
   * The last message is a cut-off assistant answer to extend: the prompt ends inside that turn, right after its
   * text (no end-of-turn, no new generation prompt), like transformers' `continue_final_message`.
   */
  readonly continueFinal?: boolean;
}

export type FinishReason = 'eog' | 'length' | 'stop' | 'abort' | 'context';

export interface GenerationStats {
  readonly promptTokens: number;
  readonly generatedTokens: number;
  readonly timeToFirstTokenMs: number;
  readonly prefillTokensPerSecond: number;
  readonly decodeTokensPerSecond: number;
  readonly totalMs: number;
  readonly finishReason: FinishReason;
  /** (n_layer, n_expert): how many generated+prompt tokens each expert served; empty for dense models. */
  readonly expertUsage: readonly (readonly number[])[];
  /** Set when the conversation was cut to fit the context (sliding window). */
  readonly truncatedTokens: number;
}

export interface TokenDelta {
  readonly text: string;
  readonly tokenIds: readonly number[];
}

export interface GenerationResult {
  readonly text: string;
  readonly tokenIds: readonly number[];
  readonly stats: GenerationStats;
}

export interface PingResult {
  readonly payload: string;
  /** The adapter the worker itself got, or null with the reason. */
  readonly gpu: GpuInfo | null;
  readonly gpuError?: SerializedError;
}

/** Method name → request parameters and result, the single source of both unions below. */
export interface Methods {
  readonly ping: { readonly params: { readonly payload: string }; readonly result: PingResult };
  readonly load: {
    readonly params: { readonly protocolVersion: number; readonly source: ModelSource; readonly options: LoadOptions };
    readonly result: ModelInfo;
  };
  readonly generate: { readonly params: { readonly request: GenerateRequest }; readonly result: GenerationResult };
  readonly abort: { readonly params: { readonly target: number }; readonly result: { readonly aborted: boolean } };
  readonly unload: { readonly params: { readonly reason?: string }; readonly result: { readonly unloaded: boolean } };
  /** The model benchmark on the loaded model; each finished run is also sent as a `benchRun` event, progress within runs as `benchStep`. */
  readonly bench: { readonly params: { readonly params: BenchParams }; readonly result: BenchMeasurement };
  /** Prompt tokens of each message list as `generate` would encode it (retrieval sizes its sources by it). */
  readonly countPromptTokens: {
    readonly params: { readonly prompts: readonly (readonly ChatMessage[])[] };
    readonly result: { readonly counts: readonly number[] };
  };
}

export type Method = keyof Methods;

/** One method's request. */
export type RequestOf<M extends Method> = { readonly type: M; readonly id: number } & Methods[M]['params'];

/** App → worker. */
export type WorkerRequest = { [M in Method]: RequestOf<M> }[Method];

/**
 * A worker's dispatcher: one function per method, typed by its request, so a new method does not compile
 * until every worker handles it. Each posts its own events (result, progress, tokens).
 */
export type RequestHandlers = { readonly [M in Method]: (req: RequestOf<M>) => Promise<void> };

/** Calls the handler of the request's method (the generic keeps request and handler of the same method). */
export function dispatchRequest<M extends Method>(handlers: RequestHandlers, req: RequestOf<M>): Promise<void> {
  const handler: (r: RequestOf<M>) => Promise<void> = handlers[req.type];
  return handler(req);
}

export type ResultEvent<M extends Method = Method> = {
  [K in M]: { readonly type: 'result'; readonly id: number; readonly method: K; readonly result: Methods[K]['result'] };
}[M];

/** Worker → app. */
export type WorkerEvent =
  | ResultEvent
  | { readonly type: 'progress'; readonly id: number; readonly progress: LoadProgress }
  | { readonly type: 'token'; readonly id: number; readonly delta: TokenDelta }
  | { readonly type: 'benchRun'; readonly id: number; readonly run: BenchRun }
  | { readonly type: 'benchStep'; readonly id: number; readonly step: BenchStep }
  | { readonly type: 'error'; readonly id: number; readonly error: SerializedError };

export function isResultOf<M extends Method>(
  ev: WorkerEvent,
  method: M,
): ev is Extract<WorkerEvent, { readonly type: 'result'; readonly method: M }> {
  return ev.type === 'result' && ev.method === method;
}

const METHODS: readonly Method[] = ['ping', 'load', 'generate', 'abort', 'unload', 'bench', 'countPromptTokens'];

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;

/**
 * What is wrong with something that arrived by postMessage as a request, or undefined when it has the shape
 * of one: the envelope and each method's top-level parameters (deeper fields are the engine's to check).
 */
export function requestProblem(x: unknown): string | undefined {
  if (!isObject(x)) return `expected an object, got ${x === null ? 'null' : typeof x}`;
  if (typeof x.id !== 'number') return "'id' must be a number";
  if (typeof x.type !== 'string' || !(METHODS as readonly string[]).includes(x.type)) {
    return `unknown method ${JSON.stringify(x.type)} (expected one of ${METHODS.join(', ')})`;
  }
  switch (x.type) {
    case 'ping':
      return typeof x.payload === 'string' ? undefined : "'ping' needs payload: string";
    case 'load':
      if (typeof x.protocolVersion !== 'number') return "'load' needs protocolVersion: number";
      if (!isObject(x.source) || typeof x.source.kind !== 'string') return "'load' needs source: ModelSource";
      if (!isObject(x.options)) return "'load' needs options: object";
      const act = x.options.activations;
      if (act !== undefined && !ACTIVATION_PRECISIONS.some((a) => a === act)) {
        return `'load' options.activations must be one of ${ACTIVATION_PRECISIONS.join(', ')}`;
      }
      return undefined;
    case 'generate':
      if (!isObject(x.request) || !Array.isArray(x.request.messages) || !isObject(x.request.sampling)) {
        return "'generate' needs request: { messages, sampling }";
      }
      if (x.request.continueFrom !== undefined && !(Array.isArray(x.request.continueFrom) && x.request.continueFrom.every((t) => Number.isInteger(t) && t >= 0))) {
        return "'generate' request.continueFrom must be token ids (non-negative integers)";
      }
      return undefined;
    case 'abort':
      return typeof x.target === 'number' ? undefined : "'abort' needs target: number";
    case 'unload':
      return x.reason === undefined || typeof x.reason === 'string' ? undefined : "'unload' reason must be a string";
    case 'countPromptTokens':
      return Array.isArray(x.prompts) && x.prompts.every((p) => Array.isArray(p) && p.every((m) => isObject(m) && typeof m.content === 'string' && typeof m.role === 'string'))
        ? undefined
        : "'countPromptTokens' needs prompts: ChatMessage[][]";
    case 'bench': {
      const p = benchParamsProblem(x.params);
      return p === undefined ? undefined : `'bench' needs params: { promptTokens, genTokens, runs }: ${p}`;
    }
  }
  return undefined;
}

/** Checks the shape of anything that arrives by postMessage before it is trusted as a request. */
export function isWorkerRequest(x: unknown): x is WorkerRequest {
  return requestProblem(x) === undefined;
}

export function isWorkerEvent(x: unknown): x is WorkerEvent {
  if (!isObject(x)) return false;
  return typeof x.id === 'number' && (x.type === 'result' || x.type === 'progress' || x.type === 'token' || x.type === 'benchRun' || x.type === 'benchStep' || x.type === 'error');
}

export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(x)}`);
}
