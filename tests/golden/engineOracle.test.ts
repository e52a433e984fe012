/**
 * @file The WebGPU engine (f32 KV cache, batched prefill) against llama.cpp (node-llama-cpp 3.21.1, CPU, F32 KV
 * cache, no flash attention) on generated models of every architecture: F32 weights within 2e-3 on
 * log-probabilities at every position; a 4,096-token prompt's last position within the same tolerance (prefill in
 * several chunks); quantized weights by argmax agreement.
 *
 * On quantized weights llama.cpp rounds activations to 8 bits before each matrix product and our engine does
 * not (f32 activations), so near-tied logits and routes flip: the CPU reference measured 44–48 of 48 positions
 * (tests/golden/reference.test.ts), and only its ggml-rounding emulation reaches 95 %. The engine, which matches
 * the plain f32 reference to ~1e-5, is held to the same 80 % floor; a dequantization bug would agree on almost
 * nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNodeEngine } from '../../scripts/lib/nodeEngine.ts';
import { resolveConfig, makeModelBytes, type ModelConfig, type QuantRecipe } from '../../scripts/lib/makeModel.ts';
import { argmax } from '../../workers/model/reference/ops.ts';
import { disposeOracle, llamaLogProbs } from '../helpers/oracle.ts';

const F32_LOGP_TOL = 2e-3;
const PLAIN_ARGMAX_MIN_SHARE = 0.8;

const BASE = { layers: 2, embd: 64, heads: 4, kvHeads: 2, ff: 32, experts: 8, expertsUsed: 2, vocab: 512, ctx: 4096 } as const;
const F32: Record<string, Partial<ModelConfig>> = {
  dbrx: { arch: 'dbrx', ...BASE, clampKqv: 1 },
  'llama-moe': { arch: 'llama', ...BASE },
  'llama-dense': { arch: 'llama', ...BASE, experts: 0, expertsUsed: 0, ff: 96 },
  qwen2moe: { arch: 'qwen2moe', ...BASE, kvHeads: 4, sharedFf: 48 },
  qwen3moe: { arch: 'qwen3moe', ...BASE, headDim: 32 },
  olmoe: { arch: 'olmoe', ...BASE, kvHeads: 4 },
  granitemoe: { arch: 'granitemoe', ...BASE },
};
const Q_BASE = { layers: 2, embd: 256, heads: 4, kvHeads: 2, ff: 256, experts: 4, expertsUsed: 2, vocab: 512, ctx: 1024 } as const;
const Q_RECIPES: readonly QuantRecipe[] = ['q8_0', 'q4_0', 'q4_k', 'mixed-q4_k_m'];

function logSoftmax(l: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of l) max = Math.max(max, v);
  let sum = 0;
  for (const v of l) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(l, (v) => v - lse);
}

/** Max |Δ log p| over tokens llama.cpp gives a finite log-probability (its float32 softmax underflows far tails). */
function maxLogProbDiff(ours: Float32Array, llama: Float32Array): { max: number; at: number } {
  const lp = logSoftmax(ours);
  let max = 0;
  let at = 0;
  for (let i = 0; i < lp.length; i++) {
    if (!Number.isFinite(llama[i]) || llama[i] < -30) continue;
    const d = Math.abs(lp[i] - llama[i]);
    if (!(d <= max)) {
      max = Number.isNaN(d) ? Infinity : d;
      at = i;
    }
  }
  return { max, at };
}

function tokensFor(n: number, vocab: number, seed: number): number[] {
  let a = seed >>> 0;
  return Array.from({ length: n }, () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a % (vocab - 16);
  });
}

describe('engine vs llama.cpp on generated models', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brix-oracle-'));
  });
  afterAll(async () => {
    await disposeOracle();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function write(name: string, partial: Partial<ModelConfig>, quant: QuantRecipe): Promise<string> {
    const file = path.join(dir, `${name}-${quant}.gguf`);
    fs.writeFileSync(file, await makeModelBytes(resolveConfig(partial), quant, 5));
    return file;
  }

  for (const [name, partial] of Object.entries(F32))
    it(`${name} F32: log-probabilities within ${F32_LOGP_TOL} at every position`, async () => {
      const file = await write(name, partial, 'f32');
      const tokens = tokensFor(24, 512, 3);
      const { engine, info } = await loadNodeEngine(file, 64, { kvCache: 'f32' });
      try {
        const ours = await engine.internals.runner.evalLogits(tokens, 0, true);
        const llama = await llamaLogProbs(file, tokens, { allPositions: true, nVocab: info.vocabSize });
        let worst = 0;
        ours.forEach((l, i) => {
          const d = maxLogProbDiff(l, llama[i]);
          worst = Math.max(worst, d.max);
          expect(d.max, `${name} position ${i}, token ${d.at}`).toBeLessThan(F32_LOGP_TOL);
        });
        console.info(`[golden] engine vs llama.cpp ${name} F32: max |Δ log p| ${worst.toExponential(2)} over ${tokens.length} positions`);
      } finally {
        await engine.unload();
      }
    });

  for (const [name, arch] of [['dbrx', 'dbrx'], ['olmoe', 'olmoe'], ['qwen2moe', 'qwen2moe']] as const)
    for (const quant of Q_RECIPES)
      it(`${name} ${quant}: argmax agreement with llama.cpp ≥ ${PLAIN_ARGMAX_MIN_SHARE * 100} %`, async () => {
        const partial: Partial<ModelConfig> = { arch, ...Q_BASE, ...(arch === 'dbrx' ? {} : { kvHeads: 4 }), ...(arch === 'qwen2moe' ? { sharedFf: 256 } : {}) };
        const file = await write(name, partial, quant);
        const tokens = tokensFor(32, 512, 9);
        const { engine, info } = await loadNodeEngine(file, 64, { kvCache: 'f32' });
        try {
          const ours = await engine.internals.runner.evalLogits(tokens, 0, true);
          const llama = await llamaLogProbs(file, tokens, { allPositions: true, nVocab: info.vocabSize });
          const agree = ours.filter((l, i) => argmax(l) === argmax(llama[i])).length;
          console.info(`[golden] engine vs llama.cpp ${name} ${quant}: argmax ${agree}/${tokens.length}`);
          expect(agree).toBeGreaterThanOrEqual(Math.ceil(PLAIN_ARGMAX_MIN_SHARE * tokens.length));
        } finally {
          await engine.unload();
        }
      });

  it('long context: a 4,096-token prompt gives llama.cpp’s last log-probabilities within 2e-3 (dbrx F32)', async () => {
    const file = await write('dbrx-long', { arch: 'dbrx', ...BASE, layers: 1, ctx: 8192, clampKqv: 2 }, 'f32');
    const tokens = tokensFor(4096, 512, 13);
    const { engine, info } = await loadNodeEngine(file, 4096, { kvCache: 'f32' });
    try {
      // The batched prefill graph in several chunks, each attending over the chunks cached before it.
      const chunk = engine.internals.runner.prefillChunk ?? 0;
      expect(chunk).toBeGreaterThan(0);
      expect(chunk).toBeLessThan(tokens.length);
      const [ours] = await engine.internals.runner.evalLogits(tokens, 0, false);
      const [llama] = await llamaLogProbs(file, tokens, { nVocab: info.vocabSize });
      const d = maxLogProbDiff(ours, llama);
      console.info(`[golden] engine 4,096-token prompt vs llama.cpp: max |Δ log p| ${d.max.toExponential(2)}`);
      expect(d.max, `token ${d.at}`).toBeLessThan(F32_LOGP_TOL);
    } finally {
      await engine.unload();
    }
  });
});
