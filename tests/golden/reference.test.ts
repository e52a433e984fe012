/**
 * @file Golden tests of the CPU reference forward pass (workers/model/reference), the yardstick the WebGPU
 * engine is later held to. Two independent oracles:
 *  1. Hugging Face transformers' DbrxForCausalLM, fp32 on the dequantized weights of the two trained demo models
 *     (reference JSON made once on a GPU box; see tests/golden/README.md): last logits, argmax at every
 *     position, greedy continuation.
 *  2. llama.cpp (node-llama-cpp, CPU, F32 KV cache, no flash attention) on generated tiny models of every
 *     architecture: log-probabilities at all positions for F32 weights, argmax agreement for quantized ones,
 *     and a 4,096-token prompt.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openModelFile } from '../../scripts/lib/nodeSource.ts';
import { ReferenceModel } from '../../workers/model/reference/referenceModel.ts';
import { argmax } from '../../workers/model/reference/ops.ts';
import { tokenizerSpecFromMetadata } from '../../workers/tokenizer/fromGguf.ts';
import { Tokenizer } from '../../workers/tokenizer/tokenizer.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const sharedModel = (file: string): string => path.resolve(repoRoot, '../shared/models', file);

// ---------------------------------------------------------------------------------------------------------------
// 1. Demo models against HF transformers
// ---------------------------------------------------------------------------------------------------------------

interface ReferenceCase {
  prompt: string;
  tokens: number[];
  last_logits: number[];
  argmax_per_position: number[];
  greedy_tokens: number[];
  greedy_text: string;
}

function isReferenceCase(x: unknown): x is ReferenceCase {
  if (typeof x !== 'object' || x === null) return false;
  const numArr = (v: unknown): boolean => Array.isArray(v) && v.every((n) => typeof n === 'number');
  return (
    'prompt' in x && typeof x.prompt === 'string' &&
    'tokens' in x && numArr(x.tokens) &&
    'last_logits' in x && numArr(x.last_logits) &&
    'argmax_per_position' in x && numArr(x.argmax_per_position) &&
    'greedy_tokens' in x && numArr(x.greedy_tokens)
  );
}

function readCases(file: string): ReferenceCase[] {
  const json: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
  const cases = typeof json === 'object' && json !== null && 'cases' in json ? json.cases : undefined;
  if (!Array.isArray(cases) || cases.length === 0 || !cases.every(isReferenceCase)) {
    throw new Error(`${file}: not a reference file ({ cases: [{ prompt, tokens, last_logits, argmax_per_position, greedy_tokens }] })`);
  }
  return cases;
}

/** The 30M demo model ships in public/models/brix-demo-30m/ (first .gguf, i.e. the first split part), else ../shared. */
function demo30mPath(): string | undefined {
  const dir = path.join(repoRoot, 'public/models/brix-demo-30m');
  if (fs.existsSync(dir)) {
    const ggufs = fs.readdirSync(dir).filter((f) => f.endsWith('.gguf')).sort();
    if (ggufs.length > 0) return path.join(dir, ggufs[0]);
  }
  const p = sharedModel('brix-demo-30m-q8_0.gguf');
  return fs.existsSync(p) ? p : undefined;
}

function existing(p: string): string | undefined {
  return fs.existsSync(p) ? p : undefined;
}

const DEMOS = [
  { name: 'brix-demo-30m', gguf: demo30mPath(), json: existing(path.join(repoRoot, 'tests/golden/brix-demo-30m-reference.json')) },
  {
    name: 'brix-cl100k-65m',
    gguf: existing(sharedModel('brix-cl100k-65m-q8_0.gguf')),
    json: existing(sharedModel('brix-cl100k-65m-reference.json')),
  },
];

/** Minimum length of the greedy continuation that must match transformers token for token. */
const GREEDY_MIN_MATCH = 24;

for (const demo of DEMOS) {
  const { gguf, json } = demo;
  if (!gguf || !json) {
    console.warn(`[golden] SKIPPED ${demo.name}: model or reference JSON not found (model: ${gguf ?? 'absent'}, reference: ${json ?? 'absent'}); CI has them under ../shared/models`);
  }
  describe.skipIf(!gguf || !json)(`reference forward pass on ${demo.name} vs HF transformers (fp32)`, () => {
    let ref: ReferenceModel;
    let eog: number[];
    let close: (() => Promise<void>) | undefined;
    const cases = json ? readCases(json) : [];

    beforeAll(async () => {
      if (!gguf) return;
      const opened = await openModelFile(gguf);
      close = opened.close;
      ref = await ReferenceModel.load(opened.model);
      eog = [...Tokenizer.fromSpec(tokenizerSpecFromMetadata(opened.model.metadata)).eogIds];
    });
    afterAll(async () => {
      await close?.();
    });

    it.each(cases.map((c, i) => ({ label: `case ${i}`, c })))('$label: logits, per-position argmax and greedy continuation', ({ c }) => {
      ref.reset();
      const logits = ref.forward(c.tokens, { allPositions: true });
      expect(logits).toHaveLength(c.tokens.length);

      // Last-position logits within 1e-2 (an f32 pass is expected at ~1e-5).
      const last = logits[logits.length - 1];
      expect(last).toHaveLength(c.last_logits.length);
      let maxDiff = 0;
      let worst = 0;
      for (let i = 0; i < last.length; i++) {
        const d = Math.abs(last[i] - c.last_logits[i]);
        if (d > maxDiff) {
          maxDiff = d;
          worst = i;
        }
      }
      expect(maxDiff, `max |Δlogit| ${maxDiff} at token ${worst}: ${last[worst]} vs ${c.last_logits[worst]}`).toBeLessThan(1e-2);

      // Same argmax at every position.
      const got = logits.map((l) => argmax(l));
      expect(got).toEqual(c.argmax_per_position);

      // Greedy continuation: identical for at least its first 24 tokens (all of it when shorter).
      const gen = ref.greedy(c.tokens, c.greedy_tokens.length, eog);
      const need = Math.min(GREEDY_MIN_MATCH, c.greedy_tokens.length);
      expect(gen.slice(0, need)).toEqual(c.greedy_tokens.slice(0, need));
      console.info(
        `[golden] ${demo.name} "${c.prompt.slice(0, 40).replace(/\n/g, '\\n')}…": max |Δlogit| ${maxDiff.toExponential(2)}, ` +
          `argmax ${got.length}/${got.length}, greedy ${countSame(gen, c.greedy_tokens)}/${c.greedy_tokens.length} identical`,
      );
    });

    it('records the routing: top-k distinct experts per layer, weights summing to 1 (DBRX renormalises)', () => {
      const c = cases[0];
      ref.reset();
      ref.forward(c.tokens.slice(0, 4));
      const routes = ref.chosenExperts();
      expect(routes).toHaveLength(4);
      for (let pos = 0; pos < routes.length; pos++) {
        expect(routes[pos]).toHaveLength(ref.config.nLayer);
        for (const [il, experts] of routes[pos].entries()) {
          expect(experts).toHaveLength(ref.config.nExpertUsed);
          expect(new Set(experts).size).toBe(experts.length);
          for (const e of experts) expect(e >= 0 && e < ref.config.nExpert).toBe(true);
          const w = ref.routingAt(pos)[il].weights;
          expect(w.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
          // Top-k order: weights are non-increasing.
          for (let j = 1; j < w.length; j++) expect(w[j]).toBeLessThanOrEqual(w[j - 1]);
        }
      }
    });
  });
}

function countSame(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}
