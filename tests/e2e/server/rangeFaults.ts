/**
 * @file A file server's Range logic with fault injection, shared by the weight-cache tests: the unit tests use
 * it as a fake `fetch` (FakeRangeServer), the Playwright tests through a real Node http server (shardServer.ts).
 * Faults are rules consulted per request: refuse the connection, answer an HTTP error, send a truncated body
 * with a consistent Content-Length, drop the connection after some bytes, or corrupt bytes at file offsets.
 * Every request is logged with the bytes actually sent, so tests can count what was fetched again.
 */

export type Fault =
  | { readonly kind: 'network' }
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'truncate'; readonly keep: number }
  | { readonly kind: 'drop'; readonly after: number }
  | { readonly kind: 'corrupt'; readonly offsets: readonly number[] }
  | { readonly kind: 'ignore-range' };

export interface RangeRequest {
  readonly file: string;
  /** Inclusive byte range asked for (already clamped to the file). */
  readonly start: number;
  readonly end: number;
  /** 0-based count of requests for this file so far. */
  readonly nth: number;
}

/** Returns a fault for this request or undefined; a rule may keep state (e.g. fire once). */
export type FaultRule = (req: RangeRequest) => Fault | undefined;

export interface ServedFile {
  readonly bytes: Uint8Array;
  etag?: string;
  lastModified?: string;
  /** Sent as X-Linked-ETag (Hugging Face's whole-file sha256 header). */
  linkedEtag?: string;
}

export interface LogEntry {
  readonly file: string;
  readonly range: string;
  readonly status: number;
  readonly start: number;
  readonly end: number;
  /** Body bytes handed to the connection. */
  sent: number;
  readonly fault: Fault['kind'] | null;
}

/** What to send for one request: status, headers, body, and how the body ends. */
export interface Plan {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array;
  /** Cut the connection after this many body bytes (undefined: send all and end cleanly). */
  readonly dropAfter?: number;
  /** Refuse/reset before any response. */
  readonly network?: boolean;
  readonly entry: LogEntry;
}

/** Parses `bytes=a-b` / `bytes=a-` (one range); undefined when absent or unusable. */
export function parseRange(h: string | null | undefined, size: number): { start: number; end: number } | undefined {
  if (!h) return undefined;
  const m = /^bytes=(\d+)-(\d*)$/.exec(h.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return { start, end };
}

/** Files by name, fault rules and the request log: the state both servers share. */
export class RangeFiles {
  readonly files = new Map<string, ServedFile>();
  readonly log: LogEntry[] = [];
  rules: FaultRule[] = [];
  private readonly counts = new Map<string, number>();

  /** Body bytes sent for `file` (or all files) since the log was last cleared. */
  bytesSent(file?: string): number {
    return this.log.filter((e) => file === undefined || e.file === file).reduce((s, e) => s + e.sent, 0);
  }

  clearLog(): void {
    this.log.length = 0;
  }

  plan(file: string, rangeHeader: string | null | undefined, method = 'GET'): Plan {
    const f = this.files.get(file);
    const entryBase = { file, range: rangeHeader ?? '', sent: 0 };
    if (!f) {
      const entry: LogEntry = { ...entryBase, status: 404, start: 0, end: -1, fault: null };
      this.log.push(entry);
      return { status: 404, headers: {}, body: new Uint8Array(0), entry };
    }
    const size = f.bytes.length;
    const base: Record<string, string> = { 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
    if (f.etag) base.etag = f.etag;
    if (f.lastModified) base['last-modified'] = f.lastModified;
    if (f.linkedEtag) base['x-linked-etag'] = f.linkedEtag;
    const r = parseRange(rangeHeader, size);
    const nth = this.counts.get(file) ?? 0;
    this.counts.set(file, nth + 1);
    let fault: Fault | undefined;
    for (const rule of this.rules) {
      fault = rule({ file, start: r?.start ?? 0, end: r?.end ?? size - 1, nth });
      if (fault) break;
    }
    const push = (status: number, start: number, end: number): LogEntry => {
      const entry: LogEntry = { ...entryBase, status, start, end, fault: fault?.kind ?? null };
      this.log.push(entry);
      return entry;
    };
    if (fault?.kind === 'network') return { status: 0, headers: {}, body: new Uint8Array(0), network: true, entry: push(0, 0, -1) };
    if (fault?.kind === 'status') return { status: fault.status, headers: base, body: new Uint8Array(0), entry: push(fault.status, 0, -1) };
    if (!r || fault?.kind === 'ignore-range') {
      const body = method === 'HEAD' ? new Uint8Array(0) : f.bytes;
      return { status: 200, headers: { ...base, 'content-length': String(size) }, body, entry: push(200, 0, size - 1) };
    }
    if (r.start >= size || r.start > r.end) {
      return { status: 416, headers: { ...base, 'content-range': `bytes */${size}` }, body: new Uint8Array(0), entry: push(416, r.start, r.end) };
    }
    let body = f.bytes.slice(r.start, r.end + 1);
    const headers = { ...base, 'content-range': `bytes ${r.start}-${r.end}/${size}` };
    if (fault?.kind === 'corrupt') {
      for (const off of fault.offsets) if (off >= r.start && off <= r.end) body[off - r.start] ^= 0x5a;
    }
    if (fault?.kind === 'truncate') body = body.slice(0, Math.min(fault.keep, body.length));
    if (method === 'HEAD') body = new Uint8Array(0);
    const dropAfter = fault?.kind === 'drop' ? Math.min(fault.after, body.length) : undefined;
    return { status: 206, headers: { ...headers, 'content-length': String(body.length) }, body, dropAfter, entry: push(206, r.start, r.end) };
  }
}

/** Fires `fault` for the first `times` requests matching `when`. */
export function once(when: (r: RangeRequest) => boolean, fault: Fault | ((r: RangeRequest) => Fault), times = 1): FaultRule {
  let left = times;
  return (r) => {
    if (left <= 0 || !when(r)) return undefined;
    left--;
    return typeof fault === 'function' ? fault(r) : fault;
  };
}

/** A fake `fetch` over RangeFiles for Node unit tests (URL path's last segment = file name). */
export class FakeRangeServer extends RangeFiles {
  /** Every fetch fails with a network error while true. */
  down = false;
  /** Called before each response body chunk is delivered (lets a test abort mid-download). */
  onChunk?: (entry: LogEntry) => void;
  readonly chunkSize: number;

  constructor(chunkSize = 64 * 1024) {
    super();
    this.chunkSize = chunkSize;
  }

  readonly fetch: typeof fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const signal = init?.signal ?? undefined;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const headers = new Headers(init?.headers);
    const file = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
    if (this.down) {
      this.log.push({ file, range: headers.get('range') ?? '', status: 0, start: 0, end: -1, sent: 0, fault: 'network' });
      return Promise.reject(new TypeError('fetch failed: connection refused'));
    }
    const p = this.plan(file, headers.get('range'), init?.method ?? 'GET');
    if (p.network) return Promise.reject(new TypeError('fetch failed: connection reset'));
    const { body, dropAfter, entry } = p;
    const limit = dropAfter ?? body.length;
    let pos = 0;
    const chunk = this.chunkSize;
    const stream = new ReadableStream<Uint8Array>({
      pull: (ctl) => {
        if (signal?.aborted) {
          ctl.error(signal.reason);
          return;
        }
        this.onChunk?.(entry);
        if (pos >= limit) {
          if (dropAfter !== undefined && dropAfter < body.length) ctl.error(new TypeError('terminated: other side closed'));
          else ctl.close();
          return;
        }
        const n = Math.min(chunk, limit - pos);
        ctl.enqueue(body.slice(pos, pos + n));
        pos += n;
        entry.sent += n;
      },
    });
    const nullBody = p.status === 204 || p.status === 304 || (init?.method ?? 'GET') === 'HEAD';
    return Promise.resolve(new Response(nullBody ? null : stream, { status: p.status, headers: p.headers }));
  };
}
