/**
 * @file The OpenAI-compatible endpoints, one list for the whole app (Settings → Endpoints edits it; Chat and
 * Compare list each endpoint as a model). Persisted in this browser's storage with the API keys under their own
 * key (endpointSettings.ts), so a key is never part of anything that lists, logs or exports endpoints.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import { listEndpointModels, type EndpointConfig, type FetchLike } from './openai.ts';
import {
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
  apiKey(id: string): string | undefined;
  /** `GET <baseUrl>/models` with the endpoint's saved key (baseUrl as typed, before it is committed). */
  listModels(id: string, baseUrl: string): Promise<string[]>;
}

export type EndpointsStore = StoreApi<EndpointsState>;

export function createEndpointsStore(deps: { storage: KeyValueStorage; fetch: FetchLike; newId: () => string }): EndpointsStore {
  return createStore<EndpointsState>()((set, get) => {
    const persist = (list: readonly EndpointConfig[]): void => {
      saveEndpoints(deps.storage, list);
      set({ endpoints: list });
    };
    return {
      endpoints: loadEndpoints(deps.storage),
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
        persist(get().endpoints.map((e) => (e.id === id ? { ...e, ...patch } : e)));
      },
      remove(id) {
        forgetApiKey(deps.storage, id);
        persist(get().endpoints.filter((e) => e.id !== id));
        set({ keysVersion: get().keysVersion + 1 });
      },
      setKey(id, key) {
        setApiKey(deps.storage, id, key);
        set({ keysVersion: get().keysVersion + 1 });
      },
      hasKey: (id) => getApiKey(deps.storage, id) !== undefined,
      apiKey: (id) => getApiKey(deps.storage, id),
      listModels: (id, baseUrl) => listEndpointModels(baseUrl, getApiKey(deps.storage, id), deps.fetch),
    };
  });
}
