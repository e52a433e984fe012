/**
 * @file The upload plan stacks a layer's separate Q/K/V weights into one GPU weight (attn_qkv), or two of them
 * (attn_qk, attn_kv), when they are 2-D, of one type, without biases and within one binding; GPU bytes stay
 * those of the separate tensors, and the file tensors read are unchanged.
 */
import { describe, expect, it } from 'vitest';
import { arrayBufferSource } from '../../workers/gguf/byteSource.ts';
import { GgmlType, tensorBytes } from '../../workers/gguf/ggmlTypes.ts';
import { openGgufModel } from '../../workers/gguf/model.ts';
import { kv, writeGgufToBytes } from '../../workers/gguf/writer.ts';
import { planUpload } from '../../workers/engine/loader.ts';
import { gpuRowStride } from '../../kernels/lib/weights.ts';

const E = 256;
const NQ = 256;
const NKV = 128;

async function model(types: { q: GgmlType; k: GgmlType; v: GgmlType }, biases = false) {
  const t = (name: string, dims: number[], ty: GgmlType) => ({ name, dims, type: ty, data: new Uint8Array(tensorBytes(ty, dims)) });
  const tensors = [
    t('token_embd.weight', [E, 8], GgmlType.Q8_0),
    t('blk.0.attn_norm.weight', [E], GgmlType.F32),
    t('blk.0.attn_q.weight', [E, NQ], types.q),
    t('blk.0.attn_k.weight', [E, NKV], types.k),
    t('blk.0.attn_v.weight', [E, NKV], types.v),
    ...(biases ? [t('blk.0.attn_q.bias', [NQ], GgmlType.F32), t('blk.0.attn_k.bias', [NKV], GgmlType.F32), t('blk.0.attn_v.bias', [NKV], GgmlType.F32)] : []),
    t('output_norm.weight', [E], GgmlType.F32),
  ];
  const bytes = await writeGgufToBytes([kv.string('general.architecture', 'llama')], tensors);
  return openGgufModel(arrayBufferSource(bytes, 'qkv.gguf'));
}

const plan = async (types: { q: GgmlType; k: GgmlType; v: GgmlType }, o: { biases?: boolean; maxBinding?: number } = {}) => {
  const m = await model(types, o.biases);
  return planUpload({ maxBinding: o.maxBinding ?? 2 ** 30 }, m, m.tensors.map((x) => x.name));
};
const attn = (p: Awaited<ReturnType<typeof plan>>) =>
  p.uploads.filter((u) => u.name.includes('attn_') && !u.name.includes('norm')).map((u) => [u.name, u.dims, u.parts.map((x) => x.name)]);
const { Q4_K, Q8_0, Q6_K } = GgmlType;

describe('Q/K/V fusion in the upload plan', () => {
  it('one type, no biases: one attn_qkv, rows Q then K then V; same GPU bytes; every file tensor still read', async () => {
    const p = await plan({ q: Q4_K, k: Q4_K, v: Q4_K });
    expect(attn(p)).toEqual([['blk.0.attn_qkv.weight', [E, NQ + 2 * NKV], ['blk.0.attn_q.weight', 'blk.0.attn_k.weight', 'blk.0.attn_v.weight']]]);
    expect(p.tensors).toHaveLength(6);
    expect(p.gpuBytes).toBe(8 * gpuRowStride('Q8_0', E) + 2 * E * 4 + (NQ + 2 * NKV) * gpuRowStride('Q4_K', E));
    // The GPU weights hold every file row once.
    const rows = (dims: readonly number[]) => dims.slice(1).reduce((x, y) => x * y, 1);
    expect(p.uploads.reduce((a, u) => a + rows(u.dims), 0)).toBe(p.tensors.reduce((a, t) => a + rows(t.dims), 0));
  });

  it('Q and K alike: attn_qk beside V; K and V alike: Q beside attn_kv', async () => {
    expect(attn(await plan({ q: Q4_K, k: Q4_K, v: Q6_K }))).toEqual([
      ['blk.0.attn_qk.weight', [E, NQ + NKV], ['blk.0.attn_q.weight', 'blk.0.attn_k.weight']],
      ['blk.0.attn_v.weight', [E, NKV], ['blk.0.attn_v.weight']],
    ]);
    expect(attn(await plan({ q: Q4_K, k: Q8_0, v: Q8_0 }))).toEqual([
      ['blk.0.attn_q.weight', [E, NQ], ['blk.0.attn_q.weight']],
      ['blk.0.attn_kv.weight', [E, 2 * NKV], ['blk.0.attn_k.weight', 'blk.0.attn_v.weight']],
    ]);
  });

  it('biases, three types, or a binding too small for the stack: separate weights', async () => {
    const separate = ['attn_q', 'attn_k', 'attn_v'].map((n) => `blk.0.${n}.weight`);
    const names = (p: Awaited<ReturnType<typeof plan>>) => attn(p).map(([n]) => n).filter((n) => typeof n === 'string' && n.endsWith('.weight'));
    expect(names(await plan({ q: Q4_K, k: Q4_K, v: Q4_K }, { biases: true }))).toEqual(separate);
    expect(names(await plan({ q: Q4_K, k: Q8_0, v: Q6_K }))).toEqual(separate);
    // Q4_K rows of 256 are 144 bytes: Q+K+V (512 rows) and Q+K (384) exceed 300 rows' worth, K+V (256) fits.
    const kvOnly = await plan({ q: Q4_K, k: Q4_K, v: Q4_K }, { maxBinding: 300 * gpuRowStride('Q4_K', E) });
    expect(names(kvOnly)).toEqual(['blk.0.attn_q.weight', 'blk.0.attn_kv.weight']);
    expect(names(await plan({ q: Q4_K, k: Q4_K, v: Q4_K }, { maxBinding: 200 * gpuRowStride('Q4_K', E) }))).toEqual(separate);
  });
});
