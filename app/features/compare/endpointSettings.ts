/**
 * @file Endpoint settings for the compare view, in this browser's localStorage: the endpoint list (name, base
 * URL, model, extended sampling) under one key and the API keys under another, so the keys are never part of
 * anything that lists, logs or exports endpoints. Nothing here leaves the browser.
 */
import type { EndpointConfig } from '../../engines/openai.ts';

/** The part of Storage used here (localStorage in the app, a Map in tests). */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export const ENDPOINTS_KEY = 'brix.compare.endpoints';
export const API_KEYS_KEY = 'brix.compare.endpointKeys';

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function readJson(storage: KeyValueStorage, key: string): unknown {
  try {
    const v = storage.getItem(key);
    return v === null ? undefined : JSON.parse(v);
  } catch {
    return undefined;
  }
}

function writeJson(storage: KeyValueStorage, key: string, value: unknown): void {
  try {
    storage.setItem(key, JSON.stringify(value));
  } catch {
    // storage full or disabled: the settings last for this session only
  }
}

export function loadEndpoints(storage: KeyValueStorage): EndpointConfig[] {
  const v = readJson(storage, ENDPOINTS_KEY);
  if (!Array.isArray(v)) return [];
  const out: EndpointConfig[] = [];
  for (const x of v) {
    if (!isRecord(x)) continue;
    const { id, name, baseUrl, model, extendedSampling } = x;
    if (typeof id !== 'string' || typeof name !== 'string' || typeof baseUrl !== 'string' || typeof model !== 'string') continue;
    out.push({ id, name, baseUrl, model, extendedSampling: extendedSampling === true });
  }
  return out;
}

/** Saves the list; only the fields of EndpointConfig are written (no key can slip in). */
export function saveEndpoints(storage: KeyValueStorage, list: readonly EndpointConfig[]): void {
  writeJson(
    storage,
    ENDPOINTS_KEY,
    list.map((e) => ({ id: e.id, name: e.name, baseUrl: e.baseUrl, model: e.model, extendedSampling: e.extendedSampling })),
  );
}

function readKeys(storage: KeyValueStorage): Record<string, string> {
  const v = readJson(storage, API_KEYS_KEY);
  const out: Record<string, string> = {};
  if (isRecord(v)) for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

export function getApiKey(storage: KeyValueStorage, id: string): string | undefined {
  const k = readKeys(storage)[id];
  return k === undefined || k === '' ? undefined : k;
}

/** Stores the key for an endpoint; an empty key removes it. */
export function setApiKey(storage: KeyValueStorage, id: string, key: string): void {
  const keys = readKeys(storage);
  const k = key.trim();
  if (k === '') delete keys[id];
  else keys[id] = k;
  writeJson(storage, API_KEYS_KEY, keys);
}

export function forgetApiKey(storage: KeyValueStorage, id: string): void {
  setApiKey(storage, id, '');
}

export function memoryStorage(): KeyValueStorage & { readonly map: Map<string, string> } {
  const map = new Map<string, string>();
  return {
    map,
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
    removeItem: (k) => void map.delete(k),
  };
}
