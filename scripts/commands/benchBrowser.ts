/** @file `bench-browser` (`npm run bench:browser`): the model benchmark in headless Chromium through the engine worker (scripts/lib/benchBrowser.ts). */
import { UsageError, flagNumber, flagString, type CliCommand } from '../cliTypes.ts';
import { DEFAULT_BROWSER_MODEL, runBrowserBench } from '../lib/benchBrowser.ts';
import { benchReportLines } from '../../workers/bench/bench.ts';

export const command: CliCommand = {
  name: 'bench-browser',
  summary: 'the model benchmark in headless Chromium through the engine worker (same measurement and report as bench)',
  flags: {
    model: { kind: 'string', help: `GGUF path (split siblings next to it), its manifest.json, or an http(s) URL (default ${DEFAULT_BROWSER_MODEL})` },
    'prompt-tokens': { kind: 'number', help: 'prompt length (default 64: SwiftShader is ~100x slower than a GPU)' },
    'gen-tokens': { kind: 'number', help: 'tokens decoded per run (default 16)' },
    runs: { kind: 'number', help: 'measured runs after one warm-up (default 1)' },
    timeout: { kind: 'number', help: 'give up after this many seconds, with an error naming the phase (default 1800)' },
    json: { kind: 'boolean', help: "print one JSON object: bench's fields plus browser" },
  },
  async run(flags, io) {
    const pos = (n: string, d: number): number => {
      const v = flagNumber(flags, n) ?? d;
      if (!Number.isInteger(v) || v < 1) throw new UsageError(`--${n} must be a positive integer`);
      return v;
    };
    const json = flags.json === true;
    const r = await runBrowserBench({
      model: flagString(flags, 'model') ?? DEFAULT_BROWSER_MODEL,
      promptTokens: pos('prompt-tokens', 64),
      genTokens: pos('gen-tokens', 16),
      runs: pos('runs', 1),
      timeoutSeconds: pos('timeout', 1800),
      // Progress goes to stderr in both modes: a long software-GPU run should never look hung.
      log: (l) => io.err(l + '\n'),
    });
    if (json) {
      io.out(JSON.stringify(r) + '\n');
      return 0;
    }
    io.out([`browser      ${r.browser.name} ${r.browser.version} (${r.browser.executable})`, ...benchReportLines(r)].join('\n') + '\n');
    return 0;
  },
};
