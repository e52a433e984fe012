/**
 * @file The pure logic of the weight cache, free of IndexedDB and fetch so unit tests can pin it down: how a
 * file is cut into shards, the manifest record of a cached file and its state transitions (a shard is claimed
 * only once stored and verified; evicted or corrupt shards are unclaimed), how a byte range maps onto shards,
 * when an upstream file counts as changed, split-set sibling URLs, retry backoff, and the download rate meter.
 */
import { baseName, parseSplitName, splitFileName } from '../gguf/model.ts';
import { DownloadError } from './errors.ts';
import { isSha256Hex } from './sha256.ts';

/** Shard size of the cache: one IndexedDB record each. Big enough for few records, small enough to retry cheaply. */
export const DEFAULT_SHARD_SIZE = 16 * 1024 * 1024;

export function shardCount(size: number, shardSize: number): number {
  return Math.ceil(size / shardSize);
}

/** Bytes in shard `index` (the last one may be short). */
export function shardLength(size: number, shardSize: number, index: number): number {
  return Math.min(shardSize, size - index * shardSize);
}

export interface ShardSpan {
  readonly index: number;
  /** Offset of the shard's first byte in the file. */
  readonly offset: number;
  readonly length: number;
}

export function planShards(size: number, shardSize: number): ShardSpan[] {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`file size must be a non-negative integer, got ${size}`);
  if (!Number.isSafeInteger(shardSize) || shardSize <= 0) throw new RangeError(`shard size must be a positive integer, got ${shardSize}`);
  const out: ShardSpan[] = [];
  for (let i = 0; i * shardSize < size; i++) out.push({ index: i, offset: i * shardSize, length: shardLength(size, shardSize, i) });
  return out;
}

/** One shard's part of a read: bytes [start, start+length) of shard `index` go to out[outOffset...]. */
export interface RangePiece {
  readonly index: number;
  readonly start: number;
  readonly length: number;
  readonly outOffset: number;
}

/** Splits the file range [offset, offset+length) at shard boundaries (caller has checked it is inside the file). */
export function rangePieces(offset: number, length: number, shardSize: number): RangePiece[] {
  const out: RangePiece[] = [];
  let pos = offset;
  const end = offset + length;
  while (pos < end) {
    const index = Math.floor(pos / shardSize);
    const start = pos - index * shardSize;
    const n = Math.min(shardSize - start, end - pos);
    out.push({ index, start, length: n, outOffset: pos - offset });
    pos += n;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Records

/**
 * How a complete file was checked. 'sha256': every byte traces back to a known whole-file sha256 (hashed
 * here, or matched shard by shard against digests that came with it). 'unverified': nobody gave us a digest,
 * so only transfer-level checks (exact lengths, validators) and self-consistency apply.
 */
export type Verification = 'sha256' | 'unverified';

/** Where the expected whole-file sha256 came from. */
export type DigestSource = 'manifest' | 'x-linked-etag' | 'option';

/**
 * Where the known per-shard digests came from: our model manifest, a whole-file check that passed over
 * these shards, or simply the first download (then they only keep a re-fetch consistent with what was kept).
 */
export type KnownShardsSource = 'manifest' | 'file-sha256' | 'download';

/** The manifest record of one cached file (IndexedDB store `files`, key = url). */
export interface FileRecord {
  readonly version: 1;
  readonly url: string;
  /** Random id of this download of this file: writes from an older download (before a restart) are refused. */
  readonly generation: string;
  /** The model this file belongs to (key of its ModelRecord). */
  readonly modelUrl: string;
  readonly name: string;
  readonly size: number;
  readonly shardSize: number;
  /** The validator the shards were fetched under; a different one upstream means the file changed. */
  readonly etag: string | null;
  readonly lastModified: string | null;
  /** Expected sha256 of the whole file, when anyone told us. */
  readonly sha256: string | null;
  readonly sha256From: DigestSource | null;
  /** sha256 of each shard that is stored and verified; null = not stored. Never claims a shard not in the store. */
  readonly shards: readonly (string | null)[];
  /** Digests a shard must have when (re)fetched; kept when a stored shard is evicted. null = unknown. */
  readonly knownShards: readonly (string | null)[];
  readonly knownFrom: KnownShardsSource | null;
  /**
   * Shards begun but not finished when a download was paused: index → bytes kept (stored under the shard's key,
   * not claimed in `shards`). A resume continues each from there. Absent in records of older versions.
   */
  readonly partial?: Readonly<Record<number, number>>;
  readonly state: 'partial' | 'complete';
  readonly verified: Verification | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly completedAt: number | null;
}

/** A cached model: the URL it was asked for and its files in order (first = the GGUF holding the metadata). */
export interface ModelRecord {
  readonly version: 1;
  readonly url: string;
  readonly name: string;
  readonly files: readonly string[];
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** What a probe of the remote file told us. */
export interface RemoteFileInfo {
  readonly size: number;
  readonly etag: string | null;
  readonly lastModified: string | null;
  /** Hugging Face's X-Linked-ETag when it is a sha256 (LFS files). */
  readonly linkedSha256: string | null;
}

export interface NewFileRecord {
  readonly url: string;
  readonly generation: string;
  readonly modelUrl: string;
  readonly remote: RemoteFileInfo;
  readonly shardSize: number;
  readonly sha256: string | null;
  readonly sha256From: DigestSource | null;
  /** Per-shard digests from our model manifest (same shard size), if any. */
  readonly manifestShards: readonly string[] | null;
  readonly now: number;
}

export function newFileRecord(a: NewFileRecord): FileRecord {
  const n = shardCount(a.remote.size, a.shardSize);
  if (a.manifestShards && a.manifestShards.length !== n) {
    throw new RangeError(`${a.url}: ${a.manifestShards.length} expected shard digests for ${n} shards`);
  }
  return {
    version: 1,
    url: a.url,
    generation: a.generation,
    modelUrl: a.modelUrl,
    name: baseName(a.url),
    size: a.remote.size,
    shardSize: a.shardSize,
    etag: a.remote.etag,
    lastModified: a.remote.lastModified,
    sha256: a.sha256,
    sha256From: a.sha256From,
    shards: new Array<string | null>(n).fill(null),
    knownShards: a.manifestShards ? [...a.manifestShards] : new Array<string | null>(n).fill(null),
    knownFrom: a.manifestShards ? 'manifest' : null,
    state: 'partial',
    verified: null,
    createdAt: a.now,
    updatedAt: a.now,
    completedAt: null,
  };
}

/** Claims shard `index` as stored with digest `sha256`. The file stays partial until `markComplete`. */
export function withShard(rec: FileRecord, index: number, sha256: string, now: number): FileRecord {
  if (!Number.isInteger(index) || index < 0 || index >= rec.shards.length) {
    throw new RangeError(`${rec.url}: shard ${index} outside 0..${rec.shards.length - 1}`);
  }
  const known = rec.knownShards[index];
  if (known !== null && known !== sha256) throw new RangeError(`${rec.url}: shard ${index} has sha256 ${sha256}, expected ${known}`);
  const shards = rec.shards.slice();
  shards[index] = sha256;
  return { ...rec, shards, partial: withoutKey(rec.partial, index), updatedAt: now };
}

function withoutKey(partial: FileRecord['partial'], index: number): Record<number, number> {
  const out: Record<number, number> = { ...partial };
  delete out[index];
  return out;
}

/** Records the first `bytes` of unclaimed shard `index` as kept (stored under its key) for a later resume. */
export function withPartialShard(rec: FileRecord, index: number, bytes: number, now: number): FileRecord {
  const len = shardLength(rec.size, rec.shardSize, index);
  if (rec.shards[index] !== null || !Number.isInteger(bytes) || bytes <= 0 || bytes >= len) {
    throw new RangeError(`${rec.url}: cannot keep ${bytes} bytes of shard ${index} as partial`);
  }
  return { ...rec, partial: { ...rec.partial, [index]: bytes }, updatedAt: now };
}

/** Forgets a partial shard (its stored bytes are gone or unusable); the shard is downloaded from its start. */
export function withoutPartialShard(rec: FileRecord, index: number, now: number): FileRecord {
  return { ...rec, partial: withoutKey(rec.partial, index), updatedAt: now };
}

/** Bytes kept of an unclaimed shard (0 = none). */
export function partialBytes(rec: FileRecord, index: number): number {
  return rec.shards[index] === null ? (rec.partial?.[index] ?? 0) : 0;
}

/** Unclaims shards (evicted, corrupt): the file is partial again. Known digests stay. */
export function withoutShards(rec: FileRecord, indices: readonly number[], now: number): FileRecord {
  if (indices.length === 0) return rec;
  const shards = rec.shards.slice();
  for (const i of indices) shards[i] = null;
  return { ...rec, shards, state: 'partial', verified: null, completedAt: null, updatedAt: now };
}

/** Forgets every shard and every digest learned from downloads (after a failed whole-file check). */
export function resetShards(rec: FileRecord, now: number): FileRecord {
  const n = rec.shards.length;
  const keepKnown = rec.knownFrom === 'manifest';
  return {
    ...rec,
    shards: new Array<string | null>(n).fill(null),
    knownShards: keepKnown ? rec.knownShards : new Array<string | null>(n).fill(null),
    knownFrom: keepKnown ? 'manifest' : null,
    partial: {},
    state: 'partial',
    verified: null,
    completedAt: null,
    updatedAt: now,
  };
}

/**
 * Whether downloading this file must end with hashing the whole file: yes when a whole-file digest is known
 * and not every shard can be checked against per-shard digests that trace back to it.
 */
export function needsWholeFileHash(rec: FileRecord): boolean {
  if (rec.sha256 === null) return false;
  const trusted = rec.knownFrom === 'manifest' || rec.knownFrom === 'file-sha256';
  return !(trusted && rec.knownShards.every((k) => k !== null));
}

/**
 * Marks the file complete. `fileHashMatched`: the whole-file sha256 was just computed over these shards and
 * matched. The stored shards' digests become the known ones, so a shard re-fetched after eviction must match.
 */
export function markComplete(rec: FileRecord, fileHashMatched: boolean, now: number): FileRecord {
  const missing = missingShards(rec);
  if (missing.length > 0) throw new RangeError(`${rec.url}: cannot mark complete, shards ${missing.join(', ')} are missing`);
  if (needsWholeFileHash(rec) && !fileHashMatched) throw new RangeError(`${rec.url}: cannot mark complete before the whole-file sha256 check`);
  const verified: Verification = rec.sha256 !== null ? 'sha256' : 'unverified';
  const knownFrom: KnownShardsSource = fileHashMatched ? 'file-sha256' : (rec.knownFrom ?? 'download');
  return { ...rec, state: 'complete', verified, knownShards: rec.shards.slice(), knownFrom, completedAt: now, updatedAt: now };
}

export function missingShards(rec: FileRecord): number[] {
  const out: number[] = [];
  rec.shards.forEach((s, i) => {
    if (s === null) out.push(i);
  });
  return out;
}

export function storedBytes(rec: FileRecord): number {
  let n = 0;
  rec.shards.forEach((s, i) => {
    if (s !== null) n += shardLength(rec.size, rec.shardSize, i);
  });
  return n;
}

/** What the cache holds of the file: stored shards plus the kept beginnings of paused ones. */
export function keptBytes(rec: FileRecord): number {
  let n = storedBytes(rec);
  for (let i = 0; i < rec.shards.length; i++) n += partialBytes(rec, i);
  return n;
}

/**
 * Claimed shards that must be dropped: not in the store any more (evicted), or stored with a digest other
 * than the known one (left over from before the digest was known, or tampered with).
 */
export function shardsToDrop(rec: FileRecord, presentIndices: Iterable<number>): number[] {
  const present = new Set(presentIndices);
  const out: number[] = [];
  rec.shards.forEach((s, i) => {
    if (s === null) return;
    const known = rec.knownShards[i];
    if (!present.has(i) || (known !== null && known !== s)) out.push(i);
  });
  return out;
}

/** A weak ETag (W/"x") names the same validator as the strong one for our purpose; quotes are kept. */
function normalEtag(e: string): string {
  return e.trim().replace(/^W\//, '');
}

/**
 * Why the remote file is not the cached one, or undefined when it is (as far as the validators tell): size
 * always; the ETag when both sides have one; else Last-Modified when both have it. A server that exposes no
 * validator at all is trusted on size alone (documented limitation).
 */
export function validatorChange(rec: Pick<FileRecord, 'size' | 'etag' | 'lastModified'>, remote: RemoteFileInfo): string | undefined {
  if (rec.size !== remote.size) return `its size changed from ${rec.size} to ${remote.size} bytes`;
  if (rec.etag !== null && remote.etag !== null) {
    return normalEtag(rec.etag) === normalEtag(remote.etag) ? undefined : `its ETag changed from ${rec.etag} to ${remote.etag}`;
  }
  if (rec.lastModified !== null && remote.lastModified !== null && rec.lastModified !== remote.lastModified) {
    return `its Last-Modified changed from ${rec.lastModified} to ${remote.lastModified}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// HTTP headers

/** Parses `bytes a-b/total` from a Content-Range header. */
export function parseContentRange(h: string | null): { start: number; end: number; total: number | undefined } | undefined {
  if (!h) return undefined;
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(h);
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

/** Hugging Face's X-Linked-ETag holds the sha256 of an LFS file (quoted, sometimes weak); anything else → null. */
export function linkedSha256(h: string | null): string | null {
  if (!h) return null;
  const v = h.trim().replace(/^W\//, '').replace(/^"|"$/g, '').toLowerCase();
  return isSha256Hex(v) ? v : null;
}

// ---------------------------------------------------------------------------------------------------------
// URLs

/** Absolute URL without the fragment: the key of a file in the cache. */
export function normalizeUrl(url: string, base?: string): string {
  let u: URL;
  try {
    u = new URL(url, base);
  } catch (e) {
    throw new DownloadError(`not a valid model URL: ${JSON.stringify(url)}`, { cause: e });
  }
  u.hash = '';
  return u.href;
}

/** `name` next to `url` (same directory, same query string: Hugging Face URLs may carry one). */
export function siblingUrl(url: string, name: string): string {
  const u = new URL(url);
  const sib = new URL(encodeURIComponent(name), u);
  sib.search = u.search;
  return sib.href;
}

/** Every file of the model whose first (or only) file is `url`: the llama.cpp split set, or just the file. */
export function modelFileUrls(url: string): string[] {
  const split = parseSplitName(decodeURIComponent(new URL(url).pathname));
  if (!split || split.part !== 0 || split.count <= 1) return [url];
  const out = [url];
  for (let i = 1; i < split.count; i++) out.push(siblingUrl(url, baseName(splitFileName(split.prefix, i, split.count))));
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Our model manifest (public/models/<name>/manifest.json)

export interface ManifestFile {
  readonly name: string;
  readonly size: number;
  readonly sha256: string;
  /** Optional per-shard digests for this shard size (used only when the cache's shard size is the same). */
  readonly shardSize?: number;
  readonly shardSha256?: readonly string[];
}

export interface ModelManifest {
  readonly format: 'brix-model-manifest';
  readonly version: 1;
  readonly name: string;
  /** In load order: files[0] is the GGUF (or split part 1) holding the metadata. */
  readonly files: readonly ManifestFile[];
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Validates a manifest.json; a malformed one is a `DownloadError` naming what is wrong. */
export function parseModelManifest(json: unknown, where: string): ModelManifest {
  const bad = (what: string): DownloadError => new DownloadError(`${where}: not a Brix model manifest: ${what}`);
  if (!isObject(json)) throw bad('expected a JSON object');
  if (json.format !== 'brix-model-manifest') throw bad(`format must be "brix-model-manifest", found ${JSON.stringify(json.format)}`);
  if (json.version !== 1) throw bad(`unsupported version ${JSON.stringify(json.version)}`);
  if (typeof json.name !== 'string' || json.name === '') throw bad('name must be a non-empty string');
  if (!Array.isArray(json.files) || json.files.length === 0) throw bad('files must be a non-empty array');
  const files: ManifestFile[] = json.files.map((f: unknown, i: number): ManifestFile => {
    if (!isObject(f)) throw bad(`files[${i}] must be an object`);
    const { name, size, sha256, shardSize, shardSha256 } = f;
    if (typeof name !== 'string' || name === '' || name.includes('/') || name.includes('\\')) throw bad(`files[${i}].name must be a plain file name`);
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw bad(`files[${i}].size must be a non-negative integer`);
    if (typeof sha256 !== 'string' || !isSha256Hex(sha256)) throw bad(`files[${i}].sha256 must be 64 lower-case hex digits`);
    if (shardSize === undefined && shardSha256 === undefined) return { name, size, sha256 };
    if (typeof shardSize !== 'number' || !Number.isSafeInteger(shardSize) || shardSize <= 0) throw bad(`files[${i}].shardSize must be a positive integer`);
    if (!Array.isArray(shardSha256) || shardSha256.length !== shardCount(size, shardSize)) {
      throw bad(`files[${i}].shardSha256 must list ${shardCount(size, shardSize)} digests`);
    }
    const digests = shardSha256.map((d: unknown, j: number) => {
      if (typeof d !== 'string' || !isSha256Hex(d)) throw bad(`files[${i}].shardSha256[${j}] is not a sha256 hex digest`);
      return d;
    });
    return { name, size, sha256, shardSize, shardSha256: digests };
  });
  return { format: 'brix-model-manifest', version: 1, name: json.name, files };
}

// ---------------------------------------------------------------------------------------------------------
// Retry and rate

/** Exponential backoff with jitter: attempt 1 waits ~base, each further attempt doubles, capped at max. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const d = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  // Jitter in [d/2, d]: clients that failed together do not retry together.
  return Math.round(d / 2 + (random() * d) / 2);
}

/** Bytes per second over a sliding window, for the progress bar's rate and ETA. */
export class RateMeter {
  private readonly samples: { t: number; bytes: number }[] = [];
  private sum = 0;

  constructor(
    private readonly windowMs = 5000,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.samples.push({ t: this.now(), bytes: 0 });
  }

  add(bytes: number): void {
    this.samples.push({ t: this.now(), bytes });
    this.sum += bytes;
    this.trim();
  }

  /** Bytes per second, or undefined before there is a meaningful span of time to measure. */
  rate(): number | undefined {
    this.trim();
    const first = this.samples[0];
    const span = this.now() - first.t;
    if (span < 200) return undefined;
    return ((this.sum - first.bytes) * 1000) / span;
  }

  private trim(): void {
    const cutoff = this.now() - this.windowMs;
    // Keep one sample at or before the cutoff as the window's start.
    while (this.samples.length > 1 && this.samples[1].t <= cutoff) {
      this.sum -= this.samples[0].bytes;
      this.samples.shift();
    }
  }
}
