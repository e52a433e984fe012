/**
 * @file `brix serve`'s HTTP layer (scripts/lib/openaiServer.ts) on a real socket with a scripted engine: the
 * routes, CORS and preflight, the streamed chunk sequence (role, deltas, finish_reason, usage, [DONE]) and the
 * JSON answer, request checking (400 with the parameter), the sampling fields reaching the engine, one
 * generation at a time (queueing, 429 with Retry-After when the queue is full), and a disconnecting client
 * aborting its generation. Then the compare view's endpoint engine streams from it over real HTTP.
 */
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createOpenAIServer, parseChatRequest, RequestError } from '../../scripts/lib/openaiServer.ts';
import { SseParser } from '../../app/engines/sse.ts';
import { OpenAIChatEngine } from '../../app/engines/openai.ts';
import type { GenerateRequest, GenerationResult, TokenDelta } from '../../workers/protocol.ts';
import type { Engine } from '../../workers/engine/types.ts';

/** An engine that emits `pieces` one per `stepMs`, honouring abort like the real one (finishReason 'abort'). */
class ScriptedEngine implements Pick<Engine, 'generate'> {
  readonly requests: GenerateRequest[] = [];
  readonly signals: AbortSignal[] = [];
  active = 0;
  maxActive = 0;

  constructor(
    private readonly pieces: readonly string[],
    private readonly stepMs = 0,
  ) {}

  async generate(request: GenerateRequest, onToken?: (d: TokenDelta) => void, signal?: AbortSignal): Promise<GenerationResult> {
    this.requests.push(request);
    if (signal) this.signals.push(signal);
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    let text = '';
    let finish: 'eog' | 'abort' | 'length' = 'eog';
    try {
      for (const [i, p] of this.pieces.entries()) {
        if (this.stepMs) await new Promise((r) => setTimeout(r, this.stepMs));
        if (signal?.aborted) {
          finish = 'abort';
          break;
        }
        if (i >= request.sampling.maxTokens) {
          finish = 'length';
          break;
        }
        text += p;
        onToken?.({ text: p, tokenIds: [i] });
      }
    } finally {
      this.active--;
    }
    return {
      text,
      tokenIds: [],
      stats: {
        promptTokens: 7,
        generatedTokens: text.length > 0 ? Math.min(this.pieces.length, request.sampling.maxTokens) : 0,
        timeToFirstTokenMs: 12,
        prefillTokensPerSecond: 580,
        decodeTokensPerSecond: 42,
        totalMs: 50,
        finishReason: finish,
        expertUsage: [],
        truncatedTokens: 0,
      },
    };
  }
}

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(
  engine: Pick<Engine, 'generate'>,
  maxQueue = 8,
  doors: { cors?: string[]; apiKey?: string } = {},
): Promise<{ base: string; log: string[]; port: number }> {
  const log: string[] = [];
  const server = createOpenAIServer({ engine, modelId: 'tiny', maxQueue, defaultMaxTokens: 64, maxTokensLimit: 256, log: (l) => log.push(l), ...doors });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no TCP address');
  const { port } = addr;
  return { base: `http://127.0.0.1:${port}`, log, port };
}

/** A request with headers fetch would not let us set (Host), answered as status, headers and body. */
function raw(
  port: number,
  opts: { method?: string; path?: string; headers?: Record<string, string>; body?: Buffer | string },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path ?? '/v1/models', headers: opts.headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Bytes straight onto a socket (a request line Node's client would refuse to send); the first line back. */
function rawLine(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => c.write(text));
    let b = '';
    c.on('data', (d: Buffer) => (b += d.toString('latin1')));
    c.on('end', () => resolve(b));
    c.on('error', reject);
  });
}

const chatBody = (extra: Record<string, unknown> = {}): string => JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], ...extra });

async function sseEvents(res: Response): Promise<string[]> {
  const data: string[] = [];
  const p = new SseParser((e) => data.push(e.data));
  p.push(new Uint8Array(await res.arrayBuffer()));
  p.end();
  return data;
}

describe('parseChatRequest', () => {
  const opts = { defaultMaxTokens: 64, maxTokensLimit: 256, randomSeed: () => 99 };

  it('maps OpenAI fields to our sampling, with OpenAI defaults where absent', () => {
    const r = parseChatRequest(
      {
        messages: [
          { role: 'developer', content: 'sys' },
          { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] },
        ],
        temperature: 0,
        top_p: 0.5,
        top_k: 3,
        repetition_penalty: 1.2,
        max_tokens: 9,
        seed: -1,
        stop: 'END',
        stream: true,
        stream_options: { include_usage: true },
      },
      opts,
    );
    expect(r.messages).toEqual([
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'ab' },
    ]);
    expect(r.sampling).toEqual({ temperature: 0, topP: 0.5, topK: 3, repetitionPenalty: 1.2, maxTokens: 9, seed: 0xffffffff, stop: ['END'] });
    expect(r.stream).toBe(true);
    expect(r.includeUsage).toBe(true);
    const d = parseChatRequest({ messages: [{ role: 'user', content: 'x' }] }, opts);
    expect(d.sampling).toEqual({ temperature: 1, topP: 1, topK: 0, repetitionPenalty: 1, maxTokens: 64, seed: 99, stop: [] });
    expect(d.stream).toBe(false);
    expect(parseChatRequest({ messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 5, max_tokens: 9 }, opts).sampling.maxTokens).toBe(5);
  });

  it('refuses bad requests with a RequestError naming the parameter', () => {
    const bad = (body: unknown, param: string | null, msg: RegExp): void => {
      try {
        parseChatRequest(body, opts);
      } catch (e) {
        expect(e).toBeInstanceOf(RequestError);
        expect(e instanceof RequestError && e.status).toBe(400);
        expect(e instanceof RequestError && e.param).toBe(param);
        expect(e instanceof Error && e.message).toMatch(msg);
        return;
      }
      throw new Error(`accepted ${JSON.stringify(body)}`);
    };
    bad([], null, /JSON object/);
    bad({ messages: [] }, 'messages', /non-empty/);
    bad({ messages: [{ role: 'tool', content: 'x' }] }, 'messages', /role/);
    bad({ messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }, 'messages', /text parts/);
    bad({ messages: [{ role: 'user', content: 'x' }], temperature: 3 }, 'temperature', /0 to 2/);
    bad({ messages: [{ role: 'user', content: 'x' }], max_tokens: 257 }, 'max_tokens', /1 to 256/);
    bad({ messages: [{ role: 'user', content: 'x' }], max_tokens: 1.5 }, 'max_tokens', /integer/);
    bad({ messages: [{ role: 'user', content: 'x' }], n: 2 }, 'n', /one choice/);
    bad({ messages: [{ role: 'user', content: 'x' }], stop: [1] }, 'stop', /strings/);
    bad({ messages: [{ role: 'user', content: 'x' }], stream: 'yes' }, 'stream', /boolean/);
  });
});

describe('createOpenAIServer', () => {
  it('lists its model and answers CORS preflights of a --cors origin; unknown routes are 404 JSON', async () => {
    const { base } = await serve(new ScriptedEngine(['a']), 8, { cors: ['http://localhost:4173'] });
    const models = await fetch(`${base}/v1/models`);
    expect(models.status).toBe(200);
    expect(models.headers.get('access-control-allow-origin')).toBeNull();
    expect(await models.json()).toEqual({ object: 'list', data: [{ id: 'tiny', object: 'model', created: 0, owned_by: 'brix' }] });
    const pre = await fetch(`${base}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:4173',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
        'access-control-request-private-network': 'true',
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('http://localhost:4173');
    expect(pre.headers.get('access-control-allow-private-network')).toBeNull();
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    expect(pre.headers.get('access-control-allow-methods')).toMatch(/POST/);
    const nf = await fetch(`${base}/v1/embeddings`, { method: 'POST', body: '{}' });
    expect(nf.status).toBe(404);
    expect(((await nf.json()) as { error: { message: string } }).error.message).toMatch(/no route/);
  });

  it('streams role, deltas, a finish chunk, usage and [DONE], and passes the sampling fields to the engine', async () => {
    const engine = new ScriptedEngine(['Hel', 'lo', '!']);
    const { base } = await serve(engine);
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: chatBody({ stream: true, stream_options: { include_usage: true }, temperature: 0.3, top_p: 0.8, max_tokens: 10, seed: 5, stop: ['\n'], top_k: 4 }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const events = await sseEvents(res);
    expect(events.at(-1)).toBe('[DONE]');
    type Ch = { object: string; model: string; choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[]; usage?: Record<string, number> };
    const typed = events.slice(0, -1).map((d) => JSON.parse(d) as Ch);
    for (const c of typed) expect(c).toMatchObject({ object: 'chat.completion.chunk', model: 'tiny' });
    expect(typed[0].choices[0].delta.role).toBe('assistant');
    expect(typed.flatMap((c) => c.choices.map((x) => x.delta.content ?? '')).join('')).toBe('Hello!');
    const finish = typed.filter((c) => c.choices[0]?.finish_reason);
    expect(finish).toHaveLength(1);
    expect(finish[0].choices[0].finish_reason).toBe('stop');
    expect(typed.at(-1)?.choices).toEqual([]);
    expect(typed.at(-1)?.usage).toEqual({ prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 });
    expect(engine.requests[0].sampling).toEqual({ temperature: 0.3, topP: 0.8, topK: 4, repetitionPenalty: 1, maxTokens: 10, seed: 5, stop: ['\n'] });
    expect(engine.requests[0].messages).toEqual([{ role: 'user', content: 'Hi' }]);
  });

  it('refuses a foreign Origin with 403 and no CORS header, and answers its own origin and non-browser clients', async () => {
    const { base, port } = await serve(new ScriptedEngine(['a']));
    const evil = await fetch(`${base}/v1/models`, { headers: { origin: 'https://evil.example' } });
    expect(evil.status).toBe(403);
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    expect(((await evil.json()) as { error: { message: string } }).error.message).toMatch(/--cors https:\/\/evil\.example/);
    const chat = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'text/plain' }, body: chatBody() });
    expect(chat.status).toBe(403);
    expect(chat.headers.get('access-control-allow-origin')).toBeNull();
    const pre = await fetch(`${base}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-private-network': 'true' },
    });
    expect(pre.status).toBe(403);
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    expect(pre.headers.get('access-control-allow-private-network')).toBeNull();
    // Another port on localhost is another origin too.
    expect((await fetch(`${base}/v1/models`, { headers: { origin: 'http://127.0.0.1:1' } })).status).toBe(403);
    expect((await fetch(`${base}/v1/models`, { headers: { origin: `http://127.0.0.1:${port}` } })).status).toBe(200);
    expect((await fetch(`${base}/v1/models`)).status).toBe(200);
  });

  it('answers only a loopback Host with its own port (DNS rebinding gets 403)', async () => {
    const { port } = await serve(new ScriptedEngine(['a']));
    for (const host of ['evil.example', `evil.example:${port}`, 'localhost:1', `127.0.0.1.evil.example:${port}`]) {
      const r = await raw(port, { headers: { host } });
      expect(r.status, host).toBe(403);
      expect(r.headers['access-control-allow-origin']).toBeUndefined();
      expect(r.body).toMatch(/not this server/);
    }
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`]) {
      expect((await raw(port, { headers: { host } })).status, host).toBe(200);
    }
  });

  it('--cors lists the origins allowed, each answered with its own origin', async () => {
    const { base } = await serve(new ScriptedEngine(['a']), 8, { cors: ['http://localhost:4173', 'https://app.example'] });
    for (const origin of ['http://localhost:4173', 'https://app.example']) {
      const r = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { origin }, body: chatBody() });
      expect(r.status).toBe(200);
      expect(r.headers.get('access-control-allow-origin')).toBe(origin);
      expect(r.headers.get('vary')).toMatch(/origin/i);
    }
    const other = await fetch(`${base}/v1/models`, { headers: { origin: 'https://evil.example' } });
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('--api-key requires Authorization: Bearer <key> (401 otherwise); /health and preflights stay open', async () => {
    const engine = new ScriptedEngine(['a']);
    const { base } = await serve(engine, 8, { apiKey: 'sk-local', cors: ['http://localhost:4173'] });
    for (const auth of [undefined, 'Bearer wrong', 'sk-local', 'Basic c2stbG9jYWw=']) {
      const headers: Record<string, string> = auth === undefined ? {} : { authorization: auth };
      const m = await fetch(`${base}/v1/models`, { headers });
      expect(m.status, String(auth)).toBe(401);
      expect(m.headers.get('www-authenticate')).toBe('Bearer');
      expect(((await m.json()) as { error: { type: string } }).error.type).toBe('authentication_error');
      expect((await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers, body: chatBody() })).status).toBe(401);
    }
    expect(engine.requests).toHaveLength(0);
    const ok = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer sk-local' }, body: chatBody() });
    expect(ok.status).toBe(200);
    expect((await fetch(`${base}/v1/models`, { headers: { authorization: 'bearer sk-local' } })).status).toBe(200);
    expect((await fetch(`${base}/health`)).status).toBe(200);
    // A browser's 401 carries the CORS header, so the app can tell "wrong key" from "unreachable".
    const cross = await fetch(`${base}/v1/models`, { headers: { origin: 'http://localhost:4173' } });
    expect(cross.status).toBe(401);
    expect(cross.headers.get('access-control-allow-origin')).toBe('http://localhost:4173');
    const pre = await fetch(`${base}/v1/models`, { method: 'OPTIONS', headers: { origin: 'http://localhost:4173', 'access-control-request-method': 'GET' } });
    expect(pre.status).toBe(204);
  });

  it('a too-large body gets its 413 answer; a bad request line 400; HEAD /v1/models 200 without a body', async () => {
    const { base, port } = await serve(new ScriptedEngine(['a']));
    const big = Buffer.alloc(9 * 1024 * 1024, 0x20);
    // Declared up front, and streamed without a length (chunked): the client reads the 413 either way.
    const declared = await raw(port, { method: 'POST', path: '/v1/chat/completions', headers: { host: `127.0.0.1:${port}`, 'content-type': 'application/json' }, body: big });
    expect(declared.status).toBe(413);
    expect(declared.body).toMatch(/over 8388608 bytes/);
    const chunked = await raw(port, { method: 'POST', path: '/v1/chat/completions', headers: { host: `127.0.0.1:${port}`, 'transfer-encoding': 'chunked' }, body: big });
    expect(chunked.status).toBe(413);
    for (const line of ['GET //[ HTTP/1.1', 'GET http://[::1 HTTP/1.1', 'NOT A REQUEST']) {
      const answer = await rawLine(port, `${line}\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
      expect(answer.split('\r\n')[0], line).toBe('HTTP/1.1 400 Bad Request');
    }
    const head = await fetch(`${base}/v1/models`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toMatch(/json/);
    expect(await head.text()).toBe('');
    expect((await fetch(`${base}/health`, { method: 'HEAD' })).status).toBe(200);
    // Still serving.
    expect((await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: chatBody() })).status).toBe(200);
  });

  it('answers one chat.completion without stream; length maps to finish_reason length', async () => {
    const { base } = await serve(new ScriptedEngine(['a', 'b', 'c']));
    const res = await fetch(`${base}/chat/completions`, { method: 'POST', body: chatBody({ max_tokens: 2 }) });
    expect(res.status).toBe(200);
    const j = (await res.json()) as Record<string, unknown>;
    expect(j).toMatchObject({
      object: 'chat.completion',
      model: 'tiny',
      choices: [{ index: 0, message: { role: 'assistant', content: 'ab' }, finish_reason: 'length' }],
      usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 },
      timings: { prompt_per_second: 580, predicted_per_second: 42 },
    });
  });

  it('400 for a bad body, with the OpenAI error shape', async () => {
    const { base } = await serve(new ScriptedEngine(['a']));
    const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: '{not json' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { message: 'the body is not valid JSON', type: 'invalid_request_error', param: null, code: null } });
    const r2 = await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: chatBody({ temperature: -1 }) });
    expect(((await r2.json()) as { error: { param: string } }).error.param).toBe('temperature');
  });

  it('runs one generation at a time: a second request waits its turn', async () => {
    const engine = new ScriptedEngine(['a', 'b', 'c'], 20);
    const { base } = await serve(engine, 4);
    const post = (): Promise<Response> => fetch(`${base}/v1/chat/completions`, { method: 'POST', body: chatBody() });
    const [a, b] = await Promise.all([post(), post()]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(engine.requests).toHaveLength(2);
    expect(engine.maxActive).toBe(1);
  });

  it('429 with Retry-After when the queue is full', async () => {
    const engine = new ScriptedEngine(['a', 'b', 'c', 'd'], 30);
    const { base } = await serve(engine, 0);
    const first = fetch(`${base}/v1/chat/completions`, { method: 'POST', body: chatBody() });
    await new Promise((r) => setTimeout(r, 15));
    const second = await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: chatBody() });
    expect(second.status).toBe(429);
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await second.json()) as { error: { type: string } }).error.type).toBe('rate_limit_exceeded');
    expect((await first).status).toBe(200);
  });

  it('a client that disconnects mid-stream aborts its generation, and the next request runs', async () => {
    const engine = new ScriptedEngine(Array.from({ length: 50 }, (_, i) => `t${i} `), 10);
    const { base, log } = await serve(engine);
    const ac = new AbortController();
    const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: chatBody({ stream: true }), signal: ac.signal });
    const reader = res.body?.getReader();
    await reader?.read();
    ac.abort();
    await expect.poll(() => engine.signals[0]?.aborted, { timeout: 5000 }).toBe(true);
    await expect.poll(() => log.some((l) => /client left/.test(l)), { timeout: 5000 }).toBe(true);
    const next = await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: chatBody({ max_tokens: 2 }) });
    expect(next.status).toBe(200);
  });

  it("an engine failure mid-stream is sent as an error event without [DONE], which the endpoint engine reports", async () => {
    const failing: Pick<Engine, 'generate'> = {
      async generate(_r, onToken) {
        onToken?.({ text: 'par', tokenIds: [] });
        throw Object.assign(new Error('device lost'), { name: 'GpuDeviceLostError' });
      },
    };
    const { base } = await serve(failing);
    const engine = new OpenAIChatEngine({ id: 'openai:x', kind: 'openai', ref: 'x', name: 'x' }, { id: 'x', name: 'x', baseUrl: base, model: 'tiny', extendedSampling: false }, {
      fetch: (u, i) => fetch(u, i),
      now: () => performance.now(),
      apiKey: () => undefined,
    });
    await expect(engine.generate({ messages: [{ role: 'user', content: 'Hi' }], sampling: { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0, maxTokens: 4, stop: [] } })).rejects.toMatchObject({
      name: 'EndpointServerError',
      message: expect.stringContaining('GpuDeviceLostError: device lost'),
    });
  });

  it('the endpoint engine streams a completion from it over HTTP, with the server-side speeds', async () => {
    const { base } = await serve(new ScriptedEngine(['Once', ' upon', ' a', ' time']));
    const engine = new OpenAIChatEngine({ id: 'openai:x', kind: 'openai', ref: 'x', name: 'x' }, { id: 'x', name: 'x', baseUrl: base, model: 'tiny', extendedSampling: true }, {
      fetch: (u, i) => fetch(u, i),
      now: () => performance.now(),
      apiKey: () => 'k',
    });
    const info = await engine.load();
    expect(info.name).toBe('tiny');
    const deltas: string[] = [];
    const r = await engine.generate(
      { messages: [{ role: 'user', content: 'Story?' }], sampling: { temperature: 0, topK: 1, topP: 1, repetitionPenalty: 1, seed: 1, maxTokens: 8, stop: [] } },
      (d) => deltas.push(d.text),
    );
    expect(r.text).toBe('Once upon a time');
    expect(deltas).toEqual(['Once', ' upon', ' a', ' time']);
    expect(r.stats).toMatchObject({ promptTokens: 7, generatedTokens: 4, prefillTokensPerSecond: 580, decodeTokensPerSecond: 42, finishReason: 'eog' });
  });
});
