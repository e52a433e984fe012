/** @file The app's one docs store, on the shared docs worker. */
import { docsClient } from './docsClient.ts';
import { createDocsStore } from './docsStore.ts';

export const docsStore = createDocsStore(docsClient);
