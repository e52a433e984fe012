/**
 * @file The CLI's side of retrieval: files and folders from the command line read into the same DocIndex the
 * app's docs worker builds (workers/retrieval), with pdfjs-dist's Node build for PDFs.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { extractText, fileKind, type PdfJs } from '../../workers/retrieval/extract.ts';
import { DocIndex } from '../../workers/retrieval/search.ts';

let pdfjs: Promise<PdfJs> | undefined;

/** pdfjs-dist's legacy (Node) build, its worker run in this thread. */
export function nodePdfJs(): Promise<PdfJs> {
  pdfjs ??= (async () => {
    const [lib, worker] = await Promise.all([import('pdfjs-dist/legacy/build/pdf.mjs'), import('pdfjs-dist/legacy/build/pdf.worker.mjs')]);
    Reflect.set(globalThis, 'pdfjsWorker', worker);
    return { getDocument: (src) => lib.getDocument(src) };
  })();
  return pdfjs;
}

/** Every readable file under the given paths (folders recursively, hidden entries and node_modules skipped), sorted. */
export async function collectFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const walk = async (p: string, explicit: boolean): Promise<void> => {
    const s = await stat(p).catch(() => undefined);
    if (!s) throw new Error(`${p}: no such file or folder`);
    if (s.isDirectory()) {
      const entries = (await readdir(p)).sort();
      for (const e of entries) {
        if (e.startsWith('.') || e === 'node_modules') continue;
        await walk(path.join(p, e), false);
      }
    } else if (s.isFile()) {
      if (fileKind(p) !== undefined) out.push(p);
      else if (explicit) throw new Error(`${p}: not a file type Brix reads`);
    }
  };
  for (const p of paths) await walk(p, true);
  return out;
}

/** An index of the files, each named by its path as found (relative to the working folder when given so). */
export async function indexFiles(paths: readonly string[], onFile?: (file: string) => void): Promise<DocIndex> {
  const index = DocIndex.empty();
  for (const file of await collectFiles(paths)) {
    onFile?.(file);
    const bytes = new Uint8Array(await readFile(file));
    const { text, pages } = await extractText(file, bytes, { pdfjs: nodePdfJs });
    index.addFile(file, text, { bytes: bytes.length, ...(pages !== undefined ? { pages } : {}) });
  }
  return index;
}
