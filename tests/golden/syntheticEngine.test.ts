/**
 * @file `bench --synthetic`'s path through the engine: a model made on the fly by the synthetic source
 * (workers/gguf/syntheticSource.ts) loads through the same reader, loader, chunking and graphs as a file, and
 * gives bit-identical logits to the same bytes read from a file on disk.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNodeEngine } from '../../scripts/lib/nodeEngine.ts';
import { planModel, resolveConfig } from '../../scripts/lib/makeModel.ts';
import { syntheticSource } from '../../workers/gguf/syntheticSource.ts';
import { tensorBytes } from '../../workers/gguf/ggmlTypes.ts';

describe('engine on a synthetic source', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brix-synthetic-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a 2-layer DBRX (Q2_K mix) loads from the source and matches the same bytes loaded from a file', async () => {
    const plan = planModel(resolveConfig({ arch: 'dbrx', layers: 2, embd: 256, heads: 4, kvHeads: 2, ff: 256, experts: 16, expertsUsed: 4, vocab: 512 }), 'mixed-q2_k');
    const src = syntheticSource('synthetic:tiny-dbrx', plan.metadata, plan.tensors, 11);
    const file = path.join(dir, 'tiny.gguf');
    fs.writeFileSync(file, await src.read(0, src.size));
    const tokens = [5, 77, 300, 12, 499, 1, 250];
    const run = async (model: string | typeof src): Promise<Float32Array[]> => {
      const { engine, info } = await loadNodeEngine(model, 64, { kvCache: 'f32' });
      try {
        expect([info.architecture, info.nLayer, info.nExpert, info.fileBytes]).toEqual(['dbrx', 2, 16, plan.tensors.reduce((a, t) => a + tensorBytes(t.type, t.dims), 0)]);
        const runner = engine.internals.runner;
        // Prefill graph for the first 4 positions, decode graph for the rest.
        const out = await runner.evalLogits(tokens.slice(0, 4), 0, true);
        for (let i = 4; i < tokens.length; i++) out.push(...(await runner.evalLogits([tokens[i]], i, false)));
        return out;
      } finally {
        await engine.unload();
      }
    };
    const fromSource = await run(src);
    const fromFile = await run(file);
    expect(fromSource.length).toBe(tokens.length);
    for (const [i, l] of fromSource.entries()) {
      expect(l.every(Number.isFinite), `position ${i}: finite logits`).toBe(true);
      expect(Math.max(...l) - Math.min(...l), `position ${i}: logits are not constant`).toBeGreaterThan(1e-3);
      expect([...l], `position ${i}`).toEqual([...fromFile[i]]);
    }
  });
});
