/**
 * @file Fuzzing the GGUF reader with damaged files: seeded random truncations, byte flips and huge-number
 * overwrites of a generated model and of the first MB of the demo model. Whatever the damage, reading must
 * finish promptly and fail only with `GgufError`; when it succeeds, the result must still be usable
 * (arch description, tensor reads, dequantization) under the same rule.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, openSync, readSync, closeSync } from 'node:fs';
import path from 'node:path';
import { describeModel } from '../../workers/gguf/arch.ts';
import { arrayBufferSource } from '../../workers/gguf/byteSource.ts';
import { GgufError } from '../../workers/gguf/errors.ts';
import { GgmlType, ggmlTypeInfo, tensorBytes } from '../../workers/gguf/ggmlTypes.ts';
import type { GgufKv } from '../../workers/gguf/metadata.ts';
import { openGgufModel } from '../../workers/gguf/model.ts';
import { kv, writeGgufToBytes } from '../../workers/gguf/writer.ts';
import { dequantize, DEQUANTIZABLE_TYPES } from '../../workers/quant/quant.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A small but complete dbrx-shaped file: every metadata kind the reader handles, several tensor types. */
async function smallModel(): Promise<Uint8Array> {
  const E = 32;
  const tensors = [
    { name: 'token_embd.weight', dims: [E, 40], type: GgmlType.Q8_0 },
    { name: 'output_norm.weight', dims: [E], type: GgmlType.F32 },
    { name: 'output.weight', dims: [E, 40], type: GgmlType.Q4_0 },
    { name: 'blk.0.attn_norm.weight', dims: [E], type: GgmlType.F32 },
    { name: 'blk.0.attn_qkv.weight', dims: [E, E + 2 * 16], type: GgmlType.F16 },
    { name: 'blk.0.attn_output.weight', dims: [E, E], type: GgmlType.Q8_0 },
    { name: 'blk.0.attn_output_norm.weight', dims: [E], type: GgmlType.F32 },
    { name: 'blk.0.ffn_gate_inp.weight', dims: [E, 4], type: GgmlType.F32 },
    { name: 'blk.0.ffn_gate_exps.weight', dims: [E, 32, 4], type: GgmlType.Q5_0 },
    { name: 'blk.0.ffn_up_exps.weight', dims: [E, 32, 4], type: GgmlType.MXFP4 },
    { name: 'blk.0.ffn_down_exps.weight', dims: [32, E, 4], type: GgmlType.IQ4_NL },
  ].map((t, i) => ({ ...t, data: new Uint8Array(tensorBytes(t.type, t.dims)).map((_, j) => (j * 13 + i) & 0x7f) }));
  const kvs: GgufKv[] = [
    kv.string('general.architecture', 'dbrx'),
    kv.u32('dbrx.context_length', 64),
    kv.u32('dbrx.embedding_length', E),
    kv.u32('dbrx.block_count', 1),
    kv.u32('dbrx.feed_forward_length', 32),
    kv.u32('dbrx.attention.head_count', 4),
    kv.u32('dbrx.attention.head_count_kv', 2),
    kv.u32('dbrx.expert_count', 4),
    kv.u32('dbrx.expert_used_count', 2),
    kv.f32('dbrx.attention.layer_norm_epsilon', 1e-5),
    kv.f32('dbrx.attention.clamp_kqv', 8),
    kv.strings('tokenizer.ggml.tokens', Array.from({ length: 40 }, (_, i) => `tok${i}é`)),
    kv.i32s('tokenizer.ggml.token_type', new Array<number>(40).fill(1)),
    { key: 'test.nested', type: { arrayOf: { arrayOf: 'u8' } }, value: [[1, 2], [3]] },
    kv.u64('test.u64', 2n ** 63n),
  ];
  return writeGgufToBytes(kvs, tensors);
}

/** Reads everything it can; rethrows anything that is not a GgufError. */
async function exercise(bytes: Uint8Array): Promise<'ok' | string> {
  try {
    const model = await openGgufModel(arrayBufferSource(bytes, 'fuzz.gguf'));
    try {
      describeModel(model);
    } catch (e) {
      if (!(e instanceof GgufError)) throw e;
    }
    for (const t of model.tensors.slice(0, 6)) {
      const info = ggmlTypeInfo(t.type);
      const n = Math.min(t.dims.reduce((a, b) => a * b, 1), info.blockSize * 4);
      const data = await model.readTensor(t, 0, (n / info.blockSize) * info.typeSize);
      if (DEQUANTIZABLE_TYPES.includes(t.type)) dequantize(t.type, data, n);
    }
    return 'ok';
  } catch (e) {
    if (e instanceof GgufError) return e.code;
    throw e;
  }
}

async function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms} ms (hang?)`)), ms);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function mutate(base: Uint8Array, r: () => number, headerEnd: number): { bytes: Uint8Array; what: string } {
  const kind = Math.floor(r() * 4);
  if (kind === 0) {
    const cut = Math.floor(r() * base.length);
    return { bytes: base.slice(0, cut), what: `truncate at ${cut}` };
  }
  const b = base.slice();
  // Most damage goes to the header, where the structure is.
  const pos = (): number => Math.floor(r() < 0.85 ? r() * headerEnd : r() * b.length);
  if (kind === 1) {
    const flips: number[] = [];
    for (let i = 0, n = 1 + Math.floor(r() * 6); i < n; i++) {
      const p = pos();
      b[p] ^= 1 << Math.floor(r() * 8);
      flips.push(p);
    }
    return { bytes: b, what: `bit flips at ${flips.join(',')}` };
  }
  if (kind === 2) {
    const p = Math.min(pos(), b.length - 8);
    new DataView(b.buffer).setBigUint64(p, BigInt(Math.floor(r() * 2 ** 52)) * 4099n, true);
    return { bytes: b, what: `huge u64 at ${p}` };
  }
  const p = pos();
  const n = 1 + Math.floor(r() * 16);
  for (let i = 0; i < n && p + i < b.length; i++) b[p + i] = Math.floor(r() * 256);
  return { bytes: b, what: `random bytes at ${p}+${n}` };
}

async function fuzz(base: Uint8Array, headerEnd: number, seed: number, cases: number): Promise<Map<string, number>> {
  const r = rng(seed);
  const outcomes = new Map<string, number>();
  for (let i = 0; i < cases; i++) {
    const { bytes, what } = mutate(base, r, headerEnd);
    let outcome: string;
    try {
      outcome = await withDeadline(exercise(bytes), 10_000, `case ${i} (${what})`);
    } catch (e) {
      throw new Error(`case ${i} (${what}) threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
    }
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  return outcomes;
}

describe('GGUF reader fuzzing', () => {
  it('a generated model: 400 damaged copies fail only with GgufError', async () => {
    const base = await smallModel();
    expect(await exercise(base)).toBe('ok');
    const headerEnd = (await openGgufModel(arrayBufferSource(base, 'b'))).files[0].dataOffset;
    const outcomes = await fuzz(base, headerEnd, 20240611, 400);
    // The damage must actually be detected in a good share of cases, with several distinct error codes.
    const failures = [...outcomes.entries()].filter(([k]) => k !== 'ok');
    expect(failures.reduce((s, [, n]) => s + n, 0)).toBeGreaterThan(150);
    expect(failures.length).toBeGreaterThanOrEqual(5);
  });

  const demo = path.resolve(repoRoot, '../shared/models/brix-demo-30m-q8_0.gguf');
  it.runIf(existsSync(demo))('the first MB of brix-demo-30m: 60 damaged copies fail only with GgufError', async () => {
    const head = new Uint8Array(1 << 20);
    const fd = openSync(demo, 'r');
    try {
      readSync(fd, head, 0, head.length, 0);
    } finally {
      closeSync(fd);
    }
    expect(await exercise(head)).toBe('truncated'); // the header alone is about 1.03 MB
    const outcomes = await fuzz(head, head.length, 7, 60);
    expect([...outcomes.keys()].every((k) => k !== 'ok')).toBe(true);
  });
  if (!existsSync(demo)) console.warn(`skipping the demo-model fuzz case: ${demo} not found`);
});
