/**
 * @file Browser entry of the docs worker: parsing, indexing and search of attached files off the main thread
 * (workers/retrieval/handler.ts). pdfjs-dist runs inside this worker: its own worker module is imported here and
 * handed to it as `globalThis.pdfjsWorker`, so it needs no second worker script, no URL and no network (the
 * bundle is precached with the app shell).
 */
import { createDocsHandler } from './retrieval/handler.ts';
import { idbIndexStore } from './retrieval/idbStore.ts';
import type { PdfJs } from './retrieval/extract.ts';

async function loadPdfJs(): Promise<PdfJs> {
  const [lib, worker] = await Promise.all([import('pdfjs-dist'), import('pdfjs-dist/build/pdf.worker.mjs')]);
  Reflect.set(globalThis, 'pdfjsWorker', worker);
  return { getDocument: (src) => lib.getDocument(src) };
}

let pdfjs: Promise<PdfJs> | undefined;
const onMessage = createDocsHandler({ store: idbIndexStore(), pdfjs: () => (pdfjs ??= loadPdfJs()) }, (ev) => self.postMessage(ev));
self.onmessage = (e: MessageEvent<unknown>) => onMessage(e.data);
