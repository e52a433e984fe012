/**
 * @file The engine in Node (CLI, golden tests, benchmarks): the same BrixEngine as the browser worker, with
 * Node WebGPU (the `webgpu` package) and models opened from paths (split siblings next to the first file) or
 * plain HTTP(S) URLs with Range support.
 */
import path from 'node:path';
import { acquireNodeGpu } from '../../workers/gpu/nodeGpu.ts';
import { openUrlSource, type ByteSource } from '../../workers/gguf/byteSource.ts';
import { BrixEngine, type EngineDeps } from '../../workers/engine/engine.ts';
import { createGpuRunner, type GpuRunnerOptions, type KvCacheType } from '../../workers/engine/gpuRunner.ts';
import { openFileSource } from './nodeSource.ts';
import type { ModelInfo } from '../../workers/protocol.ts';
import type { ActivationMode } from '../../workers/engine/activationRounding.ts';
import { UsageError, flagString, type FlagSpec, type FlagValues } from '../cliTypes.ts';

const ACTIVATION_MODES: readonly ActivationMode[] = ['f32', 'ggml-cpu', 'int8'];

/** The `--activations` flag of the commands that run the engine (GpuRunnerOptions.activations). */
export const ACTIVATIONS_FLAG: FlagSpec = {
  kind: 'string',
  help: "activations into the products: f32 (default), ggml-cpu (rounded as llama.cpp's CPU backend), int8 (the same values; int8 Q4_K/Q8_0 decode products)",
};

export function activationsFlag(flags: FlagValues): ActivationMode {
  const v = flagString(flags, 'activations') ?? 'f32';
  const mode = ACTIVATION_MODES.find((m) => m === v);
  if (!mode) throw new UsageError(`--activations must be one of ${ACTIVATION_MODES.join(', ')}, got '${v}'`);
  return mode;
}

const KV_CACHE_TYPES: readonly KvCacheType[] = ['f32', 'f16', 'auto'];

/** The `--kv-cache` flag of the commands that run the engine (GpuRunnerOptions.kvCache). */
export const KV_CACHE_FLAG: FlagSpec = {
  kind: 'string',
  help: 'K/V cache type: auto (default: f16 where the device has shader-f16, else f32), f16, f32',
};

export function kvCacheFlag(flags: FlagValues): KvCacheType {
  const v = flagString(flags, 'kv-cache') ?? 'auto';
  const t = KV_CACHE_TYPES.find((m) => m === v);
  if (!t) throw new UsageError(`--kv-cache must be one of ${KV_CACHE_TYPES.join(', ')}, got '${v}'`);
  return t;
}

export const nodeEngineDeps: EngineDeps = {
  acquireGpu: () => acquireNodeGpu(),
  async openSource(source) {
    switch (source.kind) {
      case 'path': {
        const files = [await openFileSource(source.path)];
        return {
          first: files[0],
          openSibling: async (name) => {
            const f = await openFileSource(path.join(path.dirname(source.path), name));
            files.push(f);
            return f;
          },
          close: async () => void (await Promise.all(files.map((f) => f.close()))),
        };
      }
      case 'url': {
        const first = await openUrlSource(source.url);
        return { first, openSibling: (name) => openUrlSource(new URL(name, source.url).href) };
      }
      case 'file':
        throw new Error('Blob sources are for the browser; pass a path in Node');
    }
  },
  createRunner: createGpuRunner,
};

/**
 * Loads a model file (a path or URL) or any ByteSource (a synthetic model) into a new engine. `runner`: GPU
 * runner options beyond the protocol's (KV cache type, prefill chunk size), for tests and benchmarks.
 */
export async function loadNodeEngine(
  model: string | ByteSource,
  contextSize?: number,
  runner?: Omit<GpuRunnerOptions, 'contextSize'>,
): Promise<{ engine: BrixEngine; info: ModelInfo }> {
  let deps: EngineDeps = runner
    ? { ...nodeEngineDeps, createRunner: (a) => createGpuRunner({ ...a, options: { ...runner, ...a.options } }) }
    : nodeEngineDeps;
  // A ByteSource goes through the same open path as a file: the engine only ever sees `first`.
  if (typeof model !== 'string') deps = { ...deps, openSource: () => Promise.resolve({ first: model }) };
  const engine = new BrixEngine(deps);
  const modelPath = typeof model === 'string' ? model : model.name;
  const source = /^https?:\/\//.test(modelPath) ? { kind: 'url' as const, url: modelPath } : { kind: 'path' as const, path: modelPath };
  const info = await engine.load(source, { contextSize });
  return { engine, info };
}
