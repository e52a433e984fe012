/**
 * @file The engine self-test behind Settings → Diagnostics: start a real engine worker, round-trip a `ping`
 * and report the adapter the *worker* got (it may differ from the page's), or why it got none. The worker is
 * ended after each run so the check never holds a GPU device.
 */
import { useCallback, useEffect, useState } from 'react';
import { startEngineWorker, type EngineClient } from '../../lib/engineClient.ts';
import type { GpuInfo } from '../../../kernels/lib/gpuInfo.ts';
import type { SerializedError } from '../../../workers/errors.ts';

export const PING_PAYLOAD = 'hello';
const TIMEOUT_MS = 30_000;

export type DiagnosticsState =
  | { readonly kind: 'running' }
  /** Round trip done and the worker has an adapter. */
  | { readonly kind: 'ok'; readonly payload: string; readonly ms: number; readonly gpu: GpuInfo }
  /** Round trip done but the worker has no WebGPU (the message says what to do). */
  | { readonly kind: 'no-gpu'; readonly payload: string; readonly ms: number; readonly error: SerializedError }
  /** The worker did not start or did not answer correctly. */
  | { readonly kind: 'error'; readonly error: SerializedError };

function asSerialized(e: unknown): SerializedError {
  return e instanceof Error ? { name: e.name, message: e.message } : { name: 'Error', message: String(e) };
}

export interface Diagnostics {
  readonly state: DiagnosticsState;
  /** 1 for the first check, +1 per rerun (lets tests tell a fresh result from the previous one). */
  readonly run: number;
  readonly rerun: () => void;
}

export function useDiagnostics(): Diagnostics {
  const [run, setRun] = useState(1);
  const [state, setState] = useState<DiagnosticsState>({ kind: 'running' });

  useEffect(() => {
    let live = true;
    let client: EngineClient | undefined;
    const finish = (s: DiagnosticsState): void => {
      if (live) setState(s);
      client?.terminate();
    };
    setState({ kind: 'running' });
    const timer = setTimeout(
      () => finish({ kind: 'error', error: { name: 'TimeoutError', message: `the engine worker did not answer in ${TIMEOUT_MS / 1000} s` } }),
      TIMEOUT_MS,
    );
    const t0 = performance.now();
    try {
      client = startEngineWorker();
      client.ping(PING_PAYLOAD).then(
        (r) => {
          clearTimeout(timer);
          const ms = Math.round(performance.now() - t0);
          if (r.payload !== PING_PAYLOAD) {
            finish({ kind: 'error', error: { name: 'ProtocolError', message: `ping sent '${PING_PAYLOAD}', got '${r.payload}' back` } });
          } else if (r.gpu) {
            finish({ kind: 'ok', payload: r.payload, ms, gpu: r.gpu });
          } else {
            const error = r.gpuError ?? { name: 'GpuUnavailableError', message: 'the worker got no adapter' };
            finish({ kind: 'no-gpu', payload: r.payload, ms, error });
          }
        },
        (e: unknown) => {
          clearTimeout(timer);
          finish({ kind: 'error', error: asSerialized(e) });
        },
      );
    } catch (e) {
      clearTimeout(timer);
      finish({ kind: 'error', error: asSerialized(e) });
    }
    return () => {
      live = false;
      clearTimeout(timer);
      client?.terminate();
    };
  }, [run]);

  const rerun = useCallback(() => {
    setState({ kind: 'running' });
    setRun((n) => n + 1);
  }, []);
  return { state, run, rerun };
}
