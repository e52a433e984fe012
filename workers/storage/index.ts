/**
 * @file The weight cache's public surface: what the engine and the Models page import. Internals (download
 * scheduling, the store's record shapes) stay behind it.
 */
export {
  cachedModelSource,
  checkQuota,
  clearModelCache,
  DEMO_MODEL_MANIFEST,
  deleteCachedModel,
  downloadModel,
  fetchModelManifest,
  listCachedModels,
  requestPersistentStorage,
  storageEstimate,
  storagePersisted,
  verifyCachedModel,
  type CacheOptions,
  type CacheProgress,
  type CachedFileInfo,
  type CachedModelInfo,
  type CachedModelSource,
  type StoreOptions,
} from './cache.ts';
export { CacheError, DownloadError, IntegrityError, ModelChangedError, QuotaError } from './errors.ts';
export type { HttpOptions } from './http.ts';
export { DEFAULT_SHARD_SIZE, normalizeUrl, parseModelManifest, type ModelManifest, type ManifestFile, type Verification } from './plan.ts';
export { idbShardStore, memoryShardStore, DB_NAME, type ShardStore, type MemoryShardStore } from './store.ts';
