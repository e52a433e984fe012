/**
 * @file The engine's platform pieces in a browser worker: navigator.gpu, and models from the IndexedDB
 * shard cache (URLs) or from a File the user picked.
 */
import { acquireGpu, browserGpu } from '../gpu/device.ts';
import { blobSource } from '../gguf/byteSource.ts';
import { cachedModelSource } from '../storage/index.ts';
import { EngineStateError } from '../errors.ts';
import type { EngineDeps } from './engine.ts';
import { createGpuRunner } from './gpuRunner.ts';

export const browserEngineDeps: EngineDeps = {
  acquireGpu: () => acquireGpu(browserGpu()),
  async openSource(source, onProgress, signal) {
    switch (source.kind) {
      case 'url': {
        const src = await cachedModelSource(source.url, {
          signal,
          onProgress: (p) => onProgress({ phase: p.phase, loaded: p.loaded, total: p.total, rate: p.rate, etaSeconds: p.etaSeconds }),
        });
        return { first: src.first, openSibling: (n) => src.openSibling(n) };
      }
      case 'file':
        return { first: blobSource(source.file, source.name) };
      case 'path':
        throw new EngineStateError('file paths can only be opened by the Node CLI');
    }
  },
  createRunner: createGpuRunner,
};
