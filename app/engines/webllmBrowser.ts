/**
 * @file WebLLM in the browser: the library is imported on first use (it is about 6 MB, and only the compare
 * view needs it), each model gets its own module worker (webllm.worker.ts), and an abort while loading ends
 * that worker. The catalog is WebLLM's `prebuiltAppConfig.model_list`.
 */
import { AbortError } from '../../workers/errors.ts';
import type { WebLLMDeps, WebLLMHandle } from './webllm.ts';

type WebLLMLib = typeof import('@mlc-ai/web-llm');

let lib: Promise<WebLLMLib> | undefined;

/** The library, loaded once; a failed import (offline before it was cached) is retried next time. */
export function loadWebLLM(): Promise<WebLLMLib> {
  lib ??= import('@mlc-ai/web-llm').catch((e: unknown) => {
    lib = undefined;
    throw e;
  });
  return lib;
}

async function create(modelId: string, onReport: Parameters<WebLLMDeps['create']>[1], signal?: AbortSignal): Promise<WebLLMHandle> {
  const webllm = await loadWebLLM();
  signal?.throwIfAborted();
  const worker = new Worker(new URL('./webllm.worker.ts', import.meta.url), { type: 'module', name: `webllm-${modelId}` });
  const terminate = (): void => worker.terminate();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      terminate();
      reject(new AbortError('loading was cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  try {
    const engine = await Promise.race([webllm.CreateWebWorkerMLCEngine(worker, modelId, { initProgressCallback: onReport }), aborted]);
    return { engine, terminate };
  } catch (e) {
    terminate();
    throw e;
  } finally {
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

export const browserWebLLMDeps: WebLLMDeps = {
  create,
  modelList: async () => (await loadWebLLM()).prebuiltAppConfig.model_list,
  isOnline: () => typeof navigator === 'undefined' || navigator.onLine !== false,
  isCached: async (modelId) => (await loadWebLLM()).hasModelInCache(modelId),
  now: () => performance.now(),
};
