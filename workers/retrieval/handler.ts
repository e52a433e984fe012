/**
 * @file The docs worker's dispatcher: reads and indexes attached files (PDF page by page, with progress), keeps
 * each conversation's index in its `IndexStore` and answers searches. Operations on one conversation run one
 * after another; a file that cannot be read is reported by name and the others still go in.
 */
import { serializeError, ProtocolError } from '../errors.ts';
import { extractText, type PdfJs } from './extract.ts';
import { docsRequestProblem, isDocsRequest, type DocsEvent, type DocsRequest, type FailedFile } from './protocol.ts';
import { DocIndex, type DocIndexJson } from './search.ts';

/** Where indexes live (IndexedDB in the worker, a Map in tests). */
export interface IndexStore {
  get(conversationId: string): Promise<DocIndexJson | undefined>;
  put(conversationId: string, index: DocIndexJson): Promise<void>;
  delete(conversationId: string): Promise<void>;
}

export interface DocsHandlerDeps {
  readonly store: IndexStore;
  readonly pdfjs?: () => Promise<PdfJs>;
}

export type DocsPost = (ev: DocsEvent) => void;

export function createDocsHandler(deps: DocsHandlerDeps, post: DocsPost): (data: unknown) => void {
  /** Loaded indexes (a search after an add needs no re-parse); the store stays the truth. */
  const cache = new Map<string, DocIndex>();
  const queues = new Map<string, Promise<void>>();

  async function open(conversationId: string): Promise<DocIndex> {
    const hit = cache.get(conversationId);
    if (hit) return hit;
    const json = await deps.store.get(conversationId);
    let index: DocIndex;
    try {
      index = json ? DocIndex.fromJSON(json) : DocIndex.empty();
    } catch {
      index = DocIndex.empty(); // another version's record: the files have to be attached again
    }
    cache.set(conversationId, index);
    return index;
  }

  async function handle(req: DocsRequest): Promise<void> {
    switch (req.type) {
      case 'add': {
        const index = await open(req.conversationId);
        const failed: FailedFile[] = [];
        for (const { name, file } of req.files) {
          const progress = (phase: 'read' | 'parse' | 'index' | 'save', done: number, total: number): void =>
            post({ type: 'progress', id: req.id, progress: { file: name, phase, done, total } });
          try {
            progress('read', 0, 1);
            const bytes = new Uint8Array(await file.arrayBuffer());
            progress('parse', 0, 1);
            const { text, pages } = await extractText(name, bytes, { pdfjs: deps.pdfjs, onPage: (d, t) => progress('parse', d, t) });
            progress('index', 0, 1);
            index.addFile(name, text, { bytes: file.size, ...(pages !== undefined ? { pages } : {}) });
            progress('index', 1, 1);
          } catch (e) {
            failed.push({ name, error: serializeError(e) });
          }
        }
        const n = req.files.length - failed.length;
        if (n > 0) {
          post({ type: 'progress', id: req.id, progress: { file: '', phase: 'save', done: 0, total: 1 } });
          await deps.store.put(req.conversationId, index.toJSON());
        }
        post({ type: 'result', id: req.id, method: 'add', result: { files: index.files, failed } });
        return;
      }
      case 'list': {
        const index = await open(req.conversationId);
        post({ type: 'result', id: req.id, method: 'list', result: { files: index.files } });
        return;
      }
      case 'search': {
        const index = await open(req.conversationId);
        post({ type: 'result', id: req.id, method: 'search', result: { hits: index.search(req.query, req.top) } });
        return;
      }
      case 'remove': {
        if (req.file === undefined) {
          cache.delete(req.conversationId);
          await deps.store.delete(req.conversationId);
          post({ type: 'result', id: req.id, method: 'remove', result: { files: [] } });
          return;
        }
        const index = await open(req.conversationId);
        if (index.removeFile(req.file)) {
          if (index.size === 0 && index.files.length === 0) await deps.store.delete(req.conversationId);
          else await deps.store.put(req.conversationId, index.toJSON());
        }
        post({ type: 'result', id: req.id, method: 'remove', result: { files: index.files } });
        return;
      }
    }
  }

  return (data: unknown) => {
    if (!isDocsRequest(data)) {
      const id = typeof data === 'object' && data !== null && 'id' in data && typeof data.id === 'number' ? data.id : -1;
      post({ type: 'error', id, error: serializeError(new ProtocolError(`malformed request: ${docsRequestProblem(data)}`)) });
      return;
    }
    const key = data.conversationId;
    const run = (queues.get(key) ?? Promise.resolve())
      .then(() => handle(data))
      .catch((e: unknown) => {
        cache.delete(key); // whatever failed, the next request re-reads the stored index
        post({ type: 'error', id: data.id, error: serializeError(e) });
      });
    queues.set(key, run);
    void run.finally(() => {
      if (queues.get(key) === run) queues.delete(key);
    });
  };
}
