/**
 * @file The compare view's store wired to the browser: Brix engines in workers of their own (models and
 * sources from the app store), WebLLM and wllama through their lazily loaded libraries, endpoints over fetch, the app's
 * sampling settings, the tally in IndexedDB, endpoint settings in localStorage, and the adapter probe shared
 * with the rest of the app. `useCompare(selector)` is the hook components use.
 */
import { useStore } from 'zustand';
import { appStore, endpointEngines, endpointsStore, engineRegistry, loadOptions, resolveSource, webllmEngines, wllamaEngines } from '../../appStore.ts';
import { startEngineWorker } from '../../lib/engineClient.ts';
import { brixProvider } from '../../engines/brix.ts';
import { deviceMemoryGb } from '../models/fit.ts';
import { samplingFor, useSettingsStore } from '../settings/store.ts';
import { createCompareStore, type CompareState } from './compareStore.ts';
import { memoryStorage } from './endpointSettings.ts';
import { idbTallyRepo } from './tally.ts';

export const compareStore = createCompareStore({
  providers: [
    brixProvider({
      startEngine: startEngineWorker,
      resolveSource,
      entries: () => appStore.getState().models,
      // The chat's load options: a model loaded by either page is the same engine (engineRegistry).
      loadOptions,
    }),
    // The same GGUFs as Brix through llama.cpp in wasm: the chat's provider (one engine per model for both pages).
    wllamaEngines,
    webllmEngines,
    endpointEngines,
  ],
  registry: engineRegistry,
  endpoints: endpointsStore,
  // The compare view has its own shared seed: the same seed for every pane, so a rerun is reproducible.
  baseSampling: () => samplingFor({ ...useSettingsStore.getState().sampling, randomSeed: false }),
  tally: idbTallyRepo(),
  // Endpoints live in endpointsStore; this is only its fallback.
  storage: memoryStorage(),
  fetch: (url, init) => fetch(url, init),
  probeGpu: async () => {
    await appStore.getState().probeGpu();
    return appStore.getState().gpu;
  },
  deviceMemoryGb,
  now: () => Date.now(),
  newId: () => crypto.randomUUID(),
  random: Math.random,
});

export function useCompare<T>(selector: (s: CompareState) => T): T {
  return useStore(compareStore, selector);
}
