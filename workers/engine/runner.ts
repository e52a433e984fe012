/**
 * @file What the engine's generation loop needs from a model on the GPU. The GPU implementation is
 * gpuRunner.ts; keeping the loop (tokens, context, stops, stats) apart from the graph keeps both testable.
 */
import type { GpuContext } from '../gpu/device.ts';
import type { GgufModel } from '../gguf/model.ts';
import type { ModelConfig } from '../model/config.ts';
import type { LoadProgress } from '../protocol.ts';
import type { ActivationMode } from './activationRounding.ts';

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

/** One evalAndSample call's sampling and control. */
export interface EvalOptions {
  readonly sampling: RunnerSampling;
  /** The seeded RNG's counter. */
  readonly step: number;
  /** Recently seen token ids, for the repetition penalty (default none). */
  readonly recent?: readonly number[];
  /** Checked between prompt chunks: when it fires the call rejects with AbortError. */
  readonly signal?: AbortSignal;
  /** The caller will most likely ask for the following token next (see evalAndSample). */
  readonly next?: boolean;
}

export interface Runner {
  readonly config: ModelConfig;
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
   * GPU from the last position's logits. When `signal` fires the call rejects with AbortError and the K/V from
   * `pos` on are undefined. `next`: the caller will most likely ask for the following token next
   * (evalAndSample([id], pos + n, { …, step: step + 1 })); a runner may then start that
   * step before returning this one (the GPU runner submits it ahead). If the caller does something else instead,
   * the step ahead has only written K/V at pos + n, which is not part of the cache the caller trusts, and counted
   * its routes in expertUsage.
   */
  evalAndSample(tokens: readonly number[], pos: number, opts: EvalOptions): Promise<number>;
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

export type KvCacheType = 'auto' | 'f16' | 'f32';

export interface RunnerOptions {
  readonly contextSize?: number;
  /** KV cache element type; 'auto' (default): f16 where the device has shader-f16, else f32. */
  readonly kvCache?: KvCacheType;
  /** Prompt tokens per prefill chunk (capped by memory and binding limits); 0: prompts use the decode graph. */
  readonly prefillChunk?: number;
  /**
   * 'f32' (default): f32 activations into every product. 'ggml-cpu': round each quantized/F16/BF16 product's
   * input as llama.cpp's CPU backend does, to compare with it exactly (activationRounding.ts). 'int8': the same
   * values; the decode graph's Q4_K/Q8_0 products take int8 activations (integer dot products, faster).
   */
  readonly activations?: ActivationMode;
}

export interface CreateRunnerArgs {
  readonly gpu: GpuContext;
  readonly model: GgufModel;
  readonly config: ModelConfig;
  readonly options: RunnerOptions;
  readonly onProgress: (p: LoadProgress) => void;
  readonly signal?: AbortSignal;
}
