/**
 * @file The OpenAI-compatible endpoints, one list for the whole app (Settings → Endpoints edits it; Chat and
 * Compare list each endpoint as a model). Persisted in this browser's storage with the API keys under their own
 * key (endpointSettings.ts), so a key is never part of anything that lists, logs or exports endpoints. A key is
 * bound to the origin of the base URL it was saved with and is sent to no other (a just-typed URL included).
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import { listEndpointModels, type EndpointConfig, type FetchLike } from './openai.ts';
import {
  apiKeyOrigin,
  bindApiKey,
  forgetApiKey,
  getApiKey,
  loadEndpoints,
  saveEndpoints,
  setApiKey,
  type KeyValueStorage,
} from '../features/compare/endpointSettings.ts';

export type EndpointPatch = Partial<Omit<EndpointConfig, 'id'>>;

export interface EndpointsState {
  readonly endpoints: readonly EndpointConfig[];
  /** Bumped when a key changes (keys are not in the state). */
  readonly keysVersion: number;
  add(init?: EndpointPatch): string;
  update(id: string, patch: EndpointPatch): void;
  remove(id: string): void;
  setKey(id: string, key: string): void;
  hasKey(id: string): boolean;
  /** The origin the saved key is sent to (null: not bound yet, no base URL when it was saved); undefined: no key. */
  keyOrigin(id: string): string | null | undefined;
  /**
   * The key to send to `url` (default: the endpoint's committed base URL): undefined unless the key was saved
   * for that origin and the endpoint's committed base URL still has it.
   */
  apiKey(id: string, url?: string): string | undefined;
  /**
   * `GET <baseUrl>/models` (baseUrl as typed, before it is committed), with the saved key only when baseUrl has
   * the origin the key was saved for.
   */
  listModels(id: string, baseUrl: string): Promise<string[]>;
}

export type EndpointsStore = StoreApi<EndpointsState>;

export function createEndpointsStore(deps: { storage: KeyValueStorage; fetch: FetchLike; newId: () => string }): EndpointsStore {
  return createStore<EndpointsState>()((set, get) => {
    const persist = (list: readonly EndpointConfig[]): void => {
      saveEndpoints(deps.storage, list);
      set({ endpoints: list });
    };
    const baseUrlOf = (id: string): string => get().endpoints.find((e) => e.id === id)?.baseUrl ?? '';
    const endpoints = loadEndpoints(deps.storage);
    // A key saved by an older version (not bound) belongs to the base URL it was used with.
    for (const e of endpoints) bindApiKey(deps.storage, e.id, e.baseUrl);
    return {
      endpoints,
      keysVersion: 0,
      add(init = {}) {
        const id = deps.newId();
        const n = get().endpoints.length + 1;
        const cfg: EndpointConfig = {
          id,
          name: init.name ?? `Endpoint ${n}`,
          baseUrl: init.baseUrl ?? 'http://127.0.0.1:8080/v1',
          model: init.model ?? '',
          extendedSampling: init.extendedSampling ?? false,
        };
        persist([...get().endpoints, cfg]);
        return id;
      },
      update(id, patch) {
        if (patch.baseUrl !== undefined) bindApiKey(deps.storage, id, patch.baseUrl); // only a key not bound yet
        persist(get().endpoints.map((e) => (e.id === id ? { ...e, ...patch } : e)));
      },
      remove(id) {
        forgetApiKey(deps.storage, id);
        persist(get().endpoints.filter((e) => e.id !== id));
        set({ keysVersion: get().keysVersion + 1 });
      },
      setKey(id, key) {
        setApiKey(deps.storage, id, key, baseUrlOf(id));
        set({ keysVersion: get().keysVersion + 1 });
      },
      hasKey: (id) => getApiKey(deps.storage, id) !== undefined,
      keyOrigin: (id) => apiKeyOrigin(deps.storage, id),
      apiKey: (id, url) => {
        const key = getApiKey(deps.storage, id, baseUrlOf(id));
        return url === undefined || key === getApiKey(deps.storage, id, url) ? key : undefined;
      },
      listModels: (id, baseUrl) => listEndpointModels(baseUrl, getApiKey(deps.storage, id, baseUrl), deps.fetch),
    };
  });
}
