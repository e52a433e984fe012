/** @file GGUF reader/writer: round trips of every value type, v2, alignment, validation errors, sources and split models. */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { arrayBufferSource, blobSource, openUrlSource, type ByteSource } from '../../workers/gguf/byteSource.ts';
import { GgufError } from '../../workers/gguf/errors.ts';
import { GgmlType, GGML_TYPES, ggmlTypeInfo, tensorBytes } from '../../workers/gguf/ggmlTypes.ts';
import type { GgufKv } from '../../workers/gguf/metadata.ts';
import { openGgufModel, splitFileName, parseSplitName } from '../../workers/gguf/model.ts';
import { readGguf } from '../../workers/gguf/reader.ts';
import { kv, writeGgufToBytes, type GgufTensorSpec } from '../../workers/gguf/writer.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');

function filled(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

type T = GgufTensorSpec & { data: Uint8Array };
function tensor(name: string, dims: number[], type: GgmlType, seed = 1): T {
  return { name, dims, type, data: filled(tensorBytes(type, dims), seed) };
}

const ALL_KVS: GgufKv[] = [
  kv.string('general.architecture', 'llama'),
  kv.u8('t.u8', 200),
  kv.i8('t.i8', -100),
  kv.u16('t.u16', 60000),
  kv.i16('t.i16', -30000),
  kv.u32('t.u32', 4000000000),
  kv.i32('t.i32', -2000000000),
  kv.f32('t.f32', 1.5),
  kv.f64('t.f64', Math.PI),
  kv.bool('t.bool', true),
  kv.string('t.string', 'héllo ✓ wörld'),
  kv.u64('t.u64', 2 ** 40),
  kv.u64('t.u64big', 2n ** 63n + 5n),
  kv.i64('t.i64', -(2 ** 50)),
  kv.i64('t.i64big', -(2n ** 62n)),
  kv.strings('t.strings', ['a', '', 'ünï', 'Ġthe']),
  kv.i32s('t.i32s', [1, -2, 3]),
  kv.f32s('t.f32s', [0.5, -0.25]),
  kv.bools('t.bools', [true, false]),
  { key: 't.nested', type: { arrayOf: { arrayOf: 'u16' } }, value: [[1, 2], [3], []] },
  { key: 't.emptyarr', type: { arrayOf: 'string' }, value: [] },
];

const TENSORS: T[] = [
  tensor('token_embd.weight', [64, 10], GgmlType.Q8_0, 1),
  tensor('norm.weight', [64], GgmlType.F32, 2),
  tensor('odd.weight', [3, 5], GgmlType.F16, 3), // 30 bytes: exercises padding
  tensor('k.weight', [256, 2], GgmlType.Q4_K, 4),
  tensor('e.weight', [32, 2, 3], GgmlType.MXFP4, 5),
];

async function roundTrip(kvs: GgufKv[], tensors: T[]): Promise<Uint8Array> {
  return writeGgufToBytes(kvs, tensors);
}

async function expectGgufError(p: Promise<unknown>, code: string, msg?: RegExp): Promise<GgufError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(GgufError);
    if (!(e instanceof GgufError)) throw e;
    expect(e.code, e.message).toBe(code);
    if (msg) expect(e.message).toMatch(msg);
    return e;
  }
  throw new Error(`expected GgufError '${code}', nothing was thrown`);
}

/** Byte position of the tensor info of `name` (right after its name string). */
function infoPos(bytes: Uint8Array, name: string): number {
  const needle = new TextEncoder().encode(name);
  outer: for (let i = 8; i + needle.length <= bytes.length; i++) {
    for (let k = 0; k < needle.length; k++) if (bytes[i + k] !== needle[k]) continue outer;
    const len = new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(i - 8, true);
    if (len === BigInt(needle.length)) return i + needle.length;
  }
  throw new Error(`tensor info '${name}' not found`);
}

describe('ggml type table', () => {
  it('has ggml.h ids, block sizes and byte sizes', () => {
    expect(GGML_TYPES.length).toBe(35);
    const t = (id: number): [string, number, number] => {
      const i = ggmlTypeInfo(id);
      return [i.name, i.blockSize, i.typeSize];
    };
    expect(t(0)).toEqual(['F32', 1, 4]);
    expect(t(2)).toEqual(['Q4_0', 32, 18]);
    expect(t(8)).toEqual(['Q8_0', 32, 34]);
    expect(t(12)).toEqual(['Q4_K', 256, 144]);
    expect(t(14)).toEqual(['Q6_K', 256, 210]);
    expect(t(23)).toEqual(['IQ4_XS', 256, 136]);
    expect(t(30)).toEqual(['BF16', 1, 2]);
    expect(t(39)).toEqual(['MXFP4', 32, 17]);
    expect(() => ggmlTypeInfo(4)).toThrow(/removed/);
    expect(() => ggmlTypeInfo(99)).toThrow(GgufError);
    expect(tensorBytes(GgmlType.Q4_K, [512, 3, 2])).toBe(2 * 144 * 6);
    expect(() => tensorBytes(GgmlType.Q4_K, [100])).toThrow(/multiple/);
  });
});

describe('readGguf', () => {
  it('round-trips every metadata value type and tensor infos', async () => {
    const bytes = await roundTrip(ALL_KVS, TENSORS);
    const f = await readGguf(arrayBufferSource(bytes, 'rt.gguf'));
    expect(f.version).toBe(3);
    expect(f.alignment).toBe(32);
    expect(f.dataOffset % 32).toBe(0);
    const m = f.metadata;
    expect(m.keys()).toEqual(ALL_KVS.map((e) => e.key));
    expect(m.number('t.u8')).toBe(200);
    expect(m.number('t.i8')).toBe(-100);
    expect(m.number('t.u16')).toBe(60000);
    expect(m.number('t.i16')).toBe(-30000);
    expect(m.number('t.u32')).toBe(4000000000);
    expect(m.number('t.i32')).toBe(-2000000000);
    expect(m.number('t.f32')).toBe(1.5);
    expect(m.number('t.f64')).toBe(Math.PI);
    expect(m.bool('t.bool')).toBe(true);
    expect(m.string('t.string')).toBe('héllo ✓ wörld');
    expect(m.number('t.u64')).toBe(2 ** 40);
    expect(m.get('t.u64big')).toBe(2n ** 63n + 5n);
    expect(m.number('t.i64')).toBe(-(2 ** 50));
    expect(m.get('t.i64big')).toBe(-(2n ** 62n));
    expect(m.stringArray('t.strings')).toEqual(['a', '', 'ünï', 'Ġthe']);
    expect(m.numberArray('t.i32s')).toEqual([1, -2, 3]);
    expect(m.numberArray('t.f32s')).toEqual([0.5, -0.25]);
    expect(m.get('t.bools')).toEqual([true, false]);
    expect(m.get('t.nested')).toEqual([[1, 2], [3], []]);
    expect(m.entry('t.nested')?.type).toEqual({ arrayOf: { arrayOf: 'u16' } });
    expect(m.entry('t.i32s')?.type).toEqual({ arrayOf: 'i32' });
    expect(m.stringArray('t.emptyarr')).toEqual([]);
    expect(f.tensors.map((t) => [t.name, t.dims, t.type, t.nbytes])).toEqual(
      TENSORS.map((t) => [t.name, t.dims, t.type, t.data.length]),
    );
    for (const [i, t] of f.tensors.entries()) {
      expect(t.offset % 32).toBe(0);
      expect(bytes.subarray(t.offset, t.offset + t.nbytes)).toEqual(TENSORS[i].data);
    }
  });

  it('required getters name the key and what was found', async () => {
    const f = await readGguf(arrayBufferSource(await roundTrip(ALL_KVS, []), 'x'));
    const m = f.metadata;
    expect(() => m.number('nope')).toThrow(/'nope'.*absent/);
    expect(() => m.string('t.u32')).toThrow(/'t.u32': expected a string, found number 4000000000/);
    expect(() => m.number('t.u64big')).toThrow(/bigint/);
    expect(() => m.stringArray('t.i32s')).toThrow(GgufError);
    expect(() => m.numberArray('t.strings')).toThrow(GgufError);
    expect(() => m.bool('t.u8')).toThrow(GgufError);
    expect(m.optNumber('nope')).toBeUndefined();
    expect(m.optString('t.string')).toBe('héllo ✓ wörld');
    expect(() => m.optString('t.u8')).toThrow(GgufError);
    try {
      m.number('nope');
    } catch (e) {
      expect(e instanceof GgufError && e.code).toBe('missing-metadata');
    }
  });

  it('honours general.alignment and reads v2 files', async () => {
    const bytes = await roundTrip([kv.u32('general.alignment', 256), ...ALL_KVS.slice(0, 3)], TENSORS);
    const f = await readGguf(arrayBufferSource(bytes, 'a'));
    expect(f.alignment).toBe(256);
    for (const t of f.tensors) expect(t.offset % 256).toBe(0);
    const v2 = bytes.slice();
    v2[4] = 2;
    const f2 = await readGguf(arrayBufferSource(v2, 'v2'));
    expect(f2.version).toBe(2);
    expect(f2.tensors).toEqual(f.tensors);
  });

  it('reads the header in chunks, never the whole file', async () => {
    const big = tensor('big.weight', [1024, 1024], GgmlType.F32);
    const bytes = await roundTrip(ALL_KVS, [big]);
    const inner = arrayBufferSource(bytes, 'big');
    let maxRead = 0;
    let total = 0;
    const src: ByteSource = {
      name: inner.name,
      size: inner.size,
      read(o, l, s) {
        maxRead = Math.max(maxRead, l);
        total += l;
        return inner.read(o, l, s);
      },
    };
    await readGguf(src);
    expect(bytes.length).toBeGreaterThan(4_000_000);
    expect(maxRead).toBeLessThanOrEqual(256 * 1024);
    expect(total).toBeLessThanOrEqual(256 * 1024);
  });

  it('rejects bad magic, versions and truncation', async () => {
    const bytes = await roundTrip(ALL_KVS, TENSORS);
    const bad = bytes.slice();
    bad[0] = 0x47 ^ 1;
    await expectGgufError(readGguf(arrayBufferSource(bad, 'm')), 'bad-magic', /not a GGUF/);
    const v1 = bytes.slice();
    v1[4] = 1;
    await expectGgufError(readGguf(arrayBufferSource(v1, 'v1')), 'unsupported-version', /version 1/);
    const be = bytes.slice();
    be.set([0, 0, 0, 3], 4);
    await expectGgufError(readGguf(arrayBufferSource(be, 'be')), 'unsupported-version', /big-endian/);
    await expectGgufError(readGguf(arrayBufferSource(bytes.slice(0, 100), 't')), 'truncated');
    await expectGgufError(readGguf(arrayBufferSource(bytes.slice(0, 2), 't')), 'truncated');
    // Header intact, data cut short: the last tensor runs past the end.
    await expectGgufError(readGguf(arrayBufferSource(bytes.slice(0, bytes.length - 40), 'cut')), 'out-of-bounds', /e\.weight/);
  });

  it('rejects misaligned, overlapping and out-of-bounds tensors, unknown types and bad shapes', async () => {
    const bytes = await roundTrip(ALL_KVS, TENSORS);
    const patch = (name: string, field: 'type' | 'offset' | 'ne0', value: bigint | number): Uint8Array => {
      const b = bytes.slice();
      const dv = new DataView(b.buffer);
      const p = infoPos(b, name);
      const nDims = dv.getUint32(p, true);
      if (field === 'ne0') dv.setBigUint64(p + 4, BigInt(value), true);
      else if (field === 'type') dv.setUint32(p + 4 + 8 * nDims, Number(value), true);
      else dv.setBigUint64(p + 8 + 8 * nDims, BigInt(value), true);
      return b;
    };
    const rd = (b: Uint8Array): Promise<unknown> => readGguf(arrayBufferSource(b, 'p.gguf'));
    await expectGgufError(rd(patch('norm.weight', 'offset', 352 + 8)), 'misaligned', /norm\.weight/);
    await expectGgufError(rd(patch('norm.weight', 'offset', 0)), 'overlap', /token_embd\.weight.*norm\.weight|norm\.weight.*token_embd/);
    await expectGgufError(rd(patch('norm.weight', 'offset', 2n ** 40n)), 'out-of-bounds', /norm\.weight/);
    await expectGgufError(rd(patch('norm.weight', 'offset', 2n ** 63n)), 'out-of-bounds');
    await expectGgufError(rd(patch('norm.weight', 'type', 4)), 'unknown-type', /type 4.*norm\.weight.*removed/);
    await expectGgufError(rd(patch('norm.weight', 'type', 1234)), 'unknown-type', /1234/);
    await expectGgufError(rd(patch('k.weight', 'ne0', 100)), 'bad-shape', /k\.weight.*Q4_K/);
    await expectGgufError(rd(patch('k.weight', 'ne0', 2n ** 62n)), 'bad-shape');
  });

  it('caps absurd counts and lengths against the file size', async () => {
    const bytes = await roundTrip(ALL_KVS, TENSORS);
    const set64 = (at: number, v: bigint): Uint8Array => {
      const b = bytes.slice();
      new DataView(b.buffer).setBigUint64(at, v, true);
      return b;
    };
    const rd = (b: Uint8Array): Promise<unknown> => readGguf(arrayBufferSource(b, 'h'));
    await expectGgufError(rd(set64(8, 2n ** 60n)), 'too-large', /tensor count/);
    await expectGgufError(rd(set64(16, 10n ** 9n)), 'too-large', /metadata count/);
    await expectGgufError(rd(set64(24, 2n ** 50n)), 'too-large', /key #0/); // first key length
    // Element count of the 't.strings' array.
    const strAt = infoPos(bytes, 't.strings') + 4 + 4;
    await expectGgufError(rd(set64(strAt, 2n ** 40n)), 'too-large', /t\.strings/);
    // Duplicate metadata key.
    const dup = bytes.slice();
    const at = infoPos(dup, 't.i8');
    dup[at - 2] = 'u'.charCodeAt(0); // 't.i8' -> 't.u8'
    await expectGgufError(rd(dup), 'duplicate', /t\.u8/);
  });
});

describe('byte sources', () => {
  it('blobSource reads ranges and rejects reads past the end', async () => {
    const bytes = await roundTrip(ALL_KVS, TENSORS);
    const src = blobSource(new Blob([bytes.slice().buffer]), 'b.gguf');
    expect(src.size).toBe(bytes.length);
    expect(await src.read(10, 20)).toEqual(bytes.subarray(10, 30));
    await expectGgufError(src.read(bytes.length - 2, 4), 'truncated');
    const f = await readGguf(src);
    expect(f.tensors.length).toBe(TENSORS.length);
  });

  it('openUrlSource uses Range requests and refuses servers that ignore them', async () => {
    const bytes = await roundTrip(ALL_KVS, TENSORS);
    const ranges: string[] = [];
    const serve = (honour: boolean) =>
      async (_url: string | URL | Request, init?: RequestInit): Promise<Response> => {
        const h = new Headers(init?.headers);
        const r = h.get('range');
        if (r) ranges.push(r);
        const m = r ? /bytes=(\d+)-(\d+)/.exec(r) : null;
        if (!honour || !m) return new Response(bytes.slice(), { status: 200 });
        const a = Number(m[1]);
        const b = Math.min(Number(m[2]), bytes.length - 1);
        return new Response(bytes.slice(a, b + 1), {
          status: 206,
          headers: { 'content-range': `bytes ${a}-${b}/${bytes.length}` },
        });
      };
    const src = await openUrlSource('https://example.test/m.gguf', { fetch: serve(true) });
    expect(src.size).toBe(bytes.length);
    const f = await readGguf(src);
    expect(f.metadata.string('t.string')).toBe('héllo ✓ wörld');
    expect(ranges[0]).toBe('bytes=0-0');
    expect(await src.read(100, 7)).toEqual(bytes.subarray(100, 107));
    await expectGgufError(openUrlSource('https://example.test/m.gguf', { fetch: serve(false) }), 'range-unsupported', /Range/);
  });
});

describe('split models', () => {
  async function makeSplit(count: number, patchNo?: number): Promise<Map<string, Uint8Array>> {
    const files = new Map<string, Uint8Array>();
    const per = Math.ceil(TENSORS.length / count);
    for (let i = 0; i < count; i++) {
      const part = TENSORS.slice(i * per, (i + 1) * per);
      const split = [kv.u16('split.no', patchNo !== undefined && i === 1 ? patchNo : i), kv.u16('split.count', count), kv.i32('split.tensors.count', TENSORS.length)];
      const kvs = i === 0 ? [...ALL_KVS, ...split] : split;
      files.set(splitFileName('dir/model', i, count).replace('dir/', ''), await writeGgufToBytes(kvs, part));
    }
    return files;
  }

  it('names parts like llama.cpp', () => {
    expect(splitFileName('a/m', 0, 3)).toBe('a/m-00001-of-00003.gguf');
    expect(parseSplitName('https://x/y/m-00002-of-00003.gguf?download=1')).toEqual({ prefix: 'm', part: 1, count: 3 });
    expect(parseSplitName('m.gguf')).toBeUndefined();
  });

  it('merges the parts and reads tensors from the right file', async () => {
    const files = await makeSplit(3);
    const open = (n: string): Promise<ByteSource> => {
      const b = files.get(n);
      if (!b) throw new Error(`no ${n}`);
      return Promise.resolve(arrayBufferSource(b, n));
    };
    const m = await openGgufModel(await open('model-00001-of-00003.gguf'), open);
    expect(m.files.length).toBe(3);
    expect(m.metadata.string('general.architecture')).toBe('llama');
    expect(m.tensors.map((t) => t.name)).toEqual(TENSORS.map((t) => t.name));
    expect(m.tensors.map((t) => t.part)).toEqual([0, 0, 1, 1, 2]);
    for (const t of TENSORS) {
      const info = m.requireTensor(t.name);
      expect(await m.readTensor(info)).toEqual(t.data);
      expect(await m.readTensor(info, 2, 5)).toEqual(t.data.subarray(2, 7));
    }
    await expectGgufError(m.readTensor(m.requireTensor('norm.weight'), 250, 10), 'out-of-bounds');
    expect(() => m.requireTensor('missing.weight')).toThrow(/missing\.weight/);
    await expectGgufError(openGgufModel(await open('model-00001-of-00003.gguf')), 'bad-split', /3 split parts/);
    await expectGgufError(openGgufModel(await open('model-00002-of-00003.gguf'), open), 'bad-split', /first part/);
  });

  it('rejects parts with the wrong split.no', async () => {
    const files = await makeSplit(2, 5);
    const open = (n: string): Promise<ByteSource> => Promise.resolve(arrayBufferSource(files.get(n) ?? new Uint8Array(), n));
    await expectGgufError(openGgufModel(await open('model-00001-of-00002.gguf'), open), 'bad-split', /split\.no is 5/);
  });

  it('wraps a single file', async () => {
    const m = await openGgufModel(arrayBufferSource(await roundTrip(ALL_KVS, TENSORS), 'one.gguf'));
    expect(m.files.length).toBe(1);
    expect(m.tensorBytes).toBe(TENSORS.reduce((s, t) => s + t.data.length, 0));
  });
});

describe('real model file', () => {
  const file = path.resolve(repoRoot, '../shared/models/brix-demo-30m-q8_0.gguf');
  it.runIf(existsSync(file))('reads brix-demo-30m-q8_0.gguf', async () => {
    const buf = readFileSync(file);
    const m = await openGgufModel(arrayBufferSource(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), 'demo'));
    expect(m.metadata.string('general.architecture')).toBe('dbrx');
    expect(m.metadata.stringArray('tokenizer.ggml.tokens').length).toBe(32064);
    expect(m.requireTensor('blk.0.ffn_down_exps.weight').dims).toEqual([256, 256, 16]);
    expect(m.requireTensor('token_embd.weight').type).toBe(GgmlType.Q4_0);
    expect(m.tensors.length).toBe(3 + 4 * 8);
  });
  if (!existsSync(file)) console.warn(`skipping: ${file} not found`);
});
