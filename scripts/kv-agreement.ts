/**
 * @file What the K/V cache type costs in agreement with llama.cpp (README, CLI `--kv-cache`): per-position
 * log-probabilities of Brix with an f32 and an f16 K/V cache, and of llama.cpp (node-llama-cpp 3.21.1, CPU) with
 * its f16 cache, each against llama.cpp with an f32 cache (the oracle setting), over every position of a seeded
 * token sequence. Prints one JSON object. Node only; bundled like the CLI (WGSL imports), next to node_modules:
 *   node scripts/bundle.mjs scripts/kv-agreement.ts kv-agreement.tmp.mjs
 *   VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.json node kv-agreement.tmp.mjs --model f.gguf [--tokens 64]
 */
import { parseArgs } from 'node:util';
import { loadNodeEngine } from './lib/nodeEngine.ts';
import { disposeOracle, llamaLogProbs } from '../tests/helpers/oracle.ts';
import type { KvCacheType } from '../workers/engine/gpuRunner.ts';

const { values } = parseArgs({ options: { model: { type: 'string' }, tokens: { type: 'string' }, seed: { type: 'string' } } });
if (values.model === undefined) throw new Error('--model is required');
const model: string = values.model;
const n = Number(values.tokens ?? 64);

function logSoftmax(row: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(row, (v) => v - lse);
}

/** Max |Δ log p| over positions and tokens, counting only tokens where both are finite and the oracle's p ≥ 1e-30. */
function maxDelta(a: ArrayLike<number>[], b: ArrayLike<number>[]): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    for (let t = 0; t < b[i].length; t++) {
      const x = a[i][t];
      const y = b[i][t];
      if (Number.isFinite(x) && Number.isFinite(y) && y > -69) m = Math.max(m, Math.abs(x - y));
    }
  }
  return m;
}

async function brix(kvCache: KvCacheType, tokens: number[]): Promise<{ kv: string; lp: Float64Array[]; device: string; vocab: number }> {
  const { engine, info } = await loadNodeEngine(model, Math.max(256, tokens.length + 8), { kvCache, activations: 'f32' });
  try {
    const { runner } = engine.internals;
    const rows = await runner.evalLogits(tokens, 0, true);
    const kv = Reflect.get(runner, 'kvCache');
    return { kv: String(kv), lp: rows.map(logSoftmax), device: info.architecture, vocab: info.vocabSize };
  } finally {
    await engine.unload();
  }
}

let s = Number(values.seed ?? 7);
const rand = (): number => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const probe = await brix('f32', [1]);
const tokens = Array.from({ length: n }, () => 1 + Math.floor(rand() * (probe.vocab - 1)));
const f32 = await brix('f32', tokens);
const f16 = await brix('f16', tokens);
const llamaF32 = await llamaLogProbs(model, tokens, { allPositions: true, nVocab: probe.vocab });
const llamaF16 = await llamaLogProbs(model, tokens, { allPositions: true, nVocab: probe.vocab, kvCache: 'F16' });
await disposeOracle();
console.log(
  JSON.stringify({
    model,
    positions: tokens.length,
    brixKvF32: { kvCache: f32.kv, maxAbsDeltaLogP: maxDelta(f32.lp, llamaF32) },
    brixKvF16: { kvCache: f16.kv, maxAbsDeltaLogP: maxDelta(f16.lp, llamaF32) },
    llamaCppKvF16: { maxAbsDeltaLogP: maxDelta(llamaF16, llamaF32) },
    brixF16VsLlamaCppF16: maxDelta(f16.lp, llamaF16),
  }),
);
