/**
 * @file Random access to the bytes of a model file, wherever it lives: an ArrayBuffer, a File/Blob picked by
 * the user, or a URL served with HTTP Range support. The GGUF reader and the weight loader only ever ask for
 * byte ranges, so a multi-GB model is never held in memory whole. (The Node file-handle source lives in
 * scripts/lib/nodeSource.ts so that workers/ stays free of `node:` imports.)
 */
import { GgufError } from './errors.ts';

export interface ByteSource {
  /** File name (or URL) for messages and for finding split siblings. */
  readonly name: string;
  readonly size: number;
  /**
   * Exactly `length` bytes starting at `offset`, or throws `GgufError('truncated')`. The result may be a view
   * into a buffer the source keeps (arrayBufferSource): copy it before transferring or mutating it.
   */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
}

/** Checks a requested range against the source size; shared by every implementation. */
export function checkRange(src: { name: string; size: number }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new GgufError('out-of-bounds', `${src.name}: invalid byte range offset=${offset} length=${length}`);
  }
  if (offset + length > src.size) {
    throw new GgufError(
      'truncated',
      `${src.name}: read of ${length} bytes at offset ${offset} runs past the end of the file (${src.size} bytes)`,
    );
  }
}

export function arrayBufferSource(buf: ArrayBuffer | Uint8Array, name = 'buffer'): ByteSource {
  const bytes = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  const src: ByteSource = {
    name,
    size: bytes.byteLength,
    read(offset, length, signal) {
      signal?.throwIfAborted();
      checkRange(src, offset, length);
      return Promise.resolve(bytes.subarray(offset, offset + length));
    },
  };
  return src;
}

export function blobSource(blob: Blob, name = blob instanceof File ? blob.name : 'blob'): ByteSource {
  const src: ByteSource = {
    name,
    size: blob.size,
    async read(offset, length, signal) {
      signal?.throwIfAborted();
      checkRange(src, offset, length);
      let buf: ArrayBuffer;
      try {
        buf = await blob.slice(offset, offset + length).arrayBuffer();
      } catch (e) {
        throw new GgufError('io', `${name}: reading ${length} bytes at offset ${offset} failed: ${String(e)}`, { cause: e });
      }
      signal?.throwIfAborted();
      if (buf.byteLength !== length) {
        throw new GgufError('truncated', `${name}: wanted ${length} bytes at offset ${offset}, got ${buf.byteLength}`);
      }
      return new Uint8Array(buf);
    },
  };
  return src;
}

export interface UrlSourceOptions {
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Extra request headers (e.g. authorization). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** Parses `bytes a-b/total` from a Content-Range header. */
function parseContentRange(h: string | null): { start: number; end: number; total: number | undefined } | undefined {
  if (!h) return undefined;
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(h);
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

/**
 * A source reading a URL by HTTP Range requests. The size comes from the Content-Range of a first 1-byte
 * probe (or Content-Length of a HEAD when the probe gives no total). A server that ignores Range (answers
 * 200 with the whole body) is rejected with `GgufError('range-unsupported')` rather than downloading GBs.
 */
export async function openUrlSource(url: string, opts: UrlSourceOptions = {}): Promise<ByteSource> {
  const doFetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const headers = opts.headers ?? {};

  async function get(range: string, signal?: AbortSignal): Promise<Response> {
    try {
      return await doFetch(url, { headers: { ...headers, Range: range }, signal });
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      throw new GgufError('io', `${url}: request for ${range} failed: ${String(e)}`, { cause: e });
    }
  }

  const probe = await get('bytes=0-0', opts.signal);
  if (probe.status === 200) {
    await probe.body?.cancel();
    throw new GgufError(
      'range-unsupported',
      `${url}: the server ignored the HTTP Range header (status 200 instead of 206); cannot read the model by ranges`,
    );
  }
  if (probe.status !== 206) {
    await probe.body?.cancel();
    throw new GgufError('io', `${url}: HTTP ${probe.status} ${probe.statusText}`);
  }
  await probe.arrayBuffer();
  let size = parseContentRange(probe.headers.get('content-range'))?.total;
  if (size === undefined) {
    let head: Response;
    try {
      head = await doFetch(url, { method: 'HEAD', headers, signal: opts.signal });
    } catch (e) {
      throw new GgufError('io', `${url}: HEAD request failed: ${String(e)}`, { cause: e });
    }
    const len = head.headers.get('content-length');
    size = len === null ? undefined : Number(len);
    if (size === undefined || !Number.isSafeInteger(size)) {
      throw new GgufError('io', `${url}: the server reports neither Content-Range total nor Content-Length`);
    }
  }
  const total = size;

  const src: ByteSource = {
    name: url,
    size: total,
    async read(offset, length, signal) {
      signal?.throwIfAborted();
      checkRange(src, offset, length);
      if (length === 0) return new Uint8Array(0);
      const res = await get(`bytes=${offset}-${offset + length - 1}`, signal);
      if (res.status === 200) {
        await res.body?.cancel();
        throw new GgufError('range-unsupported', `${url}: the server stopped honouring Range requests (status 200)`);
      }
      if (res.status !== 206) {
        await res.body?.cancel();
        throw new GgufError('io', `${url}: HTTP ${res.status} ${res.statusText} for bytes ${offset}+${length}`);
      }
      const cr = parseContentRange(res.headers.get('content-range'));
      if (cr && cr.start !== offset) {
        await res.body?.cancel();
        throw new GgufError('io', `${url}: asked for bytes from ${offset}, the server sent from ${cr.start}`);
      }
      let buf: ArrayBuffer;
      try {
        buf = await res.arrayBuffer();
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        throw new GgufError('io', `${url}: reading the body for bytes ${offset}+${length} failed: ${String(e)}`, { cause: e });
      }
      if (buf.byteLength !== length) {
        throw new GgufError('truncated', `${url}: wanted ${length} bytes at offset ${offset}, got ${buf.byteLength}`);
      }
      return new Uint8Array(buf);
    },
  };
  return src;
}
