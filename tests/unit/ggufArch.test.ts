/**
 * @file Architecture descriptors: hyper-parameters read with llama.cpp's keys and defaults, tensor names and
 * shapes as llama.cpp's loader creates them, and clear errors for unknown architectures, missing metadata,
 * missing tensors and shapes that contradict the metadata.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describeModel, expectedTensors, readModelConfig, SUPPORTED_ARCHS, type ModelConfig } from '../../workers/gguf/arch.ts';
import { arrayBufferSource } from '../../workers/gguf/byteSource.ts';
import { GgufError } from '../../workers/gguf/errors.ts';
import { GgmlType, tensorBytes } from '../../workers/gguf/ggmlTypes.ts';
import { GgufMetadata, type GgufKv } from '../../workers/gguf/metadata.ts';
import { openGgufModel } from '../../workers/gguf/model.ts';
import { kv, writeGgufToBytes } from '../../workers/gguf/writer.ts';
import { planModel, resolveConfig, makeVocab, type ModelSpec } from '../../scripts/lib/makeModel.ts';
import { formatReport, inspectModel } from '../../scripts/commands/inspect.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const vocab = makeVocab(300);

/** A model file from a generator plan, with metadata/tensors edited; tensor data is zeros. */
async function fileFrom(
  cfg: Partial<ModelSpec>,
  edit: { kvs?: (k: GgufKv[]) => GgufKv[]; tensors?: (t: { name: string; dims: number[]; type: GgmlType }[]) => { name: string; dims: number[]; type: GgmlType }[] } = {},
): Promise<ModelConfig> {
  const plan = planModel(resolveConfig(cfg), 'f32', vocab);
  const kvs = (edit.kvs ?? ((k) => k))(plan.metadata);
  const tensors = (edit.tensors ?? ((t) => t))(plan.tensors.map((t) => ({ name: t.name, dims: [...t.dims], type: GgmlType.F32 })));
  const bytes = await writeGgufToBytes(kvs, tensors.map((t) => ({ ...t, data: new Uint8Array(tensorBytes(t.type, t.dims)) })));
  return describeModel(await openGgufModel(arrayBufferSource(bytes, 'edited.gguf')));
}

function expectCode(f: () => unknown, code: string, msg: RegExp): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof GgufError)) throw e;
    expect(e.code, e.message).toBe(code);
    expect(e.message).toMatch(msg);
    return;
  }
  throw new Error(`expected GgufError ${code}`);
}

async function expectCodeAsync(p: Promise<unknown>, code: string, msg: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof GgufError)) throw e;
    expect(e.code, e.message).toBe(code);
    expect(e.message).toMatch(msg);
    return;
  }
  throw new Error(`expected GgufError ${code}`);
}

const base = { layers: 2, embd: 64, heads: 4, kvHeads: 2, ff: 32, vocab: 300 } as const;

describe('expected tensors follow llama.cpp’s loaders', () => {
  const hp = (cfg: Partial<ModelSpec>): ModelConfig => planModel(resolveConfig(cfg), 'f32', vocab).hparams;
  const shape = (h: ModelConfig, name: string): readonly number[] | undefined => expectedTensors(h).find((t) => t.name === name)?.dims;

  it('dbrx: fused qkv, attn_output_norm, experts (E, F, X) / (F, E, X)', () => {
    const h = hp({ arch: 'dbrx', ...base, experts: 4, expertsUsed: 2 });
    expect(shape(h, 'blk.1.attn_qkv.weight')).toEqual([64, 64 + 2 * 32]);
    expect(shape(h, 'blk.1.attn_output_norm.weight')).toEqual([64]);
    expect(shape(h, 'blk.1.ffn_gate_exps.weight')).toEqual([64, 32, 4]);
    expect(shape(h, 'blk.1.ffn_down_exps.weight')).toEqual([32, 64, 4]);
    expect(shape(h, 'blk.0.ffn_norm.weight')).toBeUndefined();
    expect(shape(h, 'output.weight')).toEqual([64, 300]);
  });
  it('qwen3moe: q is head_dim × heads wide, per-head q/k norms', () => {
    const h = hp({ arch: 'qwen3moe', ...base, headDim: 32, experts: 4, expertsUsed: 2 });
    expect(shape(h, 'blk.0.attn_q.weight')).toEqual([64, 128]);
    expect(shape(h, 'blk.0.attn_k.weight')).toEqual([64, 64]);
    expect(shape(h, 'blk.0.attn_output.weight')).toEqual([128, 64]);
    expect(shape(h, 'blk.0.attn_q_norm.weight')).toEqual([32]);
    expect(shape(h, 'blk.0.attn_k_norm.weight')).toEqual([32]);
  });
  it('olmoe: q/k norms over the whole projection', () => {
    const h = hp({ arch: 'olmoe', ...base, kvHeads: 4, experts: 4, expertsUsed: 2 });
    expect(shape(h, 'blk.0.attn_k_norm.weight')).toEqual([64]);
    expect(h.normTopK).toBe(false);
  });
  it('qwen2moe: shared expert with its sigmoid gate vector', () => {
    const h = hp({ arch: 'qwen2moe', ...base, kvHeads: 4, experts: 4, expertsUsed: 2, sharedFf: 96 });
    expect(shape(h, 'blk.0.ffn_gate_inp_shexp.weight')).toEqual([64]);
    expect(shape(h, 'blk.0.ffn_down_shexp.weight')).toEqual([96, 64]);
    expect(shape(h, 'blk.0.ffn_up_shexp.weight')).toEqual([64, 96]);
  });
  it('llama dense and granitemoe tied', () => {
    const d = hp({ arch: 'llama', ...base });
    expect(shape(d, 'blk.0.ffn_down.weight')).toEqual([32, 64]);
    expect(shape(d, 'blk.0.ffn_gate_inp.weight')).toBeUndefined();
    const g = hp({ arch: 'granitemoe', ...base, experts: 4, expertsUsed: 2 });
    expect(g.tiedOutput).toBe(true);
    expect(shape(g, 'output.weight')).toBeUndefined();
    expect({ embedding: g.embeddingScale, attention: g.attentionScale, residual: g.residualScale, logit: g.logitScale }).toEqual({
      embedding: 12,
      attention: 0.015625,
      residual: expect.closeTo(0.22, 6),
      logit: 6,
    });
  });
});

describe('describeModel errors', () => {
  it('names an unknown architecture and the supported ones', () => {
    const md = new GgufMetadata([kv.string('general.architecture', 'mamba')]);
    expectCode(() => readModelConfig(md), 'unsupported-arch', new RegExp(`'mamba'.*${SUPPORTED_ARCHS.join(', ')}`));
  });
  it('missing required metadata', async () => {
    await expectCodeAsync(
      fileFrom({ arch: 'dbrx', ...base, experts: 4, expertsUsed: 2 }, { kvs: (k) => k.filter((e) => e.key !== 'dbrx.attention.clamp_kqv') }),
      'missing-metadata',
      /dbrx\.attention\.clamp_kqv/,
    );
    await expectCodeAsync(
      fileFrom({ arch: 'olmoe', ...base, kvHeads: 4, experts: 4, expertsUsed: 2 }, { kvs: (k) => k.filter((e) => e.key !== 'olmoe.expert_count') }),
      'missing-metadata',
      /olmoe\.expert_count/,
    );
  });
  it('missing tensor', async () => {
    await expectCodeAsync(
      fileFrom({ arch: 'qwen3moe', ...base, experts: 4, expertsUsed: 2 }, { tensors: (t) => t.filter((x) => x.name !== 'blk.1.attn_k_norm.weight') }),
      'missing-tensor',
      /blk\.1\.attn_k_norm\.weight/,
    );
  });
  it('shape contradicting the metadata', async () => {
    await expectCodeAsync(
      fileFrom(
        { arch: 'dbrx', ...base, experts: 4, expertsUsed: 2 },
        { tensors: (t) => t.map((x) => (x.name === 'blk.0.ffn_up_exps.weight' ? { ...x, dims: [64, 32, 3] } : x)) },
      ),
      'bad-shape',
      /blk\.0\.ffn_up_exps\.weight.*\[64, 32, 3\].*\[64, 32, 4\]/,
    );
  });
  it('per-layer arrays: uniform accepted, varying rejected', async () => {
    const cfg = { arch: 'llama', ...base, experts: 4, expertsUsed: 2 } as const;
    const perLayer = (vals: number[]) => (k: GgufKv[]): GgufKv[] =>
      k.map((e) => (e.key === 'llama.attention.head_count_kv' ? kv.u32s(e.key, vals) : e));
    expect((await fileFrom(cfg, { kvs: perLayer([2, 2]) })).nHeadKv).toBe(2);
    await expectCodeAsync(fileFrom(cfg, { kvs: perLayer([2, 4]) }), 'bad-metadata', /different values per layer/);
  });
  it('expert_used_count larger than expert_count', async () => {
    await expectCodeAsync(
      fileFrom({ arch: 'dbrx', ...base, experts: 4, expertsUsed: 2 }, {
        kvs: (k) => k.map((e) => (e.key === 'dbrx.expert_used_count' ? kv.u32(e.key, 5) : e)),
      }),
      'bad-metadata',
      /expert_used_count 5/,
    );
  });
});

describe('real-valued hyper-parameters are checked where they are read', () => {
  const mdWith = (cfg: Partial<ModelConfig>, key: string, v: number): GgufMetadata => {
    const plan = planModel(resolveConfig(cfg), 'f32', vocab);
    const kvs = plan.metadata.filter((e) => e.key !== key);
    return new GgufMetadata([...kvs, kv.f32(key, v)]);
  };
  const dbrx = { arch: 'dbrx', ...base, experts: 4, expertsUsed: 2 } as const;
  const llama = { arch: 'llama', ...base, experts: 4, expertsUsed: 2 } as const;

  it('NaN, infinite or negative epsilon / rope base / clamp is a bad-metadata GgufError naming the key', () => {
    for (const v of [Number.NaN, -1e-5, Number.POSITIVE_INFINITY]) {
      expectCode(() => readModelConfig(mdWith(dbrx, 'dbrx.attention.layer_norm_epsilon', v)), 'bad-metadata', /'dbrx\.attention\.layer_norm_epsilon' = .* must be a finite number ≥ 0/);
      expectCode(() => readModelConfig(mdWith(llama, 'llama.attention.layer_norm_rms_epsilon', v)), 'bad-metadata', /'llama\.attention\.layer_norm_rms_epsilon'/);
      expectCode(() => readModelConfig(mdWith(dbrx, 'dbrx.rope.freq_base', v)), 'bad-metadata', /'dbrx\.rope\.freq_base' = .* must be a finite number > 0/);
      expectCode(() => readModelConfig(mdWith(dbrx, 'dbrx.attention.clamp_kqv', v)), 'bad-metadata', /'dbrx\.attention\.clamp_kqv'/);
      expectCode(() => readModelConfig(mdWith(llama, 'llama.attention.clamp_kqv', v)), 'bad-metadata', /'llama\.attention\.clamp_kqv'/);
    }
    expectCode(() => readModelConfig(mdWith(dbrx, 'dbrx.rope.freq_base', 0)), 'bad-metadata', /freq_base' = 0/);
    // In range: accepted (clamp 0 = off).
    expect(readModelConfig(mdWith(dbrx, 'dbrx.attention.clamp_kqv', 0)).clampKqv).toBe(0);
    expect(readModelConfig(mdWith(dbrx, 'dbrx.rope.freq_base', 500000)).rope.freqBase).toBe(500000);
  });
});

describe('inspect flags tensors the loader would not expect', () => {
  type Spec = { name: string; dims: number[]; type: GgmlType };
  async function inspectEdited(edit: (t: Spec[]) => Spec[]): Promise<ReturnType<typeof inspectModel>> {
    const plan = planModel(resolveConfig({ arch: 'llama', ...base, experts: 4, expertsUsed: 2 }), 'f32', vocab);
    const tensors = edit(plan.tensors.map((t) => ({ name: t.name, dims: [...t.dims], type: GgmlType.F32 })));
    const bytes = await writeGgufToBytes(plan.metadata, tensors.map((t) => ({ ...t, data: new Uint8Array(tensorBytes(t.type, t.dims)) })));
    return inspectModel(await openGgufModel(arrayBufferSource(bytes, 'edited.gguf')));
  }

  it('a clean file has no warnings', async () => {
    expect((await inspectEdited((t) => t)).warnings).toEqual([]);
  });

  it('a block beyond block_count, an unknown tensor, a vector of a quantized type and a type without kernels', async () => {
    const r = await inspectEdited((t) => [
      ...t.map((x) => (x.name === 'blk.0.attn_norm.weight' ? { ...x, dims: [64], type: GgmlType.I32 } : x.name === 'blk.1.ffn_norm.weight' ? { ...x, dims: [64], type: GgmlType.Q8_0 } : x)),
      { name: 'blk.7.attn_q.weight', dims: [64, 64], type: GgmlType.F32 },
      { name: 'mystery.weight', dims: [64], type: GgmlType.F32 },
    ]);
    // A type without kernels cannot run (the loader refuses it before any upload).
    expect(r.problem).toMatch(/^tensor blk\.0\.attn_norm\.weight has type I32: Brix has no GPU kernels for it/);
    expect(r.warnings).toEqual([
      "tensor 'blk.0.attn_norm.weight' has type I32, which Brix has no kernels for (supported: " + r.warnings[0].split('(supported: ')[1],
      "tensor 'blk.1.ffn_norm.weight' is a vector of type Q8_0; norms and biases are F32 (or F16/BF16)",
      "tensor 'blk.7.attn_q.weight' is in block 7, beyond block_count 2",
      "tensor 'mystery.weight' is not one llama has",
    ]);
    expect(formatReport(r)).toContain("  warning: tensor 'blk.7.attn_q.weight' is in block 7, beyond block_count 2");
  });
});

describe('real model', () => {
  const file = path.resolve(repoRoot, '../shared/models/brix-demo-30m-q8_0.gguf');
  it.runIf(existsSync(file))('brix-demo-30m is a dbrx with the documented hyper-parameters', async () => {
    const buf = readFileSync(file);
    const hp = describeModel(await openGgufModel(arrayBufferSource(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), 'demo')));
    expect(hp).toMatchObject({
      arch: 'dbrx', nVocab: 32064, nEmbd: 256, nLayer: 4, nHead: 8, nHeadKv: 2, headDim: 32, nFf: 256,
      nExpert: 16, nExpertUsed: 4, nCtxTrain: 2048, rope: { style: 'neox', nRot: 32, freqBase: 10000, freqScale: 1 }, norm: 'layer', clampKqv: 8,
      tiedOutput: false, fusedQkv: true,
    });
    expect(hp.normEps).toBeCloseTo(1e-5, 9);
  });
  if (!existsSync(file)) console.warn(`skipping: ${file} not found`);
});
