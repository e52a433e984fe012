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

/** A saved key and the origin it may be sent to (null: not bound yet, e.g. saved before any base URL). */
interface StoredKey {
  readonly key: string;
  readonly origin: string | null;
}

/** The origin (`scheme://host:port`) of a URL as typed, or undefined when it is not one. */
export function originOf(url: string): string | undefined {
  try {
    const u = new URL(url.trim());
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
}

/** Plain http:// to a host other than this machine: the key and the conversation travel unencrypted. */
export function isInsecureRemote(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    return false;
  }
  if (u.protocol !== 'http:') return false;
  const h = u.hostname.toLowerCase();
  return !(h === 'localhost' || h.endsWith('.localhost') || /^127(\.\d{1,3}){3}$/.test(h) || h === '[::1]');
}

function readKeys(storage: KeyValueStorage): Record<string, StoredKey> {
  const v = readJson(storage, API_KEYS_KEY);
  const out: Record<string, StoredKey> = {};
  if (!isRecord(v)) return out;
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === 'string') out[k] = { key: x, origin: null }; // saved by an older version: not bound yet
    else if (isRecord(x) && typeof x.key === 'string' && (typeof x.origin === 'string' || x.origin === null)) out[k] = { key: x.key, origin: x.origin };
  }
  return out;
}

/**
 * The endpoint's key. With `url`, only when the key was saved for that URL's origin: a key is never sent to a
 * base URL other than the one it was entered for (a just-typed one included).
 */
export function getApiKey(storage: KeyValueStorage, id: string, url?: string): string | undefined {
  const k = readKeys(storage)[id];
  if (k === undefined || k.key === '') return undefined;
  if (url === undefined) return k.key;
  const o = originOf(url);
  return o !== undefined && k.origin === o ? k.key : undefined;
}

/** The origin the endpoint's key is for (null: not bound yet), or undefined when no key is saved. */
export function apiKeyOrigin(storage: KeyValueStorage, id: string): string | null | undefined {
  return readKeys(storage)[id]?.origin;
}

/** Stores the key for an endpoint, for the origin of `baseUrl`; an empty key removes it. */
export function setApiKey(storage: KeyValueStorage, id: string, key: string, baseUrl = ''): void {
  const keys = readKeys(storage);
  const k = key.trim();
  if (k === '') delete keys[id];
  else keys[id] = { key: k, origin: originOf(baseUrl) ?? null };
  writeJson(storage, API_KEYS_KEY, keys);
}

/** Binds a key not bound yet (saved before a base URL, or by an older version) to `baseUrl`'s origin. */
export function bindApiKey(storage: KeyValueStorage, id: string, baseUrl: string): void {
  const keys = readKeys(storage);
  const k = keys[id];
  const o = originOf(baseUrl);
  if (!k || k.origin !== null || o === undefined) return;
  keys[id] = { key: k.key, origin: o };
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
