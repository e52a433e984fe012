/**
 * @file The endpoints store keeps each API key bound to the origin it was saved for: List models on a just-typed
 * URL, a committed new base URL and the chat engine's requests all go without it elsewhere (issue 17 item 7).
 */
import { describe, expect, it } from 'vitest';
import { createEndpointsStore } from '../../app/engines/endpointsStore.ts';
import { endpointProvider, type FetchLike } from '../../app/engines/openai.ts';
import { API_KEYS_KEY, ENDPOINTS_KEY, memoryStorage } from '../../app/features/compare/endpointSettings.ts';
import { DEFAULT_SAMPLING } from '../../workers/protocol.ts';

interface Seen {
  readonly url: string;
  readonly auth: string | null;
}

function recordingFetch(seen: Seen[]): FetchLike {
  return async (url, init) => {
    seen.push({ url, auth: new Headers(init?.headers).get('authorization') });
    if (url.endsWith('/models')) return new Response(JSON.stringify({ data: [{ id: 'm' }] }), { status: 200, headers: { 'content-type': 'application/json' } });
    const sse = 'data: {"choices":[{"delta":{"content":"hi"},"finish_reason":null}]}\n\ndata: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n';
    return new Response(sse, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  };
}

function setup(storage = memoryStorage()) {
  const seen: Seen[] = [];
  let n = 0;
  const store = createEndpointsStore({ storage, fetch: recordingFetch(seen), newId: () => `e${++n}` });
  return { store, storage, seen };
}

describe('endpoints store: API keys bound to their origin', () => {
  it('List models sends the saved key only to the origin it was saved for, never to a just-typed other URL', async () => {
    const { store, seen } = setup();
    const id = store.getState().add({ name: 'vLLM', baseUrl: 'https://gpu.example/v1', model: 'm' });
    store.getState().setKey(id, 'sk-secret');
    expect(store.getState().keyOrigin(id)).toBe('https://gpu.example');
    await store.getState().listModels(id, 'https://gpu.example/v1/');
    await store.getState().listModels(id, 'https://evil.example/v1');
    await store.getState().listModels(id, 'http://gpu.example/v1');
    await store.getState().listModels(id, 'https://gpu.example:8443/v1');
    expect(seen).toEqual([
      { url: 'https://gpu.example/v1/models', auth: 'Bearer sk-secret' },
      { url: 'https://evil.example/v1/models', auth: null },
      { url: 'http://gpu.example/v1/models', auth: null },
      { url: 'https://gpu.example:8443/v1/models', auth: null },
    ]);
  });

  it('committing another base URL does not carry the key over: neither List models nor the chat engine sends it there', async () => {
    const { store, seen } = setup();
    const id = store.getState().add({ name: 'vLLM', baseUrl: 'https://gpu.example/v1', model: 'm' });
    store.getState().setKey(id, 'sk-secret');
    const provider = endpointProvider(() => store.getState().endpoints, { fetch: recordingFetch(seen), now: () => 0, apiKey: (e, url) => store.getState().apiKey(e, url) });
    const [option] = await provider.listModels();
    const engine = provider.create(option);
    await engine.generate({ messages: [{ role: 'user', content: 'hi' }], sampling: DEFAULT_SAMPLING });
    expect(seen.at(-1)).toEqual({ url: 'https://gpu.example/v1/chat/completions', auth: 'Bearer sk-secret' });

    store.getState().update(id, { baseUrl: 'https://evil.example/v1' });
    expect(store.getState().keyOrigin(id)).toBe('https://gpu.example');
    expect(store.getState().hasKey(id)).toBe(true);
    expect(store.getState().apiKey(id)).toBeUndefined();
    await store.getState().listModels(id, 'https://evil.example/v1');
    await engine.generate({ messages: [{ role: 'user', content: 'hi' }], sampling: DEFAULT_SAMPLING });
    expect(seen.slice(-2)).toEqual([
      { url: 'https://evil.example/v1/models', auth: null },
      { url: 'https://evil.example/v1/chat/completions', auth: null },
    ]);
    // Entering the key again binds it to the new origin.
    store.getState().setKey(id, 'sk-other');
    expect(store.getState().keyOrigin(id)).toBe('https://evil.example');
    expect(store.getState().apiKey(id)).toBe('sk-other');
  });

  it('a key saved before any base URL, or by an older version, is bound to the first base URL it is used with', () => {
    const storage = memoryStorage();
    storage.setItem(ENDPOINTS_KEY, JSON.stringify([{ id: 'old', name: 'Old', baseUrl: 'http://127.0.0.1:8080/v1', model: 'x', extendedSampling: false }]));
    storage.setItem(API_KEYS_KEY, JSON.stringify({ old: 'sk-legacy' }));
    const { store } = setup(storage);
    expect(store.getState().keyOrigin('old')).toBe('http://127.0.0.1:8080');
    expect(store.getState().apiKey('old')).toBe('sk-legacy');
    const id = store.getState().add({ name: 'New', baseUrl: '', model: 'x' });
    store.getState().setKey(id, 'sk-new');
    expect(store.getState().keyOrigin(id)).toBeNull();
    expect(store.getState().apiKey(id)).toBeUndefined();
    store.getState().update(id, { baseUrl: 'https://api.example/v1' });
    expect(store.getState().keyOrigin(id)).toBe('https://api.example');
    expect(store.getState().apiKey(id)).toBe('sk-new');
    expect(JSON.parse(storage.map.get(API_KEYS_KEY) ?? '{}')).toEqual({
      old: { key: 'sk-legacy', origin: 'http://127.0.0.1:8080' },
      [id]: { key: 'sk-new', origin: 'https://api.example' },
    });
  });
});
