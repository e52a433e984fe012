/**
 * @file The app store on fakes (in-memory conversation repo, scripted engines, fake cache): a chat turn
 * streams into `streaming` and commits once; stop keeps the partial answer; regenerate and edit-and-resend
 * drop what follows; conversations persist and reload; model switches retire the old worker; downloads pause
 * and resume.
 */
import { describe, expect, it } from 'vitest';
import { createAppStore, type AppDeps, type AppStore, type EngineHandle } from '../../app/store.ts';
import { memoryConversationRepo } from '../../app/features/chat/repo.ts';
import { engineMessages } from '../../app/features/chat/generationSlice.ts';
import type { ModelCache, CachedModelSummary } from '../../app/features/models/modelCache.ts';
import { DEMO_MODEL_ID } from '../../app/features/models/catalog.ts';
import { distinctTitle } from '../../app/features/chat/types.ts';
import {
  DEFAULT_SAMPLING,
  type GenerateRequest,
  type GenerationResult,
  type LoadProgress,
  type ModelInfo,
  type ModelSource,
  type TokenDelta,
} from '../../workers/protocol.ts';
import { AbortError, GpuOutOfMemoryError } from '../../workers/errors.ts';

const INFO: ModelInfo = {
  name: 'fake',
  architecture: 'dbrx',
  nParams: 1,
  nLayer: 2,
  nExpert: 4,
  nExpertUsed: 2,
  contextSize: 256,
  vocabSize: 10,
  fileBytes: 1,
  gpuBytes: 1,
};

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

/** An engine that streams `tokens` one per tick, honours abort like the real one (finishReason 'abort'). */
class FakeEngine implements EngineHandle {
  terminated = false;
  unloaded = false;
  loads: ModelSource[] = [];
  requests: GenerateRequest[] = [];
  loadGate: Promise<void> = Promise.resolve();
  loadError: Error | undefined;
  tokens = ['Hel', 'lo', ' there', '!'];
  /** Holds generation after the first token until released. */
  holdAfterFirst: Promise<void> | undefined;

  async load(source: ModelSource, _o: unknown, onProgress?: (p: LoadProgress) => void, signal?: AbortSignal): Promise<ModelInfo> {
    this.loads.push(source);
    onProgress?.({ phase: 'download', loaded: 5, total: 10 });
    await this.loadGate;
    if (signal?.aborted) throw new AbortError();
    if (this.loadError) throw this.loadError;
    onProgress?.({ phase: 'upload', loaded: 10, total: 10 });
    return INFO;
  }

  async generate(request: GenerateRequest, onToken?: (d: TokenDelta) => void, signal?: AbortSignal): Promise<GenerationResult> {
    this.requests.push(request);
    let text = '';
    for (const [i, t] of this.tokens.entries()) {
      if (signal?.aborted) break;
      text += t;
      onToken?.({ text: t, tokenIds: [i] });
      await tick();
      if (i === 0 && this.holdAfterFirst) await this.holdAfterFirst;
    }
    const aborted = signal?.aborted === true;
    return {
      text,
      tokenIds: [],
      stats: {
        promptTokens: 3,
        generatedTokens: text.length,
        timeToFirstTokenMs: 5,
        prefillTokensPerSecond: 100,
        decodeTokensPerSecond: 50,
        totalMs: 20,
        finishReason: aborted ? 'abort' : 'eog',
        expertUsage: [
          [1, 0, 2, 3],
          [0, 4, 1, 1],
        ],
        truncatedTokens: 0,
      },
    };
  }

  unload(): Promise<void> {
    this.unloaded = true;
    return Promise.resolve();
  }

  ping(payload: string) {
    return Promise.resolve({ payload, gpu: null, gpuError: { name: 'GpuUnavailableError', message: 'no adapter here' } });
  }

  terminate(): void {
    this.terminated = true;
  }
}

class FakeCache implements ModelCache {
  stored = new Map<string, CachedModelSummary>();
  downloads: string[] = [];
  gate: Promise<void> | undefined;
  async list() {
    return [...this.stored.values()];
  }
  async download(url: string, opts: { onProgress?: (p: { phase: 'download'; loaded: number; total: number; file: string }) => void; signal?: AbortSignal }) {
    this.downloads.push(url);
    opts.onProgress?.({ phase: 'download', loaded: 1, total: 2, file: 'x.gguf' });
    if (this.gate) {
      const signal = opts.signal;
      await new Promise<void>((resolve, reject) => {
        signal?.addEventListener('abort', () => reject(new AbortError()), { once: true });
        void this.gate?.then(resolve);
      });
    }
    this.stored.set(url, { url, name: 'x', state: 'complete', totalBytes: 2, storedBytes: 2 });
  }
  async delete(url: string) {
    return this.stored.delete(url);
  }
  async clear() {
    this.stored.clear();
  }
  async estimate() {
    return { usage: 10, quota: 1000 };
  }
  async persisted() {
    return false;
  }
  async persist() {
    return true;
  }
}

interface Harness {
  store: AppStore;
  engines: FakeEngine[];
  repo: ReturnType<typeof memoryConversationRepo>;
  prefs: Map<string, unknown>;
  cache: FakeCache;
  next: (configure: (e: FakeEngine) => void) => void;
}

function harness(opts: { repo?: ReturnType<typeof memoryConversationRepo>; prefs?: Map<string, unknown>; retrieve?: AppDeps['retrieve'] } = {}): Harness {
  const engines: FakeEngine[] = [];
  let configureNext: ((e: FakeEngine) => void) | undefined;
  let id = 0;
  let clock = 1_000;
  const repo = opts.repo ?? memoryConversationRepo();
  const prefs = opts.prefs ?? new Map<string, unknown>();
  const cache = new FakeCache();
  const deps: AppDeps = {
    repo,
    cache,
    startEngine: () => {
      const e = new FakeEngine();
      configureNext?.(e);
      configureNext = undefined;
      engines.push(e);
      return e;
    },
    resolveSource: (entry) =>
      Promise.resolve({
        source: { kind: 'url', url: `https://example.test/${entry.id}.gguf` },
        cacheUrl: `https://example.test/${entry.id}.gguf`,
      }),
    sampling: () => ({ ...DEFAULT_SAMPLING, maxTokens: 8, seed: 42 }),
    loadOptions: () => ({}),
    prefs: { get: (k) => prefs.get(k), set: (k, v) => void prefs.set(k, v) },
    now: () => (clock += 10),
    newId: () => `id${++id}`,
    ...(opts.retrieve ? { retrieve: opts.retrieve } : {}),
  };
  return { store: createAppStore(deps), engines, repo, prefs, cache, next: (f) => (configureNext = f) };
}

describe('chat turns', () => {
  it('loads the selected (demo) model on the first message, streams, and commits the answer with stats', async () => {
    const h = harness();
    expect(h.store.getState().selectedModelId).toBe(DEMO_MODEL_ID);
    const seen: string[] = [];
    const unsub = h.store.subscribe((s) => {
      if (s.streaming && s.streaming.text !== seen.at(-1)) seen.push(s.streaming.text);
    });
    await h.store.getState().send('  Hello!  ');
    unsub();
    const s = h.store.getState();
    expect(h.engines).toHaveLength(1);
    expect(h.engines[0].loads[0]).toEqual({ kind: 'url', url: `https://example.test/${DEMO_MODEL_ID}.gguf` });
    expect(s.load.kind).toBe('ready');
    expect(seen.filter((t) => t !== '')).toEqual(['Hel', 'Hello', 'Hello there', 'Hello there!']);
    expect(s.streaming).toBeNull();
    const c = s.conversations[s.activeId ?? ''];
    expect(c.title).toBe('Hello!');
    expect(c.messages.map((m) => [m.role, m.content])).toEqual([
      ['user', 'Hello!'],
      ['assistant', 'Hello there!'],
    ]);
    expect(c.messages[1].stats?.decodeTokensPerSecond).toBe(50);
    expect(c.messages[1].model).toBe('Brix Demo 30M');
    expect(c.messages[1].seed).toBe(42);
    expect(h.engines[0].requests[0].messages).toEqual([{ role: 'user', content: 'Hello!' }]);
  });

  it('attached files: the engine gets the retrieved messages, the answer keeps the sources, the stored question stays plain', async () => {
    const calls: { id: string; messages: readonly { role: string; content: string }[]; ctx: number; max: number }[] = [];
    const source = { n: 1, file: 'manual.pdf', chunk: 2, text: 'The code is 42.', score: 3.5 };
    const h = harness({
      retrieve: async (id, messages, _engine, ctx, max) => {
        calls.push({ id, messages, ctx, max });
        return { messages: [...messages.slice(0, -1), { role: 'user', content: `<sources>…</sources> ${messages.at(-1)?.content}` }], sources: [source] };
      },
    });
    await h.store.getState().send('What is the code?');
    const s = h.store.getState();
    const c = s.conversations[s.activeId ?? ''];
    expect(calls).toEqual([{ id: c.id, messages: [{ role: 'user', content: 'What is the code?' }], ctx: INFO.contextSize, max: 8 }]);
    expect(h.engines[0].requests[0].messages).toEqual([{ role: 'user', content: '<sources>…</sources> What is the code?' }]);
    expect(c.messages[0].content).toBe('What is the code?');
    expect(c.messages[1].sources).toEqual([source]);
    // Stored and read back through the parser (what IndexedDB and imports go through).
    await s.flushWrites();
    const stored = (await h.repo.loadAll()).conversations.find((x) => x.id === c.id);
    expect(stored?.messages[1].sources).toEqual([source]);
  });

  it('sends the system prompt first and leaves failed empty answers out', () => {
    const msgs = engineMessages({
      id: 'c',
      title: 't',
      titleEdited: false,
      systemPrompt: 'Be brief.',
      createdAt: 0,
      updatedAt: 0,
      messages: [
        { id: '1', role: 'user', content: 'a', createdAt: 0 },
        { id: '2', role: 'assistant', content: '', createdAt: 0, error: { name: 'E', message: 'm' } },
        { id: '3', role: 'user', content: 'b', createdAt: 0 },
      ],
    });
    expect(msgs).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'a' },
      { role: 'user', content: 'b' },
    ]);
  });

  it('stop keeps the partial answer with finishReason abort', async () => {
    const h = harness();
    const release = deferred<void>();
    h.next((e) => (e.holdAfterFirst = release.promise));
    const done = h.store.getState().send('Hi');
    while (h.store.getState().streaming?.text !== 'Hel') await tick();
    h.store.getState().stop();
    release.resolve();
    await done;
    const s = h.store.getState();
    const last = s.conversations[s.activeId ?? ''].messages.at(-1);
    expect(last?.content).toBe('Hel');
    expect(last?.finishReason).toBe('abort');
    expect(last?.error).toBeUndefined();
  });

  it('regenerate adds a version of the last answer; edit-and-resend keeps what followed with the old version', async () => {
    const h = harness();
    await h.store.getState().send('first');
    await h.store.getState().send('second');
    let c = h.store.getState().conversations[h.store.getState().activeId ?? ''];
    expect(c.messages).toHaveLength(4);
    const before = c.messages[3].id;
    h.engines[0].tokens = ['Other'];
    await h.store.getState().regenerate();
    c = h.store.getState().conversations[c.id];
    expect(c.messages).toHaveLength(4);
    expect(c.messages[3].id).toBe(before);
    expect(c.messages[3].content).toBe('Other');
    expect(c.messages[3].versions?.map((v) => v.content)).toEqual(['Hello there!', 'Other']);
    expect(c.messages[3].version).toBe(1);
    // The engine saw the history without the answer being replaced.
    expect(h.engines[0].requests.at(-1)?.messages.map((m) => m.content)).toEqual(['first', 'Hello there!', 'second']);
    h.store.getState().showVersion(before, 0);
    c = h.store.getState().conversations[c.id];
    expect(c.messages[3].content).toBe('Hello there!');

    h.engines[0].tokens = ['Edited answer'];
    await h.store.getState().editAndResend(c.messages[0].id, 'first, edited');
    c = h.store.getState().conversations[c.id];
    expect(c.messages.map((m) => m.content)).toEqual(['first, edited', 'Edited answer']);
    expect(c.title).toBe('first, edited');
    // The engine got only the edited history.
    expect(h.engines[0].requests.at(-1)?.messages).toEqual([{ role: 'user', content: 'first, edited' }]);
    expect(c.messages[0].versions?.map((v) => v.content)).toEqual(['first', 'first, edited']);
    // Back to the first version: its whole branch (three messages after it) comes back, and forward again.
    h.store.getState().showVersion(c.messages[0].id, 0);
    c = h.store.getState().conversations[c.id];
    expect(c.messages.map((m) => m.content)).toEqual(['first', 'Hello there!', 'second', 'Hello there!']);
    expect(c.messages[3].versions).toHaveLength(2);
    h.store.getState().showVersion(c.messages[0].id, 1);
    c = h.store.getState().conversations[c.id];
    expect(c.messages.map((m) => m.content)).toEqual(['first, edited', 'Edited answer']);
  });

  it('continue extends a cut-off answer in the same message; chat settings override the global sampling', async () => {
    const h = harness();
    h.next((e) => {
      e.generate = async (request, onToken) => {
        e.requests.push(request);
        const cont = request.continueFinal === true;
        const text = cont ? ' and more.' : 'Once upon';
        onToken?.({ text, tokenIds: [] });
        const stats = { promptTokens: 3, generatedTokens: 2, timeToFirstTokenMs: 1, prefillTokensPerSecond: 1, decodeTokensPerSecond: 1, totalMs: 1, expertUsage: [], truncatedTokens: 0 };
        return { text, tokenIds: [], stats: { ...stats, finishReason: cont ? 'eog' : 'length' } };
      };
    });
    await h.store.getState().send('story');
    let c = h.store.getState().conversations[h.store.getState().activeId ?? ''];
    const a = c.messages[1];
    expect(a.finishReason).toBe('length');
    h.store.getState().setChatSettings(c.id, { temperature: 0.25, maxTokens: 3 });
    await h.store.getState().continueAnswer(a.id);
    c = h.store.getState().conversations[c.id];
    expect(c.messages).toHaveLength(2);
    expect(c.messages[1].id).toBe(a.id);
    expect(c.messages[1].content).toBe('Once upon and more.');
    expect(c.messages[1].finishReason).toBe('eog');
    expect(c.messages[1].stats?.generatedTokens).toBe(4);
    const req = h.engines[0].requests.at(-1);
    expect(req?.continueFinal).toBe(true);
    expect(req?.messages.at(-1)).toEqual({ role: 'assistant', content: 'Once upon' });
    expect(req?.sampling).toMatchObject({ temperature: 0.25, maxTokens: 3, seed: 42 });
    // Only a cut-off last answer can be continued.
    await h.store.getState().continueAnswer(a.id);
    expect(h.engines[0].requests).toHaveLength(2);
  });

  it('a failed load is kept as an error answer; a worker crash drops the engine', async () => {
    const h = harness();
    h.next((e) => (e.loadError = new GpuOutOfMemoryError('too big')));
    await h.store.getState().send('Hi');
    let s = h.store.getState();
    expect(s.load.kind).toBe('error');
    expect(h.engines[0].terminated).toBe(true);
    const last = s.conversations[s.activeId ?? ''].messages.at(-1);
    expect(last?.error?.name).toBe('GpuOutOfMemoryError');

    // Retry: regenerate loads again (a fresh worker) and answers.
    await h.store.getState().regenerate();
    s = h.store.getState();
    expect(h.engines).toHaveLength(2);
    expect(s.conversations[s.activeId ?? ''].messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(s.conversations[s.activeId ?? ''].messages[1].content).toBe('Hello there!');

    h.engines[1].generate = () => Promise.reject(Object.assign(new Error('engine worker failed'), { name: 'WorkerDiedError' }));
    await h.store.getState().send('again');
    s = h.store.getState();
    expect(s.engine).toBeNull();
    expect(s.load.kind).toBe('error');
    expect(h.engines[1].terminated).toBe(true);
  });
});

describe('conversations', () => {
  it('persist through the repo and come back on hydrate, newest first, with the open one remembered', async () => {
    const repo = memoryConversationRepo();
    const prefs = new Map<string, unknown>();
    const h = harness({ repo, prefs });
    await h.store.getState().send('one');
    const first = h.store.getState().activeId;
    h.store.getState().newConversation();
    await h.store.getState().send('two');
    const second = h.store.getState().activeId;
    h.store.getState().renameConversation(second ?? '', 'Renamed');
    h.store.getState().setSystemPrompt(second ?? '', 'You are terse.');
    await h.store.getState().flushWrites();
    expect(h.store.getState().saving).toBe(0);
    expect(repo.records.size).toBe(2);

    const h2 = harness({ repo, prefs });
    await h2.store.getState().hydrate();
    const s = h2.store.getState();
    expect(s.order).toEqual([second, first]);
    expect(s.activeId).toBe(second);
    expect(s.conversations[second ?? ''].title).toBe('Renamed');
    expect(s.conversations[second ?? ''].systemPrompt).toBe('You are terse.');
    expect(s.conversations[first ?? ''].messages.map((m) => m.content)).toEqual(['one', 'Hello there!']);

    h2.store.getState().deleteConversation(second ?? '');
    await h2.store.getState().flushWrites();
    expect(repo.records.has(second ?? '')).toBe(false);
    expect(h2.store.getState().activeId).toBe(first);
  });

  it('chats started with the same message get distinct titles; an edit keeps its own title distinct too', async () => {
    const h = harness();
    const titles: string[] = [];
    for (let i = 0; i < 3; i++) {
      h.store.getState().newConversation();
      await h.store.getState().send('Hello!');
      const s = h.store.getState();
      titles.push(s.conversations[s.activeId ?? ''].title);
    }
    expect(titles).toEqual(['Hello!', 'Hello! (2)', 'Hello! (3)']);
    // Editing the first message of "Hello! (3)" to "Hello!" again: still distinct, and not counted against itself.
    const s = h.store.getState();
    const c = s.conversations[s.activeId ?? ''];
    await h.store.getState().editAndResend(c.messages[0].id, 'Hello!');
    expect(h.store.getState().conversations[c.id].title).toBe('Hello! (3)');
    expect(distinctTitle('Hi', ['Hi', 'Hi (2)', 'Hi (4)'])).toBe('Hi (3)');
    expect(distinctTitle('Hi', ['Hello'])).toBe('Hi');
  });

  it('New chat reuses an empty open conversation; broken stored records are skipped and reported', async () => {
    const repo = memoryConversationRepo([{ id: 'bad', title: 3 }]);
    const h = harness({ repo });
    await h.store.getState().hydrate();
    expect(h.store.getState().order).toEqual([]);
    expect(h.store.getState().storageError?.message).toMatch(/1 stored conversation\(s\) could not be read: stored conversation 0\.messages must be an array, found nothing/);
    const a = h.store.getState().newConversation();
    expect(h.store.getState().newConversation()).toBe(a);
  });

  it('import keeps ids that are free and renumbers taken ones', async () => {
    const h = harness();
    await h.store.getState().send('x');
    const taken = h.store.getState().activeId ?? '';
    const c = h.store.getState().conversations[taken];
    const n = h.store.getState().importConversations([c, { ...c, id: 'fresh' }]);
    expect(n).toBe(2);
    expect(Object.keys(h.store.getState().conversations).sort()).toHaveLength(3);
    expect(h.store.getState().conversations.fresh).toBeDefined();
  });
});

describe('engine lifecycle and models', () => {
  it('switching models retires the old worker (unload + terminate) and loads in a new one', async () => {
    const h = harness();
    await h.store.getState().loadModel(DEMO_MODEL_ID);
    expect(h.store.getState().load.kind).toBe('ready');
    await h.store.getState().loadModel('llama-3.2-1b-instruct-q4_k_m');
    await tick();
    expect(h.engines).toHaveLength(2);
    expect(h.engines[0].unloaded).toBe(true);
    expect(h.engines[0].terminated).toBe(true);
    expect(h.engines[1].terminated).toBe(false);
    expect(h.store.getState().selectedModelId).toBe('llama-3.2-1b-instruct-q4_k_m');
    expect(h.prefs.get('brix.selectedModel')).toBe('llama-3.2-1b-instruct-q4_k_m');
  });

  it('shows load progress, and cancel returns to idle', async () => {
    const h = harness();
    const gate = deferred<void>();
    h.next((e) => (e.loadGate = gate.promise));
    const p = h.store.getState().loadModel(DEMO_MODEL_ID);
    await tick();
    const load = h.store.getState().load;
    expect(load.kind === 'loading' && load.progress?.phase).toBe('download');
    h.store.getState().cancelLoad();
    gate.resolve();
    await p;
    expect(h.store.getState().load.kind).toBe('idle');
    expect(h.engines[0].terminated).toBe(true);
  });

  it('adds models by URL (validated, persisted, deduplicated) and by file (session only)', () => {
    const h = harness();
    expect(() => h.store.getState().addModelUrl('javascript:alert(1)')).toThrow(/only http\(s\)/);
    expect(() => h.store.getState().addModelUrl('https://example.com/page.html')).toThrow(/\.gguf/);
    const e = h.store.getState().addModelUrl('https://huggingface.co/a/b/blob/main/My-Model-Q4_K_M.gguf');
    expect(e.url).toBe('https://huggingface.co/a/b/resolve/main/My-Model-Q4_K_M.gguf');
    expect(e.name).toBe('My-Model-Q4_K_M');
    expect(h.store.getState().addModelUrl('https://huggingface.co/a/b/resolve/main/My-Model-Q4_K_M.gguf').id).toBe(e.id);
    const f = h.store.getState().addModelFile(new Blob([new Uint8Array(3)]), 'local-00001-of-00002.gguf');
    expect(f.name).toBe('local (local file)');
    expect(f.sizeBytes).toBe(3);
    const stored = h.prefs.get('brix.customModels');
    expect(stored).toEqual([{ id: e.id, name: 'My-Model-Q4_K_M', url: e.url }]);
    // A new store (reload) gets the URL model back, not the file.
    const h2 = harness({ prefs: h.prefs });
    expect(h2.store.getState().models.some((m) => m.id === e.id)).toBe(true);
    expect(h2.store.getState().models.some((m) => m.origin === 'file')).toBe(false);
    h2.store.getState().removeModel(e.id);
    expect(h2.prefs.get('brix.customModels')).toEqual([]);
  });

  it('downloads pause and resume, and the cache listing follows', async () => {
    const h = harness();
    const gate = deferred<void>();
    h.cache.gate = gate.promise;
    const id = 'granite-3.1-1b-a400m-instruct-q4_k_m';
    const first = h.store.getState().startDownload(id);
    await tick();
    expect(h.store.getState().downloads[id]?.status).toBe('downloading');
    h.store.getState().pauseDownload(id);
    await first;
    expect(h.store.getState().downloads[id]?.status).toBe('paused');
    expect(h.store.getState().downloads[id]?.progress?.loaded).toBe(1);
    gate.resolve();
    await h.store.getState().startDownload(id);
    expect(h.store.getState().downloads[id]).toBeUndefined();
    expect(h.store.getState().cached.map((c) => c.url)).toEqual([`https://example.test/${id}.gguf`]);
    expect(h.store.getState().storage).toEqual({ usage: 10, quota: 1000 });
    await h.store.getState().deleteCached(`https://example.test/${id}.gguf`);
    expect(h.store.getState().cached).toEqual([]);
  });

  it('probeGpu reports the worker\'s missing adapter and ends the temporary worker', async () => {
    const h = harness();
    await h.store.getState().probeGpu();
    expect(h.store.getState().gpu).toEqual({ kind: 'none', message: 'no adapter here' });
    expect(h.engines[0].terminated).toBe(true);
  });
});
