/**
 * @file GGUF v3 writer that streams. The header (metadata and tensor infos, with every data offset computed up
 * front and aligned) is encoded first; tensor data is then pushed tensor by tensor, optionally in several
 * chunks, into a sink. A multi-GB model therefore never sits in memory: the generator quantizes one tensor
 * (or one expert) at a time and the splitter copies by ranges. Output follows ggml/src/gguf.cpp's layout, which
 * llama.cpp requires exactly: tensors in info order, each at the previous end padded to the alignment.
 */
import { GgufError } from './errors.ts';
import { ggmlTypeInfo, tensorBytes, type GgmlType } from './ggmlTypes.ts';
import { GgufValueTypeId, typeLabel, type GgufKv, type GgufValue, type GgufValueType } from './metadata.ts';
import { GGML_MAX_DIMS, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC } from './reader.ts';

export interface ByteSink {
  write(bytes: Uint8Array): Promise<void>;
}

export interface GgufTensorSpec {
  readonly name: string;
  /** ggml ne order, innermost first. */
  readonly dims: readonly number[];
  readonly type: GgmlType;
}

// ---- metadata builders (the exact on-disk type is part of the value) ----
export const kv = {
  u8: (key: string, value: number): GgufKv => ({ key, type: 'u8', value }),
  i8: (key: string, value: number): GgufKv => ({ key, type: 'i8', value }),
  u16: (key: string, value: number): GgufKv => ({ key, type: 'u16', value }),
  i16: (key: string, value: number): GgufKv => ({ key, type: 'i16', value }),
  u32: (key: string, value: number): GgufKv => ({ key, type: 'u32', value }),
  i32: (key: string, value: number): GgufKv => ({ key, type: 'i32', value }),
  u64: (key: string, value: number | bigint): GgufKv => ({ key, type: 'u64', value }),
  i64: (key: string, value: number | bigint): GgufKv => ({ key, type: 'i64', value }),
  f32: (key: string, value: number): GgufKv => ({ key, type: 'f32', value }),
  f64: (key: string, value: number): GgufKv => ({ key, type: 'f64', value }),
  bool: (key: string, value: boolean): GgufKv => ({ key, type: 'bool', value }),
  string: (key: string, value: string): GgufKv => ({ key, type: 'string', value }),
  strings: (key: string, value: string[]): GgufKv => ({ key, type: { arrayOf: 'string' }, value }),
  i32s: (key: string, value: number[]): GgufKv => ({ key, type: { arrayOf: 'i32' }, value }),
  u32s: (key: string, value: number[]): GgufKv => ({ key, type: { arrayOf: 'u32' }, value }),
  f32s: (key: string, value: number[]): GgufKv => ({ key, type: { arrayOf: 'f32' }, value }),
  bools: (key: string, value: boolean[]): GgufKv => ({ key, type: { arrayOf: 'bool' }, value }),
};

/** Growable little-endian byte buffer for the header. */
class Bytes {
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private grow(n: number): number {
    const at = this.length;
    if (at + n > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < at + n) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(0, at));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    this.length += n;
    return at;
  }
  u8(v: number): void {
    const at = this.grow(1);
    this.view.setUint8(at, v);
  }
  i8(v: number): void {
    const at = this.grow(1);
    this.view.setInt8(at, v);
  }
  u16(v: number): void {
    const at = this.grow(2);
    this.view.setUint16(at, v, true);
  }
  i16(v: number): void {
    const at = this.grow(2);
    this.view.setInt16(at, v, true);
  }
  u32(v: number): void {
    const at = this.grow(4);
    this.view.setUint32(at, v, true);
  }
  i32(v: number): void {
    const at = this.grow(4);
    this.view.setInt32(at, v, true);
  }
  f32(v: number): void {
    const at = this.grow(4);
    this.view.setFloat32(at, v, true);
  }
  f64(v: number): void {
    const at = this.grow(8);
    this.view.setFloat64(at, v, true);
  }
  u64(v: number | bigint): void {
    const at = this.grow(8);
    this.view.setBigUint64(at, BigInt(v), true);
  }
  i64(v: number | bigint): void {
    const at = this.grow(8);
    this.view.setBigInt64(at, BigInt(v), true);
  }
  raw(b: Uint8Array): void {
    const at = this.grow(b.length);
    this.buf.set(b, at);
  }
  string(s: string): void {
    const b = utf8.encode(s);
    this.u64(b.length);
    this.raw(b);
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}
const utf8 = new TextEncoder();

function bad(key: string, t: GgufValueType, v: GgufValue): never {
  throw new GgufError('bad-metadata', `metadata '${key}': value ${String(v).slice(0, 40)} does not fit type ${typeLabel(t)}`);
}

const INT_RANGE: Record<string, readonly [number, number]> = {
  u8: [0, 0xff],
  i8: [-0x80, 0x7f],
  u16: [0, 0xffff],
  i16: [-0x8000, 0x7fff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
};

function typeId(t: GgufValueType): number {
  return typeof t === 'string' ? GgufValueTypeId[t] : GgufValueTypeId.array;
}

function writeValue(b: Bytes, key: string, t: GgufValueType, v: GgufValue): void {
  if (typeof t !== 'string') {
    if (!Array.isArray(v)) bad(key, t, v);
    b.u32(typeId(t.arrayOf));
    b.u64(v.length);
    for (const x of v) writeValue(b, key, t.arrayOf, x);
    return;
  }
  switch (t) {
    case 'string':
      if (typeof v !== 'string') bad(key, t, v);
      b.string(v);
      return;
    case 'bool':
      if (typeof v !== 'boolean') bad(key, t, v);
      b.u8(v ? 1 : 0);
      return;
    case 'f32':
    case 'f64':
      if (typeof v !== 'number') bad(key, t, v);
      if (t === 'f32') b.f32(v);
      else b.f64(v);
      return;
    case 'u64':
    case 'i64': {
      if (typeof v !== 'number' && typeof v !== 'bigint') bad(key, t, v);
      const big = BigInt(typeof v === 'number' && !Number.isInteger(v) ? NaN : v);
      if (t === 'u64' ? big < 0n || big >= 1n << 64n : big < -(1n << 63n) || big >= 1n << 63n) bad(key, t, v);
      if (t === 'u64') b.u64(big);
      else b.i64(big);
      return;
    }
    default: {
      const [lo, hi] = INT_RANGE[t];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) bad(key, t, v);
      if (t === 'u8') b.u8(v);
      else if (t === 'i8') b.i8(v);
      else if (t === 'u16') b.u16(v);
      else if (t === 'i16') b.i16(v);
      else if (t === 'u32') b.u32(v);
      else b.i32(v);
    }
  }
}

export interface GgufLayout {
  /** Header bytes including the padding up to the data section. */
  readonly header: Uint8Array;
  readonly alignment: number;
  readonly dataOffset: number;
  /** Absolute offset and byte size of each tensor, in the order given. */
  readonly tensors: readonly { readonly spec: GgufTensorSpec; readonly offset: number; readonly nbytes: number }[];
  /** Total file size. */
  readonly size: number;
}

const alignUp = (x: number, a: number): number => Math.ceil(x / a) * a;

/**
 * Encodes the header and computes every tensor offset. The alignment is `general.alignment` when present
 * (must be a u32 power of two), else 32.
 */
export function layoutGguf(kvs: readonly GgufKv[], tensors: readonly GgufTensorSpec[]): GgufLayout {
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const keys = new Set<string>();
  for (const e of kvs) {
    if (keys.has(e.key)) throw new GgufError('duplicate', `metadata key '${e.key}' given twice`);
    keys.add(e.key);
    if (e.key === 'general.alignment') {
      if (e.type !== 'u32' || typeof e.value !== 'number' || e.value <= 0 || (e.value & (e.value - 1)) !== 0) {
        throw new GgufError('bad-metadata', `general.alignment must be a u32 power of two, got ${String(e.value)}`);
      }
      alignment = e.value;
    }
  }
  const b = new Bytes();
  b.u32(GGUF_MAGIC);
  b.u32(3);
  b.u64(tensors.length);
  b.u64(kvs.length);
  for (const e of kvs) {
    b.string(e.key);
    b.u32(typeId(e.type));
    writeValue(b, e.key, e.type, e.value);
  }
  const placed: { spec: GgufTensorSpec; offset: number; nbytes: number }[] = [];
  const names = new Set<string>();
  let rel = 0;
  for (const t of tensors) {
    if (names.has(t.name)) throw new GgufError('duplicate', `tensor '${t.name}' given twice`);
    names.add(t.name);
    if (t.dims.length > GGML_MAX_DIMS || t.dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw new GgufError('bad-shape', `tensor '${t.name}': invalid dims [${t.dims.join(', ')}]`);
    }
    ggmlTypeInfo(t.type, `tensor '${t.name}'`);
    const nbytes = tensorBytes(t.type, t.dims);
    b.string(t.name);
    b.u32(t.dims.length);
    for (const d of t.dims) b.u64(d);
    b.u32(t.type);
    b.u64(rel);
    placed.push({ spec: t, offset: rel, nbytes });
    rel = alignUp(rel + nbytes, alignment);
  }
  const dataOffset = tensors.length > 0 ? alignUp(b.length, alignment) : b.length;
  while (b.length < dataOffset) b.u8(0);
  const last = placed[placed.length - 1];
  return {
    header: b.bytes(),
    alignment,
    dataOffset,
    tensors: placed.map((p) => ({ spec: p.spec, offset: dataOffset + p.offset, nbytes: p.nbytes })),
    // The last tensor is padded too, as gguf.cpp does.
    size: last ? alignUp(dataOffset + last.offset + last.nbytes, alignment) : dataOffset,
  };
}

/**
 * Streams one GGUF file into a sink: `begin()` writes the header, then `writeTensorData(name, bytes)` appends
 * bytes to the current tensor (tensors in the order given, each possibly in several chunks; padding is added
 * when a tensor is complete), and `finish()` checks that every tensor was written in full.
 */
export class GgufStreamWriter {
  readonly layout: GgufLayout;
  private index = 0;
  private filled = 0;
  private written = 0;
  private started = false;

  constructor(
    private readonly sink: ByteSink,
    kvs: readonly GgufKv[],
    tensors: readonly GgufTensorSpec[],
  ) {
    this.layout = layoutGguf(kvs, tensors);
  }

  /** Bytes written so far. */
  get bytesWritten(): number {
    return this.written;
  }

  private async put(bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0) return;
    await this.sink.write(bytes);
    this.written += bytes.length;
  }

  async begin(): Promise<void> {
    if (this.started) throw new GgufError('io', 'GGUF writer: begin() called twice');
    this.started = true;
    await this.put(this.layout.header);
    await this.skipEmpty();
  }

  /** Zero-byte tensors need no data; move past them. */
  private async skipEmpty(): Promise<void> {
    while (this.index < this.layout.tensors.length && this.layout.tensors[this.index].nbytes === 0) this.index++;
  }

  /** The tensor whose bytes are expected next, or undefined when all are written. */
  get current(): GgufTensorSpec | undefined {
    return this.layout.tensors[this.index]?.spec;
  }

  async writeTensorData(name: string, bytes: Uint8Array): Promise<void> {
    if (!this.started) throw new GgufError('io', 'GGUF writer: begin() must come first');
    if (bytes.length === 0) return;
    const t = this.layout.tensors[this.index];
    if (!t) throw new GgufError('io', `GGUF writer: tensor '${name}' written after all tensors were complete`);
    if (t.spec.name !== name) throw new GgufError('io', `GGUF writer: expected data for tensor '${t.spec.name}', got '${name}'`);
    if (this.filled + bytes.length > t.nbytes) {
      throw new GgufError('io', `GGUF writer: tensor '${name}' takes ${t.nbytes} bytes; ${this.filled + bytes.length} were given`);
    }
    await this.put(bytes);
    this.filled += bytes.length;
    if (this.filled === t.nbytes) {
      const next = this.index + 1 < this.layout.tensors.length ? this.layout.tensors[this.index + 1].offset : this.layout.size;
      await this.put(new Uint8Array(next - (t.offset + t.nbytes)));
      this.index++;
      this.filled = 0;
      await this.skipEmpty();
    }
  }

  async finish(): Promise<void> {
    if (!this.started) await this.begin();
    const t = this.layout.tensors[this.index];
    if (t) throw new GgufError('io', `GGUF writer: tensor '${t.spec.name}' has ${this.filled} of ${t.nbytes} bytes written`);
    if (this.written !== this.layout.size) {
      throw new GgufError('io', `GGUF writer: wrote ${this.written} bytes, expected ${this.layout.size}`);
    }
  }
}

/** Collects a whole GGUF in memory; for tests and small fixtures. */
export async function writeGgufToBytes(
  kvs: readonly GgufKv[],
  tensors: readonly (GgufTensorSpec & { readonly data: Uint8Array })[],
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const w = new GgufStreamWriter({ write: async (b) => void chunks.push(b.slice()) }, kvs, tensors);
  await w.begin();
  for (const t of tensors) await w.writeTensorData(t.name, t.data);
  await w.finish();
  const out = new Uint8Array(w.layout.size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
