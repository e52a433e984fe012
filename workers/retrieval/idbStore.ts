/**
 * @file Document indexes in IndexedDB: database `brix-docs`, store `indexes`, one record per conversation
 * (keyed by its id), apart from the conversations' own database so a big index never slows the chat list.
 * Deleting a conversation deletes its record (app/features/docs/docsRepo.ts).
 */
import { createStore, del, get, set, type UseStore } from 'idb-keyval';
import type { IndexStore } from './handler.ts';
import type { DocIndexJson } from './search.ts';

export const DOCS_DB = 'brix-docs';
export const DOCS_STORE = 'indexes';

export function idbIndexStore(): IndexStore {
  let store: UseStore | undefined;
  const db = (): UseStore => (store ??= createStore(DOCS_DB, DOCS_STORE));
  return {
    get: (id) => get<DocIndexJson>(id, db()),
    put: (id, index) => set(id, index, db()),
    delete: (id) => del(id, db()),
  };
}
