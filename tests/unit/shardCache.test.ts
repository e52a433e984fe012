/**
 * @file Weight cache, pure logic and the network layer: shard planning, range pieces, the manifest record's
 * state machine, validator change detection, header parsing, split sibling URLs, the manifest parser, backoff,
 * the rate meter, the incremental SHA-256, and fetchShard/probeRemote against a fake server that fails in
 * controlled ways (network errors N times, truncated and dropped bodies, wrong status, changed ETag).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DownloadError, ModelChangedError } from '../../workers/storage/errors.ts';
import { fetchShard, probeRemote, type HttpOptions } from '../../workers/storage/http.ts';
import {
  backoffDelay,
  linkedSha256,
  markComplete,
  missingShards,
  modelFileUrls,
  needsWholeFileHash,
  newFileRecord,
  parseContentRange,
  parseModelManifest,
  planShards,
  rangePieces,
  RateMeter,
  resetShards,
  shardsToDrop,
  siblingUrl,
  storedBytes,
  validatorChange,
  withoutShards,
  withShard,
  type FileRecord,
  type RemoteFileInfo,
} from '../../workers/storage/plan.ts';
import { Sha256, sha256Hex } from '../../workers/storage/sha256.ts';
import { FakeRangeServer, once } from '../e2e/server/rangeFaults.ts';

function bytesOf(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const nodeSha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
/** Byte equality without vitest's element-by-element walk over typed arrays. */
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));

const REMOTE: RemoteFileInfo = { size: 1000, etag: '"v1"', lastModified: null, linkedSha256: null };

function record(over: Partial<Parameters<typeof newFileRecord>[0]> = {}): FileRecord {
  return newFileRecord({
    url: 'https://h/m.gguf',
    generation: 'g1',
    modelUrl: 'https://h/m.gguf',
    remote: REMOTE,
    shardSize: 300,
    sha256: null,
    sha256From: null,
    manifestShards: null,
    now: 1,
    ...over,
  });
}

describe('shard planning', () => {
  it('cuts a file into fixed shards with a short last one', () => {
    expect(planShards(1000, 300)).toEqual([
      { index: 0, offset: 0, length: 300 },
      { index: 1, offset: 300, length: 300 },
      { index: 2, offset: 600, length: 300 },
      { index: 3, offset: 900, length: 100 },
    ]);
    expect(planShards(600, 300).map((s) => s.length)).toEqual([300, 300]);
    expect(planShards(0, 300)).toEqual([]);
    expect(() => planShards(10, 0)).toThrow(RangeError);
    expect(() => planShards(-1, 10)).toThrow(RangeError);
  });

  it('maps a byte range onto the shards it spans', () => {
    expect(rangePieces(250, 400, 300)).toEqual([
      { index: 0, start: 250, length: 50, outOffset: 0 },
      { index: 1, start: 0, length: 300, outOffset: 50 },
      { index: 2, start: 0, length: 50, outOffset: 350 },
    ]);
    expect(rangePieces(300, 300, 300)).toEqual([{ index: 1, start: 0, length: 300, outOffset: 0 }]);
    expect(rangePieces(5, 0, 300)).toEqual([]);
  });
});

describe('file record state machine', () => {
  it('claims shards one by one and completes only when all are there', () => {
    let r = record();
    expect(missingShards(r)).toEqual([0, 1, 2, 3]);
    r = withShard(r, 3, 'd3', 2);
    r = withShard(r, 0, 'd0', 3);
    expect(missingShards(r)).toEqual([1, 2]);
    expect(storedBytes(r)).toBe(400);
    expect(r.state).toBe('partial');
    expect(() => markComplete(r, false, 4)).toThrow(/missing/);
    r = withShard(withShard(r, 1, 'd1', 5), 2, 'd2', 6);
    const done = markComplete(r, false, 7);
    expect(done.state).toBe('complete');
    expect(done.verified).toBe('unverified');
    // What was stored becomes what a re-fetch must match.
    expect(done.knownShards).toEqual(['d0', 'd1', 'd2', 'd3']);
    expect(done.knownFrom).toBe('download');
    expect(() => withShard(r, 4, 'x', 1)).toThrow(RangeError);
  });

  it('keeps known digests when shards are evicted, and refuses a shard with the wrong digest', () => {
    const done = markComplete(['a', 'b', 'c', 'd'].reduce((r, d, i) => withShard(r, i, d, 1), record()), false, 2);
    const evicted = withoutShards(done, [1], 3);
    expect(evicted.state).toBe('partial');
    expect(evicted.verified).toBeNull();
    expect(missingShards(evicted)).toEqual([1]);
    expect(evicted.knownShards[1]).toBe('b');
    expect(() => withShard(evicted, 1, 'other', 4)).toThrow(/expected b/);
    expect(withShard(evicted, 1, 'b', 4).shards[1]).toBe('b');
  });

  it('decides when the whole file must be hashed', () => {
    expect(needsWholeFileHash(record())).toBe(false); // no digest known at all
    const withDigest = record({ sha256: 'f'.repeat(64), sha256From: 'x-linked-etag' });
    expect(needsWholeFileHash(withDigest)).toBe(true);
    expect(() => markComplete(['a', 'b', 'c', 'd'].reduce((r, d, i) => withShard(r, i, d, 1), withDigest), false, 2)).toThrow(/whole-file/);
    // Per-shard digests from the manifest cover every byte: no whole-file pass needed.
    const fromManifest = record({ sha256: 'f'.repeat(64), sha256From: 'manifest', manifestShards: ['a', 'b', 'c', 'd'] });
    expect(needsWholeFileHash(fromManifest)).toBe(false);
    const done = markComplete(['a', 'b', 'c', 'd'].reduce((r, d, i) => withShard(r, i, d, 1), withDigest), true, 2);
    expect(done.verified).toBe('sha256');
    expect(done.knownFrom).toBe('file-sha256');
    // After a whole-file check the shard digests are trusted, so an eviction re-fetch needs no second pass.
    expect(needsWholeFileHash(withoutShards(done, [2], 3))).toBe(false);
  });

  it('reset forgets learned digests but keeps the manifest ones', () => {
    const learned = markComplete(['a', 'b', 'c', 'd'].reduce((r, d, i) => withShard(r, i, d, 1), record()), false, 2);
    const r1 = resetShards(learned, 3);
    expect(r1.shards.every((s) => s === null)).toBe(true);
    expect(r1.knownShards.every((s) => s === null)).toBe(true);
    const fromManifest = record({ manifestShards: ['a', 'b', 'c', 'd'] });
    expect(resetShards(withShard(fromManifest, 0, 'a', 1), 2).knownShards).toEqual(['a', 'b', 'c', 'd']);
  });

  it('finds claimed shards that are evicted or hold the wrong digest', () => {
    let r = record({ manifestShards: ['a', 'b', 'c', 'd'] });
    r = withShard(withShard(withShard(r, 0, 'a', 1), 1, 'b', 1), 3, 'd', 1);
    expect(shardsToDrop(r, [0, 1, 3])).toEqual([]);
    expect(shardsToDrop(r, [0, 3])).toEqual([1]);
    const tampered: FileRecord = { ...r, shards: ['a', 'x', null, 'd'] };
    expect(shardsToDrop(tampered, [0, 1, 3])).toEqual([1]);
  });
});

describe('upstream change detection', () => {
  const rec = { size: 100, etag: '"abc"', lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT' };
  const remote = (o: Partial<RemoteFileInfo>): RemoteFileInfo => ({ size: 100, etag: '"abc"', lastModified: rec.lastModified, linkedSha256: null, ...o });

  it('flags a different size or ETag', () => {
    expect(validatorChange(rec, remote({}))).toBeUndefined();
    expect(validatorChange(rec, remote({ size: 101 }))).toMatch(/size changed from 100 to 101/);
    expect(validatorChange(rec, remote({ etag: '"abd"' }))).toMatch(/ETag changed/);
    // A weak form of the same tag is the same file.
    expect(validatorChange(rec, remote({ etag: 'W/"abc"' }))).toBeUndefined();
  });

  it('falls back to Last-Modified when either side has no ETag, and trusts size alone without validators', () => {
    expect(validatorChange({ ...rec, etag: null }, remote({ lastModified: 'Tue, 02 Jan 2024 00:00:00 GMT' }))).toMatch(/Last-Modified/);
    expect(validatorChange({ ...rec, etag: null }, remote({}))).toBeUndefined();
    expect(validatorChange({ size: 100, etag: null, lastModified: null }, remote({ etag: '"zzz"' }))).toBeUndefined();
  });
});

describe('headers, URLs and manifests', () => {
  it('parses Content-Range and Hugging Face X-Linked-ETag', () => {
    expect(parseContentRange('bytes 10-19/100')).toEqual({ start: 10, end: 19, total: 100 });
    expect(parseContentRange('bytes 0-0/*')).toEqual({ start: 0, end: 0, total: undefined });
    expect(parseContentRange('garbage')).toBeUndefined();
    const d = 'AB'.repeat(32);
    expect(linkedSha256(`"${d}"`)).toBe(d.toLowerCase());
    expect(linkedSha256(`W/"${d.toLowerCase()}"`)).toBe(d.toLowerCase());
    expect(linkedSha256('"1234-abcd"')).toBeNull(); // a git blob id or an opaque tag is not a sha256
    expect(linkedSha256(null)).toBeNull();
  });

  it('derives the files of a split set, keeping the query string', () => {
    expect(modelFileUrls('https://hf.co/r/resolve/main/m-00001-of-00003.gguf?download=true')).toEqual([
      'https://hf.co/r/resolve/main/m-00001-of-00003.gguf?download=true',
      'https://hf.co/r/resolve/main/m-00002-of-00003.gguf?download=true',
      'https://hf.co/r/resolve/main/m-00003-of-00003.gguf?download=true',
    ]);
    expect(modelFileUrls('https://h/x/m.gguf')).toEqual(['https://h/x/m.gguf']);
    expect(modelFileUrls('https://h/x/m-00002-of-00003.gguf')).toEqual(['https://h/x/m-00002-of-00003.gguf']);
    expect(siblingUrl('https://h/a/manifest.json', 'b c.gguf')).toBe('https://h/a/b%20c.gguf');
  });

  it('validates a model manifest and names what is wrong', () => {
    const sha = 'a'.repeat(64);
    const ok = { format: 'brix-model-manifest', version: 1, name: 'm', files: [{ name: 'm.gguf', size: 10, sha256: sha, shardSize: 4, shardSha256: [sha, sha, sha] }] };
    expect(parseModelManifest(ok, 'x').files[0].shardSha256).toHaveLength(3);
    const bad = (o: unknown): unknown => () => parseModelManifest(o, 'here/manifest.json');
    expect(bad({ ...ok, format: 'other' })).toThrow(DownloadError);
    expect(bad({ ...ok, files: [] })).toThrow(/files must be a non-empty array/);
    expect(bad({ ...ok, files: [{ name: '../x', size: 1, sha256: sha }] })).toThrow(/plain file name/);
    expect(bad({ ...ok, files: [{ name: 'm', size: 1, sha256: 'xyz' }] })).toThrow(/sha256/);
    expect(bad({ ...ok, files: [{ ...ok.files[0], shardSha256: [sha] }] })).toThrow(/must list 3 digests/);
  });
});

describe('backoff and rate', () => {
  it('doubles the delay per attempt up to the cap, with jitter in [d/2, d]', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, 100, 1000, () => 1))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(3, 100, 1000, () => 0)).toBe(200);
  });

  it('measures bytes per second over a sliding window', () => {
    let t = 0;
    const m = new RateMeter(1000, () => t);
    expect(m.rate()).toBeUndefined();
    for (let i = 0; i < 10; i++) {
      t += 100;
      m.add(1000);
    }
    expect(m.rate()).toBeCloseTo(10_000, 0);
    t += 3000; // idle: the window empties
    expect(m.rate()).toBe(0);
  });
});

describe('incremental SHA-256', () => {
  it('matches the FIPS vectors and node:crypto whatever the chunking', async () => {
    expect(new Sha256().hex()).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(new Sha256().update(new TextEncoder().encode('abc')).hex()).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const data = bytesOf(100_003, 7);
    for (const step of [1, 55, 63, 64, 65, 4096, 100_003]) {
      const h = new Sha256();
      for (let i = 0; i < data.length; i += step) h.update(data.subarray(i, i + step));
      expect(h.hex(), `chunks of ${step}`).toBe(nodeSha(data));
    }
    expect(await sha256Hex(data)).toBe(nodeSha(data));
    const h = new Sha256();
    h.hex();
    expect(() => h.update(data)).toThrow();
  });
});

describe('fetchShard and probeRemote', () => {
  const FILE = bytesOf(200_000, 3);
  const URL0 = 'https://models.test/dir/f.gguf';
  function setup(): { srv: FakeRangeServer; sleeps: number[]; http: HttpOptions } {
    const srv = new FakeRangeServer(16 * 1024);
    srv.files.set('f.gguf', { bytes: FILE, etag: '"e1"' });
    const sleeps: number[] = [];
    const http: HttpOptions = { fetch: srv.fetch, retries: 3, retryBaseMs: 10, retryMaxMs: 1000, random: () => 1, sleep: async (ms) => void sleeps.push(ms) };
    return { srv, sleeps, http };
  }
  const span = { index: 1, offset: 50_000, length: 50_000 };
  const expected = { size: FILE.length, etag: '"e1"', lastModified: null };

  it('probes size and validators with a 1-byte range', async () => {
    const { srv, http } = setup();
    srv.files.set('f.gguf', { bytes: FILE, etag: '"e1"', lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT', linkedEtag: `"${nodeSha(FILE)}"` });
    expect(await probeRemote(URL0, http)).toEqual({ size: FILE.length, etag: '"e1"', lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT', linkedSha256: nodeSha(FILE) });
    expect(srv.log.map((e) => e.range)).toEqual(['bytes=0-0']);
    expect(srv.bytesSent()).toBe(1);
  });

  it('retries network errors with exponential backoff, then succeeds', async () => {
    const { srv, sleeps, http } = setup();
    srv.rules = [once(() => true, { kind: 'network' }, 3)];
    const got = await fetchShard({ url: URL0, span, expected }, http);
    expect(sameBytes(got, FILE.subarray(50_000, 100_000))).toBe(true);
    expect(sleeps).toEqual([10, 20, 40]);
  });

  it('gives up with a DownloadError after the last retry', async () => {
    const { srv, sleeps, http } = setup();
    srv.rules = [once(() => true, { kind: 'status', status: 503 }, 10)];
    const err = await fetchShard({ url: URL0, span, expected }, http).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as DownloadError).status).toBe(503);
    expect((err as Error).message).toMatch(/failed after 4 attempts.*503/);
    expect(sleeps).toHaveLength(3);
  });

  it('does not retry a 404, and refuses a server that ignores Range', async () => {
    const { srv, sleeps, http } = setup();
    await expect(fetchShard({ url: 'https://models.test/dir/none.gguf', span, expected }, http)).rejects.toThrow(/HTTP 404/);
    srv.rules = [once(() => true, { kind: 'ignore-range' })];
    await expect(fetchShard({ url: URL0, span, expected }, http)).rejects.toThrow(/ignored the HTTP Range header/);
    expect(sleeps).toEqual([]);
  });

  it('never returns a truncated response: it asks again for exactly the missing bytes', async () => {
    const { srv, http } = setup();
    srv.rules = [once((r) => r.nth === 0, { kind: 'truncate', keep: 20_000 })];
    const counted: number[] = [];
    const got = await fetchShard({ url: URL0, span, expected, onBytes: (n) => counted.push(n) }, http);
    expect(sameBytes(got, FILE.subarray(50_000, 100_000))).toBe(true);
    expect(srv.log.map((e) => e.range)).toEqual(['bytes=50000-99999', 'bytes=70000-99999']);
    expect(srv.bytesSent()).toBe(50_000);
    expect(counted.reduce((a, b) => a + b, 0)).toBe(50_000);
  });

  it('continues after a dropped connection without fetching received bytes again', async () => {
    const { srv, http } = setup();
    srv.rules = [once(() => true, { kind: 'drop', after: 32 * 1024 }, 2)];
    const got = await fetchShard({ url: URL0, span, expected }, http);
    expect(sameBytes(got, FILE.subarray(50_000, 100_000))).toBe(true);
    // The second drop rule fires on a response shorter than its cut-off, so that response completes.
    expect(srv.log.map((e) => e.range)).toEqual(['bytes=50000-99999', 'bytes=82768-99999']);
    expect(srv.bytesSent()).toBe(50_000);
  });

  it('surfaces a changed ETag as ModelChangedError, without retrying', async () => {
    const { srv, sleeps, http } = setup();
    srv.files.set('f.gguf', { bytes: FILE, etag: '"e2"' });
    await expect(fetchShard({ url: URL0, span, expected }, http)).rejects.toBeInstanceOf(ModelChangedError);
    srv.files.set('f.gguf', { bytes: FILE.slice(0, 150_000), etag: '"e1"' });
    await expect(fetchShard({ url: URL0, span, expected }, http)).rejects.toThrow(/size is now 150000/);
    expect(sleeps).toEqual([]);
  });

  it('stops at once when aborted', async () => {
    const { srv, http } = setup();
    const ctl = new AbortController();
    srv.onChunk = (e) => {
      if (e.sent > 10_000) ctl.abort(new DOMException('stop', 'AbortError'));
    };
    const err = await fetchShard({ url: URL0, span, expected, signal: ctl.signal }, http).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DOMException);
    expect((err as DOMException).name).toBe('AbortError');
    expect(srv.log).toHaveLength(1);
  });
});
