/**
 * @file Generated models in llama.cpp (node-llama-cpp 3.21.1, CPU): a tiny model of every architecture and
 * several quant recipes loads and yields finite next-token probabilities over the whole vocabulary, and a
 * split set (our `split` command) loads and gives exactly the same probabilities as the single file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { getLlama, LlamaLogLevel, type Llama } from 'node-llama-cpp';
import { makeModelBytes, resolveConfig, type ModelSpec, type QuantRecipe } from '../../scripts/lib/makeModel.ts';
import { openModelFile } from '../../scripts/lib/nodeSource.ts';
import { splitModel } from '../../scripts/commands/split.ts';

let llama: Llama;
let dir: string;

beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  dir = await mkdtemp(path.join(os.tmpdir(), 'brix-make-model-'));
}, 180_000);

afterAll(async () => {
  await llama?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const PROMPT = 'The quick brown fox jumps over the lazy dog.';

/** Next-token probabilities after every prompt token, as llama.cpp computes them (F32 KV cache, no flash attention). */
async function probabilities(file: string): Promise<{ perPosition: Map<number, number>[] }> {
  const model = await llama.loadModel({ modelPath: file });
  try {
    const ctx = await model.createContext({
      contextSize: 256,
      batchSize: 256,
      threads: 2,
      flashAttention: false,
      experimentalKvCacheKeyType: 'F32',
      experimentalKvCacheValueType: 'F32',
    });
    try {
      const tokens = model.tokenize(PROMPT);
      expect(tokens.length).toBeGreaterThan(4);
      const out = await ctx.getSequence().controlledEvaluate(tokens.map((t) => [t, { generateNext: { probabilities: true } }]));
      const perPosition = tokens.map((_, i) => {
        const p = out[i]?.next.probabilities;
        if (!p) throw new Error(`no probabilities at position ${i}`);
        return p;
      });
      return { perPosition };
    } finally {
      await ctx.dispose();
    }
  } finally {
    await model.dispose();
  }
}

async function generate(label: string, cfg: Partial<ModelSpec>, quant: QuantRecipe): Promise<string> {
  const file = path.join(dir, `${label}.gguf`);
  await writeFile(file, await makeModelBytes(resolveConfig(cfg), quant, 42));
  return file;
}

function expectSane(perPosition: Map<number, number>[], vocab: number): void {
  for (const [i, p] of perPosition.entries()) {
    expect(p.size, `position ${i}`).toBe(vocab);
    let sum = 0;
    let max = 0;
    for (const v of p.values()) {
      expect(Number.isFinite(v)).toBe(true);
      sum += v;
      max = Math.max(max, v);
    }
    expect(Math.abs(sum - 1), `position ${i} sums to ${sum}`).toBeLessThan(1e-3);
    expect(max).toBeLessThan(0.999); // random weights: no collapsed distribution
  }
}

const t64 = { layers: 2, embd: 64, heads: 4, kvHeads: 2, ff: 32, vocab: 300 } as const;
const t256 = { layers: 2, embd: 256, heads: 4, kvHeads: 2, ff: 256, vocab: 300 } as const;

const CASES: [string, Partial<ModelSpec>, QuantRecipe][] = [
  ['dbrx-q8_0-small-vocab', { arch: 'dbrx', ...t64, vocab: 'small', experts: 4, expertsUsed: 2 }, 'q8_0'],
  ['llama-dense-f16', { arch: 'llama', ...t64 }, 'f16'],
  ['llama-mixtral-q4_0', { arch: 'llama', ...t64, experts: 8, expertsUsed: 2 }, 'q4_0'],
  ['qwen2moe-q8_0', { arch: 'qwen2moe', ...t64, kvHeads: 4, experts: 4, expertsUsed: 2, sharedFf: 64 }, 'q8_0'],
  ['qwen3moe-f32', { arch: 'qwen3moe', ...t64, headDim: 32, experts: 4, expertsUsed: 2, tied: true }, 'f32'],
  ['olmoe-q8_0', { arch: 'olmoe', ...t64, kvHeads: 4, experts: 4, expertsUsed: 2 }, 'q8_0'],
  ['granitemoe-q8_0', { arch: 'granitemoe', ...t64, experts: 4, expertsUsed: 2, sharedFf: 64 }, 'q8_0'],
  ['dbrx-mixed-q4_k_m', { arch: 'dbrx', ...t256, layers: 3, experts: 2, expertsUsed: 1 }, 'mixed-q4_k_m'],
  ['llama-moe-q5_k', { arch: 'llama', ...t256, experts: 2, expertsUsed: 1 }, 'q5_k'],
  ['olmoe-q6_k', { arch: 'olmoe', ...t256, kvHeads: 4, experts: 2, expertsUsed: 1 }, 'q6_k'],
];

describe('llama.cpp loads generated models', () => {
  for (const [label, cfg, quant] of CASES) {
    it(label, async () => {
      const { perPosition } = await probabilities(await generate(label, cfg, quant));
      // `small` is 4,096 cl100k ranks + 8 specials, padded to a multiple of 64.
      expectSane(perPosition, cfg.vocab === 'small' ? 4160 : 300);
    });
  }

  it('a split set gives the same probabilities as the single file', async () => {
    const single = await generate('split-src', { arch: 'dbrx', ...t64, experts: 4, expertsUsed: 2 }, 'q8_0');
    const { model, close } = await openModelFile(single);
    let parts: string[];
    try {
      parts = await splitModel(model, 40 * 1024, path.join(dir, 'parts'), 'split-src');
    } finally {
      await close();
    }
    expect(parts.length).toBeGreaterThanOrEqual(3);
    expect(path.basename(parts[0])).toBe(`split-src-00001-of-${String(parts.length).padStart(5, '0')}.gguf`);
    const a = await probabilities(single);
    const b = await probabilities(parts[0]);
    expectSane(b.perPosition, 300);
    expect(b.perPosition.length).toBe(a.perPosition.length);
    let maxDiff = 0;
    for (const [i, pa] of a.perPosition.entries()) {
      for (const [tok, v] of pa) maxDiff = Math.max(maxDiff, Math.abs(v - (b.perPosition[i].get(tok) ?? -1)));
    }
    expect(maxDiff).toBe(0);
  });
});
