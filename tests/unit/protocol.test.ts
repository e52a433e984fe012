/**
 * @file The worker protocol end to end without a browser: EngineClient ↔ FakeWorker (structuredClone,
 * async delivery) ↔ the real createWorkerHandler ↔ a scripted fake Engine. Checks round trips, progress and
 * token events, error classes surviving the boundary, AbortSignal → `abort`, and malformed requests.
 */
import { describe, expect, it } from 'vitest';
import { EngineClient, WorkerDiedError } from '../../app/lib/engineClient.ts';
import { AbortError, deserializeError, EngineStateError, ProtocolError } from '../../workers/errors.ts';
import { GpuUnavailableError } from '../../workers/gpu/device.ts';
import {
  DEFAULT_SAMPLING,
  PROTOCOL_VERSION,
  type GenerateRequest,
  type GenerationResult,
  type LoadProgress,
  type ModelInfo,
  type TokenDelta,
} from '../../workers/protocol.ts';
import type { Engine } from '../../workers/engine/types.ts';
import { FakeWorker } from '../helpers/fakeWorker.ts';
import { fakeGpu } from '../helpers/fakeGpu.ts';

const INFO: ModelInfo = {
  name: 'tiny-dbrx',
  architecture: 'dbrx',
  nParams: 1234,
  nLayer: 2,
  nExpert: 4,
  nExpertUsed: 2,
  contextSize: 128,
  vocabSize: 256,
  fileBytes: 4096,
  gpuBytes: 8192,
};

const REQUEST: GenerateRequest = { messages: [{ role: 'user', content: 'hi' }], sampling: { ...DEFAULT_SAMPLING, maxTokens: 3 } };

class WeirdError extends Error {
  override name = 'WeirdError';
}

/** A scripted engine: what it throws and whether generate waits for abort are set per test. */
class FakeEngine implements Engine {
  loadError: unknown;
  /** generate emits one token, then waits for the abort signal. */
  waitForAbort = false;
  abortReason: unknown;
  unloaded = 0;

  load(_s: unknown, _o: unknown, onProgress?: (p: LoadProgress) => void): Promise<ModelInfo> {
    if (this.loadError !== undefined) return Promise.reject(this.loadError);
    onProgress?.({ phase: 'download', loaded: 50, total: 100 });
    onProgress?.({ phase: 'upload', loaded: 100, total: 100, rate: 1e6, etaSeconds: 0 });
    return Promise.resolve(INFO);
  }

  async generate(req: GenerateRequest, onToken?: (d: TokenDelta) => void, signal?: AbortSignal): Promise<GenerationResult> {
    const stats = (n: number, finishReason: GenerationResult['stats']['finishReason']): GenerationResult['stats'] => ({
      promptTokens: req.messages.length,
      generatedTokens: n,
      timeToFirstTokenMs: 1,
      prefillTokensPerSecond: 1,
      decodeTokensPerSecond: 1,
      totalMs: 2,
      finishReason,
      expertUsage: [[1, 0, 2, 0]],
      truncatedTokens: 0,
    });
    if (this.waitForAbort) {
      onToken?.({ text: 'He', tokenIds: [7] });
      await new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
      this.abortReason = signal?.reason;
      return { text: 'He', tokenIds: [7], stats: stats(1, 'abort') };
    }
    onToken?.({ text: 'He', tokenIds: [7] });
    onToken?.({ text: 'llo', tokenIds: [8, 9] });
    return { text: 'Hello', tokenIds: [7, 8, 9], stats: stats(3, 'length') };
  }

  unload(): Promise<void> {
    this.unloaded++;
    return Promise.resolve();
  }
}

function setup(gpu?: GPU): { client: EngineClient; worker: FakeWorker; engine: FakeEngine } {
  const engine = new FakeEngine();
  const worker = new FakeWorker({ engine: () => engine, gpu: () => gpu });
  return { client: new EngineClient(worker), worker, engine };
}

describe('round trips', () => {
  it('ping echoes the payload and reports the adapter the worker got (device released)', async () => {
    const fake = fakeGpu({ features: ['subgroups'], info: { vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true } });
    const { client, worker } = setup(fake.gpu);
    const r = await client.ping('hello');
    expect(r.payload).toBe('hello');
    expect(r.gpu).toMatchObject({ vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true });
    expect(r.gpu?.features).toEqual({ f16: false, subgroups: true, timestampQuery: false });
    expect(r.gpuError).toBeUndefined();
    expect(fake.destroyed()).toBe(1);
    expect(worker.sent).toEqual([{ type: 'ping', id: 1, payload: 'hello' }]);
  });

  it('ping without WebGPU still answers, with gpu null and a GpuUnavailableError', async () => {
    const { client } = setup(undefined);
    const r = await client.ping('x');
    expect(r.payload).toBe('x');
    expect(r.gpu).toBeNull();
    expect(r.gpuError?.name).toBe('GpuUnavailableError');
    expect(deserializeError(r.gpuError ?? { name: '', message: '' })).toBeInstanceOf(GpuUnavailableError);
  });

  it('load reports progress events in order, then the model info; requests carry the protocol version', async () => {
    const { client, worker } = setup();
    const progress: LoadProgress[] = [];
    const info = await client.load({ kind: 'url', url: 'https://example.test/m.gguf' }, {}, (p) => progress.push(p));
    expect(info).toEqual(INFO);
    expect(progress.map((p) => `${p.phase}:${p.loaded}/${p.total}`)).toEqual(['download:50/100', 'upload:100/100']);
    expect(worker.sent[0]).toMatchObject({ type: 'load', protocolVersion: PROTOCOL_VERSION });
  });

  it('generate streams token events to the callback and resolves with the result', async () => {
    const { client, worker } = setup();
    const deltas: TokenDelta[] = [];
    const r = await client.generate(REQUEST, (d) => deltas.push(d));
    expect(deltas.map((d) => d.text).join('')).toBe('Hello');
    expect(deltas.flatMap((d) => d.tokenIds)).toEqual(r.tokenIds);
    expect(r.stats).toMatchObject({ generatedTokens: 3, finishReason: 'length', expertUsage: [[1, 0, 2, 0]] });
    // Every event the worker sent belongs to the one request.
    expect(new Set(worker.received.map((e) => e.id))).toEqual(new Set([1]));
  });

  it('overlapping requests get distinct ids and each resolves with its own result', async () => {
    const { client, worker } = setup(undefined);
    const [a, b] = await Promise.all([client.ping('a'), client.ping('b')]);
    expect([a.payload, b.payload]).toEqual(['a', 'b']);
    expect(worker.sent.map((r) => r.id)).toEqual([1, 2]);
  });

  it('unload reaches the engine', async () => {
    const { client, engine } = setup();
    await client.load({ kind: 'path', path: '/m.gguf' }, {});
    await client.unload();
    expect(engine.unloaded).toBe(1);
  });
});

describe('errors across the boundary', () => {
  it('a GpuUnavailableError thrown by the engine arrives as GpuUnavailableError', async () => {
    const { client, engine } = setup();
    engine.loadError = new GpuUnavailableError('no adapter here');
    const err = await client.load({ kind: 'path', path: '/m.gguf' }, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuUnavailableError);
    expect(err).toHaveProperty('name', 'GpuUnavailableError');
    expect(err).toHaveProperty('message', 'no adapter here');
  });

  it('the placeholder engine error class survives too', async () => {
    const { client, engine } = setup();
    engine.loadError = new EngineStateError('not built');
    await expect(client.load({ kind: 'path', path: '/m.gguf' }, {})).rejects.toBeInstanceOf(EngineStateError);
  });

  it('an unknown error class keeps its name and message; a thrown non-Error becomes an Error', async () => {
    const { client, engine } = setup();
    engine.loadError = new WeirdError('odd');
    const err = await client.load({ kind: 'path', path: '/m.gguf' }, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ name: 'WeirdError', message: 'odd' });

    engine.loadError = 'a string';
    await expect(client.load({ kind: 'path', path: '/m.gguf' }, {})).rejects.toMatchObject({ name: 'Error', message: 'a string' });
  });

  it('a worker that dies rejects pending calls with WorkerDiedError', async () => {
    const { client, worker } = setup();
    worker.terminated = true; // nothing will answer
    const p = client.ping('lost');
    worker.fail('SyntaxError in engine.worker.ts');
    await expect(p).rejects.toThrow(WorkerDiedError);
    await expect(p).rejects.toThrow(/SyntaxError in engine.worker.ts/);
  });

  it('terminate() rejects pending calls with WorkerDiedError', async () => {
    const { client } = setup();
    const p = client.ping('bye');
    client.terminate();
    await expect(p).rejects.toBeInstanceOf(WorkerDiedError);
  });
});

describe('abort', () => {
  it('aborting the signal sends `abort` for the running request; generate ends with finishReason abort', async () => {
    const { client, worker, engine } = setup();
    engine.waitForAbort = true;
    const ac = new AbortController();
    const r = await client.generate(REQUEST, () => ac.abort(), ac.signal);
    const gen = worker.sent.find((m) => m.type === 'generate');
    const abort = worker.sent.find((m) => m.type === 'abort');
    expect(abort).toMatchObject({ type: 'abort', target: gen?.id });
    expect(abort?.id).not.toBe(gen?.id);
    expect(r.stats.finishReason).toBe('abort');
    expect(r.text).toBe('He');
    expect(engine.abortReason).toBeInstanceOf(AbortError);
  });

  it('an already aborted signal rejects with AbortError and sends nothing', async () => {
    const { client, worker } = setup();
    const ac = new AbortController();
    ac.abort();
    await expect(client.generate(REQUEST, undefined, ac.signal)).rejects.toBeInstanceOf(AbortError);
    expect(worker.sent).toEqual([]);
  });

  it('aborting an id that is not running answers aborted: false', async () => {
    const { worker } = setup();
    worker.postRaw({ type: 'abort', id: 5, target: 99 });
    await until(() => worker.received.length > 0);
    expect(worker.received).toEqual([{ type: 'result', id: 5, method: 'abort', result: { aborted: false } }]);
  });
});

describe('malformed requests', () => {
  /** Posts raw data past the client's types; returns the one error event's id and rebuilt error. */
  async function send(data: unknown): Promise<{ id: number; err: Error }> {
    const { worker } = setup();
    worker.postRaw(data);
    await until(() => worker.received.length > 0);
    expect(worker.received).toHaveLength(1);
    const ev = worker.received[0];
    if (ev.type !== 'error') throw new Error(`expected an error event, got ${ev.type}`);
    return { id: ev.id, err: deserializeError(ev.error) };
  }

  it.each([
    ['null', null, -1, /expected an object, got null/],
    ['a string', 'ping', -1, /expected an object, got string/],
    ['no id', { type: 'ping', payload: 'x' }, -1, /'id' must be a number/],
    ['an unknown method', { type: 'explode', id: 4 }, 4, /unknown method "explode"/],
    ['ping without payload', { type: 'ping', id: 6 }, 6, /'ping' needs payload/],
    ['generate without request', { type: 'generate', id: 7 }, 7, /'generate' needs request/],
    ['abort without target', { type: 'abort', id: 8 }, 8, /'abort' needs target/],
    [
      'a load with unknown activations',
      { type: 'load', id: 9, protocolVersion: PROTOCOL_VERSION, source: { kind: 'url', url: 'x' }, options: { activations: 'fp8' } },
      9,
      /activations must be one of auto, f32, ggml-cpu, int8/,
    ],
  ])('%s gets a ProtocolError', async (_label, data, wantId, message) => {
    const { id, err } = await send(data);
    expect(id).toBe(wantId);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.message).toMatch(message);
  });

  it('a load with another protocol version gets a ProtocolError that says to reload', async () => {
    const { id, err } = await send({ type: 'load', id: 3, protocolVersion: PROTOCOL_VERSION + 1, source: { kind: 'url', url: 'x' }, options: {} });
    expect(id).toBe(3);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.message).toMatch(/protocol version .* reload the page/);
  });
});

/** Waits (up to 5 s) for the fake worker's asynchronous replies; a fixed sleep is flaky on a loaded machine. */
async function until(cond: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 10)); // and a little longer, so extra (wrong) replies would show
}
