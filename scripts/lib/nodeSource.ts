/**
 * @file Node-only file access for the model-file layer: a `ByteSource` over a file handle (positional reads,
 * so a multi-GB GGUF is read by ranges like in the browser) and a `ByteSink` that streams a GGUF being
 * written to disk. Lives in scripts/ because workers/ must stay free of `node:` imports.
 */
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { checkRange, type ByteSource } from '../../workers/gguf/byteSource.ts';
import { GgufError } from '../../workers/gguf/errors.ts';
import { openGgufModel, type GgufModel } from '../../workers/gguf/model.ts';
import type { ByteSink } from '../../workers/gguf/writer.ts';

export interface FileSource extends ByteSource {
  close(): Promise<void>;
}

export async function openFileSource(file: string): Promise<FileSource> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    throw new GgufError('io', `cannot open ${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const { size } = await fh.stat();
  const src: FileSource = {
    name: file,
    size,
    async read(offset, length, signal) {
      signal?.throwIfAborted();
      checkRange(src, offset, length);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(out, done, length - done, offset + done);
        if (bytesRead === 0) throw new GgufError('truncated', `${file}: file ended at ${offset + done} while reading ${length} bytes at ${offset}`);
        done += bytesRead;
      }
      return out;
    },
    close: () => fh.close(),
  };
  return src;
}

/** Opens a (possibly split) model from a path; split siblings are looked up next to it. */
export async function openModelFile(file: string): Promise<{ model: GgufModel; close(): Promise<void> }> {
  const opened: FileSource[] = [await openFileSource(file)];
  try {
    const model = await openGgufModel(opened[0], async (name) => {
      const s = await openFileSource(path.join(path.dirname(file), name));
      opened.push(s);
      return s;
    });
    return { model, close: async () => void (await Promise.all(opened.map((s) => s.close()))) };
  } catch (e) {
    await Promise.all(opened.map((s) => s.close()));
    throw e;
  }
}

export interface FileSink extends ByteSink {
  close(): Promise<void>;
}

/** Buffers small writes into ~4 MiB chunks before hitting the file. */
export async function createFileSink(file: string): Promise<FileSink> {
  const fh = await open(file, 'w');
  const cap = 4 * 1024 * 1024;
  let buf = new Uint8Array(cap);
  let used = 0;
  const flush = async (): Promise<void> => {
    let done = 0;
    while (done < used) done += (await fh.write(buf, done, used - done)).bytesWritten;
    used = 0;
  };
  return {
    async write(bytes) {
      if (bytes.length >= cap) {
        await flush();
        let done = 0;
        while (done < bytes.length) done += (await fh.write(bytes, done, bytes.length - done)).bytesWritten;
        return;
      }
      if (used + bytes.length > cap) await flush();
      buf.set(bytes, used);
      used += bytes.length;
    },
    async close() {
      await flush();
      buf = new Uint8Array(0);
      await fh.close();
    },
  };
}
