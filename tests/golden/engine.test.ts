/**
 * @file Golden tests of the WebGPU engine (Node WebGPU; lavapipe in `npm test`):
 *  1. The trained demo models against Hugging Face transformers' outputs on the same weights: last-position
 *     logits within 1e-2, the same argmax at every position, the greedy continuation identical for ≥ 24 tokens.
 *  2. Generated models of every architecture, F32 and each quant type, against our own f32 CPU reference on
 *     the same dequantized weights: logits within 1e-3.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNodeEngine } from '../../scripts/lib/nodeEngine.ts';
import { openModelFile } from '../../scripts/lib/nodeSource.ts';
import { resolveConfig, makeModelBytes, type ModelConfig, type QuantRecipe } from '../../scripts/lib/makeModel.ts';
import { referenceLogits } from '../../workers/model/reference/referenceModel.ts';
import { argmax } from '../../workers/model/reference/ops.ts';
import type { BrixEngine } from '../../workers/engine/engine.ts';
import type { Runner } from '../../workers/engine/runner.ts';
import { demoModels, readReferenceCases, maxAbsDiff, countSame } from '../helpers/golden.ts';

const GREEDY_MIN_MATCH = 24;
const GREEDY = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0 };

async function greedy(runner: Runner, prompt: readonly number[], n: number, eog: ReadonlySet<number>): Promise<number[]> {
  const out: number[] = [];
  let pending = [...prompt];
  let pos = 0;
  while (out.length < n) {
    const next = await runner.evalAndSample(pending, pos, GREEDY, out.length, []);
    pos += pending.length;
    out.push(next); // the reference continuations include their end token
    if (eog.has(next)) break;
    pending = [next];
  }
  return out;
}

for (const demo of demoModels()) {
  const { gguf, json } = demo;
  if (!gguf || !json) console.warn(`[golden] SKIPPED engine on ${demo.name}: model or reference JSON not found; CI has them under ../shared/models`);
  describe.skipIf(!gguf || !json)(`engine on ${demo.name} vs HF transformers`, () => {
    let engine: BrixEngine;
    const cases = json ? readReferenceCases(json) : [];
    beforeAll(async () => {
      if (!gguf) return;
      ({ engine } = await loadNodeEngine(gguf, 512));
      console.info(`[golden] engine loaded ${demo.name}`);
    });
    afterAll(async () => engine?.unload());

    it.each(cases.map((c, i) => ({ label: `case ${i}`, c })))('$label: logits, argmax per position, greedy', async ({ c }) => {
      const { runner, tokenizer } = engine.internals;
      const logits = await runner.evalLogits(c.tokens, 0, true);
      const last = logits[logits.length - 1];
      const { max, at } = maxAbsDiff(last, c.last_logits);
      expect(max, `max |Δlogit| ${max} at token ${at}: ${last[at]} vs ${c.last_logits[at]}`).toBeLessThan(1e-2);
      expect(logits.map((l) => argmax(l))).toEqual(c.argmax_per_position);
      const gen = await greedy(runner, c.tokens, c.greedy_tokens.length, tokenizer.eogIds);
      const need = Math.min(GREEDY_MIN_MATCH, c.greedy_tokens.length);
      expect(gen.slice(0, need)).toEqual(c.greedy_tokens.slice(0, need));
      console.info(
        `[golden] engine ${demo.name} case: max |Δlogit| ${max.toExponential(2)}, argmax ${logits.length}/${logits.length}, ` +
          `greedy ${countSame(gen, c.greedy_tokens)}/${c.greedy_tokens.length} identical`,
      );
    });
  });
}

// ---- generated models of every architecture vs the CPU reference ----

const TINY: Record<string, Partial<ModelConfig>> = {
  dbrx: { arch: 'dbrx', layers: 2, embd: 256, heads: 4, kvHeads: 2, ff: 256, experts: 8, expertsUsed: 2 },
  llama: { arch: 'llama', layers: 2, embd: 256, heads: 4, kvHeads: 2, ff: 512 },
  mixtral: { arch: 'llama', layers: 2, embd: 256, heads: 4, kvHeads: 1, ff: 256, experts: 4, expertsUsed: 2 },
  qwen2moe: { arch: 'qwen2moe', layers: 2, embd: 256, heads: 4, kvHeads: 4, ff: 256, experts: 8, expertsUsed: 2, sharedFf: 256 },
  qwen3moe: { arch: 'qwen3moe', layers: 2, embd: 256, heads: 4, kvHeads: 2, ff: 256, experts: 8, expertsUsed: 2 },
  olmoe: { arch: 'olmoe', layers: 2, embd: 256, heads: 4, kvHeads: 4, ff: 256, experts: 8, expertsUsed: 2 },
  granitemoe: { arch: 'granitemoe', layers: 2, embd: 256, heads: 4, kvHeads: 2, ff: 256, experts: 8, expertsUsed: 2 },
};
const QUANTS: readonly QuantRecipe[] = ['f32', 'f16', 'q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k', 'mixed-q4_k_m'];
const TOKENS = [1, 17, 200, 3, 999, 42, 7, 300, 12, 5, 77];

describe('engine vs the f32 CPU reference on generated models', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brix-golden-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const [name, partial] of Object.entries(TINY))
    for (const quant of QUANTS)
      it(`${name} ${quant}: logits at every position within 1e-3`, async () => {
        const cfg = resolveConfig({ ...partial, vocab: 1024 });
        const file = path.join(dir, `${name}-${quant}.gguf`);
        fs.writeFileSync(file, await makeModelBytes(cfg, quant, 7));
        const opened = await openModelFile(file);
        let want: Float32Array[];
        try {
          want = await referenceLogits(opened.model, TOKENS, true);
        } finally {
          await opened.close();
        }
        const { engine } = await loadNodeEngine(file, 64);
        try {
          const got = await engine.internals.runner.evalLogits(TOKENS, 0, true);
          let worst = 0;
          for (let i = 0; i < TOKENS.length; i++) {
            const { max, at } = maxAbsDiff(got[i], want[i]);
            worst = Math.max(worst, max);
            expect(max, `position ${i}: max |Δ| ${max} at ${at} (${got[i][at]} vs ${want[i][at]})`).toBeLessThan(1e-3);
          }
          console.info(`[golden] ${name} ${quant}: max |Δlogit| vs CPU reference ${worst.toExponential(2)} over ${TOKENS.length} positions`);
        } finally {
          await engine.unload();
        }
      });
});
