/**
 * @file What `activations: 'auto'` means, decided once at load before the runner is built: int8 where the adapter
 * is a real GPU and most of the model's product weight bytes are int8-capable (Q4_K/Q8_0), f32 otherwise. On a
 * software adapter (SwiftShader, llvmpipe/lavapipe, WARP) the extra act_quant dispatches cost more than the
 * integer dot products save (SwiftShader: 0.1 against 0.4–0.6 tok/s on the 30M demo), so it never gets int8.
 */
import { Q8_WEIGHT_TYPES } from '../../kernels/act_quant.ts';
import type { GgufTensorInfo } from '../gguf/reader.ts';
import { ggmlTypeName } from '../gguf/ggmlTypes.ts';
import type { ActivationMode } from './activationRounding.ts';
import { isSoftwareAdapter, type AdapterFacts } from '../gpu/software.ts';

export type ActivationChoice = 'auto' | ActivationMode;

// Shared with the UI (the benchmark's sizing); re-exported for the engine's callers.
export { isSoftwareAdapter, type AdapterFacts };

/** One matrix-product weight: its GGUF type name and bytes. */
export interface ProductWeight {
  readonly type: string;
  readonly bytes: number;
}

/** Share of product weight bytes an int8 path serves for 'auto' to pick it. */
export const INT8_MIN_SHARE = 0.5;

export function resolveActivations(asked: ActivationChoice, adapter: AdapterFacts, products: readonly ProductWeight[]): ActivationMode {
  if (asked !== 'auto') return asked;
  if (isSoftwareAdapter(adapter)) return 'f32';
  const total = products.reduce((a, w) => a + w.bytes, 0);
  const q8 = products.reduce((a, w) => a + (w.type in Q8_WEIGHT_TYPES ? w.bytes : 0), 0);
  return total > 0 && q8 / total >= INT8_MIN_SHARE ? 'int8' : 'f32';
}

/**
 * The model's matrix-product weights: every tensor of two or more dimensions, except the token embedding when an
 * output head of its own exists (then the embedding is only a row lookup).
 */
export function productWeights(tensors: readonly GgufTensorInfo[]): ProductWeight[] {
  const ownHead = tensors.some((t) => t.name === 'output.weight');
  return tensors
    .filter((t) => t.dims.filter((d) => d > 1).length >= 2 && !(ownHead && t.name === 'token_embd.weight'))
    .map((t) => ({ type: ggmlTypeName(t.type), bytes: t.nbytes }));
}
