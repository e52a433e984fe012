/**
 * @file A tiny hash router: four top-level pages do not justify a routing library, and hash routes work
 * from `vite preview`, from a file server and from any sub-path without server rewrites.
 */
import { useSyncExternalStore } from 'react';

export const ROUTES = ['chat', 'compare', 'models', 'settings'] as const;
export type Route = (typeof ROUTES)[number];

/** The page for a hash; an empty hash is the chat page, anything unknown is `null` (not found). */
export function parseHash(hash: string): Route | null {
  const name = hash.replace(/^#\/?/, '').split(/[/?]/)[0];
  if (name === '') return 'chat';
  return ROUTES.find((r) => r === name) ?? null;
}

export function hrefOf(route: Route): string {
  return `#/${route}`;
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener('hashchange', onChange);
  return () => window.removeEventListener('hashchange', onChange);
}

/** The current route, re-rendering on every hash change. */
export function useRoute(): Route | null {
  const hash = useSyncExternalStore(subscribe, () => window.location.hash);
  return parseHash(hash);
}
