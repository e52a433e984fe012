/**
 * @file A GGUF file that is never stored: a `ByteSource` whose header is encoded once (layoutGguf, the writer's
 * own layout) and whose tensor bytes are computed on demand, deterministically from (seed, tensor name, byte
 * offset), so any range reads the same bytes whatever the chunking. Quantized tensors are random quant bytes
 * (pages of a shared random pool) with their f16 block scales overwritten per block by finite values sized so
 * elements are about ±bound: valid blocks of the type, not a quantization of anything. Float tensors are uniform
 * values (norms 1 ± 0.05).
 * The engine opens it through the same reader, loader, chunking and graphs as a file: it is how a model larger
 * than the disk (DBRX at 132B parameters, 80 GB at Q4_K_M) is benchmarked (`bench --synthetic`).
 */
import { checkRange, type ByteSource } from './byteSource.ts';
import { GgufError } from './errors.ts';
import { GgmlType, ggmlTypeInfo, ggmlTypeName } from './ggmlTypes.ts';
import type { GgufKv } from './metadata.ts';
import { layoutGguf, type GgufTensorSpec } from './writer.ts';
import { f32ToBf16Bits, f32ToF16Bits } from '../quant/half.ts';

export type SyntheticInit = { readonly kind: 'norm' } | { readonly kind: 'uniform'; readonly bound: number };

export interface SyntheticTensor extends GgufTensorSpec {
  readonly init: SyntheticInit;
}

/**
 * Where each block type keeps its f16 scales, and the typical |element| per unit of the first scale (so the
 * scale is bound / mag). `offset`: the second f16 as a multiple of the first (a min or dmin), chosen so that
 * elements are centred on zero (e.g. Q4_K: E[sc·q] = 31.5 · 7.5 and E[m] = 31.5, so dmin = 7.5 d).
 */
const SCALES: Partial<Record<GgmlType, { readonly at: number; readonly mag: number; readonly second?: { at: number; times: number } }>> = {
  [GgmlType.Q4_0]: { at: 0, mag: 4.5 },
  [GgmlType.Q4_1]: { at: 0, mag: 4.5, second: { at: 2, times: -7.5 } },
  [GgmlType.Q5_0]: { at: 0, mag: 9 },
  [GgmlType.Q5_1]: { at: 0, mag: 9, second: { at: 2, times: -15.5 } },
  [GgmlType.Q8_0]: { at: 0, mag: 64 },
  [GgmlType.Q2_K]: { at: 80, mag: 12, second: { at: 82, times: 1.5 } },
  [GgmlType.Q3_K]: { at: 108, mag: 40 },
  [GgmlType.Q4_K]: { at: 0, mag: 200, second: { at: 2, times: 7.5 } },
  [GgmlType.Q5_K]: { at: 0, mag: 400, second: { at: 2, times: 15.5 } },
  [GgmlType.Q6_K]: { at: 208, mag: 1000 },
  [GgmlType.IQ4_NL]: { at: 0, mag: 60 },
  [GgmlType.IQ4_XS]: { at: 0, mag: 1000 },
};

/** Types the synthetic source can produce. */
export const SYNTHETIC_TYPES: readonly GgmlType[] = [GgmlType.F32, GgmlType.F16, GgmlType.BF16, ...Object.keys(SCALES).map((k) => ggmlTypeInfo(Number(k)).id)];

/** FNV-1a of a string (per-tensor seeds). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Counter-based 32-bit hash (murmur3's finalizer of seed + i·golden): word i of a stream, random access. */
function hash32(seed: number, i: number): number {
  let x = (seed + Math.imul(i, 0x9e3779b9)) | 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Value e of a float tensor. */
function floatValue(init: SyntheticInit, seed: number, e: number): number {
  const u = (hash32(seed, e) / 4294967296) * 2 - 1;
  return init.kind === 'norm' ? 1 + 0.05 * u : u * init.bound;
}

/**
 * Quant bytes come from one pool of random pages: page p of a tensor is pool page hash(tensor, p) mod POOL_PAGES,
 * so any byte has a fixed value (random access, independent of how reads are chunked) at the cost of a copy. A
 * per-word hash over 80 GB measured ~250 MB/s on a loaded 2-core machine, a pool copy runs at memcpy speed.
 */
const PAGE = 4096;
const POOL_PAGES = 1024;
const pools = new Map<number, Uint8Array>();
function pool(seed: number): Uint8Array {
  let p = pools.get(seed);
  if (!p) {
    const w = new Uint32Array((PAGE * POOL_PAGES) / 4);
    for (let i = 0; i < w.length; i++) w[i] = hash32(seed ^ 0x27d4eb2f, i);
    p = new Uint8Array(w.buffer);
    pools.set(seed, p);
  }
  return p;
}

/** 256 f16 scales per tensor, (bound / mag) · (0.5 + k/256), and the second scale of each (a min), as bits. */
interface ScaleTable {
  readonly first: Uint16Array;
  readonly second: Uint16Array | undefined;
}
const scaleTables = new WeakMap<SyntheticTensor, ScaleTable>();
function scaleTable(t: SyntheticTensor, mag: number, times: number | undefined): ScaleTable {
  let st = scaleTables.get(t);
  if (!st) {
    const bound = t.init.kind === 'uniform' ? t.init.bound : 1;
    const first = new Uint16Array(256);
    const second = times === undefined ? undefined : new Uint16Array(256);
    for (let k = 0; k < 256; k++) {
      const d = (bound / mag) * (0.5 + k / 256);
      first[k] = f32ToF16Bits(d);
      if (second && times !== undefined) second[k] = f32ToF16Bits(d * times);
    }
    st = { first, second };
    scaleTables.set(t, st);
  }
  return st;
}

/** Writes bytes [from, to) (relative to the tensor's start) of one tensor into out[at ..]. */
function tensorRange(t: SyntheticTensor, seed: number, from: number, to: number, out: Uint8Array, at: number): void {
  const ts = (fnv1a(t.name) ^ seed) >>> 0;
  switch (t.type) {
    case GgmlType.F32: {
      // Whole elements around the range, then the slice (reads need not be element-aligned). Little-endian
      // hosts only, like the rest of the loader's typed-array views.
      const e0 = Math.floor(from / 4);
      const vals = new Float32Array(Math.ceil(to / 4) - e0);
      for (let e = 0; e < vals.length; e++) vals[e] = floatValue(t.init, ts, e0 + e);
      out.set(new Uint8Array(vals.buffer).subarray(from - 4 * e0, to - 4 * e0), at);
      return;
    }
    case GgmlType.F16:
    case GgmlType.BF16: {
      const conv = t.type === GgmlType.F16 ? f32ToF16Bits : f32ToBf16Bits;
      for (let e = Math.floor(from / 2); e * 2 < to; e++) {
        const h = conv(floatValue(t.init, ts, e));
        if (e * 2 >= from) out[at + e * 2 - from] = h & 0xff;
        if (e * 2 + 1 < to) out[at + e * 2 + 1 - from] = h >> 8;
      }
      return;
    }
  }
  const sc = SCALES[t.type];
  if (!sc) throw new GgufError('unsupported-type', `synthetic source: no block recipe for ${ggmlTypeName(t.type)} (tensor ${t.name})`);
  const src = pool(seed);
  for (let j = from; j < to; ) {
    const page = Math.floor(j / PAGE);
    const inPage = j - page * PAGE;
    const n = Math.min(PAGE - inPage, to - j);
    const p = (hash32(ts, page) % POOL_PAGES) * PAGE + inPage;
    out.set(src.subarray(p, p + n), at + j - from);
    j += n;
  }
  // Overwrite the f16 scales of every block that overlaps the range, picked per block from the tensor's table.
  const { typeSize } = ggmlTypeInfo(t.type);
  const table = scaleTable(t, sc.mag, sc.second?.times);
  const scaleSeed = (ts ^ 0x5bd1e995) >>> 0;
  const put = (blockStart: number, off: number, bits: number): void => {
    const j = blockStart + off;
    if (j >= from && j < to) out[at + j - from] = bits & 0xff;
    if (j + 1 >= from && j + 1 < to) out[at + j + 1 - from] = bits >> 8;
  };
  for (let b = Math.floor(from / typeSize); b * typeSize < to; b++) {
    const k = hash32(scaleSeed, b) & 255;
    put(b * typeSize, sc.at, table.first[k]);
    if (sc.second && table.second) put(b * typeSize, sc.second.at, table.second[k]);
  }
}

/**
 * The source of a GGUF with these metadata and tensors, and tensor bytes made on demand from `seed`. Memory:
 * the header plus whatever a read returns.
 */
export function syntheticSource(name: string, kvs: readonly GgufKv[], tensors: readonly SyntheticTensor[], seed: number): ByteSource {
  for (const t of tensors) {
    if (!SYNTHETIC_TYPES.includes(t.type)) {
      throw new GgufError('unsupported-type', `synthetic source: no block recipe for ${ggmlTypeName(t.type)} (tensor ${t.name})`);
    }
  }
  const layout = layoutGguf(kvs, tensors);
  const placed = layout.tensors;
  const src: ByteSource = {
    name,
    size: layout.size,
    async read(offset, length, signal) {
      signal?.throwIfAborted();
      checkRange(src, offset, length);
      const out = new Uint8Array(length);
      const end = offset + length;
      if (offset < layout.header.length) out.set(layout.header.subarray(offset, Math.min(end, layout.header.length)));
      // Tensors are in offset order: find the first that ends after `offset` (binary search), fill, move on.
      let lo = 0;
      let hi = placed.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (placed[mid].offset + placed[mid].nbytes <= offset) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < placed.length && placed[i].offset < end; i++) {
        const p = placed[i];
        const from = Math.max(offset, p.offset);
        const to = Math.min(end, p.offset + p.nbytes);
        if (to > from) {
          tensorRange(tensors[i], seed, from - p.offset, to - p.offset, out, from - offset);
        }
      }
      // Padding between tensors stays zero, as gguf.cpp writes it.
      return out;
    },
  };
  return src;
}
