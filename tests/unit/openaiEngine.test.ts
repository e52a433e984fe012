/**
 * @file The OpenAI-compatible endpoint engine (app/engines/openai.ts) against a scripted fetch: the request it
 * sends (URL, headers, sampling fields), streamed deltas and statistics (usage, llama.cpp timings, client-side
 * TTFT and decode speed on a fake clock), each failure as its named error (401 with the key redacted, 429 with
 * Retry-After in seconds and as a date, 5xx, 404, network/CORS TypeError, an error event mid-stream, bad JSON),
 * a dropped stream keeping the partial answer, and Stop (before the request and mid-stream).
 */
import { describe, expect, it } from 'vitest';
import {
  OpenAIChatEngine,
  chatCompletionBody,
  endpointProvider,
  listEndpointModels,
  normalizeBaseUrl,
  parseRetryAfter,
  type EndpointConfig,
  type FetchLike,
} from '../../app/engines/openai.ts';
import {
  EndpointAuthError,
  EndpointConfigError,
  EndpointHttpError,
  EndpointProtocolError,
  EndpointRateLimitError,
  EndpointServerError,
  EndpointUnreachableError,
  StreamDroppedError,
} from '../../app/engines/errors.ts';
import type { GenerateRequest, TokenDelta } from '../../workers/protocol.ts';

const KEY = 'sk-test-secret-1234';
const CONFIG: EndpointConfig = { id: 'ep1', name: 'Local', baseUrl: 'http://127.0.0.1:9/v1', model: 'dbrx-instruct', extendedSampling: false };
const REQUEST: GenerateRequest = {
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi' },
  ],
  sampling: { temperature: 0.5, topK: 40, topP: 0.9, repetitionPenalty: 1.1, seed: 42, maxTokens: 16, stop: ['\n\n'] },
};

const enc = new TextEncoder();

interface Call {
  readonly url: string;
  readonly init: RequestInit | undefined;
}

/** A body stream fed by the test; `abortWith` errors it the way fetch does when the signal aborts. */
function scriptedBody(chunks: readonly string[], opts: { end?: 'close' | 'error' | 'hang'; signal?: AbortSignal | null; onPull?: () => void } = {}) {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    start(c) {
      opts.signal?.addEventListener('abort', () => c.error(new DOMException('The operation was aborted.', 'AbortError')));
    },
    pull(c) {
      opts.onPull?.();
      if (i < chunks.length) {
        c.enqueue(enc.encode(chunks[i++]));
        return;
      }
      if (opts.end === 'error') c.error(new TypeError('network error'));
      else if (opts.end === 'hang') return new Promise<void>(() => undefined);
      else c.close();
    },
  });
}

function sse(events: readonly unknown[], done = true): string[] {
  const out = events.map((e) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`);
  if (done) out.push('data: [DONE]\n\n');
  return out;
}

const delta = (content: string, finish: string | null = null): unknown => ({
  id: 'c',
  object: 'chat.completion.chunk',
  choices: [{ index: 0, delta: { content }, finish_reason: finish }],
});

function fakeFetch(respond: (url: string, init: RequestInit | undefined) => Response | Promise<Response>): { fetch: FetchLike; calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    fetch: async (url, init) => {
      calls.push({ url, init });
      return respond(url, init);
    },
  };
}

/** A clock that advances 10 ms per reading. */
function fakeClock(): () => number {
  let t = 1000;
  return () => (t += 10);
}

/** `key` null: no API key configured. */
function engineWith(f: FetchLike, config: EndpointConfig = CONFIG, key: string | null = KEY): OpenAIChatEngine {
  const option = { id: `openai:${config.id}`, kind: 'openai' as const, ref: config.id, name: config.name };
  return new OpenAIChatEngine(option, config, { fetch: f, now: fakeClock(), apiKey: () => key ?? undefined });
}

const streamResponse = (chunks: readonly string[], init: RequestInit | undefined, end: 'close' | 'error' | 'hang' = 'close'): Response =>
  new Response(scriptedBody(chunks, { end, signal: init?.signal }), { status: 200, headers: { 'content-type': 'text/event-stream' } });

const jsonResponse = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

async function caught(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    if (e instanceof Error) return e;
    throw new Error(`threw a non-Error: ${String(e)}`);
  }
  throw new Error('expected a rejection');
}

describe('normalizeBaseUrl', () => {
  it('adds /v1 to a bare origin, strips trailing slashes and a pasted /chat/completions', () => {
    expect(normalizeBaseUrl(' http://127.0.0.1:8080 ')).toBe('http://127.0.0.1:8080/v1');
    expect(normalizeBaseUrl('http://127.0.0.1:8080/v1/')).toBe('http://127.0.0.1:8080/v1');
    expect(normalizeBaseUrl('https://ws.cloud.databricks.com/serving-endpoints')).toBe('https://ws.cloud.databricks.com/serving-endpoints');
    expect(normalizeBaseUrl('http://h/v1/chat/completions')).toBe('http://h/v1');
  });

  it('rejects what is not an http(s) URL, and credentials in the URL', () => {
    expect(() => normalizeBaseUrl('')).toThrow(EndpointConfigError);
    expect(() => normalizeBaseUrl('localhost:8080')).toThrow(EndpointConfigError);
    expect(() => normalizeBaseUrl('ftp://h/v1')).toThrow(/must be http/);
    expect(() => normalizeBaseUrl('http://user:pw@h/v1')).toThrow(/API key field/);
  });
});

describe('chatCompletionBody', () => {
  it('sends the standard sampling fields, and top_k / repetition_penalty only when asked', () => {
    const b = chatCompletionBody(REQUEST, CONFIG);
    expect(b).toEqual({
      model: 'dbrx-instruct',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ],
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.5,
      top_p: 0.9,
      max_tokens: 16,
      seed: 42,
      stop: ['\n\n'],
    });
    const x = chatCompletionBody(REQUEST, { ...CONFIG, extendedSampling: true });
    expect(x.top_k).toBe(40);
    expect(x.repetition_penalty).toBe(1.1);
    const noStop = chatCompletionBody({ ...REQUEST, sampling: { ...REQUEST.sampling, stop: ['a', 'b', 'c', 'd', 'e'] } }, CONFIG);
    expect(noStop.stop).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('OpenAIChatEngine.generate', () => {
  it('streams deltas, posts to <base>/chat/completions with the key, and reports usage and measured speed', async () => {
    const { fetch, calls } = fakeFetch((_, init) =>
      streamResponse(
        [
          ': keep-alive\n\n',
          ...sse([
            { choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
            delta('Hel'),
            delta('lo'),
            delta('!', 'length'),
            { choices: [], usage: { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 } },
          ]),
        ],
        init,
      ),
    );
    const deltas: TokenDelta[] = [];
    const r = await engineWith(fetch).generate(REQUEST, (d) => deltas.push(d));
    expect(deltas.map((d) => d.text)).toEqual(['Hel', 'lo', '!']);
    expect(r.text).toBe('Hello!');
    expect(calls).toHaveLength(1);
    expect(calls[0].url).toBe('http://127.0.0.1:9/v1/chat/completions');
    expect(calls[0].init?.method).toBe('POST');
    expect(new Headers(calls[0].init?.headers).get('authorization')).toBe(`Bearer ${KEY}`);
    expect(JSON.parse(String(calls[0].init?.body))).toMatchObject({ model: 'dbrx-instruct', stream: true, seed: 42 });
    expect(r.stats.finishReason).toBe('length');
    expect(r.stats.promptTokens).toBe(11);
    expect(r.stats.generatedTokens).toBe(3);
    // Fake clock: 10 ms per reading, so TTFT and decode speed are finite and positive.
    expect(r.stats.timeToFirstTokenMs).toBeGreaterThan(0);
    expect(r.stats.decodeTokensPerSecond).toBeGreaterThan(0);
    expect(Number.isFinite(r.stats.decodeTokensPerSecond)).toBe(true);
    expect(Number.isNaN(r.stats.prefillTokensPerSecond)).toBe(true);
  });

  it('sends no Authorization header without a key, and reads llama.cpp timings', async () => {
    const { fetch, calls } = fakeFetch((_, init) =>
      streamResponse(sse([delta('a'), delta('b', 'stop'), { choices: [], timings: { prompt_n: 5, prompt_per_second: 250, predicted_n: 2, predicted_per_second: 33.5 } }]), init),
    );
    const r = await engineWith(fetch, CONFIG, null).generate(REQUEST);
    expect(new Headers(calls[0].init?.headers).has('authorization')).toBe(false);
    expect(r.stats.prefillTokensPerSecond).toBe(250);
    expect(r.stats.decodeTokensPerSecond).toBe(33.5);
    expect(r.stats.promptTokens).toBe(5);
    expect(r.stats.finishReason).toBe('eog');
  });

  it('401 is EndpointAuthError "API key rejected", with the key redacted from the server message', async () => {
    const { fetch } = fakeFetch(() => jsonResponse(401, { error: { message: `Incorrect API key provided: ${KEY}` } }));
    const e = await caught(engineWith(fetch).generate(REQUEST));
    expect(e).toBeInstanceOf(EndpointAuthError);
    expect(e.name).toBe('EndpointAuthError');
    expect(e.message).toMatch(/API key rejected/);
    expect(e.message).toContain('Incorrect API key provided: ***');
    expect(e.message).not.toContain(KEY);
  });

  it('429 is EndpointRateLimitError with Retry-After in seconds (delta-seconds or a date)', async () => {
    const { fetch } = fakeFetch(() => jsonResponse(429, { error: { message: 'slow down' } }, { 'retry-after': '7' }));
    const e = await caught(engineWith(fetch).generate(REQUEST));
    expect(e).toBeInstanceOf(EndpointRateLimitError);
    expect(e instanceof EndpointRateLimitError && e.retryAfterSeconds).toBe(7);
    expect(e.message).toMatch(/rate limited; retry after 7 s/);
    expect(parseRetryAfter(new Date(60_000).toUTCString(), 0)).toBe(60);
    expect(parseRetryAfter('soon')).toBeUndefined();
    const { fetch: f2 } = fakeFetch(() => jsonResponse(429, {}));
    expect((await caught(engineWith(f2).generate(REQUEST))).message).toMatch(/retry after a while/);
  });

  it('5xx is EndpointServerError with the server text (FastAPI detail too); 404 is EndpointHttpError', async () => {
    const { fetch } = fakeFetch(() => new Response('upstream model crashed', { status: 503 }));
    const e = await caught(engineWith(fetch).generate(REQUEST));
    expect(e).toBeInstanceOf(EndpointServerError);
    expect(e instanceof EndpointServerError && e.status).toBe(503);
    expect(e.message).toContain('upstream model crashed');
    const { fetch: f500 } = fakeFetch(() => jsonResponse(500, { detail: 'CUDA out of memory' }));
    expect((await caught(engineWith(f500).generate(REQUEST))).message).toContain('CUDA out of memory');
    const { fetch: f404 } = fakeFetch(() => jsonResponse(404, { error: { message: 'The model `x` does not exist.' } }));
    const e404 = await caught(engineWith(f404).generate(REQUEST));
    expect(e404).toBeInstanceOf(EndpointHttpError);
    expect(e404.message).toMatch(/^404 from http:\/\/127\.0\.0\.1:9\/v1\/chat\/completions/);
  });

  it('a fetch TypeError (network down, CORS) is EndpointUnreachableError that says so', async () => {
    const e = await caught(
      engineWith(async () => {
        throw new TypeError('Failed to fetch');
      }).generate(REQUEST),
    );
    expect(e).toBeInstanceOf(EndpointUnreachableError);
    expect(e.message).toMatch(/unreachable or blocks cross-origin requests \(CORS\)/);
    expect(e.message).toContain('Failed to fetch');
  });

  it('a stream that closes before [DONE] is StreamDroppedError keeping the partial answer', async () => {
    const { fetch } = fakeFetch((_, init) => streamResponse(sse([delta('Par'), delta('tial')], false), init));
    const deltas: string[] = [];
    const e = await caught(engineWith(fetch).generate(REQUEST, (d) => deltas.push(d.text)));
    expect(e).toBeInstanceOf(StreamDroppedError);
    expect(e instanceof StreamDroppedError && e.partialText).toBe('Partial');
    expect(deltas).toEqual(['Par', 'tial']);
    expect(e.message).toMatch(/closed before the end of the answer/);
  });

  it('a connection error mid-stream is StreamDroppedError too, and a cut-off last event is not taken as data', async () => {
    const { fetch } = fakeFetch((_, init) => streamResponse([...sse([delta('A')], false), 'data: {"choices":[{"delta":{"content":"B'], init, 'error'));
    const e = await caught(engineWith(fetch).generate(REQUEST));
    expect(e).toBeInstanceOf(StreamDroppedError);
    expect(e instanceof StreamDroppedError && e.partialText).toBe('A');
  });

  it('an error event mid-stream is EndpointServerError; a non-JSON event is EndpointProtocolError', async () => {
    const { fetch } = fakeFetch((_, init) => streamResponse(sse([delta('x'), { error: { message: 'engine crashed' } }], false), init));
    const e = await caught(engineWith(fetch).generate(REQUEST));
    expect(e).toBeInstanceOf(EndpointServerError);
    expect(e.message).toContain('engine crashed');
    const { fetch: f2 } = fakeFetch((_, init) => streamResponse(sse(['<html>oops</html>']), init));
    expect(await caught(engineWith(f2).generate(REQUEST))).toBeInstanceOf(EndpointProtocolError);
  });

  it('takes a non-streamed JSON completion from a server that ignored stream: true', async () => {
    const { fetch } = fakeFetch(() =>
      jsonResponse(200, { choices: [{ index: 0, message: { role: 'assistant', content: 'whole' }, finish_reason: 'stop' }], usage: { prompt_tokens: 2, completion_tokens: 1 } }),
    );
    const deltas: string[] = [];
    const r = await engineWith(fetch).generate(REQUEST, (d) => deltas.push(d.text));
    expect(r.text).toBe('whole');
    expect(deltas).toEqual(['whole']);
    expect(r.stats.generatedTokens).toBe(1);
  });

  it('Stop mid-stream aborts the request and returns the answer so far with finishReason abort', async () => {
    const ac = new AbortController();
    let pulls = 0;
    const { fetch, calls } = fakeFetch(
      (_, init) =>
        new Response(
          scriptedBody(sse([delta('one '), delta('two ')], false), {
            end: 'hang',
            signal: init?.signal,
            onPull: () => {
              // Stop once both deltas are through (the third pull waits forever, like a slow server).
              if (++pulls === 3) setTimeout(() => ac.abort(), 0);
            },
          }),
          { status: 200, headers: { 'content-type': 'text/event-stream' } },
        ),
    );
    const r = await engineWith(fetch).generate(REQUEST, undefined, ac.signal);
    expect(calls[0].init?.signal?.aborted).toBe(true);
    expect(r.text).toBe('one two ');
    expect(r.stats.finishReason).toBe('abort');
  });

  it('an already aborted signal sends nothing', async () => {
    const { fetch, calls } = fakeFetch(() => jsonResponse(200, {}));
    const ac = new AbortController();
    ac.abort();
    const r = await engineWith(fetch).generate(REQUEST, undefined, ac.signal);
    expect(calls).toHaveLength(0);
    expect(r.stats.finishReason).toBe('abort');
  });
});

describe('listing and loading', () => {
  it('GET <base>/models lists the ids; a bad shape is EndpointProtocolError', async () => {
    const { fetch, calls } = fakeFetch(() => jsonResponse(200, { object: 'list', data: [{ id: 'a' }, { id: 'b' }, { nope: 1 }] }));
    expect(await listEndpointModels('http://h:1', KEY, fetch)).toEqual(['a', 'b']);
    expect(calls[0].url).toBe('http://h:1/v1/models');
    const { fetch: f2 } = fakeFetch(() => jsonResponse(200, { models: [] }));
    expect(await caught(listEndpointModels('http://h:1', KEY, f2))).toBeInstanceOf(EndpointProtocolError);
  });

  it('load checks the key through /models, accepts a server without /models, and needs a model name', async () => {
    const { fetch: f401 } = fakeFetch(() => jsonResponse(401, { error: 'bad key' }));
    expect(await caught(engineWith(f401).load())).toBeInstanceOf(EndpointAuthError);
    const { fetch: f404 } = fakeFetch(() => new Response('not found', { status: 404 }));
    const info = await engineWith(f404).load();
    expect(info.name).toBe('dbrx-instruct');
    expect(info.gpuBytes).toBe(0);
    expect(await caught(engineWith(f404, { ...CONFIG, model: ' ' }).load())).toBeInstanceOf(EndpointConfigError);
  });

  it('the provider lists one option per configured endpoint and creates its engine', async () => {
    const { fetch } = fakeFetch(() => jsonResponse(200, { data: [] }));
    const p = endpointProvider(() => [CONFIG], { fetch, now: () => 0, apiKey: () => undefined });
    const opts = await p.listModels();
    expect(opts).toEqual([
      { id: 'openai:ep1', kind: 'openai', ref: 'ep1', name: 'Local (dbrx-instruct)', gpuBytesEstimate: 0, note: 'runs on the server at http://127.0.0.1:9/v1' },
    ]);
    expect(p.create(opts[0]).kind).toBe('openai');
    expect(() => p.create({ ...opts[0], ref: 'gone' })).toThrow(EndpointConfigError);
  });
});
