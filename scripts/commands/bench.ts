/** @file `bench`: the model benchmark (scripts/lib/bench.ts over workers/bench/bench.ts), human-readable or one JSON object. */
import { UsageError, flagNumber, flagString, type CliCommand } from '../cliTypes.ts';
import { runBench } from '../lib/bench.ts';
import { ACTIVATIONS_FLAG, KV_CACHE_FLAG, activationsFlag, kvCacheFlag } from '../lib/nodeEngine.ts';
import { modelFromFlags, SYNTHETIC_FLAGS } from '../lib/syntheticModel.ts';
import { benchReportLines } from '../../workers/bench/bench.ts';

export const command: CliCommand = {
  name: 'bench',
  summary: 'benchmark a model: load, prefill and decode tok/s, TTFT, memory, and % of the bandwidth roofline',
  flags: {
    model: { kind: 'string', help: 'GGUF file (or --synthetic)' },
    ...SYNTHETIC_FLAGS,
    'prompt-tokens': { kind: 'number', help: 'prompt length (default 512)' },
    'gen-tokens': { kind: 'number', help: 'tokens decoded per run (default 128)' },
    runs: { kind: 'number', help: 'measured runs after one warm-up (default 5)' },
    peer: { kind: 'string', help: "also run 'llama.cpp' (node-llama-cpp 3.21.1) on the same file and print the ratios" },
    activations: ACTIVATIONS_FLAG,
    'kv-cache': KV_CACHE_FLAG,
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
    const { model } = modelFromFlags(flags, 'bench');
    const r = await runBench({
      model,
      promptTokens: pos('prompt-tokens', 512),
      genTokens: pos('gen-tokens', 128),
      runs: pos('runs', 5),
      activations: activationsFlag(flags),
      kvCache: kvCacheFlag(flags),
      peer,
      log: json ? undefined : (l) => io.err(l + '\n'),
    });
    if (json) {
      io.out(JSON.stringify(r) + '\n');
      return 0;
    }
    const f = (x: number, d = 1): string => x.toFixed(d);
    const peerLine = !r.peer
      ? []
      : 'error' in r.peer
        ? [`peer         ${r.peer.name}: ${r.peer.error}`]
        : [
            `peer         ${r.peer.name} [${r.peer.backend}]: prefill ${f(r.peer.prefillTokensPerSecond)} tok/s, decode ${f(r.peer.decodeTokensPerSecond)} tok/s; Brix/llama.cpp prefill ×${f(r.peer.ratioPrefill, 2)}, decode ×${f(r.peer.ratioDecode, 2)}`,
          ];
    const size = `size         ${r.layers} layers, ${(r.parameters / 1e9).toFixed(2)}B parameters, ${(r.fileBytes / 1e9).toFixed(2)} GB of tensors`;
    io.out([...benchReportLines(r), size, `activations  ${r.activations}`, ...peerLine].join('\n') + '\n');
    return 0;
  },
};
