/** pdfjs-dist ships no types for its worker module; the docs worker only hands it to pdfjs (`globalThis.pdfjsWorker`). */
declare module 'pdfjs-dist/build/pdf.worker.mjs' {
  export const WorkerMessageHandler: unknown;
}
declare module 'pdfjs-dist/legacy/build/pdf.worker.mjs' {
  export const WorkerMessageHandler: unknown;
}
