/**
 * @file What the engine's generation loop needs from a model on the GPU. The GPU implementation is
 * gpuRunner.ts; keeping the loop (tokens, context, stops, stats) apart from the graph keeps both testable.
 */
import type { ModelHParams } from '../gguf/arch.ts';

export interface RunnerSampling {
  /** 0 = greedy (argmax). */
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly repetitionPenalty: number;
  readonly seed: number;
}

/** Greedy decoding (argmax), no penalty: what benchmarks and profiles run. */
export const GREEDY: RunnerSampling = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0 };

export interface DispatchTime {
  /** The pipeline's label: `family:defines:overrides`. */
  readonly label: string;
  readonly us: number;
}

export interface Runner {
  readonly hp: ModelHParams;
  /** KV cache length in tokens. */
  readonly nCtx: number;
  /** Bytes of weights and caches on the GPU. */
  readonly gpuBytes: number;
  /** KV cache element type (informational: CLI, benchmarks, tests). */
  readonly kvCache?: 'f16' | 'f32';
  /** Prompt tokens per batched prefill chunk; 0 when prompts run through the decode graph. */
  readonly prefillChunk?: number;
  /**
   * Evaluates `tokens` at positions [pos, pos + n) (writing their K/V), then samples the next token on the
   * GPU from the last position's logits. `recent`: recently seen token ids for the repetition penalty;
   * `step`: the counter for the seeded RNG. `signal`: checked between prompt chunks; when it fires the call
   * rejects with AbortError and the K/V from `pos` on are undefined. `next`: the caller will most likely ask
   * for the following token next (evalAndSample([id], pos + n, s, step + 1, …)); a runner may then start that
   * step before returning this one (the GPU runner submits it ahead). If the caller does something else instead,
   * the step ahead has only written K/V at pos + n, which is not part of the cache the caller trusts, and counted
   * its routes in expertUsage.
   */
  evalAndSample(
    tokens: readonly number[],
    pos: number,
    s: RunnerSampling,
    step: number,
    recent: readonly number[],
    signal?: AbortSignal,
    next?: boolean,
  ): Promise<number>;
  /** Evaluates tokens and returns raw logits (n_vocab each): of every position, or of the last. */
  evalLogits(tokens: readonly number[], pos: number, allPositions: boolean): Promise<Float32Array[]>;
  /**
   * GPU time of each dispatch of one decode step at `pos` (each in its own timestamped pass), for profiling;
   * undefined where the adapter has no timestamp queries. Writes K/V at pos.
   */
  profileDecode?(pos: number): Promise<readonly DispatchTime[] | undefined>;
  /** (n_layer, n_expert) routing counts since the last reset; empty for dense models. */
  expertUsage(): Promise<number[][]>;
  resetExpertUsage(): void;
  destroy(): void;
}
