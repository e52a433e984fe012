/**
 * @file The weight cache's public API. The engine calls `cachedModelSource(url)` and gets `ByteSource`s that
 * read from IndexedDB (downloading, verifying and resuming first as needed); the Models page uses the
 * management calls (list, delete, clear, verify, persist). A model URL is a GGUF, the first file of a llama.cpp
 * split set (`name-00001-of-0000n.gguf`: the siblings are derived from the name), or one of our
 * `manifest.json` files (public/models/<name>/manifest.json: file names, sizes and sha256s).
 *
 * Offline first: a model whose files are all complete in the cache opens without any network request (pass
 * `revalidate: true` to check upstream validators anyway). Pause = abort the signal; resume = call again.
 */
import type { ByteSource } from '../gguf/byteSource.ts';
import { baseName, parseSplitName } from '../gguf/model.ts';
import { downloadFile, ProgressTracker, readWholeShard, reconcileFile, repairShard, type CacheProgress } from './download.ts';
import { CacheError, DownloadError, ModelChangedError, QuotaError } from './errors.ts';
import { probeRemote, type HttpOptions } from './http.ts';
import {
  DEFAULT_SHARD_SIZE,
  keptBytes,
  modelFileUrls,
  newFileRecord,
  normalizeUrl,
  parseModelManifest,
  shardsToDrop,
  siblingUrl,
  storedBytes,
  validatorChange,
  withoutShards,
  type DigestSource,
  type FileRecord,
  type ManifestFile,
  type ModelManifest,
  type ModelRecord,
  type RemoteFileInfo,
  type Verification,
} from './plan.ts';
import { isSha256Hex, sha256Hex } from './sha256.ts';
import { cachedFileSource } from './source.ts';
import { idbShardStore, type ShardStore } from './store.ts';

export type { CacheProgress } from './download.ts';

/** Where the demo model ships, relative to the app's base URL. */
export const DEMO_MODEL_MANIFEST = 'models/brix-demo-30m/manifest.json';

export interface StoreOptions {
  /** Defaults to the IndexedDB store (database `brix-weights`). */
  readonly store?: ShardStore;
}

export interface CacheOptions extends HttpOptions, StoreOptions {
  /** Shard size for new downloads (default 16 MiB); a partly cached file keeps the size it was started with. */
  readonly shardSize?: number;
  /** Shards downloaded at once (default 3). */
  readonly parallel?: number;
  /** Expected sha256 of a single-file model (for split sets, use a manifest). */
  readonly sha256?: string;
  /** A Brix model manifest for a GGUF URL (when the URL itself is not the manifest). */
  readonly manifestUrl?: string;
  /** What to do when the file upstream differs from the cached one: 'error' (default) or start over. */
  readonly ifChanged?: 'error' | 'redownload';
  /** Check upstream validators even when the model is complete in the cache (needs the network). */
  readonly revalidate?: boolean;
  readonly onProgress?: (p: CacheProgress) => void;
  readonly signal?: AbortSignal;
  /** Storage estimate for the quota check (default navigator.storage.estimate; undefined = unknown, no check). */
  readonly estimate?: () => Promise<{ quota?: number; usage?: number } | undefined>;
  /** Base for relative URLs (default: the page's or worker's location). */
  readonly baseUrl?: string;
  /** Clock (ms) and id source, for tests. */
  readonly now?: () => number;
  readonly newId?: () => string;
}

export interface CachedFileInfo {
  readonly url: string;
  readonly name: string;
  readonly size: number;
  readonly storedBytes: number;
  readonly state: 'partial' | 'complete' | 'missing';
  readonly verified: Verification | null;
}

export interface CachedModelInfo {
  readonly url: string;
  readonly name: string;
  readonly state: 'partial' | 'complete';
  /** Sum of the file sizes (of the files known so far). */
  readonly totalBytes: number;
  readonly storedBytes: number;
  readonly files: readonly CachedFileInfo[];
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface CachedModelSource {
  /** The model's first (or only) GGUF file. */
  readonly first: ByteSource;
  /** Another file of the model by base name (what `openGgufModel` asks for split parts). */
  openSibling(name: string): Promise<ByteSource>;
  readonly info: CachedModelInfo;
}

let defaultStore: ShardStore | undefined;
function storeOf(o: StoreOptions): ShardStore {
  if (o.store) return o.store;
  defaultStore ??= idbShardStore();
  return defaultStore;
}

function baseHref(o: { baseUrl?: string }): string | undefined {
  return o.baseUrl ?? (typeof location !== 'undefined' ? location.href : undefined);
}

const isManifestUrl = (url: string): boolean => /\.json$/i.test(new URL(url).pathname);

/** The display name of a model: the manifest's, else the first file's name without split suffix and extension. */
function modelName(url: string, manifest: ModelManifest | undefined): string {
  if (manifest) return manifest.name;
  const split = parseSplitName(baseName(url));
  return (split ? baseName(split.prefix) : baseName(url)).replace(/\.gguf$/i, '');
}

/** Fetches and validates a Brix model manifest (small; retried like everything else). */
export async function fetchModelManifest(url: string, opts: HttpOptions & { signal?: AbortSignal } = {}): Promise<ModelManifest> {
  const doFetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
  let res: Response;
  try {
    res = await doFetch(url, { headers: opts.headers, signal: opts.signal, cache: 'no-cache' });
  } catch (e) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw new DownloadError(`${url}: fetching the model manifest failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (!res.ok) throw new DownloadError(`${url}: HTTP ${res.status} ${res.statusText} for the model manifest`, { status: res.status });
  let json: unknown;
  try {
    json = await res.json();
  } catch (e) {
    throw new DownloadError(`${url}: the model manifest is not valid JSON`, { cause: e });
  }
  return parseModelManifest(json, url);
}

function fileInfo(url: string, rec: FileRecord | undefined): CachedFileInfo {
  return rec
    ? { url, name: rec.name, size: rec.size, storedBytes: keptBytes(rec), state: rec.state, verified: rec.verified }
    : { url, name: baseName(url), size: 0, storedBytes: 0, state: 'missing', verified: null };
}

function modelInfo(model: ModelRecord, recs: readonly (FileRecord | undefined)[]): CachedModelInfo {
  const files = model.files.map((u, i) => fileInfo(u, recs[i]));
  return {
    url: model.url,
    name: model.name,
    state: files.every((f) => f.state === 'complete') ? 'complete' : 'partial',
    totalBytes: files.reduce((s, f) => s + f.size, 0),
    storedBytes: files.reduce((s, f) => s + f.storedBytes, 0),
    files,
    createdAt: model.createdAt,
    updatedAt: model.updatedAt,
  };
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
function fmtBytes(n: number): string {
  return n >= GiB ? `${(n / GiB).toFixed(2)} GiB` : `${(n / MiB).toFixed(1)} MiB`;
}

async function defaultEstimate(): Promise<{ quota?: number; usage?: number } | undefined> {
  if (typeof navigator === 'undefined' || typeof navigator.storage?.estimate !== 'function') return undefined;
  return navigator.storage.estimate();
}

/** Refuses (QuotaError) when `needed` more bytes do not fit what the browser says is free for this origin. */
export async function checkQuota(needed: number, estimate: CacheOptions['estimate'] = defaultEstimate): Promise<void> {
  if (needed <= 0) return;
  let est: { quota?: number; usage?: number } | undefined;
  try {
    est = await estimate();
  } catch {
    return; // no estimate: nothing to check against; a full disk still surfaces as QuotaError mid-download
  }
  if (!est || typeof est.quota !== 'number' || typeof est.usage !== 'number') return;
  const available = Math.max(0, est.quota - est.usage);
  if (needed > available) {
    throw new QuotaError(
      `the model needs ${fmtBytes(needed)} more storage but the browser allows only ${fmtBytes(available)} more for this site; ` +
        'delete cached models or free disk space. Nothing was downloaded.',
      { neededBytes: needed, availableBytes: available },
    );
  }
}

/** The expected whole-file digest for one file and where it came from. */
function expectedDigest(
  index: number,
  entry: ManifestFile | undefined,
  remote: RemoteFileInfo,
  o: CacheOptions,
  fileCount: number,
): { sha256: string | null; from: DigestSource | null } {
  if (entry) return { sha256: entry.sha256, from: 'manifest' };
  if (o.sha256 !== undefined && index === 0 && fileCount === 1) return { sha256: o.sha256.toLowerCase(), from: 'option' };
  if (remote.linkedSha256) return { sha256: remote.linkedSha256, from: 'x-linked-etag' };
  return { sha256: null, from: null };
}

interface Ensured {
  readonly model: ModelRecord;
  readonly files: readonly FileRecord[];
}

/**
 * Makes sure every file of the model is complete in the cache: nothing to do when it already is (no network);
 * otherwise probe, detect upstream changes, check the quota, then download the missing shards.
 */
async function ensureModel(url: string, o: CacheOptions): Promise<Ensured> {
  const store = storeOf(o);
  const now = o.now ?? Date.now;
  const newId = o.newId ?? (() => crypto.randomUUID());
  const signal = o.signal;
  if (o.sha256 !== undefined && !isSha256Hex(o.sha256.toLowerCase())) throw new DownloadError(`sha256 option is not a sha256 hex digest: ${o.sha256}`);
  const modelUrl = normalizeUrl(url, baseHref(o));

  let model = await store.getModel(modelUrl);
  let manifest: ModelManifest | undefined;
  const manifestUrl = o.manifestUrl !== undefined ? normalizeUrl(o.manifestUrl, baseHref(o)) : isManifestUrl(modelUrl) ? modelUrl : undefined;
  if (!model && manifestUrl) manifest = await fetchModelManifest(manifestUrl, { ...o, signal });
  const fileUrls: string[] = model
    ? [...model.files]
    : manifest && manifestUrl === modelUrl
      ? manifest.files.map((f) => siblingUrl(modelUrl, f.name))
      : modelFileUrls(modelUrl);

  // Catch evicted or tampered shards before deciding anything.
  const recs: (FileRecord | undefined)[] = [];
  for (const f of fileUrls) {
    const r = await store.getFile(f);
    recs.push(r ? await reconcileFile(store, r, now) : undefined);
  }
  if (model && !o.revalidate && recs.every((r) => r?.state === 'complete')) {
    return { model, files: recs.filter((r): r is FileRecord => r !== undefined) };
  }

  // From here on the network is needed.
  if (!manifest && manifestUrl) manifest = await fetchModelManifest(manifestUrl, { ...o, signal });
  if (manifest && manifestUrl === modelUrl) {
    const names = manifest.files.map((f) => f.name).join(', ');
    const have = fileUrls.map((f) => baseName(f)).join(', ');
    if (names !== have) {
      if (o.ifChanged !== 'redownload') {
        throw new ModelChangedError(`${modelUrl} changed upstream: it now lists ${names}, the cached model has ${have}`, { url: modelUrl });
      }
      await store.deleteModel(modelUrl);
      return ensureModel(url, o);
    }
  }
  const entries = fileUrls.map((f) => manifest?.files.find((m) => m.name === baseName(f)));
  const toProbe = fileUrls.map((_, i) => o.revalidate === true || recs[i]?.state !== 'complete');
  const remotes = await Promise.all(fileUrls.map((f, i) => (toProbe[i] ? probeRemote(f, o, signal) : Promise.resolve(undefined))));

  const shardSize = o.shardSize ?? DEFAULT_SHARD_SIZE;
  const replaced: FileRecord[] = []; // records to write
  const fresh = new Set<string>(); // files started over: their old shard records go
  let needed = 0;
  for (let i = 0; i < fileUrls.length; i++) {
    const remote = remotes[i];
    if (!remote) continue;
    const entry = entries[i];
    if (entry && entry.size !== remote.size) {
      throw new ModelChangedError(`${fileUrls[i]}: the model manifest says ${entry.size} bytes but the server has ${remote.size}`, { url: fileUrls[i] });
    }
    const digest = expectedDigest(i, entry, remote, o, fileUrls.length);
    let rec = recs[i];
    if (rec) {
      const change =
        validatorChange(rec, remote) ??
        (rec.sha256 !== null && digest.sha256 !== null && rec.sha256 !== digest.sha256 ? `its sha256 changed from ${rec.sha256} to ${digest.sha256}` : undefined);
      if (change !== undefined) {
        if (o.ifChanged !== 'redownload') {
          throw new ModelChangedError(
            `${rec.url} changed upstream (${change}); the cached copy (${fmtBytes(storedBytes(rec))} of ${fmtBytes(rec.size)}) ` +
              'was kept and nothing was mixed. Delete the cached model to download the new version.',
            { url: rec.url },
          );
        }
        rec = undefined;
      }
    }
    if (!rec) {
      const manifestShards = entry?.shardSize === shardSize && entry.shardSha256 ? entry.shardSha256 : null;
      rec = newFileRecord({
        url: fileUrls[i],
        generation: newId(),
        modelUrl,
        remote,
        shardSize,
        sha256: digest.sha256,
        sha256From: digest.from,
        manifestShards,
        now: now(),
      });
      replaced.push(rec);
      fresh.add(rec.url);
    } else if (rec.sha256 === null && digest.sha256 !== null) {
      // A digest became known (e.g. a manifest given this time): check the file against it from now on.
      rec = { ...rec, sha256: digest.sha256, sha256From: digest.from };
      replaced.push(rec);
    }
    recs[i] = rec;
    if (rec.state !== 'complete') needed += rec.size - keptBytes(rec);
  }

  await checkQuota(needed, o.estimate);

  const t = now();
  model = { version: 1, url: modelUrl, name: modelName(fileUrls[0], manifest), files: fileUrls, createdAt: model?.createdAt ?? t, updatedAt: t };
  for (const r of replaced) {
    if (!fresh.has(r.url)) continue;
    // Start over cleanly: shard records of a replaced (changed) file, or orphans, must not linger.
    const old = await store.storedShardIndices(r.url);
    if (old.length > 0) await store.dropShards(r.url, old, () => r);
  }
  await store.putModel(model, replaced);

  const total = recs.reduce((s, r) => s + (r?.size ?? 0), 0);
  const initial = recs.reduce((s, r) => s + (r ? keptBytes(r) : 0), 0);
  const progress = new ProgressTracker(total, initial, o.onProgress, now);
  progress.emit('download', true);
  const done: FileRecord[] = [];
  for (const r of recs) {
    if (!r) throw new CacheError(`internal: no record for a file of ${modelUrl}`);
    done.push(
      r.state === 'complete'
        ? r
        : await downloadFile(store, r, { http: o, parallel: Math.max(1, o.parallel ?? 3), progress, signal, now }),
    );
  }
  return { model, files: done };
}

/**
 * ensureModel under a Web Lock named after the model, so two loads of one model (two tabs, the Models page and
 * the engine) do not download it twice or restart each other's files: the second waits, then finds it cached.
 * Where Web Locks are missing (Node), it runs unlocked; the per-file generation check still keeps records sane.
 */
async function ensureModelLocked(url: string, o: CacheOptions): Promise<Ensured> {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (!locks || o.store) return ensureModel(url, o);
  const name = `brix-weights:${normalizeUrl(url, baseHref(o))}`;
  try {
    return await locks.request(name, o.signal ? { signal: o.signal } : {}, () => ensureModel(url, o));
  } catch (e) {
    if (o.signal?.aborted) throw o.signal.reason;
    throw e;
  }
}

/** Downloads (or resumes) a model into the cache without opening it: the Models page's "download" button. */
export async function downloadModel(url: string, opts: CacheOptions = {}): Promise<CachedModelInfo> {
  const { model, files } = await ensureModelLocked(url, opts);
  return modelInfo(model, files);
}

/**
 * The model's files as ByteSources reading from the cache, after downloading or resuming whatever is missing.
 * Use with `openGgufModel(first, openSibling)`.
 */
export async function cachedModelSource(url: string, opts: CacheOptions = {}): Promise<CachedModelSource> {
  const store = storeOf(opts);
  const { model, files } = await ensureModelLocked(url, opts);
  const now = opts.now ?? Date.now;
  const sources = new Map<string, ByteSource>();
  for (const rec of files) {
    sources.set(
      rec.name,
      cachedFileSource(store, rec, {
        repair: (index, signal) => repairShard(store, rec.url, index, { http: opts, now, signal: signal ?? opts.signal }),
        // Stored bytes are checked against their recorded digest as the engine streams them (a corrupt shard of
        // the right size would otherwise load).
        verify: true,
        now,
      }),
    );
  }
  const first = sources.get(files[0].name);
  if (!first) throw new CacheError(`internal: ${model.url} has no first file`);
  return {
    first,
    openSibling(name) {
      const s = sources.get(baseName(name));
      if (s) return Promise.resolve(s);
      return Promise.reject(new CacheError(`${model.url}: "${name}" is not one of the model's files (${[...sources.keys()].join(', ')})`));
    },
    info: modelInfo(model, files),
  };
}

/** Every cached model (complete or partial) with sizes from what the store really holds. */
export async function listCachedModels(opts: StoreOptions = {}): Promise<CachedModelInfo[]> {
  const store = storeOf(opts);
  const out: CachedModelInfo[] = [];
  for (const m of await store.listModels()) {
    const recs: (FileRecord | undefined)[] = [];
    for (const f of m.files) {
      const r = await store.getFile(f);
      // Report evicted shards as missing (without writing: listing must not change anything).
      const drop = r ? shardsToDrop(r, await store.storedShardIndices(f)) : [];
      recs.push(r && drop.length > 0 ? withoutShards(r, drop, r.updatedAt) : r);
    }
    out.push(modelInfo(m, recs));
  }
  return out.sort((a, b) => b.updatedAt - a.updatedAt);
}

/** Deletes a cached model and frees its records. False when it was not cached. */
export async function deleteCachedModel(url: string, opts: StoreOptions & { baseUrl?: string } = {}): Promise<boolean> {
  const store = storeOf(opts);
  const key = normalizeUrl(url, baseHref(opts));
  if (!(await store.getModel(key))) return false;
  await store.deleteModel(key);
  return true;
}

export async function clearModelCache(opts: StoreOptions = {}): Promise<void> {
  await storeOf(opts).clear();
}

/**
 * Re-hashes every stored shard of a model against the digest recorded when it was stored; corrupt shards are
 * dropped (the next load fetches them again). Returns how many shards were checked and dropped.
 */
export async function verifyCachedModel(
  url: string,
  opts: StoreOptions & { baseUrl?: string; signal?: AbortSignal; onProgress?: (p: CacheProgress) => void; now?: () => number } = {},
): Promise<{ checkedShards: number; droppedShards: number }> {
  const store = storeOf(opts);
  const now = opts.now ?? Date.now;
  const model = await store.getModel(normalizeUrl(url, baseHref(opts)));
  if (!model) throw new CacheError(`${url} is not in the cache`);
  let checked = 0;
  let dropped = 0;
  const recs: FileRecord[] = [];
  for (const f of model.files) {
    const r = await store.getFile(f);
    if (r) recs.push(await reconcileFile(store, r, now));
  }
  const total = recs.reduce((s, r) => s + storedBytes(r), 0);
  let done = 0;
  for (const rec of recs) {
    const bad: number[] = [];
    for (let i = 0; i < rec.shards.length; i++) {
      const want = rec.shards[i];
      if (want === null) continue;
      opts.signal?.throwIfAborted();
      const bytes = await readWholeShard(store, rec, i);
      if ((await sha256Hex(bytes)) !== want) bad.push(i);
      checked++;
      done += bytes.length;
      opts.onProgress?.({ phase: 'verify', loaded: done, total, file: rec.name });
    }
    if (bad.length > 0) {
      await store.dropShards(rec.url, bad, (cur) => (cur ? withoutShards(cur, bad, now()) : undefined));
      dropped += bad.length;
    }
  }
  return { checkedShards: checked, droppedShards: dropped };
}

/**
 * Asks the browser to keep this origin's storage under pressure (no eviction of the cached models). Call it
 * from the page (StorageManager.persist is not available in workers). False when refused or unsupported.
 */
export async function requestPersistentStorage(): Promise<boolean> {
  if (typeof navigator === 'undefined' || typeof navigator.storage?.persist !== 'function') return false;
  try {
    if (typeof navigator.storage.persisted === 'function' && (await navigator.storage.persisted())) return true;
    return await navigator.storage.persist();
  } catch {
    return false;
  }
}

/** Whether this origin's storage is already persistent (no prompt). */
export async function storagePersisted(): Promise<boolean> {
  if (typeof navigator === 'undefined' || typeof navigator.storage?.persisted !== 'function') return false;
  return navigator.storage.persisted().catch(() => false);
}

/** The browser's storage estimate for this origin, or undefined where there is none. */
export async function storageEstimate(): Promise<{ usage: number; quota: number } | undefined> {
  const e = await defaultEstimate().catch(() => undefined);
  if (!e || typeof e.quota !== 'number' || typeof e.usage !== 'number') return undefined;
  return { usage: e.usage, quota: e.quota };
}
