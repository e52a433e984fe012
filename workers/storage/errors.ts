/**
 * @file Named errors of the weight cache, so the UI can tell "the network failed" (retry later, resume),
 * "the file changed upstream" (ask the user), "no room" (free space) and "the bytes are wrong" apart without
 * parsing messages. Each is registered with workers/errors.ts so it keeps its class across the worker boundary.
 */
import { registerErrorClass } from '../errors.ts';

/** The network or the server failed for good (after the retries), or the server cannot serve ranges. */
export class DownloadError extends Error {
  override name = 'DownloadError';
  /** HTTP status of the last failed response, when there was one. */
  readonly status: number | undefined;
  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options);
    this.status = options?.status;
  }
}

/**
 * The file upstream is not the one whose shards are cached (ETag/Last-Modified or size changed). Nothing is
 * mixed: the caller asks the user, then deletes the cached model (`deleteCachedModel`) and loads again.
 */
export class ModelChangedError extends Error {
  override name = 'ModelChangedError';
  readonly url: string;
  constructor(message: string, options?: { url?: string; cause?: unknown }) {
    super(message, options);
    this.url = options?.url ?? '';
  }
}

/** The model does not fit the origin's storage quota (checked before downloading), or the quota ran out midway. */
export class QuotaError extends Error {
  override name = 'QuotaError';
  /** Bytes the download still needed and bytes the browser said were free, when known. */
  readonly neededBytes: number | undefined;
  readonly availableBytes: number | undefined;
  constructor(message: string, options?: { cause?: unknown; neededBytes?: number; availableBytes?: number }) {
    super(message, options);
    this.neededBytes = options?.neededBytes;
    this.availableBytes = options?.availableBytes;
  }
}

/** Downloaded bytes kept failing their sha256 check (after re-fetching), so nothing was cached for them. */
export class IntegrityError extends Error {
  override name = 'IntegrityError';
}

/** IndexedDB itself failed (unavailable, blocked, a read of a stored record failed) — not the network. */
export class CacheError extends Error {
  override name = 'CacheError';
}

// Explicit names: a minifier renames classes, so `ctor.name` is not the error's name in a production build.
registerErrorClass('DownloadError', DownloadError);
registerErrorClass('ModelChangedError', ModelChangedError);
registerErrorClass('QuotaError', QuotaError);
registerErrorClass('IntegrityError', IntegrityError);
registerErrorClass('CacheError', CacheError);
