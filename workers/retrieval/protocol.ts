/**
 * @file Typed messages between the app and the docs worker (workers/docs.worker.ts), which reads attached
 * files, indexes them and answers searches off the main thread. Built like the engine protocol: one method table,
 * discriminated unions keyed by `type`, every event echoes its request's `id`, and nothing is trusted before
 * `docsRequestProblem` has checked its shape.
 */
import type { SerializedError } from '../errors.ts';
import type { IndexedFile, SearchHit } from './search.ts';

export type { IndexedFile, SearchHit } from './search.ts';

export interface AttachedFile {
  readonly name: string;
  readonly file: Blob;
}

export interface FailedFile {
  readonly name: string;
  readonly error: SerializedError;
}

/** One file's progress: `done`/`total` in pages for PDFs, else 0/1 then 1/1. */
export interface DocsProgress {
  readonly file: string;
  readonly phase: 'read' | 'parse' | 'index' | 'save';
  readonly done: number;
  readonly total: number;
}

export interface DocsMethods {
  readonly add: {
    readonly params: { readonly conversationId: string; readonly files: readonly AttachedFile[] };
    readonly result: { readonly files: readonly IndexedFile[]; readonly failed: readonly FailedFile[] };
  };
  readonly list: { readonly params: { readonly conversationId: string }; readonly result: { readonly files: readonly IndexedFile[] } };
  readonly search: {
    readonly params: { readonly conversationId: string; readonly query: string; readonly top: number };
    readonly result: { readonly hits: readonly SearchHit[] };
  };
  /** One file, or (no `file`) the conversation's whole index. */
  readonly remove: {
    readonly params: { readonly conversationId: string; readonly file?: string };
    readonly result: { readonly files: readonly IndexedFile[] };
  };
}

export type DocsMethod = keyof DocsMethods;

export type DocsRequest = { [M in DocsMethod]: { readonly type: M; readonly id: number } & DocsMethods[M]['params'] }[DocsMethod];

export type DocsResultEvent = {
  [M in DocsMethod]: { readonly type: 'result'; readonly id: number; readonly method: M; readonly result: DocsMethods[M]['result'] };
}[DocsMethod];

export type DocsEvent =
  | DocsResultEvent
  | { readonly type: 'progress'; readonly id: number; readonly progress: DocsProgress }
  | { readonly type: 'error'; readonly id: number; readonly error: SerializedError };

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
const METHODS: readonly DocsMethod[] = ['add', 'list', 'search', 'remove'];

export function docsRequestProblem(x: unknown): string | undefined {
  if (!isObject(x)) return 'expected an object';
  if (typeof x.id !== 'number') return "'id' must be a number";
  if (typeof x.type !== 'string' || !(METHODS as readonly string[]).includes(x.type)) return `unknown method ${JSON.stringify(x.type)}`;
  if (typeof x.conversationId !== 'string' || x.conversationId === '') return "'conversationId' must be a non-empty string";
  switch (x.type) {
    case 'add':
      return Array.isArray(x.files) && x.files.every((f) => isObject(f) && typeof f.name === 'string' && f.file instanceof Blob)
        ? undefined
        : "'add' needs files: { name, file: Blob }[]";
    case 'search':
      return typeof x.query === 'string' && typeof x.top === 'number' && x.top > 0 ? undefined : "'search' needs query: string, top > 0";
    case 'remove':
      return x.file === undefined || typeof x.file === 'string' ? undefined : "'remove' file must be a string";
  }
  return undefined;
}

export function isDocsRequest(x: unknown): x is DocsRequest {
  return docsRequestProblem(x) === undefined;
}

export function isDocsEvent(x: unknown): x is DocsEvent {
  return isObject(x) && typeof x.id === 'number' && (x.type === 'result' || x.type === 'progress' || x.type === 'error');
}

export function isDocsResultOf<M extends DocsMethod>(ev: DocsEvent, method: M): ev is Extract<DocsEvent, { type: 'result'; method: M }> {
  return ev.type === 'result' && ev.method === method;
}
