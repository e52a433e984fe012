/**
 * @file The WebGPU engine (f32 KV cache, batched prefill) against llama.cpp (node-llama-cpp 3.21.1, CPU, F32 KV
 * cache, no flash attention) on generated models of every architecture: F32 weights within 2e-3 on
 * log-probabilities at every position; a 4,096-token prompt's last position within the same tolerance (prefill in
 * several chunks); quantized weights with the engine's `activations: 'ggml-cpu'` by argmax agreement ≥ 95 %.
 *
 * On quantized weights llama.cpp rounds each product's input activations to 8 bits (Q8_0/Q8_K); the plain f32
 * engine does not, so near-tied logits and routes flip (measured 29–32 of 32 positions, 0.04–0.5 nats off at
 * every position); it is held to an 80 % floor (a dequantization bug would agree on almost nothing). With
 * `activations: 'ggml-cpu'` the engine rounds as llama.cpp does (workers/engine/activationRounding.ts): measured
 * 383 of 384 argmaxes, and ~1e-6 on log-probabilities, except after a rounding tie: a value within an ulp of a
 * .5 boundary, where the engine's f32 sums and llama.cpp's CPU arithmetic (integer dot products, norms summed
 * in double) land on different sides. The flipped position is then 2–6e-2 nats off, and through its K/V so are many after
 * it (the CPU reference's emulation shows the same, at other positions). Closeness within 2e-3 is asserted on a
 * floor of positions (measured 7–32 of 32 per case; the plain engine: none). Q2_K and Q3_K (alone and in llama.cpp's
 * Q2_K and Q3_K_M mixes) are held to the same floors. The q8_0, q4_k and mixed-q4_k_m
 * cases also run with `activations: 'int8'` (int8 activations into Q4_K/Q8_0 products, every position through the
 * decode graph), held to the same floors: measured argmax 32/32 and 8–32 of 32 positions within 2e-3 (lavapipe).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNodeEngine } from '../../scripts/lib/nodeEngine.ts';
import { resolveConfig, makeModelBytes, planModel, writeModel, type ModelSpec, type QuantRecipe } from '../../scripts/lib/makeModel.ts';
import { GgmlType } from '../../workers/gguf/ggmlTypes.ts';
import { argmax } from '../../workers/model/reference/ops.ts';
import type { ActivationMode } from '../../workers/engine/activationRounding.ts';
import { disposeOracle, llamaLogProbs } from '../helpers/oracle.ts';

const F32_LOGP_TOL = 2e-3;
const ARGMAX_MIN_SHARE = 0.95;
const PLAIN_ARGMAX_MIN_SHARE = 0.8;
/** Share of positions within F32_LOGP_TOL with ggml-cpu rounding (the rest follow a rounding-tie flip). */
const ROUNDED_CLOSE_MIN_SHARE = 1 / 8;
/**
 * Recipes also run with `activations: 'int8'` (Q4_K/Q8_0 products through integer dot products): every
 * position through the decode graph (the prefill graph rounds as 'ggml-cpu'), held to the same floors.
 */
const INT8_RECIPES: readonly QuantRecipe[] = ['q8_0', 'q4_k', 'mixed-q4_k_m'];

const BASE = { layers: 2, embd: 64, heads: 4, kvHeads: 2, ff: 32, experts: 8, expertsUsed: 2, vocab: 512, ctx: 4096 } as const;
const F32: Record<string, Partial<ModelSpec>> = {
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
/** Tensors that, in the 'q4_k+q8_0' case, are Q8_0 beside Q4_K ones reading the same input (rounded copies). */
const Q8_0_BESIDE_Q4_K = /attn_[kv]\.weight|ffn_(gate|up)_shexp/;

interface QuantCase {
  readonly name: string;
  readonly partial: Partial<ModelSpec>;
  readonly quant: QuantRecipe;
  /** Label of a recipe changed by `Q8_0_BESIDE_Q4_K`. */
  readonly mixedRoundings?: string;
}
const qPartial = (arch: 'dbrx' | 'olmoe' | 'qwen2moe'): Partial<ModelSpec> => ({
  arch,
  ...Q_BASE,
  ...(arch === 'dbrx' ? {} : { kvHeads: 4 }),
  ...(arch === 'qwen2moe' ? { sharedFf: 256 } : {}),
});
const Q_CASES: readonly QuantCase[] = [
  ...(['dbrx', 'olmoe', 'qwen2moe'] as const).flatMap((arch) => Q_RECIPES.map((quant) => ({ name: arch, partial: qPartial(arch), quant }))),
  // The dense FFN's rounding, and products of one input rounded two ways (Q/K/V; shared vs routed experts).
  { name: 'llama-dense', partial: { arch: 'llama', ...Q_BASE, experts: 0, expertsUsed: 0, kvHeads: 4 }, quant: 'q4_k' },
  { name: 'qwen2moe', partial: qPartial('qwen2moe'), quant: 'q4_k', mixedRoundings: 'q4_k+q8_0' },
  // The low-bit types that make DBRX fit 64 / 96 GB: each alone, and llama.cpp's Q2_K mix (Q2_K, Q3_K, Q6_K).
  ...(['q2_k', 'q3_k', 'mixed-q2_k'] as const).map((quant) => ({ name: 'dbrx', partial: qPartial('dbrx'), quant })),
  { name: 'olmoe', partial: qPartial('olmoe'), quant: 'mixed-q3_k_m' },
];

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

  async function write(name: string, partial: Partial<ModelSpec>, quant: QuantRecipe): Promise<string> {
    const file = path.join(dir, `${name}-${quant}.gguf`);
    fs.writeFileSync(file, await makeModelBytes(resolveConfig(partial), quant, 5));
    return file;
  }

  /** `quant` with the tensors matching `Q8_0_BESIDE_Q4_K` stored as Q8_0. */
  async function writeMixedRoundings(name: string, partial: Partial<ModelSpec>, quant: QuantRecipe): Promise<string> {
    const plan = planModel(resolveConfig(partial), quant);
    const tensors = plan.tensors.map((t) => (Q8_0_BESIDE_Q4_K.test(t.name) ? { ...t, type: GgmlType.Q8_0 } : t));
    expect(tensors.filter((t) => t.type === GgmlType.Q8_0).length).toBeGreaterThan(0);
    const file = path.join(dir, `${name}-${quant}-mixed-roundings.gguf`);
    const chunks: Uint8Array[] = [];
    await writeModel({ ...plan, tensors }, { write: async (b) => void chunks.push(b.slice()) }, 5);
    fs.writeFileSync(file, Buffer.concat(chunks));
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

  /**
   * All-position logits of `tokens` from a fresh engine on `file` (f32 KV cache): the first `prefill` through the
   * batched prefill graph, the rest one by one through the decode graph, so both graphs' rounding is checked.
   */
  async function engineLogits(file: string, tokens: readonly number[], activations: ActivationMode, prefill: number): Promise<Float32Array[]> {
    const { engine } = await loadNodeEngine(file, 64, { kvCache: 'f32', activations });
    try {
      const runner = engine.internals.runner;
      const out = await runner.evalLogits(tokens.slice(0, prefill), 0, true);
      for (let i = prefill; i < tokens.length; i++) out.push(...(await runner.evalLogits([tokens[i]], i, false)));
      return out;
    } finally {
      await engine.unload();
    }
  }

  for (const { name, partial, quant: recipe, mixedRoundings } of Q_CASES) {
    const quant = mixedRoundings ?? recipe;
    it(`${name} ${quant}: with llama.cpp's activation rounding, argmax agreement ≥ ${ARGMAX_MIN_SHARE * 100} %`, async () => {
      const file = mixedRoundings ? await writeMixedRoundings(name, partial, recipe) : await write(name, partial, recipe);
      const tokens = tokensFor(32, 512, 9);
      const llama = await llamaLogProbs(file, tokens, { allPositions: true, nVocab: Q_BASE.vocab });
      const rounded = await engineLogits(file, tokens, 'ggml-cpu', 24);
      const plain = await engineLogits(file, tokens, 'f32', 24);
      const int8 = INT8_RECIPES.includes(recipe) ? await engineLogits(file, tokens, 'int8', 1) : undefined;
      const agree = (ours: Float32Array[]): number => ours.filter((l, i) => argmax(l) === argmax(llama[i])).length;
      const diffs = (ours: Float32Array[]): number[] => ours.map((l, i) => maxLogProbDiff(l, llama[i]).max);
      const dr = diffs(rounded);
      const dp = diffs(plain);
      const close = dr.filter((d) => d < F32_LOGP_TOL).length;
      const closeInt8 = int8 && diffs(int8).filter((d) => d < F32_LOGP_TOL).length;
      const median = (d: number[]): number => [...d].sort((a, b) => a - b)[d.length >> 1];
      console.info(
        `[golden] engine vs llama.cpp ${name} ${quant}: argmax ggml-rounded ${agree(rounded)}/${tokens.length}, plain f32 ` +
          `${agree(plain)}/${tokens.length}; |Δ log p| ggml-rounded: ${close}/${tokens.length} positions < ${F32_LOGP_TOL}, ` +
          `median ${median(dr).toExponential(1)}, max ${Math.max(...dr).toExponential(1)}; plain f32: median ${median(dp).toExponential(1)}, ` +
          `min ${Math.min(...dp).toExponential(1)}, max ${Math.max(...dp).toExponential(1)}` +
          (int8 ? `; int8 (decode graph): argmax ${agree(int8)}/${tokens.length}, ${closeInt8}/${tokens.length} positions < ${F32_LOGP_TOL}` : ''),
      );
      if (int8 && closeInt8 !== undefined) {
        expect(agree(int8)).toBeGreaterThanOrEqual(Math.ceil(ARGMAX_MIN_SHARE * tokens.length));
        expect(closeInt8).toBeGreaterThanOrEqual(Math.ceil(ROUNDED_CLOSE_MIN_SHARE * tokens.length));
      }
      expect(agree(rounded)).toBeGreaterThanOrEqual(Math.ceil(ARGMAX_MIN_SHARE * tokens.length));
      // Exact agreement up to a rounding-tie flip (see the header); the plain engine is never this close.
      expect(close).toBeGreaterThanOrEqual(Math.ceil(ROUNDED_CLOSE_MIN_SHARE * tokens.length));
      // Without the rounding near-tied logits and routes flip; a dequantization bug would agree on almost nothing.
      expect(agree(plain)).toBeGreaterThanOrEqual(Math.ceil(PLAIN_ARGMAX_MIN_SHARE * tokens.length));
    });
  }

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
