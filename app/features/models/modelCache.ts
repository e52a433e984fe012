/**
 * @file The app's view of the weight cache (workers/storage): list, download with pause/resume, delete, clear,
 * storage estimate and persistence. The page calls the cache directly (IndexedDB works on the main thread),
 * so downloads from the Models page need no engine worker. An interface, so the store's tests use a fake.
 */
import {
  clearModelCache,
  deleteCachedModel,
  downloadModel,
  listCachedModels,
  requestPersistentStorage,
  storageEstimate,
  storagePersisted,
  type CacheProgress,
} from '../../../workers/storage/index.ts';

export interface CachedModelSummary {
  /** The model's key in the cache (normalized absolute URL of its first file or manifest). */
  readonly url: string;
  readonly name: string;
  readonly state: 'partial' | 'complete';
  readonly totalBytes: number;
  readonly storedBytes: number;
}

export interface DownloadOptions {
  /** Our model manifest for the URL (bundled models): gives sizes and sha256s up front. */
  readonly manifestUrl?: string;
  readonly onProgress?: (p: CacheProgress) => void;
  /** Pause = abort; resume = download again (finished shards are kept). */
  readonly signal?: AbortSignal;
}

export interface ModelCache {
  list(): Promise<CachedModelSummary[]>;
  download(url: string, opts: DownloadOptions): Promise<void>;
  delete(url: string): Promise<boolean>;
  clear(): Promise<void>;
  estimate(): Promise<{ usage: number; quota: number } | undefined>;
  /** Whether the origin's storage is already persistent. */
  persisted(): Promise<boolean>;
  /** Asks for persistent storage; true when granted. */
  persist(): Promise<boolean>;
}

export function browserModelCache(): ModelCache {
  return {
    async list() {
      return (await listCachedModels()).map((m) => ({ url: m.url, name: m.name, state: m.state, totalBytes: m.totalBytes, storedBytes: m.storedBytes }));
    },
    async download(url, opts) {
      await downloadModel(url, {
        ...(opts.manifestUrl !== undefined ? { manifestUrl: opts.manifestUrl } : {}),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    },
    delete: (url) => deleteCachedModel(url),
    clear: () => clearModelCache(),
    estimate: () => storageEstimate(),
    persisted: () => storagePersisted(),
    persist: () => requestPersistentStorage(),
  };
}
