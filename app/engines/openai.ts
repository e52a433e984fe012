/**
 * @file The OpenAI-compatible endpoint engine: streamed chat completions over server-sent events from vLLM
 * (DBRX itself with tensor parallelism), a Databricks serving endpoint, llama.cpp's server or `brix serve`.
 * The base URL is what OpenAI clients call `base_url` (…/v1 for vLLM and llama.cpp, …/serving-endpoints for
 * Databricks); requests go to `<base>/chat/completions` and `<base>/models`. Failures become named errors
 * (errors.ts): a fetch TypeError means unreachable or blocked by CORS, 401/403 a rejected key, 429 rate limited
 * (with Retry-After), 5xx a server failure, and a stream that closes before `data: [DONE]` a dropped one (its
 * partial answer kept on the error). Stop aborts the request; the answer so far is the result. The API key is
 * only ever put in the Authorization header: it is not in any message, log or export, and a server message
 * that quotes it is redacted.
 */
import type { FinishReason, GenerateRequest, GenerationResult, LoadProgress, ModelInfo, TokenDelta } from '../../workers/protocol.ts';
import {
  EndpointAuthError,
  EndpointConfigError,
  EndpointHttpError,
  EndpointProtocolError,
  EndpointRateLimitError,
  EndpointServerError,
  EndpointUnreachableError,
  StreamDroppedError,
} from './errors.ts';
import { SseParser } from './sse.ts';
import { StatsClock, type ReportedStats } from './stats.ts';
import { opaqueModelInfo, optionId, type ChatEngine, type EngineProvider, type ModelOption } from './types.ts';

export interface EndpointConfig {
  readonly id: string;
  /** Shown in the model picker. */
  readonly name: string;
  /** OpenAI clients' base_url: requests go to `<baseUrl>/chat/completions`. */
  readonly baseUrl: string;
  /** The `model` field of each request. */
  readonly model: string;
  /**
   * Also send top_k and repetition_penalty: llama.cpp, vLLM and `brix serve` take them, OpenAI's own API
   * rejects unknown fields, so off by default.
   */
  readonly extendedSampling: boolean;
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface EndpointDeps {
  readonly fetch: FetchLike;
  readonly now: () => number;
  /**
   * The endpoint's API key for a request to `url`, read at request time (kept in this browser only); undefined
   * when the key was saved for another origin.
   */
  readonly apiKey: (endpointId: string, url: string) => string | undefined;
}

/** Server messages are shown, but only this much of them. */
const MAX_ERROR_TEXT = 300;

/**
 * Checks and tidies a base URL: http(s) only, no trailing slash; a bare origin (`http://host:8080`) gets
 * `/v1`, which is where vLLM, llama.cpp and `brix serve` answer.
 */
export function normalizeBaseUrl(text: string): string {
  const t = text.trim();
  if (t === '') throw new EndpointConfigError('the endpoint needs a base URL, e.g. http://127.0.0.1:8080/v1');
  let u: URL;
  try {
    u = new URL(t);
  } catch {
    throw new EndpointConfigError(`"${t}" is not a URL (it should start with http:// or https://)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new EndpointConfigError(`the endpoint URL must be http(s), not ${u.protocol}`);
  if (u.username || u.password) throw new EndpointConfigError('put credentials in the API key field, not in the URL');
  u.hash = '';
  u.search = '';
  let p = u.pathname.replace(/\/+$/, '');
  if (p === '') p = '/v1';
  p = p.replace(/\/chat\/completions$/, '');
  return `${u.origin}${p}`;
}

function headers(apiKey: string | undefined, json: boolean): Record<string, string> {
  const h: Record<string, string> = { accept: json ? 'application/json' : 'text/event-stream, application/json' };
  if (json) h['content-type'] = 'application/json';
  if (apiKey) h.authorization = `Bearer ${apiKey}`;
  return h;
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function redact(text: string, apiKey: string | undefined): string {
  let t = text;
  if (apiKey && apiKey.length >= 4) t = t.split(apiKey).join('***');
  return t.length > MAX_ERROR_TEXT ? `${t.slice(0, MAX_ERROR_TEXT)}…` : t;
}

/** The server's own words from an error body: OpenAI `{error:{message}}`, `{error:"…"}`, FastAPI `{detail}`, or text. */
function serverMessage(body: string): string {
  try {
    const j: unknown = JSON.parse(body);
    if (isRecord(j)) {
      const e = j.error;
      if (isRecord(e) && typeof e.message === 'string') return e.message;
      if (typeof e === 'string') return e;
      if (typeof j.message === 'string') return j.message;
      if (typeof j.detail === 'string') return j.detail;
      if (j.detail !== undefined) return JSON.stringify(j.detail);
    }
  } catch {
    // not JSON: the text itself
  }
  return body.trim();
}

/** Retry-After as seconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, Math.ceil((t - now) / 1000));
}

/** A non-2xx response as the named error for its status. */
export async function httpError(res: Response, url: string, apiKey: string | undefined): Promise<Error> {
  let body = '';
  try {
    body = await res.text();
  } catch {
    // the body could not be read: the status says enough
  }
  const said = redact(serverMessage(body), apiKey);
  const tail = said ? ` (the server says: ${said})` : '';
  const where = `${res.status} from ${url}`;
  if (res.status === 401 || res.status === 403) {
    return new EndpointAuthError(`${where}: API key rejected${tail}`, res.status);
  }
  if (res.status === 429) {
    const s = parseRetryAfter(res.headers.get('retry-after'));
    return new EndpointRateLimitError(`${where}: rate limited; retry after ${s === undefined ? 'a while' : `${s} s`}${tail}`, s);
  }
  if (res.status >= 500) return new EndpointServerError(`${where}: the server failed${tail}`, res.status);
  return new EndpointHttpError(`${where}${tail || `: ${res.statusText || 'request refused'}`}`, res.status);
}

function isAbort(e: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (e instanceof Error && e.name === 'AbortError') || (e instanceof DOMException && e.name === 'AbortError');
}

/** fetch, with the browser's bare "TypeError: Failed to fetch" turned into something a person can act on. */
async function send(f: FetchLike, url: string, init: RequestInit): Promise<Response> {
  try {
    return await f(url, init);
  } catch (e) {
    if (isAbort(e, init.signal ?? undefined)) throw e;
    const detail = e instanceof Error ? e.message : String(e);
    throw new EndpointUnreachableError(
      `${url}: the endpoint is unreachable or blocks cross-origin requests (CORS) — is the server running, is the URL right, and does it send Access-Control-Allow-Origin? (${detail})`,
    );
  }
}

/** `GET <base>/models`: the model ids the server offers. */
export async function listEndpointModels(baseUrl: string, apiKey: string | undefined, f: FetchLike, signal?: AbortSignal): Promise<string[]> {
  const url = `${normalizeBaseUrl(baseUrl)}/models`;
  const res = await send(f, url, { method: 'GET', headers: headers(apiKey, true), signal });
  if (!res.ok) throw await httpError(res, url, apiKey);
  let j: unknown;
  try {
    j = await res.json();
  } catch {
    throw new EndpointProtocolError(`${url}: the answer is not JSON`);
  }
  const data = isRecord(j) ? j.data : undefined;
  if (!Array.isArray(data)) throw new EndpointProtocolError(`${url}: expected {"data": [{"id": …}]}`);
  const ids: string[] = [];
  for (const m of data) if (isRecord(m) && typeof m.id === 'string') ids.push(m.id);
  return ids;
}

/** The JSON body of a streamed chat completion for `request`. */
export function chatCompletionBody(request: GenerateRequest, config: Pick<EndpointConfig, 'model' | 'extendedSampling'>): Record<string, unknown> {
  const s = request.sampling;
  const body: Record<string, unknown> = {
    model: config.model,
    messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
    stream: true,
    stream_options: { include_usage: true },
    temperature: s.temperature,
    top_p: s.topP,
    max_tokens: s.maxTokens,
    seed: s.seed,
  };
  // OpenAI accepts at most 4 stop sequences.
  if (s.stop.length > 0) body.stop = s.stop.slice(0, 4);
  if (config.extendedSampling) {
    // vLLM's (and `brix serve`'s) way to extend a cut-off answer; llama.cpp's server does it for a last assistant message.
    if (request.continueFinal) {
      body.continue_final_message = true;
      body.add_generation_prompt = false;
    }
    if (s.topK > 0) body.top_k = s.topK;
    if (s.repetitionPenalty !== 1) body.repetition_penalty = s.repetitionPenalty;
  }
  return body;
}

function finishOf(reason: unknown): FinishReason {
  return reason === 'length' ? 'length' : 'eog';
}

function num(x: unknown): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}

/** What a chunk's `usage` (OpenAI) and `timings` (llama.cpp) tell about the run. */
function reportedFrom(usage: unknown, timings: unknown): ReportedStats {
  const u = isRecord(usage) ? usage : {};
  const t = isRecord(timings) ? timings : {};
  return {
    promptTokens: num(u.prompt_tokens) ?? num(t.prompt_n),
    generatedTokens: num(u.completion_tokens) ?? num(t.predicted_n),
    prefillTokensPerSecond: num(t.prompt_per_second),
    decodeTokensPerSecond: num(t.predicted_per_second),
  };
}

/** One endpoint and model, as an engine. Each generate is one HTTP request; nothing is held between them. */
export class OpenAIChatEngine implements ChatEngine {
  readonly kind = 'openai' as const;
  private disposed = false;

  constructor(
    readonly model: ModelOption,
    private readonly initial: EndpointConfig,
    private readonly deps: EndpointDeps,
    /** The endpoint's settings as they are now (edits in Settings apply to the next request); gone = as created. */
    private readonly current?: () => EndpointConfig | undefined,
  ) {}

  private get config(): EndpointConfig {
    return this.current?.() ?? this.initial;
  }

  private get base(): string {
    return normalizeBaseUrl(this.config.baseUrl);
  }

  /** Checks the settings and, where the server lists models, that the key works. Nothing is downloaded. */
  async load(onProgress?: (p: LoadProgress, text?: string) => void, signal?: AbortSignal): Promise<ModelInfo> {
    if (this.config.model.trim() === '') throw new EndpointConfigError(`${this.config.name}: the endpoint needs a model name`);
    onProgress?.({ phase: 'download', loaded: 0, total: 0 }, `Connecting to ${this.base}…`);
    try {
      await listEndpointModels(this.base, this.deps.apiKey(this.config.id, this.base), this.deps.fetch, signal);
    } catch (e) {
      // Some servers (Databricks serving endpoints) have no /models: a 404/405 there says nothing about chat.
      if (!(e instanceof EndpointHttpError && (e.status === 404 || e.status === 405))) throw e;
    }
    return opaqueModelInfo(this.config.model, 'remote', 0);
  }

  async generate(request: GenerateRequest, onToken?: (d: TokenDelta) => void, signal?: AbortSignal): Promise<GenerationResult> {
    if (this.disposed) throw new EndpointConfigError('this endpoint pane was closed');
    const url = `${this.base}/chat/completions`;
    const apiKey = this.deps.apiKey(this.config.id, url);
    const clock = new StatsClock(this.deps.now);
    let text = '';
    const aborted = (): GenerationResult => ({ text, tokenIds: [], stats: clock.finish('abort') });
    if (signal?.aborted) return aborted();

    let res: Response;
    try {
      res = await send(this.deps.fetch, url, {
        method: 'POST',
        headers: headers(apiKey, true),
        body: JSON.stringify(chatCompletionBody(request, this.config)),
        signal,
      });
    } catch (e) {
      if (isAbort(e, signal)) return aborted();
      throw e;
    }
    if (!res.ok) throw await httpError(res, url, apiKey);

    const emit = (piece: string): void => {
      if (piece === '') return;
      text += piece;
      clock.delta();
      onToken?.({ text: piece, tokenIds: [] });
    };

    // A server that ignored `stream: true` answers with one JSON completion.
    const type = res.headers.get('content-type') ?? '';
    if (type.includes('application/json')) return this.fromJson(res, url, clock, emit, () => text);
    if (!res.body) throw new EndpointProtocolError(`${url}: the response has no body`);

    let finish: FinishReason = 'eog';
    let reported: ReportedStats = {};
    let done = false;
    const parser = new SseParser((ev) => {
      if (done) return;
      if (ev.data.trim() === '[DONE]') {
        done = true;
        return;
      }
      let j: unknown;
      try {
        j = JSON.parse(ev.data);
      } catch {
        throw new EndpointProtocolError(`${url}: a stream event is not JSON: ${redact(ev.data, apiKey)}`);
      }
      if (!isRecord(j)) throw new EndpointProtocolError(`${url}: a stream event is not a JSON object`);
      if (j.error !== undefined) {
        throw new EndpointServerError(`${url}: the server reported an error mid-stream: ${redact(serverMessage(JSON.stringify(j)), apiKey)}`, 500);
      }
      const choice = Array.isArray(j.choices) ? j.choices[0] : undefined;
      if (isRecord(choice)) {
        const delta = choice.delta;
        if (isRecord(delta) && typeof delta.content === 'string') emit(delta.content);
        if (typeof choice.finish_reason === 'string') finish = finishOf(choice.finish_reason);
      }
      if (isRecord(j.usage) || isRecord(j.timings)) reported = { ...reported, ...definedOnly(reportedFrom(j.usage, j.timings)) };
    });

    const reader = res.body.getReader();
    try {
      while (!done) {
        const r = await reader.read();
        if (r.done) break;
        parser.push(r.value);
      }
    } catch (e) {
      void reader.cancel().catch(() => undefined);
      if (isAbort(e, signal)) return aborted();
      if (e instanceof EndpointProtocolError || e instanceof EndpointServerError) throw e;
      throw new StreamDroppedError(
        `${url}: the connection dropped mid-answer after ${text.length} characters (${e instanceof Error ? e.message : String(e)})`,
        text,
      );
    }
    if (!done) {
      parser.end();
      if (signal?.aborted) return aborted();
      throw new StreamDroppedError(`${url}: the connection closed before the end of the answer (no [DONE]) after ${text.length} characters`, text);
    }
    void reader.cancel().catch(() => undefined);
    return { text, tokenIds: [], stats: clock.finish(finish, reported) };
  }

  private async fromJson(
    res: Response,
    url: string,
    clock: StatsClock,
    emit: (piece: string) => void,
    text: () => string,
  ): Promise<GenerationResult> {
    let j: unknown;
    try {
      j = await res.json();
    } catch {
      throw new EndpointProtocolError(`${url}: the answer is neither an event stream nor JSON`);
    }
    const choice = isRecord(j) && Array.isArray(j.choices) ? j.choices[0] : undefined;
    const message = isRecord(choice) ? choice.message : undefined;
    if (!isRecord(j) || !isRecord(message) || typeof message.content !== 'string') {
      throw new EndpointProtocolError(`${url}: expected a chat completion with choices[0].message.content`);
    }
    emit(message.content);
    const finish = isRecord(choice) ? finishOf(choice.finish_reason) : 'eog';
    return { text: text(), tokenIds: [], stats: clock.finish(finish, reportedFrom(j.usage, j.timings)) };
  }

  unload(): Promise<void> {
    return Promise.resolve();
  }

  dispose(): void {
    this.disposed = true;
  }
}

function definedOnly(r: ReportedStats): ReportedStats {
  const out: { -readonly [K in keyof ReportedStats]: ReportedStats[K] } = {};
  for (const k of ['promptTokens', 'generatedTokens', 'timeToFirstTokenMs', 'prefillTokensPerSecond', 'decodeTokensPerSecond'] as const) {
    const v = r[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** The configured endpoints as engines (one option per endpoint). */
export function endpointProvider(endpoints: () => readonly EndpointConfig[], deps: EndpointDeps): EngineProvider {
  const optionOf = (c: EndpointConfig): ModelOption => {
    let where = c.baseUrl;
    try {
      where = normalizeBaseUrl(c.baseUrl);
    } catch {
      // shown as typed; load says what is wrong with it
    }
    return {
      id: optionId('openai', c.id),
      kind: 'openai',
      ref: c.id,
      name: `${c.name} (${c.model || 'no model'})`,
      gpuBytesEstimate: 0,
      note: `runs on the server at ${where}`,
    };
  };
  return {
    kind: 'openai',
    listModels: () => Promise.resolve(endpoints().map(optionOf)),
    create(model) {
      const c = endpoints().find((e) => e.id === model.ref);
      if (!c) throw new EndpointConfigError(`no endpoint "${model.ref}" is configured`);
      return new OpenAIChatEngine(optionOf(c), c, deps, () => endpoints().find((e) => e.id === c.id));
    },
  };
}
