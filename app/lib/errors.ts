/** @file Named errors raised by the app itself (the engine's own are in workers/errors.ts). */

/** Something the app waited on (the engine worker, a ping) did not answer in time. */
export class TimeoutError extends Error {
  override name = 'TimeoutError';
}
