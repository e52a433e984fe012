/**
 * @file The model generator without llama.cpp: every architecture's file passes our own reader and arch checks
 * with the hyper-parameters asked for, output is deterministic per seed, the Q4_K_M recipe and fallbacks follow
 * llama.cpp's rules, presets have the real models' sizes, and routers have wide top-k margins.
 */
import { describe, expect, it } from 'vitest';
import { describeModel, type ModelConfig } from '../../workers/gguf/arch.ts';
import { arrayBufferSource } from '../../workers/gguf/byteSource.ts';
import { GgmlType, ggmlTypeName } from '../../workers/gguf/ggmlTypes.ts';
import { openGgufModel } from '../../workers/gguf/model.ts';
import { dequantize } from '../../workers/quant/quant.ts';
import { configFromFlags } from '../../scripts/commands/makeModel.ts';
import { UsageError } from '../../scripts/cliTypes.ts';
import {
  makeModelBytes,
  makeVocab,
  planModel,
  resolveConfig,
  tensorTypeFor,
  tensorValues,
  useMoreBits,
  type ModelSpec,
} from '../../scripts/lib/makeModel.ts';

const tiny = { layers: 2, embd: 64, heads: 4, kvHeads: 2, ff: 32, vocab: 300 } as const;

const CASES: { label: string; cfg: Partial<ModelSpec>; want: Partial<ModelConfig> }[] = [
  {
    label: 'dbrx',
    cfg: { arch: 'dbrx', ...tiny, experts: 4, expertsUsed: 2 },
    want: { norm: 'layer', rope: expect.objectContaining({ style: 'neox' }), clampKqv: 8, fusedQkv: true, normTopK: true },
  },
  { label: 'llama dense', cfg: { arch: 'llama', ...tiny }, want: { nExpert: 0, rope: expect.objectContaining({ style: 'normal' }), norm: 'rms', fusedQkv: false } },
  { label: 'llama mixtral-style', cfg: { arch: 'llama', ...tiny, experts: 8, expertsUsed: 2 }, want: { nExpert: 8, nExpertUsed: 2 } },
  {
    label: 'qwen2moe',
    cfg: { arch: 'qwen2moe', ...tiny, kvHeads: 4, experts: 4, expertsUsed: 2, sharedFf: 64 },
    want: { nFfShexp: 64, sharedExpertGated: true, normTopK: false, rope: expect.objectContaining({ style: 'neox' }) },
  },
  {
    label: 'qwen3moe',
    cfg: { arch: 'qwen3moe', ...tiny, headDim: 32, experts: 4, expertsUsed: 2 },
    want: { headDim: 32, qkNorm: 'head', normTopK: true },
  },
  {
    label: 'olmoe',
    cfg: { arch: 'olmoe', ...tiny, kvHeads: 4, experts: 4, expertsUsed: 2 },
    want: { qkNorm: 'full', normTopK: false },
  },
  {
    label: 'granitemoe',
    cfg: { arch: 'granitemoe', ...tiny, experts: 4, expertsUsed: 2, sharedFf: 32 },
    want: { tiedOutput: true, nFfShexp: 32, sharedExpertGated: false },
  },
];

describe('generated models pass our reader and architecture checks', () => {
  for (const c of CASES) {
    it(c.label, async () => {
      const cfg = resolveConfig(c.cfg);
      const bytes = await makeModelBytes(cfg, 'q8_0', 7);
      const model = await openGgufModel(arrayBufferSource(bytes, `${c.label}.gguf`));
      const hp = describeModel(model);
      expect(hp).toMatchObject({
        arch: cfg.arch,
        nLayer: 2,
        nEmbd: 64,
        nHead: 4,
        nHeadKv: cfg.kvHeads,
        nFf: 32,
        nVocab: 300,
        nExpert: cfg.experts,
        ...c.want,
      });
      expect(model.metadata.stringArray('tokenizer.ggml.tokens').length).toBe(300);
      for (const t of model.tensors) {
        const want = t.dims.length < 2 || t.name.includes('_norm') || t.name.includes('ffn_gate_inp') ? GgmlType.F32 : GgmlType.Q8_0;
        expect(ggmlTypeName(t.type), t.name).toBe(ggmlTypeName(want));
      }
    });
  }

  it('is deterministic per seed and changes with the seed', async () => {
    const cfg = resolveConfig(CASES[0].cfg);
    const a = await makeModelBytes(cfg, 'q4_0', 11);
    const b = await makeModelBytes(cfg, 'q4_0', 11);
    const c = await makeModelBytes(cfg, 'q4_0', 12);
    expect(b).toEqual(a);
    expect(c.length).toBe(a.length);
    expect(c).not.toEqual(a);
  });

  it('stores the values it generated (F32 round trip; quantized within the format error)', async () => {
    const cfg = resolveConfig(CASES[1].cfg);
    const plan = planModel(cfg, 'q8_0');
    const m = await openGgufModel(arrayBufferSource(await makeModelBytes(cfg, 'q8_0', 3), 'x'));
    const t = plan.tensors.find((x) => x.name === 'blk.1.ffn_down.weight');
    if (!t) throw new Error('no ffn_down');
    const want = [...tensorValues(t, 3)][0];
    const got = dequantize(t.type, await m.readTensor(m.requireTensor(t.name)), want.length);
    const amax = Math.max(...want.map(Math.abs));
    expect(Math.max(...got.map((v, i) => Math.abs(v - want[i])))).toBeLessThan(amax / 127);
    // Chunking does not change the values.
    expect(Float32Array.from([...tensorValues(t, 3, 64)].flatMap((x) => [...x]))).toEqual(want);
  });
});

describe('quant recipes', () => {
  it('use_more_bits matches llama.cpp for 32 layers', () => {
    const picked = Array.from({ length: 32 }, (_, i) => i).filter((i) => useMoreBits(i, 32));
    expect(picked).toEqual([0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]);
  });

  it('mixed-q4_k_m follows the Q4_K_M recipe', () => {
    const c = { layers: 32, experts: 16, tied: false };
    const t = (name: string, dims: number[], cc: { layers: number; experts: number; tied: boolean } = c): string =>
      ggmlTypeName(tensorTypeFor(name, dims, cc, 'mixed-q4_k_m'));
    expect(t('output.weight', [4096, 1000])).toBe('Q6_K');
    expect(t('token_embd.weight', [4096, 1000])).toBe('Q4_K');
    expect(t('token_embd.weight', [4096, 1000], { ...c, tied: true })).toBe('Q6_K');
    expect(t('blk.0.attn_v.weight', [4096, 1024])).toBe('Q6_K');
    expect(t('blk.4.attn_v.weight', [4096, 1024])).toBe('Q4_K');
    expect(t('blk.6.ffn_down_exps.weight', [1024, 4096, 16])).toBe('Q6_K');
    expect(t('blk.7.ffn_down_exps.weight', [1024, 4096, 16])).toBe('Q4_K');
    expect(t('blk.7.ffn_up_exps.weight', [4096, 1024, 16])).toBe('Q4_K');
    expect(t('blk.7.attn_qkv.weight', [4096, 6144])).toBe('Q5_K');
    expect(t('blk.7.ffn_gate_inp.weight', [4096, 16])).toBe('F32');
    expect(t('blk.7.attn_norm.weight', [4096])).toBe('F32');
    const mixtral = { layers: 32, experts: 8, tied: false };
    expect(t('blk.5.attn_v.weight', [4096, 1024], mixtral)).toBe('Q8_0');
    expect(t('blk.5.attn_k.weight', [4096, 1024], mixtral)).toBe('Q8_0');
    expect(t('blk.5.attn_output.weight', [4096, 4096], mixtral)).toBe('Q5_K');
    // Row lengths that are not whole 256-blocks fall back like llama.cpp (Qwen1.5-MoE's 1408-wide experts).
    expect(t('blk.5.ffn_down_exps.weight', [1408, 2048, 60])).toBe('Q5_0');
    expect(t('blk.0.ffn_down_exps.weight', [1408, 2048, 60])).toBe('Q8_0');
    expect(t('output.weight', [1408, 1000])).toBe('Q8_0');
    expect(t('blk.5.ffn_up.weight', [100, 64])).toBe('F16');
    expect(ggmlTypeName(tensorTypeFor('blk.0.attn_q.weight', [64, 64], c, 'q4_k'))).toBe('Q5_0');
    expect(ggmlTypeName(tensorTypeFor('blk.0.attn_q.weight', [64, 64], c, 'q6_k'))).toBe('Q8_0');
    expect(ggmlTypeName(tensorTypeFor('blk.0.attn_q.weight', [48, 64], c, 'q8_0'))).toBe('F16');
    expect(ggmlTypeName(tensorTypeFor('blk.0.attn_q.weight', [48, 64], c, 'f16'))).toBe('F16');
  });

  it('mixed-q2_k and mixed-q3_k_m follow llama.cpp Q2_K / Q3_K_M (DBRX: 40 layers, 16 experts, GQA 6)', () => {
    const dbrx = { layers: 40, experts: 16, tied: false, heads: 48, kvHeads: 8 };
    const t = (q: 'mixed-q2_k' | 'mixed-q3_k_m', name: string, dims: number[], cc: Parameters<typeof tensorTypeFor>[2] = dbrx): string =>
      ggmlTypeName(tensorTypeFor(name, dims, cc, q));
    const q2 = (n: string, d: number[], cc?: Parameters<typeof tensorTypeFor>[2]): string => t('mixed-q2_k', n, d, cc);
    const q3 = (n: string, d: number[], cc?: Parameters<typeof tensorTypeFor>[2]): string => t('mixed-q3_k_m', n, d, cc);
    expect([q2('output.weight', [6144, 100352]), q3('output.weight', [6144, 100352])]).toEqual(['Q6_K', 'Q6_K']);
    expect([q2('token_embd.weight', [6144, 100352]), q3('token_embd.weight', [6144, 100352])]).toEqual(['Q2_K', 'Q3_K']);
    // attn_qkv counts as attn_v in llama.cpp: Q2_K → Q4_K at GQA ≥ 4 (Q3_K below); Q3_K_M → Q5_K in layers 0, 1.
    expect([q2('blk.9.attn_qkv.weight', [6144, 8192]), q2('blk.9.attn_qkv.weight', [6144, 8192], { ...dbrx, kvHeads: 48 })]).toEqual(['Q4_K', 'Q3_K']);
    expect([q3('blk.1.attn_qkv.weight', [6144, 8192]), q3('blk.2.attn_qkv.weight', [6144, 8192])]).toEqual(['Q5_K', 'Q4_K']);
    expect([q2('blk.9.attn_output.weight', [6144, 6144]), q3('blk.9.attn_output.weight', [6144, 6144])]).toEqual(['Q3_K', 'Q4_K']);
    expect([q2('blk.0.ffn_down_exps.weight', [10752, 6144, 16]), q3('blk.1.ffn_down_exps.weight', [10752, 6144, 16]), q3('blk.2.ffn_down_exps.weight', [10752, 6144, 16])]).toEqual(['Q3_K', 'Q5_K', 'Q4_K']);
    expect([q2('blk.9.ffn_up_exps.weight', [6144, 10752, 16]), q3('blk.9.ffn_gate_exps.weight', [6144, 10752, 16])]).toEqual(['Q2_K', 'Q3_K']);
    expect([q2('blk.9.ffn_gate_inp.weight', [6144, 16]), q3('blk.9.attn_norm.weight', [6144])]).toEqual(['F32', 'F32']);
    const mixtral = { layers: 32, experts: 8, tied: false, heads: 32, kvHeads: 8 };
    expect([q2('blk.5.attn_v.weight', [4096, 1024], mixtral), q3('blk.5.attn_k.weight', [4096, 1024], mixtral), q2('blk.5.attn_output.weight', [4096, 4096], mixtral)]).toEqual(['Q8_0', 'Q8_0', 'Q5_K']);
    // 32-block fallback of Q2_K/Q3_K is Q4_0 (tensor_type_fallback).
    expect([q2('blk.5.ffn_up_exps.weight', [1408, 2048, 60]), ggmlTypeName(tensorTypeFor('blk.0.attn_q.weight', [64, 64], dbrx, 'q3_k'))]).toEqual(['Q4_0', 'Q4_0']);
  });
});

describe('configuration', () => {
  it('presets have the real models’ sizes', () => {
    const params = (preset: string, layers?: number): number => {
      const cfg = configFromFlags({ preset, out: 'x', ...(layers ? { layers } : {}) });
      const plan = planModel(cfg, 'q8_0', makeVocab(300));
      const v = cfg.vocab === 'cl100k' ? 100352 : Number(cfg.vocab);
      // Re-add the real vocabulary's embedding rows (the plan above uses a 300-token vocabulary to stay fast).
      const embRows = plan.tensors.filter((t) => t.name === 'token_embd.weight' || t.name === 'output.weight').length;
      return plan.tensors.reduce((s, t) => s + t.dims.reduce((a, b) => a * b, 1), 0) + embRows * (v - 300) * cfg.embd;
    };
    expect(params('olmoe-1b-7b') / 1e9).toBeCloseTo(6.92, 1);
    expect(params('granite-3b-a800m') / 1e9).toBeCloseTo(3.3, 1);
    expect(params('granite-1b-a400m') / 1e9).toBeCloseTo(1.33, 1);
    expect(params('dbrx') / 1e9).toBeCloseTo(131.6, 0);
    const small = configFromFlags({ preset: 'dbrx', layers: 2, out: 'x' });
    expect(small).toMatchObject({ arch: 'dbrx', layers: 2, embd: 6144, heads: 48, kvHeads: 8, ff: 10752, experts: 16, expertsUsed: 4 });
    expect(configFromFlags({ preset: 'granite-1b-a400m', embd: 512, heads: 8, kvHeads: 4, out: 'x' })).toMatchObject({ embd: 512, headDim: 64 });
  });

  it('rejects inconsistent settings with usage errors', () => {
    expect(() => configFromFlags({ arch: 'dbrx', layers: 2, embd: 64, heads: 4, ff: 32, out: 'x' })).toThrow(/--experts is required/);
    expect(() => configFromFlags({ arch: 'olmoe', layers: 2, embd: 64, heads: 4, 'kv-heads': 2, ff: 32, experts: 4, out: 'x' })).toThrow(UsageError);
    expect(() => configFromFlags({ arch: 'qwen3moe', layers: 2, embd: 64, heads: 4, ff: 32, experts: 4, 'experts-used': 5, out: 'x' })).toThrow(/experts-used/);
    expect(() => configFromFlags({ arch: 'mamba', out: 'x' })).toThrow(/--arch must be one of/);
    expect(() => configFromFlags({ preset: 'dbrx', arch: 'llama', out: 'x' })).toThrow(/drop --arch/);
    expect(() => configFromFlags({ arch: 'llama', layers: 2, embd: 64, heads: 3, ff: 32, out: 'x' })).toThrow(UsageError);
    expect(() => configFromFlags({ arch: 'llama', layers: 2, embd: 64, heads: 4, ff: 32, vocab: 'tiny', out: 'x' })).toThrow(/--vocab/);
  });

  it('--vocab N gives exactly N tokens, specials at the end', () => {
    const v = makeVocab(300);
    expect(v.tokens.length).toBe(300);
    expect(v.tokenTypes.length).toBe(300);
    expect(v.tokens[v.eos]).toBe('<|endoftext|>');
    expect(v.eot).toBeLessThan(300);
    expect(() => makeVocab(100)).toThrow(/264/);
  });

  it('routers have wide top-k margins (router scale 8 vs 1)', () => {
    const gap = (routerScale: number): number => {
      const cfg = resolveConfig({ arch: 'dbrx', ...tiny, embd: 128, experts: 16, expertsUsed: 4, routerScale });
      const router = planModel(cfg, 'f32', makeVocab(300)).tensors.find((t) => t.name === 'blk.0.ffn_gate_inp.weight');
      if (!router) throw new Error('no router');
      const w = [...tensorValues(router, 1)][0]; // (16, 128)
      let s = 12345;
      const r = (): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
      let total = 0;
      for (let trial = 0; trial < 200; trial++) {
        const x = Array.from({ length: 128 }, () => r() * Math.sqrt(3)); // unit RMS, like a normed hidden state
        const logits = Array.from({ length: 16 }, (_, e) => x.reduce((a, xi, i) => a + xi * w[e * 128 + i], 0)).sort((a, b) => b - a);
        total += logits[3] - logits[4];
      }
      return total / 200;
    };
    const wide = gap(8);
    expect(wide).toBeGreaterThan(1);
    expect(wide / gap(1)).toBeGreaterThan(6);
  });
});

describe('CLI commands (make-model → inspect → split)', () => {
  it('write, describe and split a model through the command objects', async () => {
    const { mkdtemp, rm, readdir } = await import('node:fs/promises');
    const os = await import('node:os');
    const path = await import('node:path');
    const { command: makeModel } = await import('../../scripts/commands/makeModel.ts');
    const { command: inspect } = await import('../../scripts/commands/inspect.ts');
    const { command: split } = await import('../../scripts/commands/split.ts');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'brix-cli-'));
    try {
      let out = '';
      const io = { out: (t: string) => void (out += t), err: (t: string) => void (out += t) };
      const file = path.join(dir, 'm.gguf');
      const flags = { arch: 'qwen2moe', layers: 2, embd: 64, heads: 4, ff: 32, experts: 4, 'experts-used': 2, 'shared-ff': 64, vocab: '300', quant: 'q4_0', seed: 9, out: file };
      expect(await makeModel.run(flags, io)).toBe(0);
      expect(out).toMatch(/wrote .*m\.gguf: .* 31 tensors/);
      expect(out).toMatch(/qwen2moe: 2 layers, embd 64, heads 4\/4 \(head 16\), ff 32, experts 4 top-2, shared ff 64, vocab 300/);
      out = '';
      expect(await inspect.run({ model: file }, io)).toBe(0);
      expect(out).toMatch(/architecture: qwen2moe/);
      expect(out).toMatch(/MoE 4 experts × ff 32, top-2 softmax, shared expert ff 64 \(sigmoid gate\)/);
      expect(out).toMatch(/Q4_0 +22 tensors/);
      expect(out).toMatch(/blk\.1\.ffn_down_shexp\.weight +Q4_0 +\[64, 64\]/);
      out = '';
      expect(await inspect.run({ model: file, json: true }, io)).toBe(0);
      const report: unknown = JSON.parse(out);
      expect(report).toMatchObject({ architecture: 'qwen2moe', hparams: { nExpert: 4, nFfShexp: 64 } });
      out = '';
      expect(await split.run({ model: file, 'max-size': 0.02, 'out-dir': path.join(dir, 'parts') }, io)).toBe(0);
      const parts = (await readdir(path.join(dir, 'parts'))).sort();
      expect(parts.length).toBeGreaterThan(2);
      expect(parts[0]).toBe(`m-00001-of-${String(parts.length).padStart(5, '0')}.gguf`);
      out = '';
      expect(await inspect.run({ model: path.join(dir, 'parts', parts[0]) }, io)).toBe(0);
      expect(out).toMatch(new RegExp(`${parts.length} parts, first`));
      expect(out).toMatch(/31 tensors/);
      await expect(makeModel.run({ ...flags, quant: 'iq2_xxs' }, io)).rejects.toThrow(UsageError);
      await expect(split.run({ model: file, 'max-size': 0, 'out-dir': dir }, io)).rejects.toThrow(UsageError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
