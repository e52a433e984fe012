/**
 * @file App side of the docs worker (workers/docs.worker.ts): typed calls with request ids, progress callbacks
 * and errors rebuilt with their names. One worker for the whole app, started on first use.
 */
import { deserializeError } from '../../../workers/errors.ts';
import {
  isDocsEvent,
  isDocsResultOf,
  type AttachedFile,
  type DocsEvent,
  type DocsMethod,
  type DocsMethods,
  type DocsProgress,
  type DocsRequest,
  type IndexedFile,
  type SearchHit,
} from '../../../workers/retrieval/protocol.ts';

export interface DocsWorkerLike {
  postMessage(msg: DocsRequest): void;
  addEventListener(type: 'message', fn: (e: MessageEvent<unknown>) => void): void;
  addEventListener(type: 'error', fn: (e: ErrorEvent) => void): void;
}

export class DocsClient {
  private nextId = 1;
  private readonly pending = new Map<number, { onEvent: (ev: DocsEvent) => void; reject: (e: Error) => void }>();

  constructor(private readonly worker: DocsWorkerLike) {
    worker.addEventListener('message', (e) => {
      if (isDocsEvent(e.data)) this.pending.get(e.data.id)?.onEvent(e.data);
    });
    worker.addEventListener('error', (e) => {
      const err = new Error(`docs worker failed: ${e.message || 'unknown error'}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
  }

  private call<M extends DocsMethod>(
    method: M,
    build: (id: number) => DocsRequest,
    onProgress?: (p: DocsProgress) => void,
  ): Promise<DocsMethods[M]['result']> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, {
        reject,
        onEvent: (ev) => {
          if (ev.type === 'progress') onProgress?.(ev.progress);
          else if (ev.type === 'error') {
            this.pending.delete(id);
            reject(deserializeError(ev.error));
          } else if (isDocsResultOf(ev, method)) {
            this.pending.delete(id);
            resolve(ev.result);
          }
        },
      });
      this.worker.postMessage(build(id));
    });
  }

  add(conversationId: string, files: readonly AttachedFile[], onProgress?: (p: DocsProgress) => void): Promise<DocsMethods['add']['result']> {
    return this.call('add', (id) => ({ type: 'add', id, conversationId, files }), onProgress);
  }

  async list(conversationId: string): Promise<readonly IndexedFile[]> {
    return (await this.call('list', (id) => ({ type: 'list', id, conversationId }))).files;
  }

  async search(conversationId: string, query: string, top: number): Promise<readonly SearchHit[]> {
    return (await this.call('search', (id) => ({ type: 'search', id, conversationId, query, top }))).hits;
  }

  async remove(conversationId: string, file?: string): Promise<readonly IndexedFile[]> {
    return (await this.call('remove', (id) => ({ type: 'remove', id, conversationId, ...(file !== undefined ? { file } : {}) }))).files;
  }
}

let shared: DocsClient | undefined;

export function docsClient(): DocsClient {
  shared ??= new DocsClient(new Worker(new URL('../../../workers/docs.worker.ts', import.meta.url), { type: 'module', name: 'brix-docs' }));
  return shared;
}
