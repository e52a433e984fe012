/**
 * @file One way of running a turn, for the chat and for every Compare pane (Chat is Compare with one pane):
 * wait for the engine (load or join a load), build the request once it is there, stream the text, and end in
 * exactly one outcome: done (the engine's stats, its finish reason may be 'abort' when Stop came mid-answer),
 * stopped (aborted while loading or generating: the text so far), or failed (what streamed before the error is
 * kept, a dropped stream's partial text included, and `fatal` says the engine is unusable after it).
 */
import type { SerializedError } from '../../workers/errors.ts';
import type { GenerateRequest, GenerationStats, TokenDelta, GenerationResult } from '../../workers/protocol.ts';
import { toSerialized } from '../lib/errorHelp.ts';
import { StreamDroppedError } from './errors.ts';

/** Errors after which the engine is unusable (its worker is gone or its GPU device lost). */
export const FATAL_ERRORS: ReadonlySet<string> = new Set(['WorkerDiedError', 'GpuDeviceLostError']);

export interface TurnEngine {
  generate(request: GenerateRequest, onToken?: (d: TokenDelta) => void, signal?: AbortSignal): Promise<GenerationResult>;
}

export type TurnOutcome =
  | { readonly kind: 'done'; readonly text: string; readonly stats: GenerationStats }
  | { readonly kind: 'stopped'; readonly stage: 'load' | 'generate'; readonly text: string }
  | { readonly kind: 'error'; readonly stage: 'load' | 'generate'; readonly text: string; readonly error: SerializedError; readonly fatal: boolean };

export interface TurnInput<E extends TurnEngine> {
  /** The ready engine: the loaded one, a load joined, or a new load. */
  readonly engine: (signal: AbortSignal) => Promise<E>;
  /** The request, built once the engine is ready (the history may have changed while it loaded); undefined = nothing to do. */
  readonly request: (engine: E) => GenerateRequest | undefined | Promise<GenerateRequest | undefined>;
  /** The engine is ready and generation starts. */
  readonly onGenerating?: (engine: E) => void;
  /** The text so far, after every delta. */
  readonly onText?: (text: string) => void;
  readonly signal: AbortSignal;
}

export function isAbortError(e: unknown): boolean {
  return (e instanceof Error || e instanceof DOMException) && e.name === 'AbortError';
}

export async function runTurn<E extends TurnEngine>(input: TurnInput<E>): Promise<TurnOutcome> {
  const { signal } = input;
  let engine: E;
  try {
    engine = await input.engine(signal);
  } catch (e) {
    if (signal.aborted || isAbortError(e)) return { kind: 'stopped', stage: 'load', text: '' };
    return { kind: 'error', stage: 'load', text: '', error: toSerialized(e), fatal: false };
  }
  let request: GenerateRequest | undefined;
  try {
    request = signal.aborted ? undefined : await input.request(engine);
  } catch (e) {
    if (signal.aborted || isAbortError(e)) return { kind: 'stopped', stage: 'load', text: '' };
    return { kind: 'error', stage: 'load', text: '', error: toSerialized(e), fatal: false };
  }
  if (!request) return { kind: 'stopped', stage: 'load', text: '' };
  input.onGenerating?.(engine);
  let text = '';
  try {
    const r = await engine.generate(
      request,
      (d) => {
        text += d.text;
        input.onText?.(text);
      },
      signal,
    );
    return { kind: 'done', text: r.text, stats: r.stats };
  } catch (e) {
    const kept = e instanceof StreamDroppedError ? e.partialText || text : text;
    if (signal.aborted || isAbortError(e)) return { kind: 'stopped', stage: 'generate', text: kept };
    return { kind: 'error', stage: 'generate', text: kept, error: toSerialized(e), fatal: e instanceof Error && FATAL_ERRORS.has(e.name) };
  }
}
