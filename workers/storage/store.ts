/**
 * @file Where cached weights live. `ShardStore` is the small storage interface the downloader and the cached
 * ByteSource need; `idbShardStore()` implements it on IndexedDB and `memoryShardStore()` in memory (unit tests,
 * and a fallback where IndexedDB is missing).
 *
 * IndexedDB layout: our own database `brix-weights` (version 1) with three object stores — `shards` (key
 * `[fileUrl, shardIndex]`, value: a Blob of the shard's bytes), `files` (key fileUrl, value: FileRecord, the
 * per-file manifest) and `models` (key modelUrl, value: ModelRecord). idb-keyval's `createStore` makes one store
 * per database, and we need a shard and its manifest entry written in *one* transaction (so the manifest never
 * claims a shard that is not stored, even if the tab dies or the quota runs out between the two writes), so we
 * open the database ourselves and hand idb-keyval a store accessor of the same shape for the simple reads.
 *
 * Shards are stored as Blobs: Chromium keeps large IndexedDB Blobs as files and a Blob read back is a handle,
 * so reading a tensor slices the bytes it needs instead of deserializing a 16 MiB record into the JS heap.
 */
import { get, promisifyRequest, values, type UseStore } from 'idb-keyval';
import { CacheError, QuotaError } from './errors.ts';
import type { FileRecord, ModelRecord } from './plan.ts';

/** Read access to one stored shard; `read` slices without loading the rest. */
export interface ShardHandle {
  readonly size: number;
  read(start: number, length: number): Promise<Uint8Array>;
}

/** An atomic read-modify-write of a file record: return the new record, or undefined to write nothing. */
export type FileUpdate = (current: FileRecord | undefined) => FileRecord | undefined;

export interface ShardStore {
  getModel(url: string): Promise<ModelRecord | undefined>;
  listModels(): Promise<ModelRecord[]>;
  getFile(url: string): Promise<FileRecord | undefined>;
  /** Writes the model record and (re)creates its file records, in one transaction. */
  putModel(model: ModelRecord, files: readonly FileRecord[]): Promise<void>;
  /** Atomic update of a file record alone (mark complete, ...). Resolves to what was written. */
  updateFile(url: string, update: FileUpdate): Promise<FileRecord | undefined>;
  /** Stores shard bytes and the updated file record together, or neither (update returned undefined). */
  commitShard(url: string, index: number, data: Uint8Array<ArrayBuffer>, update: FileUpdate): Promise<FileRecord | undefined>;
  /** Deletes shard records and writes the updated file record (which must no longer claim them), together. */
  dropShards(url: string, indices: readonly number[], update: FileUpdate): Promise<FileRecord | undefined>;
  /** Indices of the shard records actually present for a file (to catch evicted ones). */
  storedShardIndices(url: string): Promise<number[]>;
  readShard(url: string, index: number): Promise<ShardHandle | undefined>;
  /** Deletes the model record, its files' records and all their shards. */
  deleteModel(url: string): Promise<void>;
  clear(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Record shape checks (what comes out of IndexedDB was written by some version of this code, or by nobody)

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;

export function isFileRecord(x: unknown): x is FileRecord {
  return (
    isObject(x) &&
    x.version === 1 &&
    typeof x.url === 'string' &&
    typeof x.modelUrl === 'string' &&
    typeof x.size === 'number' &&
    typeof x.shardSize === 'number' &&
    Array.isArray(x.shards) &&
    (x.state === 'partial' || x.state === 'complete')
  );
}

export function isModelRecord(x: unknown): x is ModelRecord {
  return isObject(x) && x.version === 1 && typeof x.url === 'string' && Array.isArray(x.files);
}

// ---------------------------------------------------------------------------------------------------------
// IndexedDB

export const DB_NAME = 'brix-weights';

interface TxOut<T> {
  value: T | undefined;
  error: Error | undefined;
}
const DB_VERSION = 1;
const SHARDS = 'shards';
const FILES = 'files';
const MODELS = 'models';

/** All shard keys of one file: [url, 0] .. [url, +∞]. */
function fileKeyRange(url: string): IDBKeyRange {
  return IDBKeyRange.bound([url, 0], [url, Infinity]);
}

/** IndexedDB's failures as our errors: running out of quota is a QuotaError, anything else a CacheError. */
function mapIdbError(e: unknown, what: string): Error {
  if (e instanceof QuotaError || e instanceof CacheError) return e;
  const name = isObject(e) && typeof e.name === 'string' ? e.name : '';
  const msg = isObject(e) && typeof e.message === 'string' ? e.message : String(e);
  if (name === 'QuotaExceededError') {
    return new QuotaError(`the browser's storage quota ran out while ${what}; free space or delete a cached model`, { cause: e });
  }
  return new CacheError(`IndexedDB failed while ${what}: ${name ? `${name}: ` : ''}${msg}`, { cause: e });
}

export function idbShardStore(dbName = DB_NAME): ShardStore {
  if (typeof indexedDB === 'undefined') throw new CacheError('IndexedDB is not available in this context; cannot cache model weights');
  let dbp: Promise<IDBDatabase> | undefined;

  function db(): Promise<IDBDatabase> {
    dbp ??= new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open(dbName, DB_VERSION);
      req.onupgradeneeded = () => {
        const d = req.result;
        for (const s of [SHARDS, FILES, MODELS]) if (!d.objectStoreNames.contains(s)) d.createObjectStore(s);
      };
      req.onsuccess = () => {
        const d = req.result;
        // Let a newer version of the app (another tab) upgrade the schema: close, reopen on next use.
        d.onversionchange = () => {
          d.close();
          dbp = undefined;
        };
        resolve(d);
      };
      req.onerror = () => reject(mapIdbError(req.error, `opening the database "${dbName}"`));
      req.onblocked = () => reject(new CacheError(`the database "${dbName}" is blocked by another tab holding an older version open`));
    });
    dbp.catch(() => {
      dbp = undefined;
    });
    return dbp;
  }

  /** idb-keyval's store accessor shape, over our database. */
  const accessor =
    (storeName: string): UseStore =>
    (mode, callback) =>
      db().then((d) => callback(d.transaction(storeName, mode).objectStore(storeName)));
  const modelsStore = accessor(MODELS);
  const filesStore = accessor(FILES);

  async function guard<T>(what: string, p: () => Promise<T>): Promise<T> {
    try {
      return await p();
    } catch (e) {
      throw mapIdbError(e, what);
    }
  }

  /**
   * Runs `body` in one readwrite transaction over `stores`; resolves with what the body's callbacks left in
   * `out.value` once the transaction has committed (so "resolved" means durable), rejects if it aborted. A
   * callback that throws sets `out.error` and aborts, so its own error (not IndexedDB's AbortError) surfaces.
   */
  async function transact<T>(stores: string[], what: string, body: (t: IDBTransaction, out: TxOut<T>) => void): Promise<T | undefined> {
    const d = await guard(what, db);
    return new Promise<T | undefined>((resolve, reject) => {
      const out: TxOut<T> = { value: undefined, error: undefined };
      let t: IDBTransaction;
      try {
        t = d.transaction(stores, 'readwrite');
        t.oncomplete = () => resolve(out.value);
        t.onabort = () => reject(out.error ?? mapIdbError(t.error, what));
        body(t, out);
      } catch (e) {
        reject(e instanceof QuotaError || e instanceof CacheError ? e : mapIdbError(e, what));
      }
    });
  }

  /** Inside transaction t: reads the file record, applies update, writes it, then runs `then` (more writes). */
  function updateIn(t: IDBTransaction, url: string, update: FileUpdate, then: (next: FileRecord) => void, out: TxOut<FileRecord>): void {
    const files = t.objectStore(FILES);
    const req = files.get(url);
    req.onsuccess = () => {
      try {
        const cur: unknown = req.result;
        const next = update(isFileRecord(cur) ? cur : undefined);
        if (next === undefined) return;
        files.put(next, url);
        then(next);
        out.value = next;
      } catch (e) {
        out.error = e instanceof Error ? e : new CacheError(String(e));
        t.abort();
      }
    };
  }

  return {
    getModel: (url) =>
      guard('reading a model record', async () => {
        const v: unknown = await get(url, modelsStore);
        return isModelRecord(v) ? v : undefined;
      }),
    listModels: () =>
      guard('listing cached models', async () => {
        const vs: unknown[] = await values(modelsStore);
        return vs.filter(isModelRecord);
      }),
    getFile: (url) =>
      guard('reading a file record', async () => {
        const v: unknown = await get(url, filesStore);
        return isFileRecord(v) ? v : undefined;
      }),
    async putModel(model, files) {
      await transact<void>([MODELS, FILES], `saving the records of ${model.url}`, (t) => {
        t.objectStore(MODELS).put(model, model.url);
        for (const f of files) t.objectStore(FILES).put(f, f.url);
      });
    },
    updateFile: (url, update) => transact<FileRecord>([FILES], `updating the record of ${url}`, (t, out) => updateIn(t, url, update, () => {}, out)),
    commitShard(url, index, data, update) {
      return transact<FileRecord>([FILES, SHARDS], `storing shard ${index} of ${url}`, (t, out) =>
        updateIn(
          t,
          url,
          update,
          () => {
            // The Blob copies the bytes, so the caller's buffer can be dropped right after.
            t.objectStore(SHARDS).put(new Blob([data]), [url, index]);
          },
          out,
        ),
      );
    },
    dropShards(url, indices, update) {
      return transact<FileRecord>([FILES, SHARDS], `deleting shards of ${url}`, (t, out) =>
        updateIn(
          t,
          url,
          (cur) => {
            const next = update(cur);
            if (next) for (const i of indices) if (next.shards[i] !== null) throw new CacheError(`${url}: dropShards would leave shard ${i} claimed`);
            return next;
          },
          () => {
            for (const i of indices) t.objectStore(SHARDS).delete([url, i]);
          },
          out,
        ),
      );
    },
    storedShardIndices: (url) =>
      guard(`listing the shards of ${url}`, async () => {
        const d = await db();
        const keys = await promisifyRequest(d.transaction(SHARDS, 'readonly').objectStore(SHARDS).getAllKeys(fileKeyRange(url)));
        const out: number[] = [];
        for (const k of keys) if (Array.isArray(k) && typeof k[1] === 'number') out.push(k[1]);
        return out;
      }),
    readShard: (url, index) =>
      guard(`reading shard ${index} of ${url}`, async () => {
        const d = await db();
        const v: unknown = await promisifyRequest(d.transaction(SHARDS, 'readonly').objectStore(SHARDS).get([url, index]));
        if (!(v instanceof Blob)) return undefined;
        return {
          size: v.size,
          async read(start, length) {
            try {
              return new Uint8Array(await v.slice(start, start + length).arrayBuffer());
            } catch (e) {
              // The Blob's backing file went away (deleted or evicted under us).
              throw new CacheError(`reading shard ${index} of ${url} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
            }
          },
        };
      }),
    async deleteModel(url) {
      const model = await this.getModel(url);
      await transact<void>([MODELS, FILES, SHARDS], `deleting ${url}`, (t) => {
        t.objectStore(MODELS).delete(url);
        for (const f of model?.files ?? []) {
          t.objectStore(FILES).delete(f);
          t.objectStore(SHARDS).delete(fileKeyRange(f));
        }
      });
    },
    async clear() {
      await transact<void>([MODELS, FILES, SHARDS], 'clearing the model cache', (t) => {
        for (const s of [MODELS, FILES, SHARDS]) t.objectStore(s).clear();
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Memory

/** The in-memory store, with a few hooks tests use to simulate eviction, corruption and a full disk. */
export interface MemoryShardStore extends ShardStore {
  /** Called before a shard is stored; throw to simulate a failure (the commit then writes nothing). */
  beforeCommit?: (url: string, index: number) => void;
  shardKeys(): string[];
  /** Removes a shard record behind the manifest's back (eviction). */
  evictShard(url: string, index: number): void;
  /** Flips a byte of a stored shard (storage corruption). */
  corruptShard(url: string, index: number): void;
}

export function memoryShardStore(): MemoryShardStore {
  const models = new Map<string, ModelRecord>();
  const files = new Map<string, FileRecord>();
  const shards = new Map<string, Uint8Array>();
  const key = (url: string, i: number): string => `${url}\n${i}`;

  const store: MemoryShardStore = {
    getModel: (url) => Promise.resolve(models.get(url)),
    listModels: () => Promise.resolve([...models.values()]),
    getFile: (url) => Promise.resolve(files.get(url)),
    putModel(model, fs) {
      models.set(model.url, model);
      for (const f of fs) files.set(f.url, f);
      return Promise.resolve();
    },
    updateFile(url, update) {
      const next = update(files.get(url));
      if (next) files.set(url, next);
      return Promise.resolve(next);
    },
    async commitShard(url, index, data, update) {
      await Promise.resolve();
      const next = update(files.get(url));
      if (!next) return undefined;
      store.beforeCommit?.(url, index);
      shards.set(key(url, index), data.slice());
      files.set(url, next);
      return next;
    },
    dropShards(url, indices, update) {
      const next = update(files.get(url));
      if (!next) return Promise.resolve(undefined);
      for (const i of indices) {
        if (next.shards[i] !== null) return Promise.reject(new CacheError(`${url}: dropShards would leave shard ${i} claimed`));
      }
      for (const i of indices) shards.delete(key(url, i));
      files.set(url, next);
      return Promise.resolve(next);
    },
    storedShardIndices(url) {
      const out: number[] = [];
      for (const k of shards.keys()) {
        const nl = k.lastIndexOf('\n');
        if (k.slice(0, nl) === url) out.push(Number(k.slice(nl + 1)));
      }
      return Promise.resolve(out.sort((a, b) => a - b));
    },
    readShard(url, index) {
      const bytes = shards.get(key(url, index));
      if (!bytes) return Promise.resolve(undefined);
      return Promise.resolve({
        size: bytes.length,
        read: (start: number, length: number) => Promise.resolve(bytes.slice(start, start + length)),
      });
    },
    deleteModel(url) {
      const m = models.get(url);
      models.delete(url);
      for (const f of m?.files ?? []) {
        files.delete(f);
        for (const k of [...shards.keys()]) if (k.startsWith(`${f}\n`)) shards.delete(k);
      }
      return Promise.resolve();
    },
    clear() {
      models.clear();
      files.clear();
      shards.clear();
      return Promise.resolve();
    },
    shardKeys: () => [...shards.keys()],
    evictShard(url, index) {
      shards.delete(key(url, index));
    },
    corruptShard(url, index) {
      const b = shards.get(key(url, index));
      if (b) b[0] ^= 0xff;
    },
  };
  return store;
}
