/**
 * @file One interface for every engine the compare view drives: Brix (ours, a worker per model), WebLLM (its
 * own worker), wllama (llama.cpp in wasm, on the same GGUF files as Brix) and any OpenAI-compatible endpoint (vLLM or a Databricks serving endpoint running DBRX itself,
 * llama.cpp's server, `brix serve`). It reuses `Engine`'s `generate`/`unload` unchanged, so answers, deltas and
 * statistics have one shape; what `Engine` lacks for a multi-engine picker is added here: a model list per
 * engine, a memory estimate before loading, and a `load` that takes the picked model instead of a GGUF source.
 */
import type { Engine } from '../../workers/engine/types.ts';
import type { LoadProgress, ModelInfo } from '../../workers/protocol.ts';

export type EngineKind = 'brix' | 'webllm' | 'wllama' | 'openai';

export const ENGINE_LABEL: Record<EngineKind, string> = {
  brix: 'Brix',
  webllm: 'WebLLM',
  wllama: 'wllama',
  openai: 'Endpoint',
};

/** A model one of the engines can run, as the "Model" combobox lists it. */
export interface ModelOption {
  /** Unique across engines: `<kind>:<engine's own id>`. */
  readonly id: string;
  readonly kind: EngineKind;
  /** The engine's own id: a Brix catalog id, a WebLLM `model_id`, an endpoint config id. */
  readonly ref: string;
  readonly name: string;
  /** Bytes of GPU memory it is expected to take in this tab (0 for a remote endpoint), when known. */
  readonly gpuBytesEstimate?: number;
  /** Download size, when known. */
  readonly downloadBytes?: number;
  /** True when downloadBytes is a model card's estimate. */
  readonly downloadApprox?: boolean;
  /** A short line shown under the picker (e.g. "runs on the server at …"). */
  readonly note?: string;
  /** What the adapter must offer, checked against the engine worker's ping before loading. */
  readonly needs?: AdapterNeeds;
}

export interface AdapterNeeds {
  /** The largest single GPU buffer (Brix: the largest tensor), against maxBufferSize. */
  readonly bufferBytes?: number;
  /** The largest storage binding (WebLLM's buffer_size_required_bytes), against maxStorageBufferBindingSize. */
  readonly bindingBytes?: number;
  /** Needs the shader-f16 feature. */
  readonly f16?: boolean;
}

/** An engine loaded with (or loading) one model: Engine's generate/unload plus load-by-option and disposal. */
export interface ChatEngine extends Pick<Engine, 'generate' | 'unload' | 'countPromptTokens'> {
  readonly kind: EngineKind;
  readonly model: ModelOption;
  /** Loads `model`; progress as Brix reports it (WebLLM's reports are mapped; `text` is the engine's own line). */
  load(onProgress?: (p: LoadProgress, text?: string) => void, signal?: AbortSignal): Promise<ModelInfo>;
  /** Ends the engine for good (terminates its worker); pending calls fail. Safe to call twice. */
  dispose(): void;
}

/** One engine family: what it offers and how to start an engine for one of its models. */
export interface EngineProvider {
  readonly kind: EngineKind;
  listModels(signal?: AbortSignal): Promise<readonly ModelOption[]>;
  create(model: ModelOption): ChatEngine;
}

export function optionId(kind: EngineKind, ref: string): string {
  return `${kind}:${ref}`;
}

/** A ModelInfo for engines that do not describe their model (remote endpoints, WebLLM): unknowns are 0. */
export function opaqueModelInfo(name: string, architecture: string, gpuBytes: number, contextSize = 0): ModelInfo {
  return {
    name,
    architecture,
    nParams: 0,
    nLayer: 0,
    nExpert: 0,
    nExpertUsed: 0,
    contextSize,
    vocabSize: 0,
    fileBytes: 0,
    gpuBytes,
  };
}
