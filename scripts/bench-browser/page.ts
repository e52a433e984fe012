/**
 * @file The page `npm run bench:browser` drives (built by vite with the app's engine worker, see
 * scripts/lib/benchBrowser.ts): it starts the app's engine worker (workers/engine.worker.ts) on its own, loads the model
 * through it (the weight cache, as the app does), and runs the worker's `bench` method, the same code as the CLI
 * `bench` and Settings → Benchmark. Progress goes to the Node side through `brixBenchLog` when it is exposed.
 */
import { EngineClient } from '../../app/lib/engineClient.ts';
import type { BenchMeasurement, BenchParams, LoadPhase, ModelInfo } from '../../workers/protocol.ts';

export interface BrowserBenchRequest {
  readonly modelUrl: string;
  readonly params: BenchParams;
  readonly contextSize: number;
}

export type BrowserBenchOutcome =
  | { readonly ok: true; readonly info: ModelInfo; readonly loadMs: number; readonly measurement: BenchMeasurement; readonly userAgent: string }
  | { readonly ok: false; readonly error: { readonly name: string; readonly message: string } };

declare global {
  interface Window {
    brixBench?: { run(req: BrowserBenchRequest): Promise<BrowserBenchOutcome> };
    /** Exposed by the Node side (Playwright's exposeFunction). */
    brixBenchLog?: (line: string) => Promise<void>;
  }
}

const log = (line: string): void => void window.brixBenchLog?.(line);

async function run(req: BrowserBenchRequest): Promise<BrowserBenchOutcome> {
  // The engine worker by itself, not the engine host the app's tabs share: the benchmark measures one engine.
  const client = new EngineClient(new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), { type: 'module', name: 'brix-engine' }));
  try {
    let phase: LoadPhase | undefined;
    let lastLog = 0;
    const t0 = performance.now();
    const info = await client.load({ kind: 'url', url: req.modelUrl }, { contextSize: req.contextSize }, (p) => {
      const now = performance.now();
      if (p.phase === phase && now - lastLog < 5000) return;
      phase = p.phase;
      lastLog = now;
      const amount = p.phase === 'compile' ? '' : ` ${(p.loaded / 2 ** 20).toFixed(1)}/${(p.total / 2 ** 20).toFixed(1)} MiB`;
      log(`load: ${p.phase}${amount}`);
    });
    const loadMs = performance.now() - t0;
    log(`loaded ${info.name} (${info.architecture}) in ${(loadMs / 1000).toFixed(2)} s; ${(info.gpuBytes / 2 ** 20).toFixed(0)} MiB on the GPU`);
    const measurement = await client.bench(req.params, (r) => {
      const what = r.run === 0 ? 'warm-up' : `run ${r.run}/${r.runs}`;
      log(`${what}: prefill ${r.prefillTokensPerSecond.toFixed(1)} tok/s, decode ${r.decodeTokensPerSecond.toFixed(1)} tok/s`);
    });
    await client.unload();
    return { ok: true, info, loadMs, measurement, userAgent: navigator.userAgent };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? { name: e.name, message: e.message } : { name: 'Error', message: String(e) } };
  } finally {
    client.terminate();
  }
}

window.brixBench = { run };
const state = document.getElementById('state');
if (state) state.textContent = 'ready';
