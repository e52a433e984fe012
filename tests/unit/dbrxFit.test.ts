/**
 * @file The DBRX entry's "in a tab" numbers are the engine's own: each quant's GPU memory is the loader's upload
 * plan of the real 40-layer tensor list (the synthetic source's header, the same list make-model writes), plus
 * the f16 KV cache at the default context and the scratch measured on the H200; the fit check uses them.
 */
import { describe, expect, it } from 'vitest';
import { DBRX_SCRATCH_BYTES, ENDPOINT_MODELS } from '../../app/features/models/catalog.ts';
import { assessFit, fitsUnifiedMemoryGb } from '../../app/features/models/fit.ts';
import { openGgufModel } from '../../workers/gguf/model.ts';
import { planUpload } from '../../workers/engine/loader.ts';
import { syntheticModelSource } from '../../scripts/lib/syntheticModel.ts';
import type { GpuInfo } from '../../kernels/lib/gpuInfo.ts';
import { testGpuInfo } from '../helpers/gpuInfo.ts';

const dbrx = ENDPOINT_MODELS.find((m) => m.id === 'dbrx-instruct');
const RECIPE = { Q2_K: 'mixed-q2_k', Q3_K_M: 'mixed-q3_k_m', Q4_K_M: 'mixed-q4_k_m' } as const;
// 40 layers × K and V × 8 KV heads × head dim 128 × 4,096 positions × 2 bytes (f16).
const KV_F16_4096 = 40 * 2 * 8 * 128 * 4096 * 2;

function isRecipeKey(q: string): q is keyof typeof RECIPE {
  return q in RECIPE;
}

describe('DBRX in a tab', () => {
  it('GPU memory per quant = upload plan + f16 KV cache at 4,096 tokens + measured scratch', async () => {
    expect(dbrx?.tabQuants?.map((q) => q.quant)).toEqual(['Q2_K', 'Q3_K_M', 'Q4_K_M']);
    for (const q of dbrx?.tabQuants ?? []) {
      if (!isRecipeKey(q.quant)) throw new Error(`no recipe for ${q.quant}`);
      const model = await openGgufModel(syntheticModelSource({ preset: 'dbrx', quant: RECIPE[q.quant], seed: 1 }));
      const plan = planUpload({ maxBinding: 2 ** 31 - 4 }, model, model.tensors.map((t) => t.name));
      expect(plan.fileBytes).toBe(q.bytes);
      expect(q.gpuBytes).toBe(plan.gpuBytes + KV_F16_4096 + DBRX_SCRATCH_BYTES);
      expect(Math.max(...model.tensors.map((t) => t.nbytes))).toBeLessThanOrEqual(q.largestTensorBytes + 1e6);
    }
  });

  it('fits the unified-memory machines the issue names (75 % GPU share)', () => {
    expect(dbrx?.tabQuants?.map((q) => fitsUnifiedMemoryGb(q.gpuBytes))).toEqual([64, 96, 128]);
    expect(fitsUnifiedMemoryGb(0.75 * 64 * 2 ** 30)).toBe(64);
    expect(fitsUnifiedMemoryGb(0.75 * 64 * 2 ** 30 + 1)).toBe(96);
    expect(fitsUnifiedMemoryGb(1e15)).toBeUndefined();
  });

  it('the fit check reads the GPU bytes, not the file size with a margin', () => {
    const info: GpuInfo = testGpuInfo({
      vendor: 'apple',
      architecture: 'metal-3',
      features: { timestampQuery: false },
      limits: { maxBufferSize: 4 * 2 ** 30, maxStorageBufferBindingSize: 4 * 2 ** 30 },
    });

    const fit = assessFit({ sizeBytes: 10e9, gpuBytes: 11e9 }, { gpu: { kind: 'ok', info }, deviceMemoryGb: 8 });
    const mem = fit.checks.find((c) => c.label === 'Memory');
    expect(mem?.detail).toContain('needs 11.0 GB of GPU memory');
    const guess = assessFit({ sizeBytes: 10e9 }, { gpu: { kind: 'ok', info }, deviceMemoryGb: 8 });
    expect(guess.checks.find((c) => c.label === 'Memory')?.detail).toContain('needs about 12.0 GB');
  });
});
