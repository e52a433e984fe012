/**
 * @file Weight cache end to end in Node, over the in-memory store and a fake Range server: a model downloads
 * in shards and opens with openGgufModel; it opens again offline; a failed download resumes fetching only the
 * missing shards (bytes counted); corrupt shards are caught (per-shard digests from a manifest, or the whole-file
 * sha256 from X-Linked-ETag); a changed upstream file is a ModelChangedError; the quota is checked before any
 * download and a quota failure midway leaves the manifest claiming only stored shards; evicted shards are fetched
 * again (at load and at read time); list/delete/clear/verify; abort and resume; split sets.
 */
import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { GgmlType } from '../../workers/gguf/ggmlTypes.ts';
import { openGgufModel, splitFileName } from '../../workers/gguf/model.ts';
import { kv, writeGgufToBytes, type GgufTensorSpec } from '../../workers/gguf/writer.ts';
import {
  cachedModelSource,
  clearModelCache,
  deleteCachedModel,
  downloadModel,
  listCachedModels,
  verifyCachedModel,
  type CacheOptions,
  type CacheProgress,
} from '../../workers/storage/cache.ts';
import { DownloadError, IntegrityError, ModelChangedError, QuotaError } from '../../workers/storage/errors.ts';
import { shardCount } from '../../workers/storage/plan.ts';
import { memoryShardStore, type MemoryShardStore } from '../../workers/storage/store.ts';
import { FakeRangeServer, once } from '../e2e/server/rangeFaults.ts';

const SHARD = 16 * 1024;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
/** Byte equality by digest (vitest's deep equality walks typed arrays element by element: slow). */
function expectBytes(got: Uint8Array, want: Uint8Array, what = 'bytes'): void {
  expect(got.length, what).toBe(want.length);
  expect(sha(got), what).toBe(sha(want));
}

function filled(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + seed * 17 + (i >> 8)) & 0xff;
  return b;
}

type T = GgufTensorSpec & { data: Uint8Array };
const TENSORS: T[] = [
  { name: 'a.weight', dims: [256, 64], type: GgmlType.F32, data: filled(256 * 64 * 4, 1) },
  { name: 'b.weight', dims: [128, 100], type: GgmlType.F32, data: filled(128 * 100 * 4, 2) },
  { name: 'c.weight', dims: [64, 30], type: GgmlType.F32, data: filled(64 * 30 * 4, 3) },
  { name: 'd.weight', dims: [1000], type: GgmlType.F32, data: filled(1000 * 4, 4) },
];

let MODEL: Uint8Array;
const PARTS = new Map<string, Uint8Array>();

beforeEach(async () => {
  if (MODEL) return;
  MODEL = await writeGgufToBytes([kv.string('general.architecture', 'llama'), kv.string('general.name', 'tiny')], TENSORS);
  const halves = [TENSORS.slice(0, 2), TENSORS.slice(2)];
  for (let i = 0; i < 2; i++) {
    const split = [kv.u16('split.no', i), kv.u16('split.count', 2), kv.i32('split.tensors.count', TENSORS.length)];
    const kvs = i === 0 ? [kv.string('general.architecture', 'llama'), ...split] : split;
    PARTS.set(splitFileName('tiny', i, 2), await writeGgufToBytes(kvs, halves[i]));
  }
});

const BASE = 'https://models.test/m/';
const URL1 = `${BASE}model.gguf`;

interface Ctx {
  srv: FakeRangeServer;
  store: MemoryShardStore;
  opts: (extra?: Partial<CacheOptions>) => CacheOptions;
}

function setup(files: Record<string, Uint8Array> = { 'model.gguf': MODEL }): Ctx {
  const srv = new FakeRangeServer(4096);
  for (const [name, bytes] of Object.entries(files)) srv.files.set(name, { bytes, etag: '"v1"' });
  const store = memoryShardStore();
  const opts = (extra: Partial<CacheOptions> = {}): CacheOptions => ({
    store,
    fetch: srv.fetch,
    shardSize: SHARD,
    parallel: 3,
    retries: 2,
    retryBaseMs: 1,
    sleep: () => Promise.resolve(),
    estimate: () => Promise.resolve(undefined),
    ...extra,
  });
  return { srv, store, opts };
}

/** Opens the cached model with the GGUF reader and checks every tensor's bytes. */
async function loadAndCheck(c: Ctx, url = URL1, extra: Partial<CacheOptions> = {}): Promise<void> {
  const src = await cachedModelSource(url, c.opts(extra));
  const m = await openGgufModel(src.first, (n) => src.openSibling(n));
  expect(m.tensors.map((t) => t.name)).toEqual(TENSORS.map((t) => t.name));
  for (const t of TENSORS) expectBytes(await m.readTensor(m.requireTensor(t.name)), t.data, t.name);
}

/** Body bytes of shard requests (the 1-byte probes and manifest fetches excluded). */
const shardBytes = (srv: FakeRangeServer): number =>
  srv.log.filter((e) => e.range.startsWith('bytes=') && e.range !== 'bytes=0-0').reduce((s, e) => s + e.sent, 0);

describe('download, open, reopen offline', () => {
  it('downloads in shards, serves ranges across shards, then opens with no network at all', async () => {
    const c = setup();
    const progress: CacheProgress[] = [];
    await loadAndCheck(c, URL1, { onProgress: (p) => progress.push(p) });
    expect(shardBytes(c.srv)).toBe(MODEL.length);
    expect(c.store.shardKeys()).toHaveLength(shardCount(MODEL.length, SHARD));
    const last = progress[progress.length - 1];
    expect(last).toMatchObject({ phase: 'download', loaded: MODEL.length, total: MODEL.length });

    const src = await cachedModelSource(URL1, c.opts());
    expectBytes(await src.first.read(SHARD - 10, 2 * SHARD + 20), MODEL.slice(SHARD - 10, 3 * SHARD + 10));
    await expect(src.first.read(MODEL.length - 1, 2)).rejects.toThrow(/past the end/);

    c.srv.clearLog();
    c.srv.down = true;
    await loadAndCheck(c);
    expect(c.srv.log).toEqual([]);
    const [info] = await listCachedModels({ store: c.store });
    expect(info).toMatchObject({ url: URL1, name: 'model', state: 'complete', totalBytes: MODEL.length, storedBytes: MODEL.length });
    expect(info.files[0].verified).toBe('unverified');
  });

  it('opens a split set by its first file and reads tensors from both parts', async () => {
    const c = setup(Object.fromEntries(PARTS));
    const first = `${BASE}${splitFileName('tiny', 0, 2)}`;
    await loadAndCheck(c, first);
    const [info] = await listCachedModels({ store: c.store });
    expect(info.name).toBe('tiny');
    expect(info.files.map((f) => f.name)).toEqual([...PARTS.keys()]);
    expect(info.totalBytes).toBe([...PARTS.values()].reduce((s, b) => s + b.length, 0));
    const src = await cachedModelSource(first, c.opts());
    await expect(src.openSibling('other.gguf')).rejects.toThrow(/not one of the model's files/);
  });
});

describe('resume', () => {
  it('after a failed download, fetches exactly the missing shards', async () => {
    const c = setup();
    const cutoff = 5 * SHARD;
    c.srv.rules = [(r) => (r.nth > 0 && c.srv.bytesSent() >= cutoff ? { kind: 'network' } : undefined)];
    await expect(cachedModelSource(URL1, c.opts())).rejects.toBeInstanceOf(DownloadError);
    const [partial] = await listCachedModels({ store: c.store });
    expect(partial.state).toBe('partial');
    // Shards in flight when the last retry failed are lost (never stored half); completed ones are kept.
    expect(partial.storedBytes).toBeGreaterThanOrEqual(2 * SHARD);
    expect(partial.storedBytes).toBeLessThan(MODEL.length);
    expect(c.store.shardKeys().length * SHARD).toBe(partial.storedBytes);

    c.srv.rules = [];
    c.srv.clearLog();
    await loadAndCheck(c);
    expect(shardBytes(c.srv)).toBe(MODEL.length - partial.storedBytes);
  });

  it('abort stops the download; calling again resumes', async () => {
    const c = setup();
    const ctl = new AbortController();
    c.srv.onChunk = () => {
      if (c.srv.bytesSent() > 4 * SHARD) ctl.abort(new DOMException('paused', 'AbortError'));
    };
    const err = await downloadModel(URL1, c.opts({ signal: ctl.signal })).catch((e: unknown) => e);
    expect((err as DOMException).name).toBe('AbortError');
    c.srv.onChunk = undefined;
    const [partial] = await listCachedModels({ store: c.store });
    expect(partial.state).toBe('partial');
    c.srv.clearLog();
    const info = await downloadModel(URL1, c.opts());
    expect(info.state).toBe('complete');
    expect(shardBytes(c.srv)).toBe(MODEL.length - partial.storedBytes);
    await loadAndCheck(c);
  });
});

describe('pause keeps partly downloaded shards', () => {
  it('pausing mid-shard keeps every byte received; resume asks only for the rest and the card size is true', async () => {
    const c = setup();
    const ctl = new AbortController();
    const pauseAt = 2 * SHARD + SHARD / 2;
    c.srv.onChunk = () => {
      if (c.srv.bytesSent() >= pauseAt) ctl.abort(new DOMException('paused', 'AbortError'));
    };
    const err = await downloadModel(URL1, c.opts({ signal: ctl.signal })).catch((e: unknown) => e);
    expect((err as DOMException).name).toBe('AbortError');
    c.srv.onChunk = undefined;
    const before = shardBytes(c.srv);
    const [partial] = await listCachedModels({ store: c.store });
    expect(partial.state).toBe('partial');
    // Three shards were in flight at once: with whole shards only, next to nothing would be kept.
    expect(partial.storedBytes).toBe(before);
    expect(partial.storedBytes).toBeGreaterThanOrEqual(pauseAt);
    c.srv.clearLog();
    const info = await downloadModel(URL1, c.opts());
    expect(info.state).toBe('complete');
    expect(before + shardBytes(c.srv)).toBe(MODEL.length);
    // The shards begun before the pause continue from their kept bytes, not from their first byte.
    expect(c.srv.log.some((e) => e.start % SHARD !== 0 && e.range !== 'bytes=0-0')).toBe(true);
    await loadAndCheck(c);
  });

  it('a kept beginning that then fails the shard digest is thrown away and the shard fetched whole', async () => {
    const shards: string[] = [];
    for (let o = 0; o < MODEL.length; o += SHARD) shards.push(sha(MODEL.subarray(o, o + SHARD)));
    const m = { format: 'brix-model-manifest', version: 1, name: 'tiny-demo', files: [{ name: 'model.gguf', size: MODEL.length, sha256: sha(MODEL), shardSize: SHARD, shardSha256: shards }] };
    const c = setup({ 'model.gguf': MODEL, 'manifest.json': new TextEncoder().encode(JSON.stringify(m)) });
    const bad = 100;
    c.srv.rules = [once((r) => r.start <= bad && bad <= r.end, { kind: 'corrupt', offsets: [bad] })];
    const ctl = new AbortController();
    c.srv.onChunk = () => {
      if (c.srv.bytesSent() >= SHARD) ctl.abort(new DOMException('paused', 'AbortError'));
    };
    await downloadModel(`${BASE}manifest.json`, c.opts({ signal: ctl.signal })).catch(() => undefined);
    c.srv.onChunk = undefined;
    await loadAndCheck(c, `${BASE}manifest.json`);
  });
});

/** A Brix model manifest for the given files (whole-file digests only). */
function manifestOf(files: [string, Uint8Array][]): Uint8Array {
  const m = { format: 'brix-model-manifest', version: 1, name: 'm', files: files.map(([name, b]) => ({ name, size: b.length, sha256: sha(b) })) };
  return new TextEncoder().encode(JSON.stringify(m));
}

describe('integrity', () => {
  function manifestFor(name: string, bytes: Uint8Array, shardSize: number): Uint8Array {
    const shards: string[] = [];
    for (let o = 0; o < bytes.length; o += shardSize) shards.push(sha(bytes.subarray(o, o + shardSize)));
    const m = { format: 'brix-model-manifest', version: 1, name: 'tiny-demo', files: [{ name, size: bytes.length, sha256: sha(bytes), shardSize, shardSha256: shards }] };
    return new TextEncoder().encode(JSON.stringify(m));
  }

  it('a shard corrupted in transit fails its manifest digest and is fetched again, alone', async () => {
    const c = setup({ 'model.gguf': MODEL, 'manifest.json': manifestFor('model.gguf', MODEL, SHARD) });
    const bad = 3 * SHARD + 100;
    c.srv.rules = [once((r) => r.start <= bad && bad <= r.end, { kind: 'corrupt', offsets: [bad] })];
    await loadAndCheck(c, `${BASE}manifest.json`);
    expect(shardBytes(c.srv)).toBe(MODEL.length + SHARD);
    const again = c.srv.log.filter((e) => e.start === 3 * SHARD);
    expect(again.map((e) => e.fault)).toEqual(['corrupt', null]);
    const [info] = await listCachedModels({ store: c.store });
    expect(info).toMatchObject({ name: 'tiny-demo', state: 'complete' });
    expect(info.files[0].verified).toBe('sha256');
  });

  it('keeps failing digests out of the cache and says so', async () => {
    const c = setup({ 'model.gguf': MODEL, 'manifest.json': manifestFor('model.gguf', MODEL, SHARD) });
    const bad = 2 * SHARD;
    c.srv.rules = [once((r) => r.start <= bad && bad <= r.end, { kind: 'corrupt', offsets: [bad] }, 100)];
    await expect(downloadModel(`${BASE}manifest.json`, c.opts())).rejects.toBeInstanceOf(IntegrityError);
    expect(c.store.shardKeys().some((k) => k.endsWith('\n2'))).toBe(false);
  });

  it('checks the whole-file sha256 from X-Linked-ETag incrementally, and re-downloads once on mismatch', async () => {
    const c = setup();
    c.srv.files.set('model.gguf', { bytes: MODEL, etag: '"v1"', linkedEtag: `"${sha(MODEL)}"` });
    const bad = 4 * SHARD + 7;
    c.srv.rules = [once((r) => r.start <= bad && bad <= r.end, { kind: 'corrupt', offsets: [bad] })];
    const progress: CacheProgress[] = [];
    await loadAndCheck(c, URL1, { onProgress: (p) => progress.push(p) });
    // No per-shard truth: the mismatch is found at the end and the file is fetched once more.
    expect(shardBytes(c.srv)).toBe(2 * MODEL.length);
    expect(progress.some((p) => p.phase === 'verify' && p.loaded === p.total)).toBe(true);
    const [info] = await listCachedModels({ store: c.store });
    expect(info.files[0].verified).toBe('sha256');
  });

  it('a whole-file digest that never matches is an IntegrityError and nothing is kept', async () => {
    const c = setup();
    c.srv.files.set('model.gguf', { bytes: MODEL, etag: '"v1"', linkedEtag: `"${'0'.repeat(64)}"` });
    await expect(downloadModel(URL1, c.opts())).rejects.toBeInstanceOf(IntegrityError);
    expect(c.store.shardKeys()).toEqual([]);
    expect(shardBytes(c.srv)).toBe(2 * MODEL.length);
  });

  it('hashes shards cached by an earlier session when resuming a digest-checked file', async () => {
    const c = setup();
    c.srv.files.set('model.gguf', { bytes: MODEL, etag: '"v1"', linkedEtag: `"${sha(MODEL)}"` });
    c.srv.rules = [(r) => (r.nth > 0 && c.srv.bytesSent() >= 3 * SHARD ? { kind: 'network' } : undefined)];
    await expect(downloadModel(URL1, c.opts())).rejects.toBeInstanceOf(DownloadError);
    c.srv.rules = [];
    const info = await downloadModel(URL1, c.opts());
    expect(info.files[0].verified).toBe('sha256');
  });

  it('verifyCachedModel drops a shard corrupted in storage; the next load fetches only it', async () => {
    const c = setup();
    await downloadModel(URL1, c.opts());
    c.store.corruptShard(URL1, 2);
    expect(await verifyCachedModel(URL1, { store: c.store })).toEqual({ checkedShards: shardCount(MODEL.length, SHARD), droppedShards: 1 });
    c.srv.clearLog();
    await loadAndCheck(c);
    expect(shardBytes(c.srv)).toBe(SHARD);
  });
});

describe('integrity of stored shards at load', () => {
  /** Reads every tensor as the loader does (in file order) and returns the first error, if any. */
  async function loadTensors(c: Ctx, url = URL1): Promise<unknown> {
    try {
      const src = await cachedModelSource(url, c.opts());
      const m = await openGgufModel(src.first, (n) => src.openSibling(n));
      for (const t of m.tensors) await m.readTensor(t);
      return undefined;
    } catch (e) {
      return e;
    }
  }

  it('a stored shard corrupted in place (right size) fails the load, is dropped, and the next load fetches it again', async () => {
    const c = setup();
    await downloadModel(URL1, c.opts());
    c.store.corruptShard(URL1, 2);
    c.srv.clearLog();
    const e = await loadTensors(c);
    expect(e).toBeInstanceOf(IntegrityError);
    expect(e instanceof Error && e.message).toMatch(/cached shard 2 \(bytes 32768-49151\) is corrupt.*dropped from the cache/);
    // Hashing happened while reading (no download, and no re-read pass before the tensors were served).
    expect(shardBytes(c.srv)).toBe(0);
    expect(c.store.shardKeys().some((k) => k.endsWith('\n2'))).toBe(false);
    const [info] = await listCachedModels({ store: c.store });
    expect(info.state).toBe('partial');
    await loadAndCheck(c);
    expect(shardBytes(c.srv)).toBe(SHARD);
    expect(await loadTensors(c)).toBeUndefined();
  });

  it('with a manifest digest too, and for the last (short) shard; out-of-order reads still get checked', async () => {
    const manifest = new TextEncoder().encode(
      JSON.stringify({ format: 'brix-model-manifest', version: 1, name: 'tiny-demo', files: [{ name: 'model.gguf', size: MODEL.length, sha256: sha(MODEL) }] }),
    );
    const c = setup({ 'model.gguf': MODEL, 'manifest.json': manifest });
    await downloadModel(`${BASE}manifest.json`, c.opts());
    const last = shardCount(MODEL.length, SHARD) - 1;
    c.store.corruptShard(URL1, last);
    const src = await cachedModelSource(`${BASE}manifest.json`, c.opts());
    // Forward reads in small steps through shard 0 pass; then a read of the file's last 100 bytes alone: the
    // skipped bytes before it are read for the hash, and the corrupt shard is refused by that read.
    for (let o = 0; o < SHARD; o += 1000) await src.first.read(o, Math.min(1000, SHARD - o));
    let err: unknown;
    try {
      await src.first.read(MODEL.length - 100, 100);
    } catch (x) {
      err = x;
    }
    expect(err).toBeInstanceOf(IntegrityError);
    expect(c.store.shardKeys().some((k) => k.endsWith(`\n${last}`))).toBe(false);
  });

  it('an intact cache loads with every shard checked and nothing dropped', async () => {
    const c = setup();
    await downloadModel(URL1, c.opts());
    expect(await loadTensors(c)).toBeUndefined();
    expect(c.store.shardKeys()).toHaveLength(shardCount(MODEL.length, SHARD));
  });
});

describe('upstream changes', () => {
  it('a changed ETag on a partial download is a ModelChangedError and nothing is mixed', async () => {
    const c = setup();
    c.srv.rules = [(r) => (r.nth > 0 && c.srv.bytesSent() >= 2 * SHARD ? { kind: 'network' } : undefined)];
    await expect(downloadModel(URL1, c.opts())).rejects.toBeInstanceOf(DownloadError);
    const keys = c.store.shardKeys().length;
    c.srv.rules = [];
    const changed = filled(MODEL.length, 99);
    c.srv.files.set('model.gguf', { bytes: changed, etag: '"v2"' });
    const err = await downloadModel(URL1, c.opts()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelChangedError);
    expect((err as Error).message).toMatch(/ETag changed from "v1" to "v2"/);
    expect(c.store.shardKeys()).toHaveLength(keys);
    // The user said yes: start over on the new file.
    const info = await downloadModel(URL1, c.opts({ ifChanged: 'redownload' }));
    expect(info.state).toBe('complete');
    const src = await cachedModelSource(URL1, c.opts());
    expectBytes(await src.first.read(0, changed.length), changed);
  });

  it('a manifest that now lists other files is a change too; redownload starts the model over', async () => {
    const m1 = manifestOf([['model.gguf', MODEL]]);
    const c = setup({ 'model.gguf': MODEL, 'manifest.json': m1 });
    await downloadModel(`${BASE}manifest.json`, c.opts());
    c.srv.files.set('manifest.json', { bytes: manifestOf([...PARTS]), etag: '"m2"' });
    for (const [n, b] of PARTS) c.srv.files.set(n, { bytes: b, etag: '"v1"' });
    c.store.evictShard(URL1, 0); // partial again, so the manifest is fetched
    await expect(downloadModel(`${BASE}manifest.json`, c.opts())).rejects.toThrow(/now lists tiny-00001-of-00002\.gguf/);
    const info = await downloadModel(`${BASE}manifest.json`, c.opts({ ifChanged: 'redownload' }));
    expect(info.files.map((f) => f.name)).toEqual([...PARTS.keys()]);
    expect(c.store.shardKeys().some((k) => k.startsWith(URL1))).toBe(false);
    await loadAndCheck(c, `${BASE}manifest.json`);
  });

  it('a missing or malformed manifest is a DownloadError', async () => {
    const c = setup({ 'bad.json': new TextEncoder().encode('{"format":"x"}') });
    await expect(downloadModel(`${BASE}none.json`, c.opts())).rejects.toThrow(/HTTP 404.*manifest/);
    await expect(downloadModel(`${BASE}bad.json`, c.opts())).rejects.toBeInstanceOf(DownloadError);
  });

  it('a complete model is not checked upstream unless asked to revalidate', async () => {
    const c = setup();
    await downloadModel(URL1, c.opts());
    c.srv.files.set('model.gguf', { bytes: MODEL, etag: '"v2"' });
    await expect(downloadModel(URL1, c.opts())).resolves.toMatchObject({ state: 'complete' });
    await expect(downloadModel(URL1, c.opts({ revalidate: true }))).rejects.toBeInstanceOf(ModelChangedError);
    expect((await listCachedModels({ store: c.store }))[0].state).toBe('complete');
  });
});

describe('quota', () => {
  it('refuses a model larger than the free quota before downloading anything', async () => {
    const c = setup();
    const err = await downloadModel(URL1, c.opts({ estimate: () => Promise.resolve({ quota: 100_000, usage: 50_000 }) })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuotaError);
    expect((err as QuotaError).neededBytes).toBe(MODEL.length);
    expect((err as QuotaError).availableBytes).toBe(50_000);
    expect(shardBytes(c.srv)).toBe(0);
    expect(await listCachedModels({ store: c.store })).toEqual([]);
    // Only what is still missing counts on a resume.
    await expect(downloadModel(URL1, c.opts({ estimate: () => Promise.resolve({ quota: 10 * MODEL.length, usage: 0 }) }))).resolves.toMatchObject({
      state: 'complete',
    });
  });

  it('running out of quota midway keeps the manifest truthful', async () => {
    const c = setup();
    let commits = 0;
    c.store.beforeCommit = () => {
      if (++commits > 4) throw new QuotaError('quota exceeded (simulated)');
    };
    await expect(downloadModel(URL1, c.opts())).rejects.toBeInstanceOf(QuotaError);
    const [info] = await listCachedModels({ store: c.store });
    expect(info.state).toBe('partial');
    expect(info.storedBytes).toBe(4 * SHARD);
    expect(c.store.shardKeys()).toHaveLength(4);
    c.store.beforeCommit = undefined;
    c.srv.clearLog();
    await loadAndCheck(c);
    expect(shardBytes(c.srv)).toBe(MODEL.length - 4 * SHARD);
  });
});

describe('eviction', () => {
  it('an evicted shard is reported, then fetched again at the next load', async () => {
    const c = setup();
    await downloadModel(URL1, c.opts());
    c.store.evictShard(URL1, 1);
    const [info] = await listCachedModels({ store: c.store });
    expect(info).toMatchObject({ state: 'partial', storedBytes: MODEL.length - SHARD });
    c.srv.clearLog();
    await loadAndCheck(c);
    expect(shardBytes(c.srv)).toBe(SHARD);
    expect((await listCachedModels({ store: c.store }))[0].state).toBe('complete');
  });

  it('a shard evicted while the model is open is fetched again by the read that needs it', async () => {
    const c = setup();
    const src = await cachedModelSource(URL1, c.opts());
    c.store.evictShard(URL1, 3);
    c.srv.clearLog();
    expectBytes(await src.first.read(3 * SHARD + 5, 100), MODEL.slice(3 * SHARD + 5, 3 * SHARD + 105));
    expect(c.srv.log.map((e) => e.range)).toEqual([`bytes=${3 * SHARD}-${4 * SHARD - 1}`]);
  });
});

describe('management', () => {
  it('lists, deletes one model with its records, and clears all', async () => {
    const c = setup({ 'model.gguf': MODEL, ...Object.fromEntries(PARTS) });
    await downloadModel(URL1, c.opts());
    await downloadModel(`${BASE}${splitFileName('tiny', 0, 2)}`, c.opts());
    const list = await listCachedModels({ store: c.store });
    expect(list.map((m) => m.name).sort()).toEqual(['model', 'tiny']);
    expect(list.find((m) => m.name === 'model')?.storedBytes).toBe(MODEL.length);
    expect(await deleteCachedModel(URL1, { store: c.store })).toBe(true);
    expect(await deleteCachedModel(URL1, { store: c.store })).toBe(false);
    expect((await listCachedModels({ store: c.store })).map((m) => m.name)).toEqual(['tiny']);
    expect(c.store.shardKeys().some((k) => k.startsWith(URL1))).toBe(false);
    await clearModelCache({ store: c.store });
    expect(await listCachedModels({ store: c.store })).toEqual([]);
    expect(c.store.shardKeys()).toEqual([]);
  });
});
