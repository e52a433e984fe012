/**
 * @file A `ByteSource` over a cached file: reads are served from the shard records, a range may span shards,
 * and only the bytes asked for are materialized (a stored shard is a Blob handle; at most two handles are kept,
 * so reading a model tensor by tensor never holds more than the tensor being read). A shard the manifest claims
 * but the store lost (evicted under us) is fetched again through `repair` before the read is served.
 *
 * With `verify`, every shard's bytes are hashed as they are read (incremental SHA-256, so no extra pass over
 * the data when the reads go forward through a shard, as the loader's do) and compared, when the shard's last
 * byte has been hashed, with the digest recorded when it was stored (the manifest's, or that of what was
 * downloaded). A mismatch drops the shard from the cache (the next load fetches it again) and fails the read
 * with IntegrityError. Bytes a read skips over (padding, a tensor read later) are read for the hash.
 */
import { checkRange, type ByteSource } from '../gguf/byteSource.ts';
import { CacheError, IntegrityError } from './errors.ts';
import { rangePieces, shardLength, withoutShards, type FileRecord, type RangePiece } from './plan.ts';
import { Sha256 } from './sha256.ts';
import type { ShardHandle, ShardStore } from './store.ts';

/** Largest transient buffer of a read that spans shards. */
const COPY_STEP = 4 * 1024 * 1024;

export interface CachedSourceOptions {
  /** Re-fetches a lost shard into the store; without it a lost shard is a CacheError. */
  readonly repair?: (index: number, signal?: AbortSignal) => Promise<void>;
  /** Shard handles kept open (default 2). */
  readonly maxOpenShards?: number;
  /** Hash each shard as it is read and refuse (drop, IntegrityError) one whose digest is not the recorded one. */
  readonly verify?: boolean;
  readonly now?: () => number;
}

export function cachedFileSource(store: ShardStore, rec: FileRecord, opts: CachedSourceOptions = {}): ByteSource {
  const maxOpen = Math.max(1, opts.maxOpenShards ?? 2);
  // Most recently used last.
  const open = new Map<number, ShardHandle>();

  async function handle(index: number, signal: AbortSignal | undefined, repaired = false): Promise<ShardHandle> {
    const cached = open.get(index);
    if (cached) {
      open.delete(index);
      open.set(index, cached);
      return cached;
    }
    const h = await store.readShard(rec.url, index);
    const want = shardLength(rec.size, rec.shardSize, index);
    if (!h || h.size !== want) {
      if (opts.repair && !repaired) {
        await opts.repair(index, signal);
        return handle(index, signal, true);
      }
      throw new CacheError(
        h
          ? `${rec.url}: stored shard ${index} has ${h.size} bytes, expected ${want}; load the model again to re-fetch it`
          : `${rec.url}: shard ${index} is missing from the cache (evicted?); load the model again to re-fetch it`,
      );
    }
    open.set(index, h);
    while (open.size > maxOpen) {
      const oldest = open.keys().next().value;
      if (oldest === undefined) break;
      open.delete(oldest);
    }
    return h;
  }

  async function piece(p: RangePiece, signal: AbortSignal | undefined): Promise<Uint8Array> {
    let bytes: Uint8Array;
    try {
      bytes = await (await handle(p.index, signal)).read(p.start, p.length);
    } catch (e) {
      // A handle whose backing data vanished since it was opened: drop it and try once more from the store.
      if (!(e instanceof CacheError) || !open.has(p.index)) throw e;
      open.delete(p.index);
      bytes = await (await handle(p.index, signal)).read(p.start, p.length);
    }
    if (bytes.length !== p.length) {
      throw new CacheError(`${rec.url}: shard ${p.index} gave ${bytes.length} bytes at ${p.start}, expected ${p.length}`);
    }
    if (opts.verify) await hashed(p, bytes, signal);
    return bytes;
  }

  // Streaming check, per shard: bytes [0, pos) hashed so far. Serialized, so concurrent reads feed in order.
  const hashing = new Map<number, { pos: number; h: Sha256 }>();
  const verified = new Set<number>();
  let chain: Promise<void> = Promise.resolve();

  function hashed(p: RangePiece, bytes: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    if (verified.has(p.index)) return Promise.resolve();
    const next = chain.then(() => feed(p, bytes, signal));
    chain = next.catch(() => undefined);
    return next;
  }

  async function feed(p: RangePiece, bytes: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    if (verified.has(p.index)) return;
    const len = shardLength(rec.size, rec.shardSize, p.index);
    let st = hashing.get(p.index);
    if (!st) hashing.set(p.index, (st = { pos: 0, h: new Sha256() }));
    // Skipped bytes before this piece: read them for the hash (small in a forward read: padding between tensors).
    while (st.pos < p.start) {
      const n = Math.min(COPY_STEP, p.start - st.pos);
      st.h.update(await (await handle(p.index, signal)).read(st.pos, n));
      st.pos += n;
    }
    const end = p.start + p.length;
    if (end > st.pos) {
      st.h.update(bytes.subarray(st.pos - p.start));
      st.pos = end;
    }
    if (st.pos < len) return;
    hashing.delete(p.index);
    const got = st.h.hex();
    // The record as stored now: a shard repaired since this source opened has its new (verified) digest there.
    const cur = await store.getFile(rec.url);
    const want = cur?.generation === rec.generation ? (cur.shards[p.index] ?? rec.shards[p.index]) : rec.shards[p.index];
    if (want === null || got === want) {
      verified.add(p.index);
      return;
    }
    open.delete(p.index);
    const now = opts.now ?? Date.now;
    await store.dropShards(rec.url, [p.index], (r) => (r && r.generation === rec.generation ? withoutShards(r, [p.index], now()) : undefined));
    const start = p.index * rec.shardSize;
    throw new IntegrityError(
      `${rec.url}: cached shard ${p.index} (bytes ${start}-${start + len - 1}) is corrupt: its sha256 is ${got}, ` +
        `expected ${want}. It was dropped from the cache; load the model again to download it again.`,
    );
  }

  const src: ByteSource = {
    name: rec.url,
    size: rec.size,
    async read(offset, length, signal) {
      signal?.throwIfAborted();
      checkRange(src, offset, length);
      if (length === 0) return new Uint8Array(0);
      const pieces = rangePieces(offset, length, rec.shardSize);
      if (pieces.length === 1) return piece(pieces[0], signal);
      // Spanning shards: copy into one buffer in bounded steps, so a tensor read costs its own size plus at
      // most COPY_STEP of transient buffers (not a whole shard's worth).
      const out = new Uint8Array(length);
      for (const p of pieces) {
        for (let o = 0; o < p.length; o += COPY_STEP) {
          const n = Math.min(COPY_STEP, p.length - o);
          out.set(await piece({ index: p.index, start: p.start + o, length: n, outOffset: p.outOffset + o }, signal), p.outOffset + o);
          signal?.throwIfAborted();
        }
      }
      return out;
    },
  };
  return src;
}
