/**
 * @file App side of the worker protocol: a typed client with request ids, AbortSignal → `abort` message,
 * and errors rebuilt with their names. It implements the same `Engine` interface as the engine itself.
 */
import { deserializeError, AbortError } from '../../workers/errors.ts';
import {
  PROTOCOL_VERSION,
  type BenchMeasurement,
  type BenchParams,
  type BenchRun,
  type BenchStep,
  type ChatMessage,
  isResultOf,
  isWorkerEvent,
  type GenerateRequest,
  type GenerationResult,
  type LoadOptions,
  type LoadProgress,
  type Method,
  type ModelInfo,
  type ModelSource,
  type PingResult,
  type TokenDelta,
  type WorkerEvent,
  type WorkerRequest,
} from '../../workers/protocol.ts';
import type { Engine } from '../../workers/engine/types.ts';
import { engineHostLink } from './sharedEngine.ts';

/** The part of `Worker` we use, so tests can pass a fake. */
export interface WorkerLike {
  postMessage(msg: WorkerRequest): void;
  addEventListener(type: 'message', fn: (e: MessageEvent<unknown>) => void): void;
  addEventListener(type: 'error', fn: (e: ErrorEvent) => void): void;
  terminate(): void;
}

interface Pending {
  readonly onEvent: (ev: WorkerEvent) => void;
  readonly reject: (e: Error) => void;
}

export class WorkerDiedError extends Error {
  override name = 'WorkerDiedError';
}

export class EngineClient implements Engine {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly worker: WorkerLike) {
    worker.addEventListener('message', (e) => {
      if (!isWorkerEvent(e.data)) return;
      this.pending.get(e.data.id)?.onEvent(e.data);
    });
    worker.addEventListener('error', (e) => {
      const err = new WorkerDiedError(`engine worker failed: ${e.message || 'unknown error'}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
  }

  /** Sends one request; `accept` turns the matching result event into the value. */
  private call<M extends Method, T>(
    build: (id: number) => WorkerRequest,
    method: M,
    accept: (ev: Extract<WorkerEvent, { type: 'result'; method: M }>) => T,
    on?: { progress?: (p: LoadProgress) => void; token?: (d: TokenDelta) => void; benchRun?: (r: BenchRun) => void; benchStep?: (s: BenchStep) => void },
    signal?: AbortSignal,
  ): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const cleanup = (): void => {
        this.pending.delete(id);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => this.worker.postMessage({ type: 'abort', id: this.nextId++, target: id });
      this.pending.set(id, {
        reject: (e) => {
          cleanup();
          reject(e);
        },
        onEvent: (ev) => {
          if (ev.type === 'progress') on?.progress?.(ev.progress);
          else if (ev.type === 'token') on?.token?.(ev.delta);
          else if (ev.type === 'benchRun') on?.benchRun?.(ev.run);
          else if (ev.type === 'benchStep') on?.benchStep?.(ev.step);
          else if (ev.type === 'error') {
            cleanup();
            reject(deserializeError(ev.error));
          } else if (isResultOf(ev, method)) {
            cleanup();
            resolve(accept(ev));
          }
        },
      });
      if (signal?.aborted) {
        this.pending.delete(id);
        reject(new AbortError());
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.worker.postMessage(build(id));
    });
  }

  ping(payload: string): Promise<PingResult> {
    return this.call((id) => ({ type: 'ping', id, payload }), 'ping', (ev) => ev.result);
  }

  load(
    source: ModelSource,
    options: LoadOptions,
    onProgress?: (p: LoadProgress) => void,
    signal?: AbortSignal,
  ): Promise<ModelInfo> {
    return this.call(
      (id) => ({ type: 'load', id, protocolVersion: PROTOCOL_VERSION, source, options }),
      'load',
      (ev) => ev.result,
      { progress: onProgress },
      signal,
    );
  }

  generate(request: GenerateRequest, onToken?: (d: TokenDelta) => void, signal?: AbortSignal): Promise<GenerationResult> {
    return this.call((id) => ({ type: 'generate', id, request }), 'generate', (ev) => ev.result, { token: onToken }, signal);
  }

  /** The model benchmark in the worker (workers/bench/bench.ts); `onRun` gets each finished run, `onStep` the progress within runs. */
  bench(params: BenchParams, onRun?: (r: BenchRun) => void, signal?: AbortSignal, onStep?: (s: BenchStep) => void): Promise<BenchMeasurement> {
    return this.call((id) => ({ type: 'bench', id, params }), 'bench', (ev) => ev.result, { benchRun: onRun, benchStep: onStep }, signal);
  }

  async countPromptTokens(prompts: readonly (readonly ChatMessage[])[]): Promise<readonly number[]> {
    return this.call((id) => ({ type: 'countPromptTokens', id, prompts }), 'countPromptTokens', (ev) => ev.result.counts);
  }

  async unload(): Promise<void> {
    await this.call((id) => ({ type: 'unload', id }), 'unload', (ev) => ev.result);
  }

  /** Ends the worker; pending calls fail with WorkerDiedError. */
  terminate(): void {
    this.worker.terminate();
    const err = new WorkerDiedError('engine worker terminated');
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

/**
 * A new engine session on the engine host every Brix tab shares (app/lib/sharedEngine.ts): sessions that load
 * the same model share its one copy on the GPU. One per loaded model, so several models run side by side.
 */
export function startEngineWorker(): EngineClient {
  return new EngineClient(engineHostLink().openSession());
}
