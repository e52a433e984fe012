/** 'auto' arithmetic: int8 only on a hardware adapter for a model whose products are mostly Q4_K/Q8_0. */
import { describe, expect, it } from 'vitest';
import { isSoftwareAdapter, productWeights, resolveActivations, type AdapterFacts } from '../../workers/engine/activationChoice.ts';
import type { GgufTensorInfo } from '../../workers/gguf/reader.ts';
import { parseGgmlTypeName } from '../../workers/gguf/ggmlTypes.ts';

const gpu = (o: Partial<AdapterFacts> = {}): AdapterFacts => ({ vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H200', isFallbackAdapter: false, ...o });
const Q8 = [{ type: 'Q8_0', bytes: 900 }, { type: 'F32', bytes: 100 }];
const F16 = [{ type: 'F16', bytes: 900 }, { type: 'Q4_K', bytes: 100 }];

describe('resolveActivations', () => {
  it('keeps an explicit choice', () => {
    expect(resolveActivations('f32', gpu(), Q8)).toBe('f32');
    expect(resolveActivations('int8', gpu({ isFallbackAdapter: true }), F16)).toBe('int8');
    expect(resolveActivations('ggml-cpu', gpu(), Q8)).toBe('ggml-cpu');
  });
  it('picks int8 on a hardware GPU for a Q4_K/Q8_0 model, f32 for other types', () => {
    expect(resolveActivations('auto', gpu(), Q8)).toBe('int8');
    expect(resolveActivations('auto', gpu(), [{ type: 'Q4_K', bytes: 600 }, { type: 'Q6_K', bytes: 400 }])).toBe('int8');
    expect(resolveActivations('auto', gpu(), F16)).toBe('f32');
    expect(resolveActivations('auto', gpu(), [])).toBe('f32');
  });
  it('never picks int8 on a software adapter', () => {
    for (const a of [
      gpu({ isFallbackAdapter: true }),
      gpu({ vendor: 'google', architecture: 'swiftshader', description: '' }),
      gpu({ vendor: 'mesa', description: 'llvmpipe (LLVM 19.1.7, 256 bits)' }),
      gpu({ vendor: '', description: 'Microsoft Basic Render Driver' }),
      gpu({ vendor: 'google', description: 'SwiftShader Device (Subzero)' }),
    ]) {
      expect(isSoftwareAdapter(a), JSON.stringify(a)).toBe(true);
      expect(resolveActivations('auto', a, Q8)).toBe('f32');
    }
    expect(isSoftwareAdapter(gpu())).toBe(false);
  });
});

describe('productWeights', () => {
  const t = (name: string, typeName: string, dims: number[], nbytes: number): GgufTensorInfo => {
    const type = parseGgmlTypeName(typeName);
    if (type === undefined) throw new Error(typeName);
    return { name, type, dims, nbytes, offset: 0, part: 0 };
  };
  it('counts matrices, not vectors, and the embedding only as a tied head', () => {
    const norm = t('blk.0.attn_norm.weight', 'F32', [64], 256);
    const wq = t('blk.0.attn_q.weight', 'Q8_0', [64, 64], 4352);
    const emb = t('token_embd.weight', 'F16', [64, 1000], 128000);
    expect(productWeights([norm, wq, emb]).map((w) => w.type)).toEqual(['Q8_0', 'F16']);
    expect(productWeights([norm, wq, emb, t('output.weight', 'Q8_0', [64, 1000], 68000)]).map((w) => w.bytes)).toEqual([4352, 68000]);
  });
});
