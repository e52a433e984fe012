/** @file `logits`: raw logits of the engine for given token ids (the golden tests' and oracles' entry point). */
import { UsageError, flagNumber, requireString, type CliCommand } from '../cliTypes.ts';
import { ACTIVATIONS_FLAG, KV_CACHE_FLAG, activationsFlag, kvCacheFlag, loadNodeEngine } from '../lib/nodeEngine.ts';

export function parseTokenList(s: string): number[] {
  const ids = s.split(',').map((x) => x.trim());
  if (ids.length === 0 || ids.some((x) => !/^\d+$/.test(x))) throw new UsageError(`--tokens must be comma-separated token ids, got '${s}'`);
  return ids.map(Number);
}

export const command: CliCommand = {
  name: 'logits',
  summary: 'print {"logits": [[...]]}: raw logits over the whole vocabulary (last position, or every position)',
  flags: {
    model: { kind: 'string', help: 'GGUF file (first file of a split set)', required: true },
    tokens: { kind: 'string', help: 'comma-separated token ids, e.g. 1,2,3', required: true },
    'all-positions': { kind: 'boolean', help: 'one row per position instead of the last only' },
    'context-size': { kind: 'number', help: 'KV cache length (default: enough for the tokens)' },
    activations: ACTIVATIONS_FLAG,
    'kv-cache': KV_CACHE_FLAG,
  },
  async run(flags, io) {
    const runnerOpts = { activations: activationsFlag(flags), kvCache: kvCacheFlag(flags) };
    const tokens = parseTokenList(requireString(flags, 'tokens'));
    const ctxSize = flagNumber(flags, 'context-size') ?? Math.max(tokens.length, 16);
    const { engine, info } = await loadNodeEngine(requireString(flags, 'model'), ctxSize, runnerOpts);
    const bad = tokens.find((t) => t >= info.vocabSize);
    if (bad !== undefined) throw new UsageError(`token id ${bad} is outside the vocabulary (${info.vocabSize})`);
    const rows = await engine.internals.runner.evalLogits(tokens, 0, flags['all-positions'] === true);
    io.out('{"logits": [');
    rows.forEach((r, i) => io.out((i ? ',' : '') + '[' + Array.from(r, (v) => (Number.isFinite(v) ? String(v) : 'null')).join(',') + ']'));
    io.out(']}\n');
    await engine.unload();
    return 0;
  },
};
