/** @file e2e helper: conversations written into the app's chats database before the app reads them. */
import type { Page } from '@playwright/test';

/** A conversation as the app stores it (plain data; the app's own checks run when it reads it). */
export type StoredConversation = { readonly id: string } & Readonly<Record<string, unknown>>;

/** Opens a page of the app (the database lives on its origin) and puts `chats` into IndexedDB `brix-chats`. */
export async function putConversations(page: Page, chats: readonly StoredConversation[]): Promise<void> {
  await page.goto('/#/settings');
  await page.evaluate(
    (list) =>
      new Promise<void>((resolve, reject) => {
        const open = indexedDB.open('brix-chats');
        open.onupgradeneeded = () => open.result.createObjectStore('conversations');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const tx = open.result.transaction('conversations', 'readwrite');
          for (const c of list) tx.objectStore('conversations').put(c, c.id);
          tx.oncomplete = () => resolve();
          tx.onerror = () => reject(tx.error);
        };
      }),
    chats,
  );
}
