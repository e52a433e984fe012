/**
 * @file A model as the engine sees it: one GGUF file, or a llama.cpp `gguf-split` set
 * (`name-00001-of-0000n.gguf` ...). Metadata comes from part 0 (the only part that carries it), tensors from
 * every part (each tagged with its `part`), and tensor bytes are read by range from the right file, so the
 * rest of the engine never cares whether a model was split.
 */
import type { ByteSource } from './byteSource.ts';
import { GgufError } from './errors.ts';
import type { GgufMetadata } from './metadata.ts';
import { readGguf, type GgufFile, type GgufTensorInfo } from './reader.ts';

export const SPLIT_NO = 'split.no';
export const SPLIT_COUNT = 'split.count';
export const SPLIT_TENSORS_COUNT = 'split.tensors.count';

export interface GgufModel {
  /** Metadata of part 0 (split parts > 0 carry only the split.* keys). */
  readonly metadata: GgufMetadata;
  /** Every tensor of every part, in file order. */
  readonly tensors: readonly GgufTensorInfo[];
  readonly files: readonly GgufFile[];
  readonly sources: readonly ByteSource[];
  /** Sum of tensor data bytes over all parts. */
  readonly tensorBytes: number;
  tensor(name: string): GgufTensorInfo | undefined;
  /** The tensor, or `GgufError('missing-tensor')`. */
  requireTensor(name: string): GgufTensorInfo;
  /** Bytes [offset, offset+length) of the tensor's data (default: all of it). */
  readTensor(info: GgufTensorInfo, offset?: number, length?: number, signal?: AbortSignal): Promise<Uint8Array>;
}

const SPLIT_RE = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/;

/** llama.cpp's split file name (`llama_split_path`): part index is 0-based here, 1-based in the name. */
export function splitFileName(prefix: string, part: number, count: number): string {
  const p = (n: number): string => String(n).padStart(5, '0');
  return `${prefix}-${p(part + 1)}-of-${p(count)}.gguf`;
}

/** The base file name of a path or URL (no directory, query or fragment). */
export function baseName(nameOrUrl: string): string {
  const noQuery = nameOrUrl.replace(/[?#].*$/, '');
  const i = Math.max(noQuery.lastIndexOf('/'), noQuery.lastIndexOf('\\'));
  return noQuery.slice(i + 1);
}

/** Parses `prefix-0000i-of-0000n.gguf` → { prefix, part (0-based), count } or undefined. */
export function parseSplitName(fileName: string): { prefix: string; part: number; count: number } | undefined {
  const m = SPLIT_RE.exec(baseName(fileName));
  if (!m) return undefined;
  return { prefix: m[1], part: Number(m[2]) - 1, count: Number(m[3]) };
}

function splitNumber(f: GgufFile, key: string): number | undefined {
  const v = f.metadata.get(key);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new GgufError('bad-split', `${f.source.name}: ${key} must be a non-negative integer, found ${String(v)}`);
  }
  return v;
}

/**
 * Opens a model from its first (or only) file. For a split set, `openSibling` is called with each other part's
 * base file name (e.g. `m-00002-of-00003.gguf`); resolve it next to the first file (path join, `new URL(name, first)`).
 */
export async function openGgufModel(
  first: ByteSource,
  openSibling?: (fileName: string) => Promise<ByteSource>,
  opts: { signal?: AbortSignal } = {},
): Promise<GgufModel> {
  const f0 = await readGguf(first, { signal: opts.signal, part: 0 });
  const count = splitNumber(f0, SPLIT_COUNT) ?? 0;
  const files: GgufFile[] = [f0];
  if (count > 1) {
    const no = splitNumber(f0, SPLIT_NO) ?? 0;
    if (no !== 0) {
      throw new GgufError(
        'bad-split',
        `${first.name} is part ${no + 1} of ${count} of a split model; open the first part (…-00001-of-${String(count).padStart(5, '0')}.gguf)`,
      );
    }
    if (!openSibling) {
      throw new GgufError('bad-split', `${first.name} is the first of ${count} split parts, but no way to open the other parts was given`);
    }
    const parsed = parseSplitName(first.name);
    if (!parsed || parsed.count !== count || parsed.part !== 0) {
      throw new GgufError(
        'bad-split',
        `${first.name}: split.count is ${count} but the file name does not follow llama.cpp's "<prefix>-00001-of-${String(count).padStart(5, '0')}.gguf" pattern`,
      );
    }
    for (let i = 1; i < count; i++) {
      const fileName = splitFileName(parsed.prefix, i, count);
      let src: ByteSource;
      try {
        src = await openSibling(fileName);
      } catch (e) {
        if (e instanceof GgufError) throw e;
        if (opts.signal?.aborted) throw opts.signal.reason;
        throw new GgufError('bad-split', `cannot open split part ${fileName}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      const f = await readGguf(src, { signal: opts.signal, part: i });
      const fno = splitNumber(f, SPLIT_NO);
      if (fno !== i) throw new GgufError('bad-split', `${src.name}: split.no is ${String(fno)}, expected ${i}`);
      const fcount = splitNumber(f, SPLIT_COUNT);
      if (fcount !== count) throw new GgufError('bad-split', `${src.name}: split.count is ${String(fcount)}, expected ${count}`);
      files.push(f);
    }
  }

  const tensors: GgufTensorInfo[] = [];
  const byName = new Map<string, GgufTensorInfo>();
  for (const f of files) {
    for (const t of f.tensors) {
      if (byName.has(t.name)) throw new GgufError('duplicate', `tensor '${t.name}' appears in more than one split part (${f.source.name})`);
      byName.set(t.name, t);
      tensors.push(t);
    }
  }
  if (count > 1) {
    const expected = splitNumber(f0, SPLIT_TENSORS_COUNT);
    if (expected !== undefined && expected !== tensors.length) {
      throw new GgufError('bad-split', `${first.name}: split.tensors.count is ${expected} but the ${count} parts hold ${tensors.length} tensors`);
    }
  }

  const sources = files.map((f) => f.source);
  return {
    metadata: f0.metadata,
    tensors,
    files,
    sources,
    tensorBytes: tensors.reduce((s, t) => s + t.nbytes, 0),
    tensor: (name) => byName.get(name),
    requireTensor(name) {
      const t = byName.get(name);
      if (!t) throw new GgufError('missing-tensor', `tensor '${name}' is not in the model (${first.name})`);
      return t;
    },
    readTensor(info, offset = 0, length = info.nbytes - offset, signal) {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > info.nbytes) {
        return Promise.reject(
          new GgufError('out-of-bounds', `tensor '${info.name}': range [${offset}, ${offset + length}) outside its ${info.nbytes} bytes`),
        );
      }
      const src = sources[info.part];
      if (!src) return Promise.reject(new GgufError('bad-split', `tensor '${info.name}' refers to missing part ${info.part}`));
      return src.read(info.offset + offset, length, signal);
    },
  };
}
