/**
 * @file The engine in Node (CLI, golden tests, benchmarks): the same BrixEngine as the browser worker, with
 * Node WebGPU (the `webgpu` package) and models opened from paths (split siblings next to the first file) or
 * plain HTTP(S) URLs with Range support.
 */
import path from 'node:path';
import { acquireNodeGpu } from '../../workers/gpu/nodeGpu.ts';
import { openUrlSource } from '../../workers/gguf/byteSource.ts';
import { BrixEngine, type EngineDeps } from '../../workers/engine/engine.ts';
import { createGpuRunner, type GpuRunnerOptions } from '../../workers/engine/gpuRunner.ts';
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
 * Loads a model file into a new engine. `runner`: GPU runner options beyond the protocol's (KV cache type,
 * prefill chunk size), for tests and benchmarks.
 */
export async function loadNodeEngine(
  modelPath: string,
  contextSize?: number,
  runner?: Omit<GpuRunnerOptions, 'contextSize'>,
): Promise<{ engine: BrixEngine; info: ModelInfo }> {
  const deps: EngineDeps = runner
    ? { ...nodeEngineDeps, createRunner: (a) => createGpuRunner({ ...a, options: { ...runner, ...a.options } }) }
    : nodeEngineDeps;
  const engine = new BrixEngine(deps);
  const source = /^https?:\/\//.test(modelPath) ? { kind: 'url' as const, url: modelPath } : { kind: 'path' as const, path: modelPath };
  const info = await engine.load(source, { contextSize });
  return { engine, info };
}
