/**
 * @file The page `npm run bench:browser` drives (built by vite with the app's engine worker, see
 * scripts/lib/benchBrowser.ts): it starts the app's engine worker (workers/engine.worker.ts) on its own, loads the model
 * through it (the weight cache, as the app does), and runs the worker's `bench` method, the same code as the CLI
 * `bench` and Settings → Benchmark. With `--peer wllama` it then runs the same measurement (the same token
 * prompt, token counts and runs) through wllama on the same file (app/engines/wllama.ts). Progress goes to the
 * Node side through `brixBenchLog` when it is exposed (Playwright), or is POSTed to /log; opened with `?auto`,
 * the page fetches its request from /request.json and POSTs the outcome to /result (a browser launched without
 * Playwright: the GPU machine's headless Chromium).
 */
import { EngineClient } from '../../app/lib/engineClient.ts';
import { measureWllama, wllamaBackendFor, type PeerMeasurement, type WllamaBackend } from '../../app/engines/wllama.ts';
import { createWllama } from '../../app/engines/wllamaBrowser.ts';
import type { BenchMeasurement, BenchParams, LoadPhase, ModelInfo } from '../../workers/protocol.ts';

export type PeerBackendChoice = WllamaBackend | 'auto';

export interface BrowserBenchRequest {
  readonly modelUrl: string;
  readonly params: BenchParams;
  readonly contextSize: number;
  /** Also run wllama on the same file: its WebGPU backend, its wasm CPU path, or auto (WebGPU on a real GPU). */
  readonly peer?: { readonly engine: 'wllama'; readonly backend: PeerBackendChoice };
}

export type PeerOutcome =
  | ({ readonly ok: true; readonly loadMs: number } & PeerMeasurement)
  | { readonly ok: false; readonly engine: string; readonly backend: WllamaBackend; readonly error: { readonly name: string; readonly message: string } };

export type BrowserBenchOutcome =
  | {
      readonly ok: true;
      readonly info: ModelInfo;
      readonly loadMs: number;
      readonly measurement: BenchMeasurement;
      readonly userAgent: string;
      readonly peer?: PeerOutcome;
    }
  | { readonly ok: false; readonly error: { readonly name: string; readonly message: string } };

declare global {
  interface Window {
    brixBench?: { run(req: BrowserBenchRequest): Promise<BrowserBenchOutcome> };
    /** Exposed by the Node side (Playwright's exposeFunction). */
    brixBenchLog?: (line: string) => Promise<void>;
  }
}

const auto = new URLSearchParams(location.search).has('auto');
const log = (line: string): void => {
  if (window.brixBenchLog) void window.brixBenchLog(line);
  else if (auto) void fetch('/log', { method: 'POST', body: line }).catch(() => undefined);
};
const errorOf = (e: unknown): { name: string; message: string } => (e instanceof Error ? { name: e.name, message: e.message } : { name: 'Error', message: String(e) });

async function adapterIsSoftware(): Promise<{ webgpu: boolean; software: boolean }> {
  const a = await navigator.gpu?.requestAdapter();
  if (!a) return { webgpu: false, software: true };
  // isFallbackAdapter is deprecated in favour of info.isFallbackAdapter; SwiftShader says so in either.
  const fallback = a.info.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe/i.test(`${a.info.vendor} ${a.info.architecture} ${a.info.description}`);
  return { webgpu: true, software: fallback };
}

async function runPeer(req: BrowserBenchRequest): Promise<PeerOutcome> {
  const choice = req.peer?.backend ?? 'auto';
  const backend: WllamaBackend = choice === 'auto' ? wllamaBackendFor(await adapterIsSoftware()) : choice;
  const engine = 'wllama 3.8.1';
  try {
    const t0 = performance.now();
    let lastLog = 0;
    const w = await createWllama(
      { kind: 'url', url: req.modelUrl },
      {
        backend,
        // Room for the fitting of the text prompt to the asked length (its first try may overshoot).
        contextSize: 2 * req.contextSize,
        onProgress: (loaded, total) => {
          const now = performance.now();
          if (now - lastLog < 5000) return;
          lastLog = now;
          log(`wllama load: ${(loaded / 2 ** 20).toFixed(1)}/${(total / 2 ** 20).toFixed(1)} MiB`);
        },
      },
    );
    const loadMs = performance.now() - t0;
    log(`wllama (${backend}) loaded in ${(loadMs / 1000).toFixed(2)} s`);
    try {
      const m = await measureWllama(w, req.params, {
        backend,
        now: () => performance.now(),
        onRun: (r) => {
          const what = r.run === 0 ? 'warm-up' : `run ${r.run}/${r.runs}`;
          log(`wllama ${what}: prefill ${r.prefillTokensPerSecond.toFixed(1)} tok/s, decode ${r.decodeTokensPerSecond.toFixed(1)} tok/s`);
        },
      });
      return { ok: true, loadMs, ...m };
    } finally {
      await w.exit().catch(() => undefined);
    }
  } catch (e) {
    return { ok: false, engine, backend, error: errorOf(e) };
  }
}

async function run(req: BrowserBenchRequest): Promise<BrowserBenchOutcome> {
  // The engine worker by itself, not the engine host the app's tabs share: the benchmark measures one engine.
  const client = new EngineClient(new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), { type: 'module', name: 'brix-engine' }));
  let info: ModelInfo;
  let loadMs: number;
  let measurement: BenchMeasurement;
  try {
    let phase: LoadPhase | undefined;
    let lastLog = 0;
    const t0 = performance.now();
    info = await client.load({ kind: 'url', url: req.modelUrl }, { contextSize: req.contextSize }, (p) => {
      const now = performance.now();
      if (p.phase === phase && now - lastLog < 5000) return;
      phase = p.phase;
      lastLog = now;
      const amount = p.phase === 'compile' ? '' : ` ${(p.loaded / 2 ** 20).toFixed(1)}/${(p.total / 2 ** 20).toFixed(1)} MiB`;
      log(`load: ${p.phase}${amount}`);
    });
    loadMs = performance.now() - t0;
    log(`loaded ${info.name} (${info.architecture}) in ${(loadMs / 1000).toFixed(2)} s; ${(info.gpuBytes / 2 ** 20).toFixed(0)} MiB on the GPU`);
    measurement = await client.bench(req.params, (r) => {
      const what = r.run === 0 ? 'warm-up' : `run ${r.run}/${r.runs}`;
      log(`${what}: prefill ${r.prefillTokensPerSecond.toFixed(1)} tok/s, decode ${r.decodeTokensPerSecond.toFixed(1)} tok/s`);
    });
    await client.unload();
  } catch (e) {
    return { ok: false, error: errorOf(e) };
  } finally {
    // The GPU is free for the peer: each engine measures alone.
    client.terminate();
  }
  const peer = req.peer ? await runPeer(req) : undefined;
  return { ok: true, info, loadMs, measurement, userAgent: navigator.userAgent, ...(peer ? { peer } : {}) };
}

window.brixBench = { run };
const state = document.getElementById('state');
if (state) state.textContent = 'ready';

if (auto) {
  void (async () => {
    let outcome: BrowserBenchOutcome;
    try {
      const req: BrowserBenchRequest = await (await fetch('/request.json')).json();
      outcome = await run(req);
    } catch (e) {
      outcome = { ok: false, error: errorOf(e) };
    }
    await fetch('/result', { method: 'POST', body: JSON.stringify(outcome) });
  })();
}
