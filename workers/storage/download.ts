/**
 * @file Downloading one file into the shard store. Missing shards are fetched a few at a time in file order;
 * each is checked (exact length; sha256 against a known per-shard digest when there is one) and committed
 * together with its manifest claim the moment it arrives, so an interrupted download loses at most the shards in
 * flight. When a whole-file sha256 is known but per-shard digests are not, an incremental SHA-256 follows the
 * download in file order (shards finished early wait in memory, bounded by a small window; shards cached by an
 * earlier session are read back from the store), so the file is verified without a second pass over the network.
 */
import type { LoadPhase } from '../protocol.ts';
import { CacheError, IntegrityError } from './errors.ts';
import { fetchShard, type HttpOptions } from './http.ts';
import {
  markComplete,
  missingShards,
  needsWholeFileHash,
  partialBytes,
  planShards,
  RateMeter,
  resetShards,
  shardsToDrop,
  storedBytes,
  withoutShards,
  withPartialShard,
  withShard,
  type FileRecord,
  type ShardSpan,
} from './plan.ts';
import { Sha256, sha256Hex } from './sha256.ts';
import type { ShardStore } from './store.ts';

/** Progress as the UI sees it (same shape as the protocol's LoadProgress, phases download and verify). */
export interface CacheProgress {
  readonly phase: Extract<LoadPhase, 'download' | 'verify'>;
  readonly loaded: number;
  readonly total: number;
  readonly rate?: number;
  readonly etaSeconds?: number;
  /** The file being worked on. */
  readonly file: string;
}

/** Aggregates bytes over all files of a model and throttles callbacks (at most one per `intervalMs`). */
export class ProgressTracker {
  private loaded: number;
  private readonly meter: RateMeter;
  private lastEmit = -Infinity;
  private verifyLoaded = 0;
  private verifyTotal = 0;
  file = '';

  constructor(
    readonly total: number,
    initial: number,
    private readonly onProgress: ((p: CacheProgress) => void) | undefined,
    private readonly now: () => number = () => Date.now(),
    private readonly intervalMs = 100,
  ) {
    this.loaded = initial;
    this.meter = new RateMeter(5000, now);
  }

  /** Bytes received (negative: bytes thrown away, e.g. a corrupt shard). */
  bytes(n: number): void {
    this.loaded += n;
    if (n > 0) this.meter.add(n);
    this.emit('download');
  }

  verify(loaded: number, total: number): void {
    this.verifyLoaded = loaded;
    this.verifyTotal = total;
    this.emit('verify');
  }

  emit(phase: 'download' | 'verify', force = false): void {
    if (!this.onProgress) return;
    const t = this.now();
    if (!force && t - this.lastEmit < this.intervalMs) return;
    this.lastEmit = t;
    if (phase === 'verify') {
      this.onProgress({ phase, loaded: this.verifyLoaded, total: this.verifyTotal, file: this.file });
      return;
    }
    const rate = this.meter.rate();
    const left = Math.max(0, this.total - this.loaded);
    this.onProgress({
      phase,
      loaded: Math.min(this.loaded, this.total),
      total: this.total,
      ...(rate !== undefined ? { rate, etaSeconds: rate > 0 ? left / rate : undefined } : {}),
      file: this.file,
    });
  }
}

/** A one-shot-per-wait notifier: waiters wake on the next `notify()` (or reject on abort). */
class Notifier {
  private waiters: (() => void)[] = [];
  notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  wait(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }
}

export interface FileDownloadOptions {
  readonly http: HttpOptions;
  readonly parallel: number;
  readonly progress: ProgressTracker;
  readonly signal?: AbortSignal;
  readonly now: () => number;
  /** How many times one shard is downloaded again when its digest is wrong, before IntegrityError (default 2). */
  readonly corruptRetries?: number;
}

/** The kept beginning of a paused shard, or undefined (none, or its stored bytes are gone: forgotten then). */
async function keptPrefix(store: ShardStore, rec: FileRecord, index: number): Promise<Uint8Array | undefined> {
  const n = partialBytes(rec, index);
  if (n === 0) return undefined;
  const h = await store.readShard(rec.url, index);
  if (h && h.size === n) {
    const b = await h.read(0, n);
    if (b.length === n) return b;
  }
  return undefined;
}

async function keepPartial(store: ShardStore, rec: FileRecord, index: number, bytes: Uint8Array, now: () => number): Promise<void> {
  await store.commitShard(rec.url, index, bytes.slice(), (cur) =>
    sameGeneration(cur, rec) && cur.shards[index] === null ? withPartialShard(cur, index, bytes.length, now()) : undefined,
  );
}

/** Reads a whole stored shard (for hashing and verification); a missing record is a CacheError. */
export async function readWholeShard(store: ShardStore, rec: FileRecord, index: number): Promise<Uint8Array> {
  const h = await store.readShard(rec.url, index);
  const len = Math.min(rec.shardSize, rec.size - index * rec.shardSize);
  if (!h) throw new CacheError(`${rec.url}: shard ${index} disappeared from the cache while it was in use`);
  if (h.size !== len) throw new CacheError(`${rec.url}: stored shard ${index} has ${h.size} bytes, expected ${len}`);
  return h.read(0, len);
}

/** Drops claimed shards whose records are gone (evicted) or hold the wrong digest; returns the updated record. */
export async function reconcileFile(store: ShardStore, rec: FileRecord, now: () => number): Promise<FileRecord> {
  const drop = shardsToDrop(rec, await store.storedShardIndices(rec.url));
  if (drop.length === 0) return rec;
  const next = await store.dropShards(rec.url, drop, (cur) => (cur ? withoutShards(cur, drop, now()) : undefined));
  return next ?? rec;
}

const sameGeneration = (cur: FileRecord | undefined, rec: FileRecord): cur is FileRecord => cur !== undefined && cur.generation === rec.generation;

/**
 * Fetches one shard and checks it against its known digest; a mismatch is re-fetched, then an IntegrityError.
 * Returns the bytes with their digest, nothing stored.
 */
export async function fetchVerifiedShard(
  rec: FileRecord,
  span: ShardSpan,
  o: Pick<FileDownloadOptions, 'http' | 'corruptRetries'> & {
    onBytes?: (n: number) => void;
    signal?: AbortSignal;
    /** Kept first bytes of the shard (a paused download); dropped if the shard then fails its digest. */
    prefix?: Uint8Array;
    keepOnAbort?: (received: Uint8Array) => void;
  },
): Promise<{ bytes: Uint8Array<ArrayBuffer>; sha256: string }> {
  const want = rec.knownShards[span.index] ?? null;
  const tries = (o.corruptRetries ?? 2) + 1;
  let lastSha = '';
  for (let t = 0; t < tries; t++) {
    const prefix = t === 0 ? o.prefix : undefined;
    const bytes = await fetchShard({ url: rec.url, span, expected: rec, onBytes: o.onBytes, signal: o.signal, prefix, keepOnAbort: o.keepOnAbort }, o.http);
    const sha256 = await sha256Hex(bytes);
    if (want === null || sha256 === want) return { bytes, sha256 };
    lastSha = sha256;
    o.onBytes?.(-bytes.length);
  }
  throw new IntegrityError(
    `${rec.url}: shard ${span.index} (bytes ${span.offset}-${span.offset + span.length - 1}) arrived with sha256 ${lastSha} ` +
      `${tries} times, expected ${want}; nothing was cached for it`,
  );
}

/**
 * Brings one file to 'complete': fetches its missing shards, verifies, commits each as it arrives, then checks
 * the whole-file sha256 when needed. A whole-file mismatch drops every shard and downloads once more; a second
 * mismatch is an IntegrityError (and nothing of the file is kept).
 */
export async function downloadFile(store: ShardStore, start: FileRecord, o: FileDownloadOptions, attempt = 0): Promise<FileRecord> {
  let rec = await reconcileFile(store, start, o.now);
  o.progress.file = rec.name;
  const spans = planShards(rec.size, rec.shardSize);
  const missing = missingShards(rec);
  const missingSet = new Set(missing);
  const hashing = needsWholeFileHash(rec);

  const internal = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, internal.signal]) : internal.signal;
  const changed = new Notifier();
  // In-order hashing state: `hashed` shards fed so far; shards downloaded ahead of it wait in `pending`.
  let hashed = 0;
  let hashedBytes = 0;
  const pending = new Map<number, Uint8Array>();
  const window = o.parallel + 1;
  let downloading = missing.length > 0;

  let nextTask = 0;
  async function worker(): Promise<void> {
    while (nextTask < missing.length) {
      const i = missing[nextTask++];
      // Backpressure: don't run ahead of the hasher by more than the window (bounds memory).
      while (hashing && i >= hashed + window) await changed.wait(signal);
      const span = spans[i];
      const prefix = await keptPrefix(store, rec, i);
      let received: Uint8Array | undefined;
      let fetched: { bytes: Uint8Array<ArrayBuffer>; sha256: string };
      try {
        fetched = await fetchVerifiedShard(rec, span, {
          http: o.http,
          corruptRetries: o.corruptRetries,
          onBytes: (n) => o.progress.bytes(n),
          signal,
          prefix,
          keepOnAbort: (b) => (received = b),
        });
      } catch (e) {
        // Paused mid-shard: keep what arrived (stored under the shard's key, not claimed), so Resume continues.
        if (received && received.length > (prefix?.length ?? 0)) await keepPartial(store, rec, i, received, o.now).catch(() => undefined);
        throw e;
      }
      const { bytes, sha256 } = fetched;
      const next = await store.commitShard(rec.url, i, bytes, (cur) => (sameGeneration(cur, rec) ? withShard(cur, i, sha256, o.now()) : undefined));
      if (!next) throw new CacheError(`${rec.url} was deleted from the cache or restarted while downloading`);
      rec = next;
      if (hashing) {
        pending.set(i, bytes);
        changed.notify();
      }
    }
  }

  async function hasher(): Promise<string> {
    const h = new Sha256();
    while (hashed < spans.length) {
      let bytes = pending.get(hashed);
      if (!bytes) {
        if (missingSet.has(hashed)) {
          await changed.wait(signal);
          continue;
        }
        bytes = await readWholeShard(store, rec, hashed); // cached by an earlier session
      }
      signal.throwIfAborted();
      pending.delete(hashed);
      h.update(bytes);
      hashed++;
      hashedBytes += bytes.length;
      if (!downloading) o.progress.verify(hashedBytes, rec.size);
      changed.notify();
    }
    return h.hex();
  }

  let firstFailure: { error: unknown } | undefined;
  const workers = Array.from({ length: Math.min(o.parallel, missing.length) }, () =>
    worker().catch((e: unknown) => {
      firstFailure ??= { error: e };
      internal.abort(); // the first failure stops the other workers (they keep what they received)
      throw e;
    }),
  );
  // Settle every worker before reporting (a pause must not return while another worker is still storing what
  // it received); then the first failure, if any.
  const all = Promise.allSettled(workers).then(() => {
    downloading = false;
    if (firstFailure) throw firstFailure.error;
  });
  const tasks: Promise<unknown>[] = [all];
  const digest = hashing ? hasher() : undefined;
  if (digest) tasks.push(digest);
  // First failure stops everyone (so a QuotaError does not leave two more shards racing), then surfaces.
  const results = await Promise.allSettled(tasks.map((t) => t.catch((e: unknown) => {
    internal.abort();
    throw e;
  })));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    if (o.signal?.aborted) throw o.signal.reason;
    throw failure.reason;
  }

  let matched = false;
  if (digest) {
    o.progress.verify(rec.size, rec.size);
    o.progress.emit('verify', true);
    const got = await digest;
    if (got !== rec.sha256) {
      const all = rec.shards.map((_, i) => i);
      const reset = await store.dropShards(rec.url, all, (cur) => (sameGeneration(cur, rec) ? resetShards(cur, o.now()) : undefined));
      if (!reset) throw new CacheError(`${rec.url} was deleted from the cache or restarted while downloading`);
      const msg = `${rec.url}: the downloaded file has sha256 ${got}, expected ${rec.sha256} (from ${rec.sha256From ?? 'unknown'})`;
      if (attempt > 0) throw new IntegrityError(`${msg}, again after downloading it a second time; nothing of it was kept`);
      o.progress.bytes(-storedBytes(rec));
      return downloadFile(store, reset, o, attempt + 1);
    }
    matched = true;
  }
  const done = await store.updateFile(rec.url, (cur) => (sameGeneration(cur, rec) ? markComplete(cur, matched, o.now()) : undefined));
  if (!done) throw new CacheError(`${rec.url} was deleted from the cache or restarted while downloading`);
  o.progress.emit('download', true);
  return done;
}

/**
 * Re-fetches one shard that the manifest claims but the store lost (found while reading), checked against the
 * digest it had. The file record keeps its state.
 */
export async function repairShard(store: ShardStore, url: string, index: number, o: Pick<FileDownloadOptions, 'http' | 'now' | 'signal'>): Promise<void> {
  const rec = await store.getFile(url);
  if (!rec) throw new CacheError(`${url} is no longer in the cache`);
  const span = planShards(rec.size, rec.shardSize)[index];
  if (!span) throw new CacheError(`${url}: no shard ${index}`);
  const { bytes, sha256 } = await fetchVerifiedShard(rec, span, { http: o.http, signal: o.signal });
  const next = await store.commitShard(url, index, bytes, (cur) => (sameGeneration(cur, rec) ? withShard(cur, index, sha256, o.now()) : undefined));
  if (!next) throw new CacheError(`${url} was deleted from the cache or restarted while repairing shard ${index}`);
}
