/**
 * @file wllama in the browser: the library (about 1 MB of JS) is imported on first use and its 8.8 MB wasm is
 * one of our own assets (`?url`), served from this origin and cached by the service worker on first use (see
 * vite.config.ts), so wllama works offline once used, like WebLLM's library. Each model gets its own Wllama
 * instance (its own worker); an abort while loading ends it.
 */
import wasmUrl from '@wllama/wllama/esm/wasm/wllama.wasm?url';
import { AbortError } from '../../workers/errors.ts';
import type { WllamaLike, WllamaLoadOptions, WllamaSource } from './wllama.ts';

type WllamaLib = typeof import('@wllama/wllama/esm/index.js');

let lib: Promise<WllamaLib> | undefined;

/** The library, loaded once; a failed import (offline before it was cached) is retried next time. */
export function loadWllama(): Promise<WllamaLib> {
  lib ??= import('@wllama/wllama/esm/index.js').catch((e: unknown) => {
    lib = undefined;
    throw e;
  });
  return lib;
}

/** Starts wllama and loads the model: its WebGPU backend (every layer on the GPU) or its wasm CPU path. */
export async function createWllama(source: WllamaSource, o: WllamaLoadOptions): Promise<WllamaLike> {
  const { Wllama, LoggerWithoutDebug } = await loadWllama();
  o.signal?.throwIfAborted();
  const w = new Wllama({ default: new URL(wasmUrl, import.meta.url).href }, { logger: LoggerWithoutDebug, suppressNativeLog: true, allowOffline: true });
  const params = { n_ctx: o.contextSize, n_gpu_layers: o.backend === 'webgpu' ? 99999 : 0, n_parallel: 1 };
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      void w.exit().catch(() => undefined);
      reject(new AbortError('loading was cancelled'));
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  try {
    const load =
      source.kind === 'url'
        ? w.loadModelFromUrl(source.url, { ...params, useCache: false, progressCallback: ({ loaded, total }) => o.onProgress?.(loaded, total) })
        : w.loadModel([...source.blobs], params);
    await Promise.race([load, aborted]);
    return w;
  } catch (e) {
    void w.exit().catch(() => undefined);
    throw e;
  } finally {
    if (onAbort) o.signal?.removeEventListener('abort', onAbort);
  }
}
