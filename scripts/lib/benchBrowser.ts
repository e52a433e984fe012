/**
 * @file `npm run bench:browser`: the model benchmark in headless Chromium, through the engine worker. It builds
 * scripts/bench-browser/ (a page that starts the app's engine worker, `startEngineWorker`) with vite into a
 * temporary folder, serves it and the model's folder from a local HTTP server with Range support (a random port,
 * so it never meets the e2e server on 4173), launches Chromium with the e2e flags, loads the model through the
 * worker (the weight cache, as the app does) and runs the worker's `bench` method: the same measurement as the
 * CLI `bench` and Settings → Benchmark (workers/bench/bench.ts). The peak JS heap is the page's plus its
 * workers', read over CDP. Every phase has a deadline, so a stuck browser ends with an error, never a hang.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, CDPSession, Page } from '@playwright/test';
import { benchResult, type BenchResult } from '../../workers/bench/bench.ts';
import type { BenchParams } from '../../workers/measurement.ts';
import type { BrowserBenchOutcome, BrowserBenchRequest, PeerBackendChoice, PeerOutcome } from '../bench-browser/page.ts';

/** The repository root: the nearest directory above this module (or the CLI bundle) holding workers/ and package.json. */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!(existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'workers')))) {
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

export const DEFAULT_BROWSER_MODEL = 'public/models/brix-demo-30m/brix-demo-30m-q8_0-00001-of-00002.gguf';
export const SYSTEM_CHROMIUM = '/usr/bin/chromium';
/** The e2e flags (playwright.config.ts): `--enable-unsafe-webgpu` turns WebGPU on in headless Linux Chromium. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--enable-unsafe-webgpu',
];

export interface BrowserBenchOptions extends BenchParams {
  /** A GGUF path (split siblings and a manifest may sit next to it), a manifest.json path, or an http(s) URL. */
  readonly model: string;
  /** Deadline for the whole run, seconds. */
  readonly timeoutSeconds: number;
  /** Also measure wllama on the same file, in the same page, after Brix. */
  readonly peer?: { readonly engine: 'wllama'; readonly backend: PeerBackendChoice };
  /**
   * Launch this Chromium binary directly (no Playwright: the page runs itself and POSTs its outcome), with
   * `chromiumFlags`: how the GPU machine's headless Chromium runs (../shared/tools/gpu-browser).
   */
  readonly chromium?: string;
  readonly chromiumFlags?: readonly string[];
  /** Where the directly launched Chromium's stdout/stderr go (default: inside its temporary profile). */
  readonly chromiumLog?: string;
  /** A page built before (`--build-page`): skips the vite build, so no vite is needed where it runs. */
  readonly pageDir?: string;
  readonly log?: (line: string) => void;
}

/** wllama's side of `--peer wllama`, with Brix's ratios to it (Brix / wllama, so > 1 means Brix is faster). */
export type BrowserPeerResult =
  | (Extract<PeerOutcome, { ok: true }> & { readonly loadSeconds: number; readonly ratioPrefill: number; readonly ratioDecode: number })
  | Extract<PeerOutcome, { ok: false }>;

export interface BrowserInfo {
  readonly name: string;
  readonly version: string;
  /** The Chromium binary, or 'playwright' for Playwright's own build. */
  readonly executable: string;
  readonly args: readonly string[];
  readonly userAgent: string;
  /** What loadSeconds covers here (a fresh profile: nothing is cached). */
  readonly load: string;
}

export interface BrowserBenchResult extends BenchResult {
  readonly browser: BrowserInfo;
  readonly peer?: BrowserPeerResult;
}

/** The run did not finish: a phase ran out of time, the page crashed, or the engine threw. */
export class BrowserBenchError extends Error {
  override name = 'BrowserBenchError';
}

/** Where the model comes from: a URL as is, or a local file served from its folder under /model/. */
export function resolveModel(model: string): { url: string } | { dir: string; file: string } {
  if (/^https?:\/\//.test(model)) return { url: model };
  const abs = model === DEFAULT_BROWSER_MODEL ? path.join(repoRoot(), model) : path.resolve(model);
  if (!existsSync(abs)) throw new BrowserBenchError(`--model ${model}: no such file`);
  if (statSync(abs).isDirectory()) throw new BrowserBenchError(`--model ${model}: a directory; give the (first) .gguf file or its manifest.json`);
  if (path.basename(abs) === 'manifest.json') {
    const m: unknown = JSON.parse(readFileSync(abs, 'utf8'));
    const files = typeof m === 'object' && m !== null && 'files' in m && Array.isArray(m.files) ? m.files : [];
    const first: unknown = files[0];
    const name = typeof first === 'object' && first !== null && 'name' in first && typeof first.name === 'string' ? first.name : undefined;
    if (!name) throw new BrowserBenchError(`${model}: a manifest without files`);
    return { dir: path.dirname(abs), file: name };
  }
  return { dir: path.dirname(abs), file: path.basename(abs) };
}

/** Deadlines: each phase gets its own limit, never past the run's. */
class Deadline {
  private readonly end: number;
  constructor(seconds: number) {
    this.end = Date.now() + seconds * 1000;
  }
  async run<T>(phase: string, limitSeconds: number, work: Promise<T>, onTimeout?: () => void): Promise<T> {
    const ms = Math.max(0, Math.min(limitSeconds * 1000, this.end - Date.now()));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        onTimeout?.();
        reject(new BrowserBenchError(`timed out after ${(ms / 1000).toFixed(0)} s while ${phase} (raise --timeout if the machine is just slow)`));
      }, ms);
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

/** A page launched without Playwright: its request, and where its log lines and outcome go. */
interface AutoPage {
  readonly request: () => BrowserBenchRequest;
  readonly onLog: (line: string) => void;
  readonly onResult: (body: string) => void;
}

/**
 * Serves `site` at / and `modelDir` at /model/, GET and HEAD, single byte ranges (what the weight cache asks),
 * cross-origin isolated (COOP/COEP: wllama's threads need SharedArrayBuffer). With `auto`, also /request.json
 * and POST /log and /result.
 */
function startServer(site: string, modelDir: string | undefined, auto?: AutoPage): Promise<{ origin: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const rel = decodeURIComponent(url.pathname);
    if (auto && req.method === 'POST' && (rel === '/log' || rel === '/result')) {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => {
        if (body.length < 64 << 20) body += d;
      });
      req.on('end', () => {
        res.writeHead(204).end();
        if (rel === '/log') auto.onLog(body.slice(0, 4000));
        else auto.onResult(body);
      });
      return;
    }
    if (auto && rel === '/request.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(auto.request()));
      return;
    }
    const [base, sub] = rel.startsWith('/model/') && modelDir ? [modelDir, rel.slice('/model/'.length)] : [site, rel === '/' ? 'index.html' : rel.slice(1)];
    const file = path.resolve(base, sub);
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !file.startsWith(base + path.sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 404 : 405).end();
      return;
    }
    const st = statSync(file);
    const headers: Record<string, string> = {
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'accept-ranges': 'bytes',
      'cache-control': 'no-store',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'cross-origin-resource-policy': 'same-origin',
      etag: `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`,
      'last-modified': st.mtime.toUTCString(),
    };
    let start = 0;
    let end = st.size - 1;
    let status = 200;
    const range = req.headers.range;
    if (range !== undefined) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range);
      const a = m?.[1] ? Number(m[1]) : undefined;
      const b = m?.[2] ? Number(m[2]) : undefined;
      if (a !== undefined) [start, end] = [a, Math.min(b ?? st.size - 1, st.size - 1)];
      else if (b !== undefined) [start, end] = [Math.max(0, st.size - b), st.size - 1];
      if (!m || start > end || start >= st.size) {
        res.writeHead(416, { 'content-range': `bytes */${st.size}` }).end();
        return;
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${st.size}`;
    }
    headers['content-length'] = String(end - start + 1);
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || st.size === 0) res.end();
    else createReadStream(file, { start, end }).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      resolve({
        // localhost, not 127.0.0.1: a secure context without TLS, which WebGPU needs.
        origin: `http://localhost:${port}`,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

/** Builds scripts/bench-browser/ (the page, the app's engine worker, wllama and its wasm) into `outDir`. */
export async function buildPage(outDir: string): Promise<void> {
  const { build } = await import('vite');
  await build({
    configFile: false,
    root: path.join(repoRoot(), 'scripts/bench-browser'),
    base: './',
    publicDir: false,
    logLevel: 'warn',
    // As vite.config.ts: ES-module workers, es2022.
    worker: { format: 'es' },
    build: { outDir, emptyOutDir: true, target: 'es2022', reportCompressedSize: false },
  });
}

/**
 * The JS heap of the page and its workers (the engine's), sampled over CDP: the worker's heap is not visible to
 * the page (no performance.memory in workers). Non-flattened sessions, so Playwright's own stay untouched.
 */
class HeapSampler {
  peak = 0;
  failed = false;
  private readonly workers = new Set<string>();
  private readonly waiting = new Map<number, (used: number) => void>();
  private nextId = 1;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly cdp: CDPSession) {
    cdp.on('Target.attachedToTarget', (e) => {
      if (e.targetInfo.type === 'worker') this.workers.add(e.sessionId);
    });
    cdp.on('Target.detachedFromTarget', (e) => void this.workers.delete(e.sessionId));
    cdp.on('Target.receivedMessageFromTarget', (e) => {
      const m: unknown = JSON.parse(e.message);
      if (typeof m !== 'object' || m === null || !('id' in m) || typeof m.id !== 'number') return;
      const done = this.waiting.get(m.id);
      if (!done) return;
      this.waiting.delete(m.id);
      const used = 'result' in m && typeof m.result === 'object' && m.result !== null && 'usedSize' in m.result ? m.result.usedSize : 0;
      done(typeof used === 'number' ? used : 0);
    });
  }

  async start(): Promise<void> {
    await this.cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });
    this.timer = setInterval(() => void this.sample(), 250);
  }

  private workerHeap(sessionId: string): Promise<number> {
    const id = this.nextId++;
    return new Promise<number>((resolve) => {
      this.waiting.set(id, resolve);
      // A worker that is gone never answers: count it as 0 after a second.
      setTimeout(() => {
        if (this.waiting.delete(id)) resolve(0);
      }, 1000);
      this.cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method: 'Runtime.getHeapUsage' }) }).catch(() => {
        if (this.waiting.delete(id)) resolve(0);
      });
    });
  }

  async sample(): Promise<void> {
    try {
      const page = await this.cdp.send('Runtime.getHeapUsage');
      const workers = await Promise.all([...this.workers].map((s) => this.workerHeap(s)));
      this.peak = Math.max(this.peak, page.usedSize + workers.reduce((a, b) => a + b, 0));
    } catch {
      this.failed = true;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Brix's ratios to the peer, its load in seconds. */
function peerResult(p: PeerOutcome | undefined, brix: BenchResult): BrowserPeerResult | undefined {
  if (!p || !p.ok) return p;
  return {
    ...p,
    loadSeconds: p.loadMs / 1000,
    ratioPrefill: brix.prefillTokensPerSecond.median / p.prefillTokensPerSecond.median,
    ratioDecode: brix.decodeTokensPerSecond.median / p.decodeTokensPerSecond.median,
  };
}

/** What a driver gives back: the page's outcome, the peak JS heap where it can read it, the browser's version. */
interface Driven {
  readonly outcome: BrowserBenchOutcome;
  readonly peakJsHeapBytes: number | null;
  readonly version: string;
  readonly executable: string;
  readonly args: readonly string[];
}

/** Playwright's Chromium (or /usr/bin/chromium), the page driven over CDP, the heap sampled. */
async function drivePlaywright(origin: string, req: BrowserBenchRequest, deadline: Deadline, log: (l: string) => void, closers: (() => Promise<void>)[]): Promise<Driven> {
  const { chromium } = await import('@playwright/test');
  const system = existsSync(SYSTEM_CHROMIUM);
  log(`launching headless Chromium (${system ? SYSTEM_CHROMIUM : "Playwright's own build"})`);
  const b: Browser = await deadline.run('launching Chromium', 120, chromium.launch({ ...(system ? { executablePath: SYSTEM_CHROMIUM } : {}), args: [...CHROMIUM_ARGS], timeout: 120_000 }));
  // Closing can itself hang on a wedged GPU process: give it 30 s, the process exits anyway.
  closers.push(() => Promise.race([b.close().catch(() => undefined), new Promise<void>((r) => setTimeout(r, 30_000).unref())]));
  const page: Page = await b.newPage();
  // A crash or an uncaught error ends the run at once instead of waiting for the deadline.
  const broken = new Promise<never>((_, reject) => {
    page.on('crash', () => reject(new BrowserBenchError('the page crashed')));
    page.on('pageerror', (e) => reject(new BrowserBenchError(`uncaught error in the page: ${e.name}: ${e.message}`)));
  });
  broken.catch(() => undefined);
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') log(`[browser ${m.type()}] ${m.text()}`);
  });
  await page.exposeFunction('brixBenchLog', (line: string) => log(line));
  await deadline.run('opening the bench page', 60, Promise.race([page.goto(`${origin}/`), broken]));
  await deadline.run('waiting for the bench page', 60, Promise.race([page.waitForFunction(() => window.brixBench !== undefined), broken]));

  const heap = new HeapSampler(await page.context().newCDPSession(page));
  await heap.start();
  closers.push(async () => heap.stop());
  const outcome: BrowserBenchOutcome = await deadline.run(
    'loading the model and running the benchmark in the page',
    Infinity,
    Promise.race([
      page.evaluate((r) => {
        const bench = window.brixBench;
        if (!bench) throw new Error('the bench page did not start');
        return bench.run(r);
      }, req),
      broken,
    ]),
  );
  await heap.sample();
  heap.stop();
  return { outcome, peakJsHeapBytes: heap.failed || heap.peak === 0 ? null : heap.peak, version: b.version(), executable: system ? SYSTEM_CHROMIUM : 'playwright', args: CHROMIUM_ARGS };
}

/** A Chromium binary launched directly on `<origin>/?auto`: the page fetches its request and POSTs the outcome. */
async function driveDirect(
  chromiumPath: string,
  flags: readonly string[],
  origin: string,
  result: Promise<string>,
  logPath: string | undefined,
  deadline: Deadline,
  log: (l: string) => void,
  closers: (() => Promise<void>)[],
): Promise<Driven> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'brix-bench-profile-'));
  closers.push(async () => rmSync(profile, { recursive: true, force: true }));
  const logFile = logPath ?? path.join(profile, 'chromium.log');
  const args = [...flags, `--user-data-dir=${profile}`, `${origin}/?auto`];
  log(`launching ${chromiumPath} ${flags.join(' ')} (its log: ${logFile})`);
  const fd = openSync(logFile, 'w');
  const child: ChildProcess = spawn(chromiumPath, args, { stdio: ['ignore', fd, fd], detached: true });
  closers.push(async () => {
    if (child.exitCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (e) => reject(new BrowserBenchError(`could not start ${chromiumPath}: ${e.message}`)));
    child.once('exit', (code, signal) => {
      const tail = readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
      reject(new BrowserBenchError(`Chromium exited (code ${code}, signal ${signal}) before the page reported; the end of its log:\n${tail}`));
    });
  });
  exited.catch(() => undefined);
  const body = await deadline.run('loading the model and running the benchmark in the page', Infinity, Promise.race([result, exited]));
  const outcome: BrowserBenchOutcome = JSON.parse(body);
  const ua = outcome.ok ? outcome.userAgent : '';
  const version = /Chrome\/([\d.]+)/.exec(ua)?.[1] ?? 'unknown';
  return { outcome, peakJsHeapBytes: null, version, executable: chromiumPath, args: flags };
}

export async function runBrowserBench(o: BrowserBenchOptions): Promise<BrowserBenchResult> {
  const log = o.log ?? (() => undefined);
  const deadline = new Deadline(o.timeoutSeconds);
  const model = resolveModel(o.model);
  const closers: (() => Promise<void>)[] = [];
  let site: string;
  if (o.pageDir !== undefined && existsSync(path.join(o.pageDir, 'index.html'))) {
    site = path.resolve(o.pageDir);
  } else {
    site = mkdtempSync(path.join(os.tmpdir(), 'brix-bench-browser-'));
    const built = site;
    closers.push(async () => rmSync(built, { recursive: true, force: true }));
    log('building the bench page and the engine worker (vite build)');
    await deadline.run('building the page (vite build)', 600, buildPage(site));
  }
  try {
    const modelDir = 'dir' in model ? model.dir : undefined;
    const modelUrlAt = (origin: string): string => ('url' in model ? model.url : `${origin}/model/${encodeURIComponent(model.file)}`);
    const request = (origin: string): BrowserBenchRequest => ({
      modelUrl: modelUrlAt(origin),
      params: { promptTokens: o.promptTokens, genTokens: o.genTokens, runs: o.runs },
      contextSize: o.promptTokens + o.genTokens + 8,
      ...(o.peer ? { peer: o.peer } : {}),
    });
    let driven: Driven;
    if (o.chromium !== undefined) {
      let origin = '';
      let onResult: (body: string) => void = () => undefined;
      const result = new Promise<string>((r) => (onResult = r));
      const server = await startServer(site, modelDir, { request: () => request(origin), onLog: log, onResult: (b) => onResult(b) });
      origin = server.origin;
      closers.push(server.close);
      driven = await driveDirect(o.chromium, o.chromiumFlags ?? [...CHROMIUM_ARGS, '--headless'], origin, result, o.chromiumLog, deadline, log, closers);
    } else {
      const server = await startServer(site, modelDir);
      closers.push(server.close);
      driven = await drivePlaywright(server.origin, request(server.origin), deadline, log, closers);
    }
    const outcome = driven.outcome;
    if (!outcome.ok) throw new BrowserBenchError(`${outcome.error.name}: ${outcome.error.message}`);
    const result = benchResult(
      { date: new Date().toISOString(), model: o.model, loadSeconds: outcome.loadMs / 1000, peakJsHeapBytes: driven.peakJsHeapBytes },
      outcome.measurement,
    );
    const peer = peerResult(outcome.peer, result);
    return {
      ...result,
      browser: {
        name: 'chromium',
        version: driven.version,
        executable: driven.executable,
        args: driven.args,
        userAgent: outcome.userAgent,
        load: 'cold: a fresh profile, so the load includes fetching into the weight cache (IndexedDB) from localhost, then the GPU upload',
      },
      ...(peer ? { peer } : {}),
    };
  } finally {
    for (const close of closers.reverse()) await close();
  }
}
