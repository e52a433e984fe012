/**
 * @file wllama as a chat engine (app/engines/wllama.ts's provider in the app store) and the offer to use it on a
 * software adapter (app/features/models/wllamaOffer.ts): `wllama:` selections, the picker's wllama options for
 * the GGUFs Brix lists, a chat turn answered by wllama through the registry shared with Compare (one engine per
 * model), and when the offer shows (software adapter, a Brix selection with a wllama twin, not dismissed).
 */
import { describe, expect, it } from 'vitest';
import type { ChatCompletionChunk, ChatCompletionParams, RawCompletionResponse } from '@wllama/wllama/esm/index.js';
import { createAppStore, type AppDeps, type AppStore, type EngineHandle } from '../../app/store.ts';
import { memoryConversationRepo } from '../../app/features/chat/repo.ts';
import { DEMO_MODEL_ID } from '../../app/features/models/catalog.ts';
import type { ModelCache } from '../../app/features/models/modelCache.ts';
import {
  WLLAMA_OFFER_DISMISSED_KEY,
  externalKindOf,
  initialOptionKinds,
  isExternalSelection,
} from '../../app/features/models/engineSlice.ts';
import { measuredSpeedup, wllamaOfferFor, wllamaSelectionFor } from '../../app/features/models/wllamaOffer.ts';
import type { GpuProbe } from '../../app/features/models/fit.ts';
import { createEngineRegistry } from '../../app/engines/registry.ts';
import { wllamaProvider, type WllamaLike, type WllamaSource } from '../../app/engines/wllama.ts';
import type { GpuInfo } from '../../kernels/lib/gpuInfo.ts';
import { testGpuInfo } from '../helpers/gpuInfo.ts';
import { DEFAULT_SAMPLING, type PingResult } from '../../workers/protocol.ts';

const HARDWARE: GpuInfo = testGpuInfo();
/** SwiftShader as headless Chromium reports it here: a fallback adapter. */
const SWIFTSHADER: GpuInfo = { ...HARDWARE, vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true, features: { f16: false, subgroups: true, timestampQuery: true } };
/** llvmpipe through a Vulkan ICD need not say it is a fallback: its name does. */
const LLVMPIPE: GpuInfo = { ...HARDWARE, vendor: 'mesa', architecture: '', description: 'llvmpipe (LLVM 15.0.6, 256 bits)', isFallbackAdapter: false };

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

/** A Brix worker that only answers the adapter probe. */
class ProbeOnlyEngine implements EngineHandle {
  terminated = false;
  constructor(private readonly gpu: GpuInfo) {}
  load(): Promise<never> {
    return Promise.reject(new Error('this test loads no Brix model'));
  }
  generate(): Promise<never> {
    return Promise.reject(new Error('this test runs no Brix model'));
  }
  unload(): Promise<void> {
    return Promise.resolve();
  }
  ping(payload: string): Promise<PingResult> {
    return Promise.resolve({ payload, gpu: this.gpu });
  }
  terminate(): void {
    this.terminated = true;
  }
}

/** wllama's completion API, streaming a fixed answer. */
class FakeWllama implements WllamaLike {
  readonly chats: ChatCompletionParams[] = [];
  exits = 0;
  createCompletion(): Promise<RawCompletionResponse> {
    return Promise.reject(new Error('not used by the chat'));
  }
  async createChatCompletion(options: ChatCompletionParams & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>> {
    this.chats.push(options);
    const chunk = (content: string, finish: 'stop' | null): ChatCompletionChunk => ({
      id: '',
      object: 'chat.completion.chunk',
      created: 0,
      model: '',
      choices: [{ index: 0, delta: { content }, finish_reason: finish, logprobs: null }],
    });
    return (async function* () {
      yield chunk('Hi', null);
      yield chunk(' from llama.cpp', 'stop');
    })();
  }
  async exit(): Promise<void> {
    this.exits++;
  }
}

const noCache: ModelCache = {
  list: () => Promise.resolve([]),
  download: () => Promise.resolve(),
  delete: () => Promise.resolve(false),
  clear: () => Promise.resolve(),
  estimate: () => Promise.resolve({ usage: 0, quota: 1e9 }),
  persisted: () => Promise.resolve(false),
  persist: () => Promise.resolve(false),
};

interface Harness {
  readonly store: AppStore;
  readonly prefs: Map<string, unknown>;
  readonly registry: ReturnType<typeof createEngineRegistry>;
  readonly provider: ReturnType<typeof wllamaProvider>;
  readonly loads: { source: WllamaSource; backend: string }[];
  readonly instances: FakeWllama[];
  readonly probes: ProbeOnlyEngine[];
}

function harness(gpu: GpuInfo, prefs = new Map<string, unknown>()): Harness {
  let clock = 1_000;
  const registry = createEngineRegistry(() => (clock += 10));
  const loads: Harness['loads'] = [];
  const instances: FakeWllama[] = [];
  const probes: ProbeOnlyEngine[] = [];
  let store: AppStore | undefined;
  const state = () => {
    if (!store) throw new Error('store not built yet');
    return store.getState();
  };
  // Wired like app/appStore.ts: the adapter from the store's probe, the store's model list.
  const provider = wllamaProvider({
    create: (source, o) => {
      loads.push({ source, backend: o.backend });
      const w = new FakeWllama();
      instances.push(w);
      return Promise.resolve(w);
    },
    adapter: async () => {
      await state().probeGpu();
      const g = state().gpu;
      return g.kind === 'ok' ? { webgpu: true, software: g.info.isFallbackAdapter } : { webgpu: false, software: true };
    },
    entries: () => state().models,
    sourceOf: (e) => Promise.resolve(e.url === undefined ? undefined : { kind: 'url', url: `https://app.test/${e.id}.gguf` }),
    contextSize: () => 512,
    now: () => (clock += 5),
  });
  const deps: AppDeps = {
    repo: memoryConversationRepo(),
    cache: noCache,
    startEngine: () => {
      const e = new ProbeOnlyEngine(gpu);
      probes.push(e);
      return e;
    },
    resolveSource: (entry) => Promise.resolve({ source: { kind: 'url', url: `https://app.test/${entry.id}.gguf` } }),
    sampling: () => ({ ...DEFAULT_SAMPLING, maxTokens: 8, seed: 1 }),
    loadOptions: () => ({}),
    prefs: { get: (k) => prefs.get(k), set: (k, v) => void prefs.set(k, v) },
    now: () => (clock += 10),
    newId: (() => {
      let n = 0;
      return () => `id${++n}`;
    })(),
    registry,
    providers: [provider],
  };
  store = createAppStore(deps);
  return { store, prefs, registry, provider, loads, instances, probes };
}

describe('wllama selections', () => {
  it('are external selections of kind wllama, listed at once beside the endpoints', () => {
    expect(externalKindOf('wllama:brix-demo-30m')).toBe('wllama');
    expect(externalKindOf('webllm:Llama-3.2-1B')).toBe('webllm');
    expect(externalKindOf('openai:e1')).toBe('openai');
    expect(externalKindOf('brix-demo-30m')).toBeUndefined();
    expect(isExternalSelection('wllama:brix-demo-30m')).toBe(true);
    expect(isExternalSelection(DEMO_MODEL_ID)).toBe(false);
    expect(initialOptionKinds(DEMO_MODEL_ID)).toEqual(['wllama', 'openai']);
    expect(initialOptionKinds('wllama:brix-demo-30m')).toEqual(['wllama', 'openai']);
    expect(initialOptionKinds('webllm:x')).toEqual(['wllama', 'webllm', 'openai']);
    expect(wllamaSelectionFor(DEMO_MODEL_ID)).toBe('wllama:brix-demo-30m');
  });

  it('the picker lists a wllama option for each GGUF Brix lists, and a wllama selection is kept over a reload', async () => {
    const h = harness(SWIFTSHADER);
    await h.store.getState().refreshOptions(['wllama']);
    const opts = h.store.getState().externalOptions;
    const urlModels = h.store.getState().models.filter((m) => m.url !== undefined);
    expect(opts.map((o) => o.id)).toEqual(urlModels.map((m) => `wllama:${m.id}`));
    const demo = h.store.getState().optionOf('wllama:brix-demo-30m');
    expect(demo).toMatchObject({ kind: 'wllama', ref: DEMO_MODEL_ID, name: 'Brix Demo 30M' });
    expect(demo?.note).toMatch(/wasm CPU path/);
    h.store.getState().setSelectedModel('wllama:brix-demo-30m');
    expect(h.store.getState().selectedModelId).toBe('wllama:brix-demo-30m');
    expect(harness(SWIFTSHADER, h.prefs).store.getState().selectedModelId).toBe('wllama:brix-demo-30m');
  });

  it('concurrent adapter probes share one worker ping', async () => {
    const h = harness(SWIFTSHADER);
    await Promise.all([h.store.getState().probeGpu(), h.store.getState().probeGpu(), h.store.getState().refreshOptions(['wllama'])]);
    expect(h.probes).toHaveLength(1);
    expect(h.probes[0].terminated).toBe(true);
  });

  it('a chat turn loads wllama through the registry (wasm on a software adapter) and a Compare pane shares that engine', async () => {
    const h = harness(SWIFTSHADER);
    await h.store.getState().refreshOptions(['wllama']);
    await h.store.getState().loadModel('wllama:brix-demo-30m');
    const load = h.store.getState().load;
    expect(load.kind).toBe('ready');
    expect(load.kind === 'ready' && load.info.architecture).toBe('wllama (wasm CPU)');
    expect(h.store.getState().engine).toBeNull(); // no Brix worker for it
    expect(h.store.getState().chatEngine?.kind).toBe('wllama');
    expect(h.loads).toEqual([{ source: { kind: 'url', url: 'https://app.test/brix-demo-30m.gguf' }, backend: 'wasm' }]);

    h.store.getState().newConversation();
    await h.store.getState().send('Hello!');
    const conv = Object.values(h.store.getState().conversations)[0];
    const last = conv?.messages.at(-1);
    expect(last?.role).toBe('assistant');
    expect(last?.content).toBe('Hi from llama.cpp');
    expect(h.instances[0].chats[0].messages.at(-1)).toEqual({ role: 'user', content: 'Hello!' });

    // Compare asks the same registry for the same option with the same provider: no second load.
    const option = h.store.getState().optionOf('wllama:brix-demo-30m');
    if (!option) throw new Error('no option');
    const got = await h.registry.acquire('pane-1', option, h.provider);
    expect(got.shared).toBe(true);
    expect(got.engine).toBe(h.store.getState().chatEngine);
    expect(h.registry.loadsStarted).toBe(1);

    // Switching back to Brix lets go of wllama only once Compare lets go too.
    await h.store.getState().unloadModel();
    expect(h.instances[0].exits).toBe(0);
    h.registry.release('pane-1');
    await tick();
    expect(h.instances[0].exits).toBe(1);
  });

  it('uses WebGPU on a hardware adapter', async () => {
    const h = harness(HARDWARE);
    await h.store.getState().refreshOptions(['wllama']);
    await h.store.getState().loadModel('wllama:brix-demo-30m');
    expect(h.loads.map((l) => l.backend)).toEqual(['webgpu']);
  });
});

describe('the offer to use wllama', () => {
  const options = [
    { id: 'wllama:brix-demo-30m', kind: 'wllama' as const, ref: DEMO_MODEL_ID, name: 'Brix Demo 30M' },
    { id: 'openai:e1', kind: 'openai' as const, ref: 'e1', name: 'Endpoint 1' },
  ];
  const ok = (info: GpuInfo): GpuProbe => ({ kind: 'ok', info });

  it('shows on a software adapter for a Brix selection with a wllama twin', () => {
    expect(wllamaOfferFor(ok(SWIFTSHADER), DEMO_MODEL_ID, options, false)).toEqual({ option: options[0], adapter: 'google swiftshader' });
    expect(wllamaOfferFor(ok(LLVMPIPE), DEMO_MODEL_ID, options, false)?.option.id).toBe('wllama:brix-demo-30m');
  });

  it('does not show on a hardware or unknown adapter, for other selections, without a wllama option, or once dismissed', () => {
    expect(wllamaOfferFor(ok(HARDWARE), DEMO_MODEL_ID, options, false)).toBeUndefined();
    expect(wllamaOfferFor({ kind: 'unknown' }, DEMO_MODEL_ID, options, false)).toBeUndefined();
    expect(wllamaOfferFor({ kind: 'none', message: 'no adapter' }, DEMO_MODEL_ID, options, false)).toBeUndefined();
    expect(wllamaOfferFor(ok(SWIFTSHADER), 'wllama:brix-demo-30m', options, false)).toBeUndefined();
    expect(wllamaOfferFor(ok(SWIFTSHADER), 'openai:e1', options, false)).toBeUndefined();
    expect(wllamaOfferFor(ok(SWIFTSHADER), 'granite-3.1-1b-a400m-instruct-q4_k_m', options, false)).toBeUndefined();
    expect(wllamaOfferFor(ok(SWIFTSHADER), DEMO_MODEL_ID, options, true)).toBeUndefined();
  });

  it('quotes the ratio measured here (189 / 2.1 tok/s decode: about 90×)', () => {
    expect(measuredSpeedup()).toBe(90);
  });

  it('is dismissed for good (kept in prefs)', () => {
    const h = harness(SWIFTSHADER);
    expect(h.store.getState().wllamaOfferDismissed).toBe(false);
    h.store.getState().dismissWllamaOffer();
    expect(h.store.getState().wllamaOfferDismissed).toBe(true);
    expect(h.prefs.get(WLLAMA_OFFER_DISMISSED_KEY)).toBe(true);
    expect(harness(SWIFTSHADER, h.prefs).store.getState().wllamaOfferDismissed).toBe(true);
  });

  it('on a software adapter, the store state offers the demo model in wllama, and taking it selects and loads that', async () => {
    const h = harness(SWIFTSHADER);
    await h.store.getState().refreshOptions(['wllama']);
    const s = h.store.getState();
    const offer = wllamaOfferFor(s.gpu, s.selectedModelId, s.externalOptions, s.wllamaOfferDismissed);
    expect(offer?.option.id).toBe('wllama:brix-demo-30m');
    if (!offer) return;
    await s.loadModel(offer.option.id);
    const after = h.store.getState();
    expect(after.selectedModelId).toBe('wllama:brix-demo-30m');
    expect(after.load.kind).toBe('ready');
    expect(wllamaOfferFor(after.gpu, after.selectedModelId, after.externalOptions, after.wllamaOfferDismissed)).toBeUndefined();
  });
});
