/**
 * @file The tab's engine registry: one engine per model however many holders ask (Chat and Compare panes),
 * joined loads share one load and its progress, a holder's Cancel does not end a load another holder waits
 * for, the engine is freed with its last holder, and a failed engine is dropped for everyone. Then the real
 * stores: Compare reuses the model the chat loaded (no second worker), and the chat switching models does not
 * free what a Compare pane still holds.
 */
import { describe, expect, it } from 'vitest';
import { createEngineRegistry } from '../../app/engines/registry.ts';
import { opaqueModelInfo, type ChatEngine, type EngineProvider, type ModelOption } from '../../app/engines/types.ts';
import { createAppStore, type EngineHandle } from '../../app/store.ts';
import { createCompareStore } from '../../app/features/compare/compareStore.ts';
import { memoryStorage } from '../../app/features/compare/endpointSettings.ts';
import { memoryTallyRepo } from '../../app/features/compare/tally.ts';
import { memoryConversationRepo } from '../../app/features/chat/repo.ts';
import { brixProvider } from '../../app/engines/brix.ts';
import { DEMO_MODEL_ID } from '../../app/features/models/catalog.ts';
import type { ModelCache } from '../../app/features/models/modelCache.ts';
import { AbortError } from '../../workers/errors.ts';
import { DEFAULT_SAMPLING, type GenerationResult, type LoadProgress, type ModelInfo } from '../../workers/protocol.ts';

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

class Fake implements ChatEngine {
  readonly kind = 'brix' as const;
  disposed = 0;
  constructor(
    readonly model: ModelOption,
    private readonly wait: Promise<void>,
  ) {}
  async load(onProgress?: (p: LoadProgress) => void, signal?: AbortSignal): Promise<ModelInfo> {
    onProgress?.({ phase: 'upload', loaded: 1, total: 2 });
    await Promise.race([this.wait, new Promise<void>((_, rej) => signal?.addEventListener('abort', () => rej(new AbortError()), { once: true }))]);
    return opaqueModelInfo(this.model.name, 'fake', 10);
  }
  generate(): Promise<GenerationResult> {
    return Promise.reject(new Error('unused'));
  }
  async unload() {}
  dispose() {
    this.disposed++;
  }
}

function provider(wait: Promise<void>): EngineProvider & { made: Fake[] } {
  const made: Fake[] = [];
  return {
    kind: 'brix',
    made,
    listModels: async () => [],
    create(model) {
      const f = new Fake(model, wait);
      made.push(f);
      return f;
    },
  };
}

const M: ModelOption = { id: 'brix:m', kind: 'brix', ref: 'm', name: 'M' };
const tick = () => new Promise((r) => setTimeout(r, 0));

describe('engine registry', () => {
  it('one engine per model: a second holder joins the load and its progress; freed with the last holder', async () => {
    const g = gate();
    const p = provider(g.promise);
    const reg = createEngineRegistry(() => 0);
    const seen: string[] = [];
    const a = reg.acquire('chat', M, p, { onProgress: (x) => seen.push(`chat ${x.loaded}`) });
    const b = reg.acquire('pane1', M, p, { onProgress: (x) => seen.push(`pane ${x.loaded}`) });
    expect(reg.state(M.id)).toBe('loading');
    g.open();
    const [ra, rb] = await Promise.all([a, b]);
    expect(p.made).toHaveLength(1);
    expect(reg.loadsStarted).toBe(1);
    expect(ra.engine).toBe(rb.engine);
    expect([ra.shared, rb.shared]).toEqual([false, true]);
    expect(seen).toEqual(['chat 1', 'pane 1']);
    // Asked again once loaded: the same engine at once.
    expect((await reg.acquire('pane2', M, p)).engine).toBe(ra.engine);
    reg.release('chat');
    reg.release('pane2');
    expect(p.made[0].disposed).toBe(0);
    reg.release('pane1', M.id);
    expect(p.made[0].disposed).toBe(1);
    expect(reg.state(M.id)).toBeUndefined();
  });

  it("one holder's cancel leaves the load to the other; the last one's cancel ends it; fail drops it for all", async () => {
    const g = gate();
    const p = provider(g.promise);
    const reg = createEngineRegistry();
    const ac = new AbortController();
    const a = reg.acquire('chat', M, p, { signal: ac.signal });
    const b = reg.acquire('pane1', M, p);
    ac.abort();
    await expect(a).rejects.toMatchObject({ name: 'AbortError' });
    expect(p.made[0].disposed).toBe(0);
    g.open();
    const rb = await b;
    expect(rb.engine).toBe(p.made[0]);

    const g2 = gate();
    const p2 = provider(g2.promise);
    const ac2 = new AbortController();
    const only = reg.acquire('chat', { ...M, id: 'brix:n' }, p2, { signal: ac2.signal });
    ac2.abort();
    await expect(only).rejects.toMatchObject({ name: 'AbortError' });
    await tick();
    expect(p2.made[0].disposed).toBeGreaterThan(0);

    reg.fail(M.id);
    expect(p.made[0].disposed).toBe(1);
    const again = reg.acquire('pane1', M, p);
    g.open();
    expect((await again).engine).toBe(p.made[1]);
  });
});

class Worker implements EngineHandle {
  terminated = false;
  unloaded = false;
  async load(): Promise<ModelInfo> {
    return opaqueModelInfo('demo', 'dbrx', 5, 256);
  }
  generate(): Promise<GenerationResult> {
    return Promise.reject(new Error('unused'));
  }
  async unload() {
    this.unloaded = true;
  }
  ping(payload: string) {
    return Promise.resolve({ payload, gpu: null });
  }
  terminate() {
    this.terminated = true;
  }
}

const noCache: ModelCache = {
  list: async () => [],
  download: async () => undefined,
  delete: async () => false,
  clear: async () => undefined,
  estimate: async () => undefined,
  persisted: async () => false,
  persist: async () => false,
};

describe('Chat and Compare share one registry', () => {
  it('Compare reuses the model the chat loaded (no second worker); the chat moving on does not free it', async () => {
    const workers: Worker[] = [];
    const startEngine = (): Worker => {
      const w = new Worker();
      workers.push(w);
      return w;
    };
    const registry = createEngineRegistry();
    const resolveSource = async () => ({ source: { kind: 'url' as const, url: 'https://x.test/m.gguf' } });
    let n = 0;
    const app = createAppStore({
      repo: memoryConversationRepo(),
      cache: noCache,
      startEngine,
      resolveSource,
      sampling: () => DEFAULT_SAMPLING,
      loadOptions: () => ({}),
      prefs: { get: () => undefined, set: () => undefined },
      now: () => ++n,
      newId: () => `id${++n}`,
      registry,
    });
    const compare = createCompareStore({
      providers: [brixProvider({ startEngine, resolveSource, entries: () => app.getState().models, loadOptions: () => ({}) })],
      baseSampling: () => DEFAULT_SAMPLING,
      tally: memoryTallyRepo(),
      storage: memoryStorage(),
      fetch: async () => new Response('[]'),
      probeGpu: async () => ({ kind: 'unknown' }),
      deviceMemoryGb: () => undefined,
      now: () => ++n,
      newId: () => `p${++n}`,
      random: () => 0.5,
      registry,
    });
    await app.getState().loadModel(DEMO_MODEL_ID);
    expect(app.getState().load.kind).toBe('ready');
    expect(workers).toHaveLength(1);

    await compare.getState().refreshOptions();
    const pane = compare.getState().panes[0];
    compare.getState().pickModel(pane.id, `brix:${DEMO_MODEL_ID}`);
    await compare.getState().loadPane(pane.id);
    expect(compare.getState().panes[0].load).toMatchObject({ kind: 'ready', shared: true });
    expect(workers).toHaveLength(1);
    expect(registry.loadsStarted).toBe(1);

    // The chat switches to another model: the demo stays for the pane.
    await app.getState().loadModel('llama-3.2-1b-instruct-q4_k_m');
    expect(workers).toHaveLength(2);
    expect(workers[0].terminated).toBe(false);
    // The pane lets go too: now it is freed (unload, then the worker ends).
    compare.getState().unloadPane(pane.id);
    await tick();
    await tick();
    expect(workers[0].unloaded).toBe(true);
    expect(workers[0].terminated).toBe(true);
  });
});
