/**
 * @file The Brix adapter of the compare view (app/engines/brix.ts) over the real worker protocol (EngineClient
 * ↔ in-memory worker ↔ handler) with a scripted engine: one worker per engine, the model's source resolved the
 * app's way and the context option passed, progress and deltas through, generate before load refused, a
 * failed load ending its worker, dispose unloading then terminating; and the model list with its estimate.
 */
import { describe, expect, it } from 'vitest';
import { BrixChatEngine, brixOption, brixProvider, type BrixDeps } from '../../app/engines/brix.ts';
import { EngineClient } from '../../app/lib/engineClient.ts';
import { CATALOG, DEMO_MODEL_ID, type ModelEntry } from '../../app/features/models/catalog.ts';
import type { Engine } from '../../workers/engine/types.ts';
import type { EngineHandle } from '../../app/store.ts';
import type { GenerateRequest, LoadOptions, ModelSource } from '../../workers/protocol.ts';
import { DEFAULT_SAMPLING } from '../../workers/protocol.ts';
import { FakeWorker } from '../helpers/fakeWorker.ts';

interface Log {
  loads: { source: ModelSource; options: LoadOptions }[];
  unloads: number;
}

function scriptedEngine(log: Log, failLoad = false): Engine {
  return {
    async load(source, options, onProgress) {
      log.loads.push({ source, options });
      onProgress?.({ phase: 'upload', loaded: 1, total: 2 });
      if (failLoad) throw Object.assign(new Error('too big'), { name: 'GpuOutOfMemoryError' });
      return { name: 'demo', architecture: 'dbrx', nParams: 1, nLayer: 1, nExpert: 16, nExpertUsed: 4, contextSize: 256, vocabSize: 10, fileBytes: 5, gpuBytes: 1234 };
    },
    async generate(_r, onToken) {
      onToken?.({ text: 'Hi', tokenIds: [1] });
      return {
        text: 'Hi',
        tokenIds: [1],
        stats: { promptTokens: 2, generatedTokens: 1, timeToFirstTokenMs: 1, prefillTokensPerSecond: 1, decodeTokensPerSecond: 1, totalMs: 1, finishReason: 'eog', expertUsage: [], truncatedTokens: 0 },
      };
    },
    async unload() {
      log.unloads++;
    },
  };
}

function deps(opts: { failLoad?: boolean; entries?: readonly ModelEntry[] } = {}) {
  const log: Log = { loads: [], unloads: 0 };
  const workers: FakeWorker[] = [];
  const d: BrixDeps = {
    startEngine: (): EngineHandle => {
      const w = new FakeWorker({ engine: () => scriptedEngine(log, opts.failLoad) });
      workers.push(w);
      return new EngineClient(w);
    },
    resolveSource: async (entry) => ({ source: { kind: 'url', url: `https://example.test/${entry.id}.gguf` } }),
    entries: () => opts.entries ?? CATALOG,
    loadOptions: () => ({ contextSize: 256 }),
  };
  return { d, log, workers };
}

const REQUEST: GenerateRequest = { messages: [{ role: 'user', content: 'Hello' }], sampling: DEFAULT_SAMPLING };
const demo = brixOption(CATALOG.find((e) => e.id === DEMO_MODEL_ID) ?? CATALOG[0]);

describe('BrixChatEngine', () => {
  it('loads in its own worker with the resolved source and context option, then streams', async () => {
    const { d, log, workers } = deps();
    const e = new BrixChatEngine(demo, d);
    const progress: string[] = [];
    const info = await e.load((p) => progress.push(`${p.phase} ${p.loaded}/${p.total}`));
    expect(workers).toHaveLength(1);
    expect(log.loads).toEqual([{ source: { kind: 'url', url: `https://example.test/${DEMO_MODEL_ID}.gguf` }, options: { contextSize: 256 } }]);
    expect(progress).toEqual(['upload 1/2']);
    expect(info.gpuBytes).toBe(1234);
    const deltas: string[] = [];
    const r = await e.generate(REQUEST, (x) => deltas.push(x.text));
    expect(deltas).toEqual(['Hi']);
    expect(r.stats.finishReason).toBe('eog');
  });

  it('two engines get two workers (side by side)', async () => {
    const { d, workers } = deps();
    await Promise.all([new BrixChatEngine(demo, d).load(), new BrixChatEngine(demo, d).load()]);
    expect(workers).toHaveLength(2);
  });

  it('refuses generate before load, ends the worker of a failed load, and names the error', async () => {
    const { d, workers } = deps({ failLoad: true });
    const e = new BrixChatEngine(demo, d);
    await expect(e.generate(REQUEST)).rejects.toMatchObject({ name: 'EngineStateError' });
    await expect(e.load()).rejects.toMatchObject({ name: 'GpuOutOfMemoryError', message: 'too big' });
    expect(workers[0].terminated).toBe(true);
    const gone = new BrixChatEngine({ ...demo, ref: 'not-in-list' }, d);
    await expect(gone.load()).rejects.toMatchObject({ name: 'EngineStateError' });
  });

  it('dispose unloads the model, then terminates the worker', async () => {
    const { d, log, workers } = deps();
    const e = new BrixChatEngine(demo, d);
    await e.load();
    e.dispose();
    await expect.poll(() => workers[0].terminated).toBe(true);
    expect(log.unloads).toBe(1);
    await expect(e.generate(REQUEST)).rejects.toMatchObject({ name: 'EngineStateError' });
  });
});

describe('brixProvider', () => {
  it('lists the app models (the demo included) with a GPU estimate above the file size; a file gone from the session is left out', async () => {
    const file: ModelEntry = { id: 'f', name: 'Gone file', origin: 'file' };
    const { d } = deps({ entries: [...CATALOG, file] });
    const opts = await brixProvider(d).listModels();
    expect(opts.map((o) => o.name)).toContain('Brix Demo 30M');
    expect(opts.map((o) => o.name)).not.toContain('Gone file');
    const o = opts.find((x) => x.ref === DEMO_MODEL_ID);
    expect(o?.id).toBe(`brix:${DEMO_MODEL_ID}`);
    expect(o?.gpuBytesEstimate).toBeGreaterThan(o?.downloadBytes ?? Infinity);
  });
});
