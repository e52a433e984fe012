/**
 * @file GGUF v2/v3 header reader. It reads the header (metadata and tensor infos) through a `ByteSource` in
 * bounded, growing chunks, never the whole file, and validates everything a hostile or damaged file could get
 * wrong before anyone trusts an offset: counts and lengths are capped by the bytes left in the file (so no
 * multi-GB allocations and no endless loops), tensor types must be known, shapes must be whole blocks, and
 * tensor data must be aligned, inside the file and non-overlapping. Layout follows ggml/src/gguf.cpp.
 */
import type { ByteSource } from './byteSource.ts';
import { GgufError } from './errors.ts';
import { ggmlTypeInfo, type GgmlType } from './ggmlTypes.ts';
import { GgufMetadata, type GgufKv, type GgufScalarType, type GgufValue, type GgufValueType } from './metadata.ts';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_DIMS. */
export const GGML_MAX_DIMS = 4;
/** Deepest array nesting we accept; real files use at most 1 level. */
const MAX_ARRAY_DEPTH = 8;

export interface GgufTensorInfo {
  readonly name: string;
  /** ggml ne order, innermost (contiguous) first. */
  readonly dims: number[];
  readonly type: GgmlType;
  /** Absolute byte offset of the data in its file. */
  readonly offset: number;
  readonly nbytes: number;
  /** Index of the file (split part) holding the data; 0 for single files. */
  readonly part: number;
}

export interface GgufFile {
  readonly source: ByteSource;
  readonly version: 2 | 3;
  readonly metadata: GgufMetadata;
  readonly tensors: GgufTensorInfo[];
  readonly alignment: number;
  /** Absolute offset of the tensor data section. */
  readonly dataOffset: number;
  /** Bytes of header (magic .. tensor infos), before padding to the data section. */
  readonly headerBytes: number;
}

export interface ReadGgufOptions {
  signal?: AbortSignal;
  /** Split part index recorded in each tensor's `part` (default 0). */
  part?: number;
}

// Smallest on-disk size of one item, used to cap counts against the bytes left in the file.
const MIN_KV_BYTES = 8 + 1 + 4 + 1; // key length, 1-char key, type, 1-byte value
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8; // name length, n_dims, type, offset
const SCALAR_SIZE: Record<GgufScalarType, number> = {
  u8: 1, i8: 1, bool: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, u64: 8, i64: 8, f64: 8, string: 8,
};
const TYPE_BY_ID: readonly (GgufScalarType | 'array')[] = [
  'u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64',
];

const utf8 = new TextDecoder('utf-8');

/** Sequential little-endian reader over a ByteSource that fetches the header in growing chunks. */
class Cursor {
  pos: number;
  private buf: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(this.buf.buffer);
  private bufStart = 0;
  private chunk = 256 * 1024;

  constructor(
    private readonly src: ByteSource,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.pos = 0;
  }

  get remaining(): number {
    return this.src.size - this.pos;
  }

  /** Makes bytes [pos, pos+n) available; throws 'truncated' naming `what` when the file ends first. */
  async need(n: number, what: string): Promise<void> {
    const end = this.pos + n;
    if (this.pos >= this.bufStart && end <= this.bufStart + this.buf.length) return;
    if (end > this.src.size) {
      throw new GgufError(
        'truncated',
        `${this.src.name}: file ends at byte ${this.src.size} while reading ${what} at offset ${this.pos} (${n} bytes needed)`,
      );
    }
    const len = Math.min(Math.max(n, this.chunk), this.src.size - this.pos);
    const bytes = await this.src.read(this.pos, len, this.signal);
    if (bytes.length !== len) {
      throw new GgufError('truncated', `${this.src.name}: short read at offset ${this.pos} (${bytes.length} of ${len} bytes)`);
    }
    this.buf = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.bufStart = this.pos;
    this.chunk = Math.min(this.chunk * 2, 16 * 1024 * 1024);
  }

  private at(n: number): number {
    const i = this.pos - this.bufStart;
    this.pos += n;
    return i;
  }
  u8(): number {
    return this.view.getUint8(this.at(1));
  }
  i8(): number {
    return this.view.getInt8(this.at(1));
  }
  u16(): number {
    return this.view.getUint16(this.at(2), true);
  }
  i16(): number {
    return this.view.getInt16(this.at(2), true);
  }
  u32(): number {
    return this.view.getUint32(this.at(4), true);
  }
  i32(): number {
    return this.view.getInt32(this.at(4), true);
  }
  f32(): number {
    return this.view.getFloat32(this.at(4), true);
  }
  f64(): number {
    return this.view.getFloat64(this.at(8), true);
  }
  u64(): number | bigint {
    const v = this.view.getBigUint64(this.at(8), true);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  i64(): number | bigint {
    const v = this.view.getBigInt64(this.at(8), true);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
  }

  /** A u64 count or length, capped: `perItem` bytes each must fit in the rest of the file. */
  async count(what: string, perItem: number): Promise<number> {
    await this.need(8, what);
    const at = this.pos;
    const n = this.u64();
    const left = this.src.size - this.pos;
    if (typeof n !== 'number' || n * perItem > left) {
      // Claims beyond any real header (4 GiB) are hostile or garbage; smaller ones mean the file was cut short.
      const absurd = typeof n !== 'number' || n * perItem > 2 ** 32;
      throw new GgufError(
        absurd ? 'too-large' : 'truncated',
        `${this.src.name}: ${what} at offset ${at} is ${String(n)}, more than the ${left} bytes left in the file can hold (truncated or corrupt file)`,
      );
    }
    return n;
  }

  async string(what: string): Promise<string> {
    const fast = this.stringSync();
    if (fast !== undefined) return fast;
    const len = await this.count(`length of ${what}`, 1);
    await this.need(len, what);
    const i = this.at(len);
    return decodeUtf8(this.buf, i, len);
  }

  /** The next string if it is wholly buffered (no await, the hot path for vocabularies), else undefined. */
  stringSync(): string | undefined {
    const i = this.pos - this.bufStart;
    if (i < 0 || i + 8 > this.buf.length) return undefined;
    const lo = this.view.getUint32(i, true);
    const hi = this.view.getUint32(i + 4, true);
    if (hi !== 0 || i + 8 + lo > this.buf.length) return undefined;
    this.pos += 8 + lo;
    return decodeUtf8(this.buf, i + 8, lo);
  }
}

/**
 * UTF-8 → string. Short strings (token texts) are decoded by hand, which is several times faster than a
 * TextDecoder call each; anything malformed or long goes to TextDecoder (invalid bytes become U+FFFD).
 */
function decodeUtf8(b: Uint8Array, at: number, len: number): string {
  if (len > SCRATCH.length) return utf8.decode(b.subarray(at, at + len));
  let n = 0;
  const end = at + len;
  for (let i = at; i < end; ) {
    const c = b[i];
    if (c < 0x80) {
      SCRATCH[n++] = c;
      i++;
    } else if (c >= 0xc2 && c < 0xe0 && i + 1 < end && (b[i + 1] & 0xc0) === 0x80) {
      SCRATCH[n++] = ((c & 0x1f) << 6) | (b[i + 1] & 0x3f);
      i += 2;
    } else if (c >= 0xe0 && c < 0xf0 && i + 2 < end && (b[i + 1] & 0xc0) === 0x80 && (b[i + 2] & 0xc0) === 0x80) {
      const cp = ((c & 0x0f) << 12) | ((b[i + 1] & 0x3f) << 6) | (b[i + 2] & 0x3f);
      if (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000)) return utf8.decode(b.subarray(at, end));
      SCRATCH[n++] = cp;
      i += 3;
    } else {
      // 4-byte sequences and anything malformed: let TextDecoder do it (and its U+FFFD rules).
      return utf8.decode(b.subarray(at, end));
    }
  }
  return String.fromCharCode(...SCRATCH.subarray(0, n));
}
const SCRATCH = new Uint16Array(256);

async function readScalar(c: Cursor, t: GgufScalarType, what: string): Promise<GgufValue> {
  if (t === 'string') return c.string(what);
  await c.need(SCALAR_SIZE[t], what);
  return readScalarSync(c, t);
}

async function readTypeId(c: Cursor, what: string): Promise<GgufScalarType | 'array'> {
  await c.need(4, what);
  const at = c.pos;
  const id = c.u32();
  const t = TYPE_BY_ID[id];
  if (t === undefined) throw new GgufError('bad-metadata', `${what}: invalid GGUF value type ${id} at offset ${at}`);
  return t;
}

/** Reads a value of type `t` (already read); arrays are `elementType, count, items`. */
async function readValue(
  c: Cursor,
  t: GgufScalarType | 'array',
  what: string,
  depth: number,
): Promise<{ type: GgufValueType; value: GgufValue }> {
  if (t !== 'array') return { type: t, value: await readScalar(c, t, what) };
  if (depth >= MAX_ARRAY_DEPTH) throw new GgufError('too-large', `${what}: arrays nested deeper than ${MAX_ARRAY_DEPTH}`);
  const et = await readTypeId(c, `element type of ${what}`);
  const n = await c.count(`element count of ${what}`, et === 'array' ? 12 : SCALAR_SIZE[et]);
  const values: GgufValue[] = new Array<GgufValue>(n);
  if (et === 'array') {
    let inner: GgufValueType = 'u8';
    for (let i = 0; i < n; i++) {
      // Each inner array carries its own element type and count; the first one's type stands for all.
      const r = await readValue(c, 'array', `${what}[${i}]`, depth + 1);
      if (i === 0) inner = r.type;
      values[i] = r.value;
    }
    return { type: { arrayOf: inner }, value: values };
  }
  if (et === 'string') {
    for (let i = 0; i < n; i++) values[i] = c.stringSync() ?? (await c.string(`${what}[${i}]`));
  } else {
    // Fixed-size elements: fetch them in one go and decode synchronously.
    const size = SCALAR_SIZE[et];
    const per = Math.max(1, Math.floor((4 * 1024 * 1024) / size));
    for (let i = 0; i < n; ) {
      const m = Math.min(per, n - i);
      await c.need(m * size, `${what}[${i}..${i + m})`);
      for (let k = 0; k < m; k++, i++) values[i] = readScalarSync(c, et);
    }
  }
  return { type: { arrayOf: et }, value: values };
}

/** A fixed-size scalar whose bytes are already buffered (`c.need` done). */
function readScalarSync(c: Cursor, t: Exclude<GgufScalarType, 'string'>): GgufValue {
  switch (t) {
    case 'u8':
      return c.u8();
    case 'i8':
      return c.i8();
    case 'u16':
      return c.u16();
    case 'i16':
      return c.i16();
    case 'u32':
      return c.u32();
    case 'i32':
      return c.i32();
    case 'f32':
      return c.f32();
    case 'bool':
      return c.u8() !== 0;
    case 'u64':
      return c.u64();
    case 'i64':
      return c.i64();
    case 'f64':
      return c.f64();
  }
}

const align = (x: number, a: number): number => Math.ceil(x / a) * a;

/** Reads and validates the header of one GGUF file (v2 or v3). Tensor data is not read. */
export async function readGguf(src: ByteSource, opts: ReadGgufOptions = {}): Promise<GgufFile> {
  const c = new Cursor(src, opts.signal);
  const part = opts.part ?? 0;
  const name = src.name;

  await c.need(4, 'the magic');
  const magic = c.u32();
  if (magic !== GGUF_MAGIC) {
    const hex = [0, 8, 16, 24].map((s) => ((magic >>> s) & 0xff).toString(16).padStart(2, '0')).join(' ');
    throw new GgufError('bad-magic', `${name}: not a GGUF file (first bytes ${hex}, expected 47 47 55 46 "GGUF")`);
  }
  await c.need(4, 'the version');
  const version = c.u32();
  if (version !== 2 && version !== 3) {
    const swapped = ((version & 0xff) << 24) | ((version >>> 8) & 0xff) << 16 | ((version >>> 16) & 0xff) << 8 | (version >>> 24);
    const hint =
      version === 1
        ? ' (GGUF v1 is obsolete; re-convert the model)'
        : swapped === 2 || swapped === 3
          ? ' (this looks like a big-endian GGUF, which is not supported)'
          : '';
    throw new GgufError('unsupported-version', `${name}: unsupported GGUF version ${version}${hint}; versions 2 and 3 are supported`);
  }

  const nTensors = await c.count('the tensor count', MIN_TENSOR_INFO_BYTES);
  const nKv = await c.count('the metadata count', MIN_KV_BYTES);

  // ---- metadata ----
  const kvs: GgufKv[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < nKv; i++) {
    const keyAt = c.pos;
    const key = await c.string(`metadata key #${i}`);
    if (key.length === 0) throw new GgufError('bad-metadata', `${name}: metadata key #${i} at offset ${keyAt} is empty`);
    if (seen.has(key)) throw new GgufError('duplicate', `${name}: duplicate metadata key '${key}' at offset ${keyAt}`);
    seen.add(key);
    const t = await readTypeId(c, `type of metadata '${key}'`);
    const { type, value } = await readValue(c, t, `metadata '${key}'`, 0);
    kvs.push({ key, type, value });
  }
  const metadata = new GgufMetadata(kvs);

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.entry('general.alignment');
  if (al) {
    if (al.type !== 'u32' || typeof al.value !== 'number' || al.value === 0 || (al.value & (al.value - 1)) !== 0) {
      throw new GgufError('bad-metadata', `${name}: general.alignment must be a u32 power of two, found ${String(al.value)}`);
    }
    alignment = al.value;
  }

  // ---- tensor infos ----
  interface RawInfo {
    name: string;
    dims: number[];
    type: GgmlType;
    rel: number;
    nbytes: number;
  }
  const raw: RawInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const at = c.pos;
    const tname = await c.string(`name of tensor #${i}`);
    if (names.has(tname)) throw new GgufError('duplicate', `${name}: duplicate tensor name '${tname}' at offset ${at}`);
    names.add(tname);
    await c.need(4, `dimension count of tensor '${tname}'`);
    const nDims = c.u32();
    if (nDims > GGML_MAX_DIMS) {
      throw new GgufError('bad-shape', `${name}: tensor '${tname}' has ${nDims} dimensions; ggml allows at most ${GGML_MAX_DIMS}`);
    }
    await c.need(nDims * 8 + 4 + 8, `shape, type and offset of tensor '${tname}'`);
    const dims: number[] = [];
    let elements = 1;
    for (let d = 0; d < nDims; d++) {
      const ne = c.u64();
      if (typeof ne !== 'number') {
        throw new GgufError('bad-shape', `${name}: tensor '${tname}' dimension ${d} is ${String(ne)}, far too large`);
      }
      dims.push(ne);
      elements *= ne;
    }
    if (!Number.isSafeInteger(elements)) {
      throw new GgufError('bad-shape', `${name}: tensor '${tname}' has shape [${dims.join(', ')}], too many elements`);
    }
    const typeId = c.u32();
    const info = ggmlTypeInfo(typeId, `tensor '${tname}' in ${name}`);
    if (info.typeSize === 0) throw new GgufError('unknown-type', `${name}: tensor '${tname}' has removed type ${info.name}`);
    const ne0 = nDims > 0 ? dims[0] : 1;
    if (ne0 % info.blockSize !== 0) {
      throw new GgufError(
        'bad-shape',
        `${name}: tensor '${tname}' of type ${info.name} has rows of ${ne0} elements, not a multiple of its block size ${info.blockSize}`,
      );
    }
    const nbytes = (elements / info.blockSize) * info.typeSize;
    const rel = c.u64();
    if (typeof rel !== 'number') {
      throw new GgufError('out-of-bounds', `${name}: tensor '${tname}' data offset ${String(rel)} is beyond any file size`);
    }
    raw.push({ name: tname, dims, type: info.id, rel, nbytes });
  }
  const headerBytes = c.pos;

  const dataOffset = nTensors > 0 ? align(headerBytes, alignment) : headerBytes;
  if (dataOffset > src.size) {
    throw new GgufError('truncated', `${name}: file ends at byte ${src.size} before its tensor data section (byte ${dataOffset})`);
  }

  // ---- tensor data placement ----
  const tensors: GgufTensorInfo[] = [];
  for (const r of raw) {
    if (r.rel % alignment !== 0) {
      throw new GgufError('misaligned', `${name}: tensor '${r.name}' data offset ${r.rel} is not a multiple of the alignment ${alignment}`);
    }
    const offset = dataOffset + r.rel;
    if (offset + r.nbytes > src.size) {
      throw new GgufError(
        'out-of-bounds',
        `${name}: tensor '${r.name}' data [${offset}, ${offset + r.nbytes}) runs past the end of the file (${src.size} bytes)`,
      );
    }
    tensors.push({ name: r.name, dims: r.dims, type: r.type, offset, nbytes: r.nbytes, part });
  }
  const byOffset = tensors.filter((t) => t.nbytes > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const a = byOffset[i - 1];
    const b = byOffset[i];
    if (a.offset + a.nbytes > b.offset) {
      throw new GgufError(
        'overlap',
        `${name}: tensors '${a.name}' [${a.offset}, ${a.offset + a.nbytes}) and '${b.name}' [${b.offset}, ${b.offset + b.nbytes}) overlap`,
      );
    }
  }

  return { source: src, version, metadata, tensors, alignment, dataOffset, headerBytes };
}
