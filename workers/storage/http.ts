/**
 * @file The network side of the weight cache: probing a remote file (size, validators, Hugging Face's
 * whole-file digest) and fetching one shard by HTTP Range with retries. A shard is returned only when exactly
 * its bytes arrived: a dropped connection continues from the last byte received (so only missing bytes are
 * fetched again), a short or overlong body is never returned, and a response under a different validator is a
 * `ModelChangedError` instead of bytes from another version of the file.
 */
import { DownloadError, ModelChangedError } from './errors.ts';
import { backoffDelay, linkedSha256, parseContentRange, validatorChange, type RemoteFileInfo, type ShardSpan } from './plan.ts';

export interface HttpOptions {
  /** Defaults to the global fetch. */
  readonly fetch?: typeof fetch;
  /** Extra request headers (e.g. Authorization for gated Hugging Face repos). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Attempts after the first one, per request, before giving up with DownloadError (default 5). */
  readonly retries?: number;
  /** First backoff delay; doubles per attempt up to retryMaxMs (defaults 500 ms, 15 s). */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** A response body that delivers nothing for this long is treated as a dropped connection (default 30 s). */
  readonly stallTimeoutMs?: number;
  /** Injection points for tests. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly random?: () => number;
}

interface Http {
  fetch: typeof fetch;
  headers: Readonly<Record<string, string>>;
  retries: number;
  retryBaseMs: number;
  retryMaxMs: number;
  stallTimeoutMs: number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  random: () => number;
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function resolveHttp(o: HttpOptions): Http {
  return {
    fetch: o.fetch ?? globalThis.fetch.bind(globalThis),
    headers: o.headers ?? {},
    retries: o.retries ?? 5,
    retryBaseMs: o.retryBaseMs ?? 500,
    retryMaxMs: o.retryMaxMs ?? 15_000,
    stallTimeoutMs: o.stallTimeoutMs ?? 30_000,
    sleep: o.sleep ?? abortableSleep,
    random: o.random ?? Math.random,
  };
}

/** A failure worth another attempt (network drop, 5xx, short body...), as opposed to a final answer. */
class Transient extends Error {
  override name = 'Transient';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Runs `attempt` until it succeeds, retrying `Transient` failures with backoff. `progressed()` tells whether
 * the failed attempt moved forward (bytes arrived); such failures do not use up the retry budget, so a long
 * download over a flaky link keeps going as long as each attempt gets somewhere.
 */
async function withRetries<T>(
  http: Http,
  what: string,
  signal: AbortSignal | undefined,
  attempt: () => Promise<T>,
  progressed: () => boolean = () => false,
): Promise<T> {
  let failures = 0;
  for (;;) {
    signal?.throwIfAborted();
    try {
      return await attempt();
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      if (!(e instanceof Transient)) throw e;
      failures = progressed() ? 1 : failures + 1;
      if (failures > http.retries) {
        throw new DownloadError(`${what} failed after ${http.retries + 1} attempts: ${e.message}`, { cause: e, status: e.status });
      }
      await http.sleep(backoffDelay(failures, http.retryBaseMs, http.retryMaxMs, http.random), signal);
    }
  }
}

async function request(http: Http, url: string, range: string, signal: AbortSignal): Promise<Response> {
  try {
    // no-store: the bytes go to IndexedDB; a second copy in the HTTP cache would only double the disk use.
    return await http.fetch(url, { headers: { ...http.headers, Range: range }, signal, cache: 'no-store' });
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    throw new Transient(`request for ${range} failed: ${describe(e)}`);
  }
}

/** Throws the right error for a non-206 answer (consuming its body). */
async function rejectStatus(res: Response, url: string, range: string): Promise<never> {
  await res.body?.cancel().catch(() => {});
  const msg = `${url}: HTTP ${res.status} ${res.statusText} for ${range}`;
  if (RETRYABLE_STATUS.has(res.status)) throw new Transient(msg, res.status);
  if (res.status === 416) throw new ModelChangedError(`${msg}: the file is shorter than it was`, { url });
  if (res.status === 200) {
    throw new DownloadError(`${url}: the server ignored the HTTP Range header (status 200 instead of 206); cannot download it in shards`, {
      status: 200,
    });
  }
  throw new DownloadError(msg, { status: res.status });
}

function remoteInfo(res: Response, size: number): RemoteFileInfo {
  return {
    size,
    etag: res.headers.get('etag'),
    lastModified: res.headers.get('last-modified'),
    linkedSha256: linkedSha256(res.headers.get('x-linked-etag')),
  };
}

/** Size, validators and (Hugging Face) sha256 of a remote file, from a 1-byte range request. */
export async function probeRemote(url: string, opts: HttpOptions, signal?: AbortSignal): Promise<RemoteFileInfo> {
  const http = resolveHttp(opts);
  return withRetries(http, `${url}: probing the file`, signal, async () => {
    const ctl = new AbortController();
    const sig = signal ? AbortSignal.any([signal, ctl.signal]) : ctl.signal;
    const res = await request(http, url, 'bytes=0-0', sig);
    if (res.status !== 206) {
      if (res.status === 200) {
        // A server without Range support: the size is still known, but we must not read the whole body.
        ctl.abort();
      }
      await rejectStatus(res, url, 'bytes=0-0');
    }
    const total = parseContentRange(res.headers.get('content-range'))?.total;
    try {
      await res.arrayBuffer();
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      throw new Transient(`reading the probe response failed: ${describe(e)}`);
    }
    if (total === undefined || !Number.isSafeInteger(total)) {
      throw new DownloadError(`${url}: the server's 206 response has no usable Content-Range total (is the header exposed by CORS?)`);
    }
    return remoteInfo(res, total);
  });
}

export interface ShardFetch {
  readonly url: string;
  readonly span: ShardSpan;
  /** The file as the cache knows it; any response disagreeing is a ModelChangedError. */
  readonly expected: Pick<RemoteFileInfo, 'size' | 'etag' | 'lastModified'>;
  /** Called with each chunk's byte count as it arrives, and with a negative count when bytes are thrown away. */
  readonly onBytes?: (n: number) => void;
  readonly signal?: AbortSignal;
  /** The shard's first bytes, kept from a paused download: only the rest is requested. */
  readonly prefix?: Uint8Array;
  /** Called, when the caller's signal aborts mid-shard, with the bytes received so far (prefix included). */
  readonly keepOnAbort?: (received: Uint8Array) => void;
}

/**
 * Exactly the bytes of one shard. On a dropped connection, a stalled body or a short body, the next attempt
 * asks only for the bytes not yet received. Nothing partial is returned; on abort, what arrived goes to
 * `keepOnAbort` (a paused download keeps it), and `prefix` continues from such bytes.
 */
export async function fetchShard(f: ShardFetch, opts: HttpOptions): Promise<Uint8Array<ArrayBuffer>> {
  const http = resolveHttp(opts);
  const { url, span, expected, signal } = f;
  const buf = new Uint8Array(span.length);
  let got = 0;
  if (f.prefix && f.prefix.length < span.length) {
    buf.set(f.prefix);
    got = f.prefix.length;
  }
  let gotAtAttemptStart = got;
  const last = span.offset + span.length - 1;

  const fetching = withRetries(
    http,
    `${url}: downloading bytes ${span.offset}-${last} (shard ${span.index})`,
    signal,
    async () => {
      gotAtAttemptStart = got;
      const start = span.offset + got;
      const range = `bytes=${start}-${last}`;
      const ctl = new AbortController();
      const sig = signal ? AbortSignal.any([signal, ctl.signal]) : ctl.signal;
      let stalled = false;
      let timer = setTimeout(() => {
        stalled = true;
        ctl.abort();
      }, http.stallTimeoutMs);
      const rearm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          stalled = true;
          ctl.abort();
        }, http.stallTimeoutMs);
      };
      try {
        let res: Response;
        try {
          res = await request(http, url, range, sig);
        } catch (e) {
          if (stalled) throw new Transient(`no response for ${range} within ${http.stallTimeoutMs} ms`);
          throw e;
        }
        // A whole-file 200 is acceptable only when the shard is the whole file.
        const wholeFile = res.status === 200 && span.offset === 0 && got === 0 && span.length === expected.size;
        if (res.status !== 206 && !wholeFile) await rejectStatus(res, url, range);
        const remote = remoteInfo(res, expected.size);
        const cr = parseContentRange(res.headers.get('content-range'));
        if (cr?.total !== undefined && cr.total !== expected.size) {
          await res.body?.cancel().catch(() => {});
          throw new ModelChangedError(`${url} changed upstream: its size is now ${cr.total} bytes, the cached copy has ${expected.size}`, { url });
        }
        const change = validatorChange({ size: expected.size, etag: expected.etag, lastModified: expected.lastModified }, remote);
        if (change !== undefined) {
          await res.body?.cancel().catch(() => {});
          throw new ModelChangedError(`${url} changed upstream while downloading: ${change}`, { url });
        }
        if (cr && (cr.start !== start || cr.end !== last)) {
          await res.body?.cancel().catch(() => {});
          throw new Transient(`asked for ${range}, the server sent bytes ${cr.start}-${cr.end}`);
        }
        if (!res.body) throw new Transient(`empty body for ${range}`);
        const reader = res.body.getReader();
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            rearm();
            if (got + value.length > buf.length) {
              // More than asked for: nothing in this response can be trusted.
              f.onBytes?.(-(got - gotAtAttemptStart));
              got = gotAtAttemptStart;
              throw new Transient(`the server sent more than the ${last - start + 1} bytes asked for in ${range}`);
            }
            buf.set(value, got);
            got += value.length;
            f.onBytes?.(value.length);
          }
        } catch (e) {
          // Close the connection: whatever is left of this body is not wanted.
          ctl.abort();
          await reader.cancel().catch(() => {});
          // Every byte is here (only the end-of-body notice was lost, e.g. to an abort): the shard is complete,
          // and keeping it means a paused download does not fetch it again.
          if (got === buf.length && !(e instanceof Transient)) return;
          if (signal?.aborted) throw signal.reason;
          if (e instanceof Transient) throw e;
          throw new Transient(stalled ? `the body of ${range} stalled for ${http.stallTimeoutMs} ms` : `the connection dropped during ${range}: ${describe(e)}`);
        }
        if (got < buf.length) throw new Transient(`short response for ${range}: ${got - (start - span.offset)} of ${last - start + 1} bytes`);
      } finally {
        clearTimeout(timer);
      }
    },
    () => got > gotAtAttemptStart,
  );
  try {
    await fetching;
  } catch (e) {
    // Paused (or stopped with the others) mid-shard: what arrived is the caller's to keep for a resume.
    if (signal?.aborted && got > 0 && got < buf.length) f.keepOnAbort?.(buf.subarray(0, got));
    throw e;
  }
  return buf;
}
