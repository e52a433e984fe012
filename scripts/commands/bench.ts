/** @file `bench`: the model benchmark (see scripts/lib/bench.ts), human-readable or one JSON object. */
import { UsageError, flagNumber, flagString, requireString, type CliCommand } from '../cliTypes.ts';
import { runBench } from '../lib/bench.ts';

export const command: CliCommand = {
  name: 'bench',
  summary: 'benchmark a model: load, prefill and decode tok/s, TTFT, memory, and % of the bandwidth roofline',
  flags: {
    model: { kind: 'string', help: 'GGUF file', required: true },
    'prompt-tokens': { kind: 'number', help: 'prompt length (default 512)' },
    'gen-tokens': { kind: 'number', help: 'tokens decoded per run (default 128)' },
    runs: { kind: 'number', help: 'measured runs after one warm-up (default 5)' },
    peer: { kind: 'string', help: "also run 'llama.cpp' (node-llama-cpp 3.21.1) on the same file and print the ratios" },
    json: { kind: 'boolean', help: 'print one JSON object' },
  },
  async run(flags, io) {
    const pos = (n: string, d: number): number => {
      const v = flagNumber(flags, n) ?? d;
      if (!Number.isInteger(v) || v < 1) throw new UsageError(`--${n} must be a positive integer`);
      return v;
    };
    const peer = flagString(flags, 'peer');
    if (peer !== undefined && peer !== 'llama.cpp') throw new UsageError(`--peer: only 'llama.cpp' is supported, got '${peer}'`);
    const json = flags.json === true;
    const r = await runBench({
      model: requireString(flags, 'model'),
      promptTokens: pos('prompt-tokens', 512),
      genTokens: pos('gen-tokens', 128),
      runs: pos('runs', 5),
      peer,
      log: json ? undefined : (l) => io.err(l + '\n'),
    });
    if (json) {
      io.out(JSON.stringify(r) + '\n');
      return 0;
    }
    const f = (x: number, d = 1): string => x.toFixed(d);
    io.out(
      [
        `adapter      ${r.adapter}`,
        `model        ${r.model} (${r.architecture})`,
        `load         ${f(r.loadSeconds, 2)} s, GPU memory ${f(r.gpuMemoryBytes / 2 ** 20, 0)} MiB, peak JS heap ${f(r.peakJsHeapBytes / 2 ** 20, 0)} MiB`,
        `prefill      ${f(r.prefillTokensPerSecond.median)} tok/s (${f(r.prefillTokensPerSecond.min)}-${f(r.prefillTokensPerSecond.max)}) over ${r.promptTokens} tokens, TTFT ${f(r.timeToFirstTokenMs.median)} ms`,
        `decode       ${f(r.decodeTokensPerSecond.median)} tok/s (${f(r.decodeTokensPerSecond.min)}-${f(r.decodeTokensPerSecond.max)}), ${f(r.decodeMsPerToken.median, 3)} ms/token`,
        `roofline     ${f(r.roofline.bytesPerToken / 2 ** 20, 2)} MiB/token (weights ${f(r.roofline.activeWeightBytesPerToken / 2 ** 20, 2)} + KV ${f(r.roofline.kvBytesPerToken / 2 ** 20, 2)}) at ${f(r.roofline.measuredReadGBps)} GB/s → ${f(r.roofline.rooflineTokensPerSecond)} tok/s; decode at ${f(r.roofline.percentOfRoofline)}% of it`,
        r.peer
          ? 'error' in r.peer
            ? `peer         ${r.peer.name}: ${r.peer.error}`
            : `peer         ${r.peer.name} [${r.peer.backend}]: prefill ${f(r.peer.prefillTokensPerSecond)} tok/s, decode ${f(r.peer.decodeTokensPerSecond)} tok/s; Brix/llama.cpp prefill ×${f(r.peer.ratioPrefill, 2)}, decode ×${f(r.peer.ratioDecode, 2)}`
          : '',
      ].join('\n') + '\n',
    );
    return 0;
  },
};
