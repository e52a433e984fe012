/**
 * @file The browser side of the weight-cache e2e tests, standing in for the engine until it exists: it loads a
 * model through the real cache (`cachedModelSource`), parses it with `openGgufModel` and reads every tensor
 * once, hashing the bytes so the test can compare them with the file on disk. It also exposes the management
 * API and two raw IndexedDB probes (count shard records, tamper with one). Bundled by shardServer.ts.
 */
import { openGgufModel, type GgufModel } from '../../../workers/gguf/model.ts';
import {
  cachedModelSource,
  clearModelCache,
  DB_NAME,
  deleteCachedModel,
  listCachedModels,
  verifyCachedModel,
  type CacheOptions,
  type CacheProgress,
  type CachedModelInfo,
} from '../../../workers/storage/index.ts';
import { Sha256 } from '../../../workers/storage/sha256.ts';

export interface HarnessLoadOptions {
  readonly shardSize?: number;
  readonly parallel?: number;
  readonly retries?: number;
  readonly retryBaseMs?: number;
  readonly manifestUrl?: string;
  readonly ifChanged?: 'error' | 'redownload';
  /** Parse the GGUF and read every tensor (default true). */
  readonly read?: boolean;
}

export interface HarnessError {
  readonly name: string;
  readonly message: string;
}

export interface HarnessProgress {
  readonly events: number;
  readonly phases: readonly string[];
  readonly last: CacheProgress | null;
  readonly sawRate: boolean;
}

export type LoadResult =
  | {
      readonly ok: true;
      readonly info: CachedModelInfo;
      readonly tensors: number;
      readonly tensorBytes: number;
      /** sha256 over every tensor's bytes, in model order. */
      readonly digest: string;
      readonly progress: HarnessProgress;
      readonly ms: number;
    }
  | { readonly ok: false; readonly error: HarnessError; readonly progress: HarnessProgress };

export interface Harness {
  load(url: string, opts?: HarnessLoadOptions): Promise<LoadResult>;
  /** The same load in a dedicated module worker, like the engine's. */
  loadInWorker(url: string, opts: HarnessLoadOptions): Promise<LoadResult>;
  /** Starts a load without waiting (the page may be closed under it). */
  start(url: string, opts?: HarnessLoadOptions): void;
  list(): Promise<CachedModelInfo[]>;
  remove(url: string): Promise<boolean>;
  clear(): Promise<void>;
  verify(url: string): Promise<{ checkedShards: number; droppedShards: number }>;
  shardRecordCount(): Promise<number>;
  /** Flips the first byte of a stored shard, keeping its size (storage corruption). */
  tamperShard(fileUrl: string, index: number): Promise<boolean>;
  /** Opens a cached model for stepwise reading (heap test): tensor sizes in model order. */
  open(url: string, opts?: HarnessLoadOptions): Promise<{ name: string; nbytes: number }[]>;
  readTensor(i: number): Promise<number>;
  digest(): string;
}

declare global {
  interface Window {
    shardHarness: Harness;
  }
}

function errorOf(e: unknown): HarnessError {
  if (e instanceof Error || e instanceof DOMException) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

function optionsOf(o: HarnessLoadOptions, onProgress: (p: CacheProgress) => void): CacheOptions {
  return {
    shardSize: o.shardSize,
    parallel: o.parallel,
    retries: o.retries ?? 2,
    retryBaseMs: o.retryBaseMs ?? 50,
    retryMaxMs: 200,
    manifestUrl: o.manifestUrl,
    ifChanged: o.ifChanged,
    onProgress,
  };
}

function progressRecorder(): { onProgress: (p: CacheProgress) => void; summary(): HarnessProgress } {
  let events = 0;
  let last: CacheProgress | null = null;
  let sawRate = false;
  const phases: string[] = [];
  return {
    onProgress(p) {
      events++;
      last = p;
      if (p.rate !== undefined && p.etaSeconds !== undefined) sawRate = true;
      if (phases[phases.length - 1] !== p.phase) phases.push(p.phase);
    },
    summary: () => ({ events, phases, last, sawRate }),
  };
}

async function loadModel(url: string, o: HarnessLoadOptions): Promise<LoadResult> {
  const rec = progressRecorder();
  const t0 = performance.now();
  try {
    const src = await cachedModelSource(url, optionsOf(o, rec.onProgress));
    let tensors = 0;
    let tensorBytes = 0;
    const h = new Sha256();
    if (o.read !== false) {
      const model = await openGgufModel(src.first, (n) => src.openSibling(n));
      for (const t of model.tensors) {
        const bytes = await model.readTensor(t);
        h.update(bytes);
        tensors++;
        tensorBytes += bytes.length;
      }
    }
    return { ok: true, info: src.info, tensors, tensorBytes, digest: h.hex(), progress: rec.summary(), ms: performance.now() - t0 };
  } catch (e) {
    return { ok: false, error: errorOf(e), progress: rec.summary() };
  }
}

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

let stepModel: GgufModel | undefined;
let stepHash = new Sha256();

/** Runs a load in a dedicated module worker (where the engine runs) and returns its result. */
function loadInWorker(url: string, opts: HarnessLoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker('/harness.js', { type: 'module' });
    const channel = new MessageChannel();
    channel.port1.onmessage = (e: MessageEvent<LoadResult>) => {
      worker.terminate();
      resolve(e.data);
    };
    worker.onerror = (e) => {
      worker.terminate();
      reject(new Error(`harness worker failed: ${e.message}`));
    };
    worker.postMessage({ url, opts }, [channel.port2]);
  });
}

const harness: Harness = {
  loadInWorker,
  load: (url, opts = {}) => loadModel(url, opts),
  start(url, opts = {}) {
    void loadModel(url, opts);
  },
  list: () => listCachedModels(),
  remove: (url) => deleteCachedModel(url),
  clear: () => clearModelCache(),
  verify: (url) => verifyCachedModel(url),
  async shardRecordCount() {
    const db = await openDb();
    try {
      if (!db.objectStoreNames.contains('shards')) return 0;
      return await done(db.transaction('shards', 'readonly').objectStore('shards').count());
    } finally {
      db.close();
    }
  },
  async tamperShard(fileUrl, index) {
    const db = await openDb();
    try {
      const blob: unknown = await done(db.transaction('shards', 'readonly').objectStore('shards').get([fileUrl, index]));
      if (!(blob instanceof Blob)) return false;
      const bytes = new Uint8Array(await blob.arrayBuffer());
      bytes[0] ^= 0xff;
      await done(db.transaction('shards', 'readwrite').objectStore('shards').put(new Blob([bytes]), [fileUrl, index]));
      return true;
    } finally {
      db.close();
    }
  },
  async open(url, opts = {}) {
    const src = await cachedModelSource(url, optionsOf(opts, () => {}));
    stepModel = await openGgufModel(src.first, (n) => src.openSibling(n));
    stepHash = new Sha256();
    return stepModel.tensors.map((t) => ({ name: t.name, nbytes: t.nbytes }));
  },
  async readTensor(i) {
    if (!stepModel) throw new Error('open() first');
    const bytes = await stepModel.readTensor(stepModel.tensors[i]);
    stepHash.update(bytes);
    return bytes.length;
  },
  digest: () => stepHash.hex(),
};

if (typeof document !== 'undefined') {
  window.shardHarness = harness;
  const state = document.getElementById('state');
  if (state) state.textContent = 'ready';
} else {
  // In a worker: one load per message, the result posted back on the port that came with it.
  addEventListener('message', (e: MessageEvent<{ url: string; opts: HarnessLoadOptions }>) => {
    const port = e.ports[0];
    void loadModel(e.data.url, e.data.opts).then((r) => port.postMessage(r));
  });
}
