/**
 * @file The synthetic GGUF source (workers/gguf/syntheticSource.ts, `bench --synthetic`): its header parses as the
 * make-model plan, its bytes are deterministic and independent of read chunking, every block decodes to finite
 * values of about the planned magnitude, and the full DBRX preset has the real size.
 */
import { describe, expect, it } from 'vitest';
import { openGgufModel } from '../../workers/gguf/model.ts';
import { describeModel } from '../../workers/gguf/arch.ts';
import { GgmlType, ggmlTypeName, tensorBytes } from '../../workers/gguf/ggmlTypes.ts';
import { GgufError } from '../../workers/gguf/errors.ts';
import { syntheticSource } from '../../workers/gguf/syntheticSource.ts';
import { dequantize } from '../../workers/quant/quant.ts';
import { planModel, resolveConfig, type QuantRecipe } from '../../scripts/lib/makeModel.ts';
import { syntheticModelSource, syntheticPlan } from '../../scripts/lib/syntheticModel.ts';

const tiny = (quant: QuantRecipe) =>
  planModel(resolveConfig({ arch: 'dbrx', layers: 2, embd: 256, heads: 4, kvHeads: 2, ff: 256, experts: 16, expertsUsed: 4, vocab: 'small' }), quant);

/** First index where a and b differ, or -1 (toEqual on 35 MB arrays takes minutes). */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

async function readAll(src: { size: number; read(o: number, n: number): Promise<Uint8Array> }, chunk: number): Promise<Uint8Array> {
  const out = new Uint8Array(src.size);
  for (let o = 0; o < src.size; o += chunk) out.set(await src.read(o, Math.min(chunk, src.size - o)), o);
  return out;
}

describe('synthetic GGUF source', () => {
  it('parses as the planned model: metadata, every tensor with its type and offset', async () => {
    const plan = tiny('mixed-q2_k');
    const src = syntheticSource('syn.gguf', plan.metadata, plan.tensors, 7);
    const model = await openGgufModel(src);
    const hp = describeModel(model);
    expect([hp.arch, hp.nLayer, hp.nEmbd, hp.nExpert, hp.nExpertUsed]).toEqual(['dbrx', 2, 256, 16, 4]);
    expect(model.tensors.map((t) => [t.name, ggmlTypeName(t.type), t.dims.join('x')])).toEqual(
      plan.tensors.map((t) => [t.name, ggmlTypeName(t.type), t.dims.join('x')]),
    );
    expect(new Set(model.tensors.map((t) => ggmlTypeName(t.type)))).toEqual(new Set(['F32', 'Q2_K', 'Q3_K', 'Q6_K']));
    expect(model.tensorBytes).toBe(plan.tensors.reduce((a, t) => a + tensorBytes(t.type, t.dims), 0));
  });

  it('bytes depend on the seed only: same under any read chunking, another seed differs', async () => {
    const plan = tiny('mixed-q4_k_m');
    const a = syntheticSource('a', plan.metadata, plan.tensors, 3);
    const whole = await readAll(a, a.size);
    expect(firstDiff(await readAll(a, 40_093), whole)).toBe(-1);
    expect(firstDiff(await readAll(syntheticSource('b', plan.metadata, plan.tensors, 3), 65536 + 1), whole)).toBe(-1);
    // Small unaligned reads inside one tensor.
    for (const at of [whole.length - 100_003, 1_000_001, 123_457]) expect(firstDiff(await a.read(at, 4093), whole.subarray(at, at + 4093))).toBe(-1);
    const other = await readAll(syntheticSource('c', plan.metadata, plan.tensors, 4), 1 << 20);
    const model = await openGgufModel(a);
    const t = model.requireTensor('blk.1.ffn_up_exps.weight');
    const diff = whole.subarray(t.offset, t.offset + t.nbytes).filter((v, i) => v !== other[t.offset + i]).length;
    expect(diff / t.nbytes).toBeGreaterThan(0.9);
    // Blocks differ from each other (not one block repeated).
    expect(whole.subarray(t.offset, t.offset + 84)).not.toEqual(whole.subarray(t.offset + 84 * 37, t.offset + 84 * 38));
  });

  for (const quant of ['mixed-q2_k', 'mixed-q3_k_m', 'mixed-q4_k_m', 'q8_0', 'f16'] as const) {
    it(`${quant}: every tensor decodes to finite values near its planned bound`, async () => {
      const plan = tiny(quant);
      const model = await openGgufModel(syntheticSource('s', plan.metadata, plan.tensors, 1));
      for (const p of plan.tensors) {
        const t = model.requireTensor(p.name);
        const n = t.dims.reduce((x, y) => x * y, 1);
        const v = dequantize(t.type, await model.readTensor(t), n);
        expect(v.every(Number.isFinite), `${t.name} ${ggmlTypeName(t.type)} finite`).toBe(true);
        const rms = Math.sqrt(v.reduce((s, x) => s + x * x, 0) / n);
        if (p.init.kind === 'norm') expect(Math.abs(rms - 1), t.name).toBeLessThan(0.05);
        else {
          // Uniform ±bound has RMS bound/√3; random blocks land within a small factor of it.
          const want = p.init.bound / Math.sqrt(3);
          expect(rms / want, `${t.name} ${ggmlTypeName(t.type)} rms ${rms} vs ${want}`).toBeGreaterThan(0.2);
          expect(rms / want, `${t.name} ${ggmlTypeName(t.type)} rms ${rms} vs ${want}`).toBeLessThan(5);
        }
      }
    });
  }

  it('rejects types it has no block recipe for, and reads past the end', async () => {
    const plan = tiny('f32');
    const bad = plan.tensors.map((t, i) => (i === 1 ? { ...t, type: GgmlType.IQ2_XXS, dims: [256, t.dims[1] ?? 1] } : t));
    expect(() => syntheticSource('x', plan.metadata, bad, 1)).toThrow(/IQ2_XXS/);
    const src = syntheticSource('x', plan.metadata, plan.tensors, 1);
    await expect(src.read(src.size - 4, 8)).rejects.toThrow(GgufError);
  });

  it('the DBRX preset: 40 layers, 131.6B parameters; Q4_K_M 79.9 GB, Q3_K_M 63.2 GB, Q2_K 48.4 GB of tensors', async () => {
    const sizes: Record<string, number> = {};
    for (const quant of ['mixed-q4_k_m', 'mixed-q3_k_m', 'mixed-q2_k'] as const) {
      const plan = syntheticPlan({ preset: 'dbrx', quant, seed: 1 });
      expect(plan.config.layers).toBe(40);
      expect(plan.tensors.reduce((a, t) => a + t.dims.reduce((x, y) => x * y, 1), 0)).toBe(131_596_523_520);
      sizes[quant] = plan.tensors.reduce((a, t) => a + tensorBytes(t.type, t.dims), 0);
    }
    expect(sizes).toEqual({ 'mixed-q4_k_m': 79_898_861_568, 'mixed-q3_k_m': 63_161_917_440, 'mixed-q2_k': 48_418_971_648 });
    // The source opens without generating anything: its size is the header plus the tensors.
    const src = syntheticModelSource({ preset: 'dbrx', quant: 'mixed-q2_k', seed: 1 });
    expect(src.name).toBe('synthetic:dbrx-40l-mixed-q2_k-seed1');
    const model = await openGgufModel(src);
    expect(model.tensorBytes).toBe(48_418_971_648);
    expect(describeModel(model).nLayer).toBe(40);
  });
});
