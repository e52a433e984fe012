/**
 * @file An OpenAI-compatible HTTP server around one loaded engine (`brix serve`), on Node's `http`: enough of
 * the API for OpenAI clients, the compare view's endpoint engine, and curl —
 *   GET  /v1/models                 the one model
 *   POST /v1/chat/completions       streamed (SSE `chat.completion.chunk`s, a final chunk with finish_reason,
 *                                   a usage chunk when `stream_options.include_usage`, then `data: [DONE]`)
 *                                   or one `chat.completion`; temperature, top_p, max_tokens
 *                                   (max_completion_tokens), seed, stop, and llama.cpp's top_k and
 *                                   repetition_penalty
 *   GET  /health                    {"status":"ok"}
 * (also without the /v1 prefix). The engine runs one generation at a time: requests wait in a FIFO queue of
 * `maxQueue` places, and one more is refused with 429 and Retry-After. A client that disconnects aborts its
 * generation (or leaves the queue). Its doors: only a loopback Host (localhost, 127.0.0.1, [::1], plus the
 * names in `hosts`) with the server's port is answered, against DNS rebinding; a browser request from a foreign
 * Origin gets 403 unless that origin is in `cors` (then it gets CORS headers naming it, and its preflights are
 * answered); the private-network preflight is never allowed; with `apiKey` every route but /health needs
 * `Authorization: Bearer <key>` (401). Timings are also reported the way llama.cpp's server does
 * (`timings.prompt_per_second`, `predicted_per_second`).
 */
import http from 'node:http';
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import type { Engine } from '../../workers/engine/types.ts';
import type { ChatMessage, FinishReason, GenerationResult, GenerationStats, SamplingParams } from '../../workers/protocol.ts';

export interface OpenAIServerOptions {
  readonly engine: Pick<Engine, 'generate'>;
  /** The id /v1/models reports; requests may name any model (there is one). */
  readonly modelId: string;
  /** Requests that may wait while one runs; one more gets 429. Default 8; 0 = refuse whenever busy. */
  readonly maxQueue?: number;
  /** max_tokens when a request gives none. Default 512. */
  readonly defaultMaxTokens?: number;
  /** The largest max_tokens accepted (the context size). */
  readonly maxTokensLimit?: number;
  /** One line per request (method, path, status, tokens, time). */
  readonly log?: (line: string) => void;
  readonly now?: () => number;
  /** Browser origins allowed to call (exact `scheme://host[:port]`; `*` = any). Default none: same origin only. */
  readonly cors?: readonly string[];
  /** When set, every route but /health needs `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string;
  /** Host names answered besides localhost, 127.0.0.1 and [::1] (e.g. the address given to --host). */
  readonly hosts?: readonly string[];
}

/** A request the server refuses, with the status and OpenAI error type to answer with. */
export class RequestError extends Error {
  override name = 'RequestError';
  constructor(
    readonly status: number,
    message: string,
    readonly type: string = 'invalid_request_error',
    readonly param: string | null = null,
    /** Seconds, for a 429's Retry-After header. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

const MAX_BODY = 8 * 1024 * 1024;
const MAX_STOP = 16;

const CORS: Readonly<Record<string, string>> = {
  'access-control-allow-methods': 'GET, HEAD, POST, OPTIONS',
  'access-control-allow-headers': 'authorization, content-type, accept, x-requested-with',
  'access-control-expose-headers': 'retry-after',
  'access-control-max-age': '86400',
};

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

export interface ParsedChatRequest {
  readonly messages: ChatMessage[];
  readonly sampling: SamplingParams;
  readonly stream: boolean;
  readonly includeUsage: boolean;
  /** vLLM's `continue_final_message`: extend the last (assistant) message instead of answering it. */
  readonly continueFinal: boolean;
}

function numberField(body: Record<string, unknown>, name: string, ok: (v: number) => boolean, what: string): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new RequestError(400, `'${name}' must be ${what}`, 'invalid_request_error', name);
  return v;
}

function contentText(content: unknown, i: number): string {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  if (Array.isArray(content)) {
    let out = '';
    for (const part of content) {
      if (!isRecord(part) || part.type !== 'text' || typeof part.text !== 'string') {
        throw new RequestError(400, `messages[${i}].content: only text parts are supported`, 'invalid_request_error', 'messages');
      }
      out += part.text;
    }
    return out;
  }
  throw new RequestError(400, `messages[${i}].content must be a string or an array of text parts`, 'invalid_request_error', 'messages');
}

/** Checks a chat completion request body and turns it into our request; unknown fields are ignored. */
export function parseChatRequest(
  body: unknown,
  opts: { defaultMaxTokens: number; maxTokensLimit?: number; randomSeed: () => number },
): ParsedChatRequest {
  if (!isRecord(body)) throw new RequestError(400, 'the body must be a JSON object');
  const raw = body.messages;
  if (!Array.isArray(raw) || raw.length === 0) throw new RequestError(400, "'messages' must be a non-empty array", 'invalid_request_error', 'messages');
  const messages = raw.map((m, i): ChatMessage => {
    if (!isRecord(m)) throw new RequestError(400, `messages[${i}] must be an object`, 'invalid_request_error', 'messages');
    const role = m.role === 'developer' ? 'system' : m.role;
    if (role !== 'system' && role !== 'user' && role !== 'assistant') {
      throw new RequestError(400, `messages[${i}].role must be system, user or assistant`, 'invalid_request_error', 'messages');
    }
    return { role, content: contentText(m.content, i) };
  });
  numberField(body, 'n', (v) => v === 1, '1 (one choice per request)');
  const temperature = numberField(body, 'temperature', (v) => v >= 0 && v <= 2, 'a number from 0 to 2') ?? 1;
  const topP = numberField(body, 'top_p', (v) => v > 0 && v <= 1, 'a number in (0, 1]') ?? 1;
  const topK = numberField(body, 'top_k', (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0') ?? 0;
  const repetitionPenalty = numberField(body, 'repetition_penalty', (v) => v > 0 && v <= 10, 'a number in (0, 10]') ?? 1;
  const limit = opts.maxTokensLimit ?? Number.MAX_SAFE_INTEGER;
  const intTokens = (v: number): boolean => Number.isInteger(v) && v > 0 && v <= limit;
  const what = `an integer from 1 to ${limit}`;
  const maxTokens =
    numberField(body, 'max_completion_tokens', intTokens, what) ?? numberField(body, 'max_tokens', intTokens, what) ?? Math.min(opts.defaultMaxTokens, limit);
  const seedIn = numberField(body, 'seed', (v) => Number.isInteger(v), 'an integer');
  const seed = seedIn === undefined ? opts.randomSeed() : Number(BigInt.asUintN(32, BigInt(seedIn)));
  let stop: string[] = [];
  const s = body.stop;
  if (typeof s === 'string') stop = [s];
  else if (Array.isArray(s)) {
    if (s.length > MAX_STOP || !s.every((x): x is string => typeof x === 'string')) {
      throw new RequestError(400, `'stop' must be a string or up to ${MAX_STOP} strings`, 'invalid_request_error', 'stop');
    }
    stop = s;
  } else if (s !== undefined && s !== null) throw new RequestError(400, "'stop' must be a string or an array of strings", 'invalid_request_error', 'stop');
  stop = stop.filter((x) => x !== '');
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    throw new RequestError(400, "'stream' must be a boolean", 'invalid_request_error', 'stream');
  }
  const so = body.stream_options;
  const includeUsage = isRecord(so) && so.include_usage === true;
  return {
    messages,
    sampling: { temperature, topP, topK, repetitionPenalty, maxTokens, seed, stop },
    stream: body.stream === true,
    includeUsage,
    continueFinal: body.continue_final_message === true && messages.at(-1)?.role === 'assistant',
  };
}

export function openaiFinishReason(r: FinishReason): 'stop' | 'length' {
  return r === 'length' || r === 'context' ? 'length' : 'stop';
}

function usageOf(s: GenerationStats): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  return { prompt_tokens: s.promptTokens, completion_tokens: s.generatedTokens, total_tokens: s.promptTokens + s.generatedTokens };
}

/** llama.cpp server's `timings` object, so clients that read it show our engine's own speeds. */
function timingsOf(s: GenerationStats): Record<string, number> {
  const decodeMs = Math.max(0, s.totalMs - s.timeToFirstTokenMs);
  return {
    prompt_n: s.promptTokens,
    prompt_ms: s.timeToFirstTokenMs,
    prompt_per_second: s.prefillTokensPerSecond,
    predicted_n: s.generatedTokens,
    predicted_ms: decodeMs,
    predicted_per_second: s.decodeTokensPerSecond,
  };
}

/** One generation at a time; waiters queue in order and leave the queue if their client goes away. */
class Turnstile {
  private running = false;
  private readonly waiting: { resolve: () => void; signal: AbortSignal }[] = [];

  constructor(private readonly maxQueue: number) {}

  get busy(): boolean {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves when it is this request's turn; false when it was refused (queue full) or its client left. */
  enter(signal: AbortSignal): Promise<boolean> {
    if (!this.running) {
      this.running = true;
      return Promise.resolve(true);
    }
    if (this.waiting.length >= this.maxQueue) return Promise.resolve(false);
    return new Promise((resolve) => {
      const entry = { resolve: () => resolve(true), signal };
      this.waiting.push(entry);
      signal.addEventListener(
        'abort',
        () => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) {
            this.waiting.splice(i, 1);
            resolve(false);
          }
        },
        { once: true },
      );
    });
  }

  leave(): void {
    const next = this.waiting.shift();
    if (next) next.resolve();
    else this.running = false;
  }
}

const LOOPBACK = ['localhost', '127.0.0.1', '[::1]'];

/** Lower-cased host name of a Host header, IPv6 in brackets, and its port (undefined when absent/bad). */
export function parseHostHeader(h: string): { name: string; port: number | undefined } | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(h.trim());
  if (!m) return undefined;
  return { name: m[1].toLowerCase().replace(/\.$/, ''), port: m[2] === undefined ? undefined : Number(m[2]) };
}

const tooLarge = (): RequestError => new RequestError(413, `the request body is over ${MAX_BODY} bytes`);

/**
 * The body, up to MAX_BODY. Past that it stops keeping bytes and rejects with 413 but keeps draining the
 * request, so the client (still sending) reads the 413 instead of a reset socket; the caller closes the
 * connection once the answer is out.
 */
function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > MAX_BODY) {
      req.resume();
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (over) return;
      if (size > MAX_BODY) {
        over = true;
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}, head = false): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': String(Buffer.byteLength(text)), ...extra });
  res.end(head ? undefined : text);
}

function sendError(res: http.ServerResponse, e: RequestError, extra: Record<string, string> = {}, head = false): void {
  sendJson(res, e.status, { error: { message: e.message, type: e.type, param: e.param, code: null } }, extra, head);
}

export function createOpenAIServer(opts: OpenAIServerOptions): http.Server {
  const gate = new Turnstile(opts.maxQueue ?? 8);
  const now = opts.now ?? (() => Date.now());
  const log = opts.log ?? (() => undefined);
  const randomSeed = (): number => randomBytes(4).readUInt32LE(0);
  let avgMs = 5000;

  async function chat(req: http.IncomingMessage, res: http.ServerResponse, t0: number): Promise<string> {
    let body: unknown;
    const text = await readBody(req);
    try {
      body = JSON.parse(text);
    } catch {
      throw new RequestError(400, 'the body is not valid JSON');
    }
    const parsed = parseChatRequest(body, { defaultMaxTokens: opts.defaultMaxTokens ?? 512, maxTokensLimit: opts.maxTokensLimit, randomSeed });

    // A client that goes away aborts its generation, or its place in the queue.
    const ac = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) ac.abort();
    });
    const waitingAhead = gate.queued + (gate.busy ? 1 : 0);
    if (!(await gate.enter(ac.signal))) {
      if (ac.signal.aborted) return 'client left while queued';
      const retry = Math.max(1, Math.ceil((avgMs * waitingAhead) / 1000));
      throw new RequestError(429, `the server is busy (${waitingAhead} requests ahead); retry after ${retry} s`, 'rate_limit_exceeded', null, retry);
    }
    const started = now();
    try {
      const id = `chatcmpl-${randomBytes(12).toString('hex')}`;
      const created = Math.floor(Date.now() / 1000);
      const request = { messages: parsed.messages, sampling: parsed.sampling, ...(parsed.continueFinal ? { continueFinal: true } : {}) };
      let result: GenerationResult;
      if (!parsed.stream) {
        result = await opts.engine.generate(request, undefined, ac.signal);
        if (ac.signal.aborted) return 'client left';
        sendJson(res, 200, {
          id,
          object: 'chat.completion',
          created,
          model: opts.modelId,
          choices: [{ index: 0, message: { role: 'assistant', content: result.text }, finish_reason: openaiFinishReason(result.stats.finishReason), logprobs: null }],
          usage: usageOf(result.stats),
          timings: timingsOf(result.stats),
        });
      } else {
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        res.flushHeaders();
        const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): void => {
          if (res.writableEnded || res.destroyed) return;
          res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: opts.modelId, choices, ...extra })}\n\n`);
        };
        chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null }]);
        try {
          result = await opts.engine.generate(
            request,
            (d) => {
              if (d.text !== '') chunk([{ index: 0, delta: { content: d.text }, finish_reason: null, logprobs: null }]);
            },
            ac.signal,
          );
        } catch (e) {
          // Headers are out: the error goes as an event, and no [DONE] follows (the client sees a failed stream).
          const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
          if (!res.destroyed) {
            res.write(`data: ${JSON.stringify({ error: { message, type: 'server_error', param: null, code: null } })}\n\n`);
            res.end();
          }
          return `500 mid-stream (${message})`;
        }
        if (ac.signal.aborted) return 'client left mid-stream';
        const finish = openaiFinishReason(result.stats.finishReason);
        chunk([{ index: 0, delta: {}, finish_reason: finish, logprobs: null }], parsed.includeUsage ? {} : { timings: timingsOf(result.stats) });
        if (parsed.includeUsage) chunk([], { usage: usageOf(result.stats), timings: timingsOf(result.stats) });
        res.end('data: [DONE]\n\n');
      }
      avgMs = 0.7 * avgMs + 0.3 * (now() - started);
      const s = result.stats;
      return `200 ${parsed.stream ? 'stream' : 'json'} ${s.promptTokens}+${s.generatedTokens} tokens ${s.finishReason} ${Math.round(now() - t0)} ms`;
    } finally {
      gate.leave();
    }
  }

  const corsAny = (opts.cors ?? []).includes('*');
  const corsOrigins = new Set((opts.cors ?? []).filter((o) => o !== '*').map((o) => o.replace(/\/+$/, '').toLowerCase()));
  const hostNames = new Set([...LOOPBACK, ...(opts.hosts ?? []).map((h) => (h.includes(':') && !h.startsWith('[') ? `[${h}]` : h).toLowerCase())]);
  const keyDigest = opts.apiKey === undefined ? undefined : createHash('sha256').update(opts.apiKey).digest();

  /** The doors, before any route: Host (403), Origin (403), then CORS headers for an allowed foreign origin. */
  function admit(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.setHeader('vary', 'Origin');
    const port = req.socket.localPort;
    const hostHeader = req.headers.host ?? '';
    const host = parseHostHeader(hostHeader);
    if (!host || !hostNames.has(host.name) || (host.port ?? 80) !== port) {
      throw new RequestError(403, `Host '${hostHeader}' is not this server (DNS rebinding?): call it as http://127.0.0.1:${port ?? ''}`, 'permission_error');
    }
    const origin = req.headers.origin;
    if (origin === undefined) return; // not a browser's cross-origin request (curl, SDKs, same-origin GET)
    const own = origin.toLowerCase() === `http://${host.name}${host.port === undefined ? '' : `:${host.port}`}`;
    if (own) return;
    if (corsAny || corsOrigins.has(origin.toLowerCase())) {
      res.setHeader('access-control-allow-origin', corsAny ? '*' : origin);
      for (const [k, v] of Object.entries(CORS)) res.setHeader(k, v);
      return;
    }
    throw new RequestError(403, `requests from origin ${origin} are not allowed: start serve with --cors ${origin} to allow it`, 'permission_error');
  }

  function authorize(req: http.IncomingMessage): void {
    if (keyDigest === undefined) return;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    const given = m ? createHash('sha256').update(m[1].trim()).digest() : undefined;
    if (given === undefined || !timingSafeEqual(given, keyDigest)) {
      throw new RequestError(401, "this server needs an API key: send 'Authorization: Bearer <key>' (the key given to serve --api-key or BRIX_API_KEY)", 'authentication_error', null);
    }
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<string> {
    const t0 = now();
    admit(req, res);
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://x');
    } catch {
      throw new RequestError(400, 'bad request target');
    }
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const route = path.replace(/^\/v1(?=\/)/, '');
    if (req.method === 'OPTIONS') {
      res.writeHead(204);
      res.end();
      return '204 preflight';
    }
    const read = req.method === 'GET' || req.method === 'HEAD';
    if (route === '/health' && read) {
      sendJson(res, 200, { status: 'ok', busy: gate.busy, queued: gate.queued }, {}, req.method === 'HEAD');
      return '200';
    }
    authorize(req);
    if (route === '/models' && read) {
      sendJson(res, 200, { object: 'list', data: [{ id: opts.modelId, object: 'model', created: 0, owned_by: 'brix' }] }, {}, req.method === 'HEAD');
      return '200';
    }
    if (route === '/chat/completions') {
      if (req.method !== 'POST') throw new RequestError(405, 'use POST for /v1/chat/completions');
      return chat(req, res, t0);
    }
    throw new RequestError(404, `no route ${req.method ?? ''} ${path} (try GET /v1/models or POST /v1/chat/completions)`, 'not_found_error');
  }

  const server = http.createServer((req, res) => {
    const t0 = now();
    handle(req, res).then(
      (what) => log(`${req.method ?? '?'} ${req.url ?? ''} ${what}`),
      (e: unknown) => {
        if (e instanceof RequestError) {
          const extra: Record<string, string> = e.retryAfter !== undefined ? { 'retry-after': String(e.retryAfter) } : {};
          if (e.status === 401) extra['www-authenticate'] = 'Bearer';
          if (e.status === 413) {
            // The client may still be sending: answer, then close the connection (drained meanwhile, with a limit).
            extra.connection = 'close';
            res.once('finish', () => setTimeout(() => req.socket.destroy(), 2000).unref());
          }
          sendError(res, e, extra, req.method === 'HEAD');
          log(`${req.method ?? '?'} ${req.url ?? ''} ${e.status} ${e.message}`);
        } else {
          const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
          sendError(res, new RequestError(500, message, 'server_error'));
          log(`${req.method ?? '?'} ${req.url ?? ''} 500 ${message} ${Math.round(now() - t0)} ms`);
        }
      },
    );
  });
  // A request Node's parser refuses (bad request line, bad header) gets a 400 in our error shape, not a reset.
  server.on('clientError', (err: Error & { code?: string }, socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = JSON.stringify({ error: { message: `bad request (${err.code ?? err.message})`, type: 'invalid_request_error', param: null, code: null } });
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
  return server;
}
