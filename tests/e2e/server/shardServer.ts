/**
 * @file The local test server of the weight-cache e2e tests: a Node http server on 127.0.0.1 (a random port)
 * that serves model files with HTTP Range and the faults of rangeFaults.ts on real sockets (refused/reset
 * connections, a connection cut after N body bytes, truncated and corrupted bodies), optional throttling, and a
 * log of the bytes it actually wrote. It also serves the test page: harness.ts (which imports the real
 * workers/storage and workers/gguf modules) bundled by esbuild for the browser, the same way the app's
 * production build bundles them. The tests drive it directly (same Node process), no control endpoints.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { RangeFiles } from './rangeFaults.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface ShardServer extends RangeFiles {
  readonly origin: string;
  /** Every request is answered by resetting the connection while true (the network is down). */
  down: boolean;
  /** Body bytes per second per response (0 = unthrottled). */
  throttle: number;
  /** Extra response headers for /files (e.g. to hide validators). */
  addFile(name: string, bytes: Uint8Array, opts?: { etag?: string; linkedEtag?: string; lastModified?: string }): void;
  close(): Promise<void>;
}

/** Bundles the harness for the browser once per process. */
let bundled: Promise<string> | undefined;
function harnessBundle(): Promise<string> {
  bundled ??= build({
    entryPoints: [path.join(here, 'harness.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    logLevel: 'silent',
  }).then((r) => r.outputFiles[0].text);
  return bundled;
}

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>shard cache harness</title></head>
<body><p id="state">loading</p><script type="module" src="/harness.js"></script></body></html>`;

// Cross-origin isolation, so performance.measureUserAgentSpecificMemory is available to the page if wanted.
const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, HEAD',
  'access-control-allow-headers': 'range, if-range, if-match',
  'access-control-expose-headers': 'content-range, content-length, accept-ranges, etag, last-modified, x-linked-etag',
  'cross-origin-resource-policy': 'cross-origin',
};

export async function startShardServer(): Promise<ShardServer> {
  const js = await harnessBundle();
  const files = new RangeFiles();
  const sockets = new Set<Socket>();

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/' || url.pathname === '/harness.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...ISOLATION });
      res.end(PAGE);
      return;
    }
    if (url.pathname === '/harness.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store', ...ISOLATION });
      res.end(js);
      return;
    }
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    if (!url.pathname.startsWith('/files/')) {
      res.writeHead(404);
      res.end();
      return;
    }
    // CORS, so the app (another origin) can download from it too.
    for (const [k, v] of Object.entries(CORS)) res.setHeader(k, v);
    if (req.method === 'OPTIONS') {
      res.writeHead(204);
      res.end();
      return;
    }
    const name = decodeURIComponent(url.pathname.slice('/files/'.length));
    if (api.down) {
      files.log.push({ file: name, range: req.headers.range ?? '', status: 0, start: 0, end: -1, sent: 0, fault: 'network' });
      req.socket.destroy();
      return;
    }
    const plan = files.plan(name, req.headers.range, req.method ?? 'GET');
    if (plan.network) {
      req.socket.destroy();
      return;
    }
    res.writeHead(plan.status, { ...plan.headers, 'cache-control': 'no-store', ...ISOLATION });
    if (req.method === 'HEAD' || plan.body.length === 0) {
      res.end();
      return;
    }
    const limit = plan.dropAfter ?? plan.body.length;
    const chunk = 64 * 1024;
    let pos = 0;
    let closed = false;
    res.on('close', () => {
      closed = true;
    });
    const pump = (): void => {
      if (closed) return;
      if (pos >= limit) {
        res.end();
        return;
      }
      const n = Math.min(chunk, limit - pos);
      const last = pos + n >= limit;
      const cut = last && plan.dropAfter !== undefined && plan.dropAfter < plan.body.length;
      // Count bytes once they are handed to the kernel (what destroy() would otherwise discard is not "sent"),
      // and cut the connection only after the bytes before the cut are flushed.
      const ok = res.write(plan.body.subarray(pos, pos + n), (err) => {
        if (err) return;
        plan.entry.sent += n;
        if (cut) res.socket?.destroy();
      });
      pos += n;
      if (cut) return;
      const next = (): void => {
        if (api.throttle > 0) setTimeout(pump, (n / api.throttle) * 1000);
        else setImmediate(pump);
      };
      if (ok) next();
      else res.once('drain', next);
    };
    pump();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('the shard test server has no TCP address');
  const port = addr.port;

  const api: ShardServer = Object.assign(files, {
    origin: `http://127.0.0.1:${port}`,
    down: false,
    throttle: 0,
    addFile(name: string, bytes: Uint8Array, opts: { etag?: string; linkedEtag?: string; lastModified?: string } = {}) {
      files.files.set(name, { bytes, etag: opts.etag ?? `"${name}-v1"`, linkedEtag: opts.linkedEtag, lastModified: opts.lastModified });
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
  return api;
}

/** Reads a file into a Uint8Array (the e2e tests serve repo files and the shared models). */
export function readBytes(file: string): Uint8Array {
  return new Uint8Array(readFileSync(file));
}
