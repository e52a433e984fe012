/**
 * @file `split`: cuts a GGUF into llama.cpp `gguf-split`-compatible parts (`name-00001-of-0000n.gguf`, ...).
 * Part 1 carries all metadata, every part carries `split.no`/`split.count`/`split.tensors.count`, each part is a
 * valid GGUF on its own, and no tensor is cut across parts. As in gguf-split, --max-size bounds the tensor data
 * of a part (a single tensor larger than that gets a part to itself). Data is copied by ranges, never whole.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { flagNumber, requireString, UsageError, type CliCommand } from '../cliTypes.ts';
import type { GgufKv } from '../../workers/gguf/metadata.ts';
import { SPLIT_COUNT, SPLIT_NO, SPLIT_TENSORS_COUNT, splitFileName, type GgufModel } from '../../workers/gguf/model.ts';
import type { GgufTensorInfo } from '../../workers/gguf/reader.ts';
import { GgufStreamWriter, kv } from '../../workers/gguf/writer.ts';
import { createFileSink, openModelFile } from '../lib/nodeSource.ts';

const COPY_CHUNK = 16 * 1024 * 1024;
const pad = (n: number, a: number): number => Math.ceil(n / a) * a;

/** Groups tensors (in file order) into parts whose padded data stays within maxBytes. */
export function planSplit(tensors: readonly GgufTensorInfo[], maxBytes: number, alignment = 32): GgufTensorInfo[][] {
  const parts: GgufTensorInfo[][] = [[]];
  let used = 0;
  for (const t of tensors) {
    const n = pad(t.nbytes, alignment);
    const cur = parts[parts.length - 1];
    if (cur.length > 0 && used + n > maxBytes) {
      parts.push([t]);
      used = n;
    } else {
      cur.push(t);
      used += n;
    }
  }
  return parts;
}

/** Writes the parts; returns their paths. */
export async function splitModel(model: GgufModel, maxBytes: number, outDir: string, baseName: string): Promise<string[]> {
  const parts = planSplit(model.tensors, maxBytes, model.files[0].alignment);
  if (parts.length > 65535) throw new UsageError(`--max-size gives ${parts.length} parts; llama.cpp allows at most 65535`);
  const isSplitKey = (k: string): boolean => k === SPLIT_NO || k === SPLIT_COUNT || k === SPLIT_TENSORS_COUNT;
  const base: GgufKv[] = model.metadata.entries().filter((e) => !isSplitKey(e.key));
  const align = model.metadata.entry('general.alignment');
  await mkdir(outDir, { recursive: true });
  const written: string[] = [];
  for (const [i, tensors] of parts.entries()) {
    const splitKeys = [kv.u16(SPLIT_NO, i), kv.u16(SPLIT_COUNT, parts.length), kv.i32(SPLIT_TENSORS_COUNT, model.tensors.length)];
    const kvs = i === 0 ? [...base, ...splitKeys] : [...(align ? [align] : []), ...splitKeys];
    const file = splitFileName(path.join(outDir, baseName), i, parts.length);
    const sink = await createFileSink(file);
    try {
      const w = new GgufStreamWriter(
        sink,
        kvs,
        tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type })),
      );
      await w.begin();
      for (const t of tensors) {
        for (let off = 0; off < t.nbytes; off += COPY_CHUNK) {
          await w.writeTensorData(t.name, await model.readTensor(t, off, Math.min(COPY_CHUNK, t.nbytes - off)));
        }
      }
      await w.finish();
    } finally {
      await sink.close();
    }
    written.push(file);
  }
  return written;
}

export const command: CliCommand = {
  name: 'split',
  summary: 'split a GGUF into llama.cpp gguf-split parts (name-00001-of-0000n.gguf) of at most --max-size MiB of tensor data',
  flags: {
    model: { kind: 'string', help: 'input .gguf (a split set: give its first part)', required: true },
    'max-size': { kind: 'number', help: 'maximum tensor data per part, MiB (fractions allowed)', required: true },
    'out-dir': { kind: 'string', help: 'output directory (created if missing)', required: true },
  },
  async run(flags, io) {
    const input = requireString(flags, 'model');
    const maxMiB = flagNumber(flags, 'max-size') ?? 0;
    if (!(maxMiB > 0)) throw new UsageError(`--max-size must be > 0 MiB, got ${maxMiB}`);
    const outDir = requireString(flags, 'out-dir');
    const { model, close } = await openModelFile(input);
    try {
      const base = path.basename(input).replace(/(-\d{5}-of-\d{5})?\.gguf$/i, '');
      const files = await splitModel(model, Math.floor(maxMiB * 1024 * 1024), outDir, base);
      io.out(`${files.length} part${files.length === 1 ? '' : 's'}, ${model.tensors.length} tensors:\n${files.map((f) => `  ${f}\n`).join('')}`);
    } finally {
      await close();
    }
    return 0;
  },
};
