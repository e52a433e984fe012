/**
 * @file The engine: loads a GGUF model onto the GPU and generates text. (Filled in by the engine issue;
 * until then every call says so clearly.)
 */
import { EngineStateError } from '../errors.ts';
import type { Engine } from './types.ts';

export function createEngine(): Engine {
  const missing = (): Promise<never> => Promise.reject(new EngineStateError('the inference engine is not built yet'));
  return { load: missing, generate: missing, unload: () => Promise.resolve() };
}
