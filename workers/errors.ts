/**
 * @file Named errors that cross the worker boundary. Errors travel as plain data ({name, message, code});
 * the receiving side rebuilds the same class when it knows it, and otherwise an Error with the same name,
 * so UI code can branch on `err.name` whichever side threw.
 */
import { GpuDeviceLostError, GpuUnavailableError } from './gpu/device.ts';

/** An error as plain data, safe for postMessage. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly stack?: string;
}

/** The request was aborted by the caller (AbortSignal or an abort message). */
export class AbortError extends Error {
  override name = 'AbortError';
  constructor(message = 'aborted') {
    super(message);
  }
}

/** The engine is not in a state for this request (no model loaded, already generating...). */
export class EngineStateError extends Error {
  override name = 'EngineStateError';
}

/** A buffer allocation failed or the model does not fit the adapter's limits. */
export class GpuOutOfMemoryError extends Error {
  override name = 'GpuOutOfMemoryError';
}

/** The message did not match the protocol (wrong version, malformed). */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

type ErrorCtor = new (message: string) => Error;
const registry = new Map<string, ErrorCtor>([
  ['AbortError', AbortError],
  ['EngineStateError', EngineStateError],
  ['GpuOutOfMemoryError', GpuOutOfMemoryError],
  ['ProtocolError', ProtocolError],
  ['GpuUnavailableError', GpuUnavailableError],
  ['GpuDeviceLostError', GpuDeviceLostError],
]);

/** Lets other modules (GGUF, tokenizer, cache) make their error classes rebuildable across the boundary. */
export function registerErrorClass(name: string, ctor: ErrorCtor): void {
  registry.set(name, ctor);
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return {
      name: e.name,
      message: e.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(e.stack ? { stack: e.stack } : {}),
    };
  }
  return { name: 'Error', message: String(e) };
}

/** Rebuilds the error with its class where known; its name is kept in any case. */
export function deserializeError(s: SerializedError): Error {
  const Ctor = registry.get(s.name);
  const e = Ctor ? new Ctor(s.message) : new Error(s.message);
  if (e.name !== s.name) e.name = s.name;
  if (s.code !== undefined) Object.assign(e, { code: s.code });
  if (s.stack) e.stack = s.stack;
  return e;
}
