/** @file `bench-browser` (`npm run bench:browser`): the model benchmark in headless Chromium through the engine worker (scripts/lib/benchBrowser.ts). */
import { UsageError, flagNumber, flagString, type CliCommand } from '../cliTypes.ts';
import { DEFAULT_BROWSER_MODEL, buildPage, runBrowserBench, type BrowserBenchResult } from '../lib/benchBrowser.ts';
import { benchReportLines } from '../../workers/bench/bench.ts';
import type { PeerBackendChoice } from '../bench-browser/page.ts';

function peerBackend(s: string | undefined): PeerBackendChoice {
  if (s === undefined || s === 'auto' || s === 'webgpu' || s === 'wasm') return s ?? 'auto';
  throw new UsageError(`--peer-backend must be auto, webgpu or wasm, got '${s}'`);
}

/** The peer's lines of the report: its figures and Brix's ratios to them. */
export function peerLines(r: BrowserBenchResult): string[] {
  const p = r.peer;
  if (!p) return [];
  if (!p.ok) return [`peer         ${p.engine} [${p.backend}]: ${p.error.name}: ${p.error.message}`];
  const f = (x: number, d = 1): string => x.toFixed(d);
  return [
    `peer         ${p.engine} [${p.backend}]: load ${f(p.loadSeconds, 2)} s, prefill ${f(p.prefillTokensPerSecond.median)} tok/s (${f(p.prefillTokensPerSecond.min)}-${f(p.prefillTokensPerSecond.max)}), decode ${f(p.decodeTokensPerSecond.median)} tok/s (${f(p.decodeTokensPerSecond.min)}-${f(p.decodeTokensPerSecond.max)}), median of ${p.runs}`,
    `ratio        Brix/wllama prefill ×${f(p.ratioPrefill, 2)}, decode ×${f(p.ratioDecode, 2)}`,
  ];
}

export const command: CliCommand = {
  name: 'bench-browser',
  summary: 'the model benchmark in headless Chromium through the engine worker (same measurement and report as bench)',
  flags: {
    model: { kind: 'string', help: `GGUF path (split siblings next to it), its manifest.json, or an http(s) URL (default ${DEFAULT_BROWSER_MODEL})` },
    'prompt-tokens': { kind: 'number', help: 'prompt length (default 64: SwiftShader is ~100x slower than a GPU)' },
    'gen-tokens': { kind: 'number', help: 'tokens decoded per run (default 16)' },
    runs: { kind: 'number', help: 'measured runs after one warm-up (default 1)' },
    peer: { kind: 'string', help: "also run 'wllama' (@wllama/wllama 3.8.1, llama.cpp in wasm) on the same file in the same page and print the ratios" },
    'peer-backend': { kind: 'string', help: "wllama's backend: auto (WebGPU on a real GPU, its wasm CPU path on a software adapter; default), webgpu or wasm" },
    chromium: { kind: 'string', help: 'launch this Chromium binary directly instead of through Playwright (the page runs itself; no JS heap figure)' },
    'chromium-flags': { kind: 'string', help: 'with --chromium: its flags, space-separated (default: the e2e flags plus --headless)' },
    'chromium-log': { kind: 'string', help: "with --chromium: write Chromium's stdout/stderr to this file" },
    'page-dir': { kind: 'string', help: 'use the bench page built there by --build-page (no vite build)' },
    'build-page': { kind: 'string', help: 'only build the bench page into this folder and exit' },
    timeout: { kind: 'number', help: 'give up after this many seconds, with an error naming the phase (default 1800)' },
    json: { kind: 'boolean', help: "print one JSON object: bench's fields plus browser (and peer)" },
  },
  async run(flags, io) {
    const buildOnly = flagString(flags, 'build-page');
    if (buildOnly !== undefined) {
      await buildPage(buildOnly);
      io.out(`bench page built in ${buildOnly}\n`);
      return 0;
    }
    const pos = (n: string, d: number): number => {
      const v = flagNumber(flags, n) ?? d;
      if (!Number.isInteger(v) || v < 1) throw new UsageError(`--${n} must be a positive integer`);
      return v;
    };
    const peer = flagString(flags, 'peer');
    if (peer !== undefined && peer !== 'wllama') throw new UsageError(`--peer: only 'wllama' is supported, got '${peer}'`);
    const backend = peerBackend(flagString(flags, 'peer-backend'));
    const chromiumFlags = flagString(flags, 'chromium-flags');
    const json = flags.json === true;
    const r = await runBrowserBench({
      model: flagString(flags, 'model') ?? DEFAULT_BROWSER_MODEL,
      promptTokens: pos('prompt-tokens', 64),
      genTokens: pos('gen-tokens', 16),
      runs: pos('runs', 1),
      timeoutSeconds: pos('timeout', 1800),
      ...(peer ? { peer: { engine: 'wllama' as const, backend } } : {}),
      chromium: flagString(flags, 'chromium'),
      chromiumFlags: chromiumFlags?.split(/\s+/).filter((x) => x !== ''),
      chromiumLog: flagString(flags, 'chromium-log'),
      pageDir: flagString(flags, 'page-dir'),
      // Progress goes to stderr in both modes: a long software-GPU run should never look hung.
      log: (l) => io.err(l + '\n'),
    });
    if (json) {
      io.out(JSON.stringify(r) + '\n');
      return 0;
    }
    io.out([`browser      ${r.browser.name} ${r.browser.version} (${r.browser.executable})`, ...benchReportLines(r), ...peerLines(r)].join('\n') + '\n');
    return 0;
  },
};
