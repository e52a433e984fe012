/**
 * @file The engine host every tab shares (workers/host/) and the tab's link to it (app/lib/hostLink.ts), on
 * fakes: sessions of two tabs share one load; requests run round-robin per tab; tokens reach only their own
 * session; an abort touches only its own request; a closed tab's requests are released; a lost GPU device is
 * recovered (reload, the answer resumes without repeating tokens) and given up on after a bounded number of
 * attempts; and a hand-over to a new host (the leader tab closed) resends the model and the answer in flight.
 */
import { describe, expect, it } from 'vitest';
import { FairQueue } from '../../workers/host/fairQueue.ts';
import { DEFAULT_SAMPLING, PROTOCOL_VERSION, type GenerateRequest, type TokenDelta } from '../../workers/protocol.ts';
import { isHostMessage, isTabMessage } from '../../workers/host/messages.ts';
import { modelKey } from '../../workers/host/engineHost.ts';
import { FakeHostedEngine, FakeNet, FakeTab, newLog, piece, tick, until, type EngineLog } from '../helpers/fakeHost.ts';

const SOURCE = { kind: 'url', url: 'https://x/model.gguf' } as const;
const fastPolicy = { maxAttempts: 3, delayMs: () => 1, lostGraceMs: 20 };

function req(prompt: string, maxTokens = 4): GenerateRequest {
  return { messages: [{ role: 'user', content: prompt }], sampling: { ...DEFAULT_SAMPLING, maxTokens } };
}

const answer = (prompt: string, n: number): string => Array.from({ length: n }, (_, i) => piece(prompt, i)).join('');

function setup(stepMs = 2, log: EngineLog = newLog()) {
  const net = new FakeNet();
  const host = net.host({ hostId: 'h1', mode: 'leader-tab', createEngine: () => new FakeHostedEngine(log, stepMs), policy: fastPolicy });
  const tab = (id: string): FakeTab => new FakeTab(id, host, net);
  return { net, host, log, tab };
}

describe('FairQueue', () => {
  it('serves lanes round-robin, in order within a lane, and removes selected items', () => {
    const q = new FairQueue<string>();
    for (const x of ['a1', 'a2', 'a3']) q.push('a', x);
    q.push('b', 'b1');
    q.push('c', 'c1');
    q.push('c', 'c2');
    expect(q.remove((x) => x === 'c2')).toEqual(['c2']);
    const out: string[] = [];
    for (let x = q.shift(); x !== undefined; x = q.shift()) {
      out.push(x);
      if (x === 'a1') q.push('b', 'b2'); // b2 waits until c and a had a turn after b1
    }
    expect(out).toEqual(['a1', 'b1', 'c1', 'a2', 'b2', 'a3']);
    expect(q.size).toBe(0);
  });
});

describe('engine host', () => {
  it('two tabs loading the same model share one load; the state counts tabs and sessions', async () => {
    const { host, log, tab } = setup();
    const a = tab('A');
    const b = tab('B');
    const progress: number[] = [];
    const [ia, ib] = await Promise.all([a.client().load(SOURCE, {}, (p) => progress.push(p.loaded)), b.client().load(SOURCE, {})]);
    expect(ia).toEqual(ib);
    expect(log.loads).toBe(1);
    expect(progress).toEqual([1, 2, 3]);
    // Another tab later: ready at once, still one load.
    const c = tab('C');
    await c.client().load(SOURCE, {});
    expect(log.loads).toBe(1);
    await until(() => c.link.state?.tabs === 3);
    expect(host.state().engines).toEqual([{ name: SOURCE.url, gpuBytes: 1000, sessions: 3, state: 'ready' }]);
    // Different options: a model of its own.
    await c.client().load(SOURCE, { contextSize: 32 });
    expect(log.loads).toBe(2);
    expect(modelKey(SOURCE, {})).not.toBe(modelKey(SOURCE, { contextSize: 32 }));
  });

  it('queues requests round-robin per tab, and each session sees only its own tokens', async () => {
    const { log, tab } = setup();
    const a = tab('A').client();
    const b = tab('B').client();
    await Promise.all([a.load(SOURCE, {}), b.load(SOURCE, {})]);
    const seen = { a: [] as string[], b: [] as string[] };
    const runs = [
      a.generate(req('a1'), (d) => seen.a.push(d.text)),
      a.generate(req('a2'), (d) => seen.a.push(d.text)),
      a.generate(req('a3'), (d) => seen.a.push(d.text)),
    ];
    await tick(1);
    runs.push(b.generate(req('b1'), (d) => seen.b.push(d.text)));
    const results = await Promise.all(runs);
    expect(results.map((r) => r.text)).toEqual([answer('a1', 4), answer('a2', 4), answer('a3', 4), answer('b1', 4)]);
    expect(log.runs.filter((r) => r.startsWith('start:'))).toEqual(['start:a1', 'start:b1', 'start:a2', 'start:a3']);
    expect(seen.a.join('')).toBe(answer('a1', 4) + answer('a2', 4) + answer('a3', 4));
    expect(seen.b.join('')).toBe(answer('b1', 4));
  });

  it("an abort stops only its own request, running or queued; the other tab's answer is whole", async () => {
    const { log, tab } = setup(5);
    const a = tab('A').client();
    const b = tab('B').client();
    await Promise.all([a.load(SOURCE, {}), b.load(SOURCE, {})]);
    const acRunning = new AbortController();
    const acQueued = new AbortController();
    const ra = a.generate(req('a1', 50), undefined, acRunning.signal);
    await tick(1);
    const rb = b.generate(req('b1', 6));
    const rq = a.generate(req('a2', 6), undefined, acQueued.signal);
    await until(() => log.runs.includes('start:a1'));
    await tick(12);
    acQueued.abort();
    acRunning.abort();
    const [xa, xb, xq] = await Promise.all([ra, rb, rq]);
    expect(xa.stats.finishReason).toBe('abort');
    expect(xa.tokenIds.length).toBeLessThan(50);
    expect(xq.stats.finishReason).toBe('abort');
    expect(xb.stats.finishReason).toBe('length');
    expect(xb.text).toBe(answer('b1', 6));
    expect(log.runs.some((r) => r.startsWith('start:a2'))).toBe(false);
  });

  it("a benchmark's progress steps and finished runs reach its own session through the host, before the result", async () => {
    const { tab } = setup();
    const a = tab('A').client();
    await a.load(SOURCE, {});
    const seen: string[] = [];
    const m = await a.bench(
      { promptTokens: 3, genTokens: 2, runs: 1 },
      (r) => seen.push(`run ${r.run}`),
      undefined,
      (s) => seen.push(`${s.run} ${s.phase} ${s.done}/${s.total}`),
    );
    expect(m.genTokens).toBe(2);
    expect(seen).toEqual([
      '0 prefill 0/3', '0 decode 0/2', '0 decode 1/2', '0 decode 2/2', 'run 0',
      '1 prefill 0/3', '1 decode 0/2', '1 decode 1/2', '1 decode 2/2', 'run 1',
      '1 bandwidth 0/0',
    ]);
  });

  it('a tab that closes mid-answer releases its requests; a model nobody uses is unloaded', async () => {
    const { host, log, tab } = setup(5);
    const ta = tab('A');
    const tb = tab('B');
    const a = ta.client();
    const b = tb.client();
    await Promise.all([a.load(SOURCE, {}), b.load(SOURCE, {})]);
    void a.generate(req('a1', 1000));
    void a.generate(req('a2', 1000));
    await until(() => log.runs.includes('start:a1'));
    const rb = b.generate(req('b1', 3));
    ta.close();
    const xb = await rb;
    expect(xb.text).toBe(answer('b1', 3));
    expect(log.runs).toContain('end:a1:abort');
    expect(log.runs.some((r) => r.startsWith('start:a2'))).toBe(false);
    await until(() => host.state().tabs === 1);
    expect(host.state().engines[0].sessions).toBe(1);
    b.terminate();
    await until(() => log.unloads === 1);
    expect(host.state().engines).toEqual([]);
  });
});

describe('GPU device loss', () => {
  it('reloads the model and resumes the answer in progress without repeating a token', async () => {
    const { host, log, tab } = setup(3);
    const t = tab('A');
    const c = t.client();
    await c.load(SOURCE, {});
    const deltas: TokenDelta[] = [];
    const r = c.generate(req('p', 12), (d) => deltas.push(d));
    await until(() => deltas.length >= 4);
    expect(await t.link.simulateDeviceLoss()).toBe(1);
    const res = await r;
    expect(log.loads).toBe(2);
    expect(res.text).toBe(answer('p', 12));
    expect(deltas.map((d) => d.text).join('')).toBe(answer('p', 12));
    expect(deltas.flatMap((d) => d.tokenIds)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(log.runs.filter((x) => x.startsWith('start:p@')).length).toBe(1);
    expect(t.states.some((s) => s.engines[0]?.state === 'recovering')).toBe(true);
    expect(host.state().engines[0].state).toBe('ready');
  });

  // The e2e failure in SharedWorker mode: a GPU call on the destroyed device that never settles held the answer,
  // and recovery only starts once no request runs, so the tab stayed on "reloading…" for good.
  it('a GPU call that never settles after the loss does not hold recovery back: the answer resumes on the new device', async () => {
    const log = newLog();
    log.onLoss = 'hang';
    const { host, tab } = setup(3, log);
    const t = tab('A');
    const c = t.client();
    await c.load(SOURCE, {});
    const deltas: TokenDelta[] = [];
    const r = c.generate(req('p', 10), (d) => deltas.push(d));
    await until(() => deltas.length >= 3);
    expect(await t.link.simulateDeviceLoss()).toBe(1);
    const res = await r;
    expect(log.loads).toBe(2);
    expect(res.text).toBe(answer('p', 10));
    expect(deltas.flatMap((d) => d.tokenIds)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(host.state().engines[0].state).toBe('ready');
    expect((await c.generate(req('next', 2))).text).toBe(answer('next', 2));
  });

  // Without simulateDeviceLoss's early mark (a real reset), the engine rethrows Dawn's AbortError as it is: the
  // host must not take it for the user's Stop.
  it("mapAsync's AbortError with the loss reported just after it counts as a loss, not as the user's abort", async () => {
    const log = newLog();
    log.onLoss = 'throw-first';
    const { tab } = setup(3, log);
    const t = tab('A');
    const c = t.client();
    await c.load(SOURCE, {});
    const r = c.generate(req('p', 8));
    await until(() => log.runs.includes('start:p'));
    await tick(6);
    expect(await t.link.simulateDeviceLoss()).toBe(1);
    expect((await r).text).toBe(answer('p', 8));
    expect(log.loads).toBe(2);
  });

  it("another tab's request queued during recovery waits for the new engine and is answered", async () => {
    const { log, tab } = setup(3);
    const ta = tab('A');
    const a = ta.client();
    const b = tab('B').client();
    await Promise.all([a.load(SOURCE, {}), b.load(SOURCE, {})]);
    let got = 0;
    const ra = a.generate(req('a', 8), () => got++);
    await until(() => got >= 2);
    const rb = b.generate(req('b', 3));
    expect(await ta.link.simulateDeviceLoss()).toBe(1);
    const [xa, xb] = await Promise.all([ra, rb]);
    expect(xa.text).toBe(answer('a', 8));
    expect(xb.text).toBe(answer('b', 3));
    expect(log.loads).toBe(2);
    expect(log.runs.filter((x) => x.startsWith('start:'))).toEqual(['start:a', expect.stringMatching(/^start:a@\d+$/), 'start:b']);
  });

  it('an idle loss reloads at once and rebuilds the KV cache of the last conversation', async () => {
    const { log, tab } = setup();
    const t = tab('A');
    const c = t.client();
    await c.load(SOURCE, {});
    await c.generate(req('last', 3));
    log.engines.at(-1)?.simulateDeviceLoss();
    await until(() => log.loads === 2 && log.restored.length === 1);
    expect(log.restored).toEqual(['last+3']);
    expect((await c.generate(req('next', 2))).text).toBe(answer('next', 2));
  });

  it('gives up with a clear error after maxAttempts failed reloads', async () => {
    const log = newLog();
    log.failReloads = new Error('out of memory');
    const { host, tab } = setup(3, log);
    const c = tab('A').client();
    await c.load(SOURCE, {});
    const r = c.generate(req('p', 50));
    await until(() => log.runs.includes('start:p'));
    log.engines.at(-1)?.simulateDeviceLoss();
    await expect(r).rejects.toMatchObject({ name: 'GpuDeviceLostError', message: expect.stringMatching(/failed 3 times \(out of memory\)/) });
    expect(log.loads).toBe(4);
    expect(host.state().engines[0]).toMatchObject({ state: 'failed', error: expect.stringContaining('reload the page') });
    await expect(c.generate(req('again', 2))).rejects.toMatchObject({ name: 'GpuDeviceLostError' });
  });
});

describe('hand-over', () => {
  it('when the host changes, the tab loads its model on the new host and the answer in flight goes on', async () => {
    const log1 = newLog();
    const log2 = newLog();
    const net = new FakeNet();
    const h1 = net.host({ hostId: 'h1', mode: 'leader-tab', createEngine: () => new FakeHostedEngine(log1, 4) });
    const t = new FakeTab('B', h1, net);
    const c = t.client();
    await c.load(SOURCE, {});
    const deltas: TokenDelta[] = [];
    const r = c.generate(req('p', 10), (d) => deltas.push(d));
    await until(() => deltas.length >= 3);
    // The leader tab closes: h1 is gone (nothing reaches it or comes from it); this tab's new host starts.
    t.host = undefined;
    await tick(10);
    const h2 = net.host({ hostId: 'h2', mode: 'leader-tab', createEngine: () => new FakeHostedEngine(log2, 4) });
    t.host = h2;
    net.broadcast({ kind: 'hostUp', hostId: 'h2' });
    const res = await r;
    expect(t.link.handOvers).toBe(1);
    expect(log2.loads).toBe(1);
    expect(res.text).toBe(answer('p', 10));
    expect(deltas.flatMap((d) => d.tokenIds)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(log2.runs[0]).toMatch(/^start:p@\d+$/);
    // The session is bound on the new host: the next turn needs no load of its own.
    expect((await c.generate(req('q', 2))).text).toBe(answer('q', 2));
    await until(() => t.link.state?.hostId === 'h2');
    expect(h2.state().engines[0].sessions).toBe(1);
  });
});

describe('messages', () => {
  it('tab and host envelopes are checked before they are trusted', () => {
    expect(isTabMessage({ kind: 'hello', tab: 'x' })).toBe(true);
    expect(isTabMessage({ kind: 'request', tab: 'x', session: 1 })).toBe(false);
    expect(isTabMessage({ kind: 'request', tab: 'x', host: 'h', session: 1, req: { type: 'ping', id: 1, payload: '' } })).toBe(true);
    expect(isHostMessage({ kind: 'event', tab: 'x', host: 'h', session: 1, ev: { type: 'nope', id: 1 } })).toBe(false);
    expect(isHostMessage({ kind: 'welcome', tab: 'x', hostId: 'h', gpu: true })).toBe(true);
  });

  it('a malformed request gets a ProtocolError event and a wrong protocol version is refused', async () => {
    const { host, tab } = setup();
    const t = tab('A');
    const c = t.client();
    await expect(c.load(SOURCE, {})).resolves.toBeDefined();
    const replies: unknown[] = [];
    host.receive({ kind: 'request', tab: 'A', host: 'h1', session: 9, req: { type: 'load', id: 3, protocolVersion: PROTOCOL_VERSION + 1, source: SOURCE, options: {} } }, (m) => replies.push(m));
    host.receive({ kind: 'request', tab: 'A', host: 'h1', session: 9, req: { type: 'bogus', id: 4 } }, (m) => replies.push(m));
    host.receive({ kind: 'request', tab: 'A', host: 'h1', session: 9, req: { type: 'generate', id: 5, request: { ...req('x'), continueFrom: [1, -2] } } }, (m) => replies.push(m));
    await until(() => replies.length >= 3);
    expect(JSON.stringify(replies)).toContain('ProtocolError');
    expect(JSON.stringify(replies)).toContain('unknown method');
    expect(JSON.stringify(replies)).toContain('continueFrom must be token ids');
  });
});
