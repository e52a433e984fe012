/**
 * @file When the chat offers wllama instead of Brix: the engine worker's adapter is a software one (SwiftShader,
 * llvmpipe: `isSoftwareAdapter`), the selected model is a Brix one, wllama lists the same GGUF, and the user has
 * not dismissed the offer. There llama.cpp's wasm CPU path beats WebGPU on the CPU by far; the figures the notice
 * quotes are the ones measured here (headless Chromium on SwiftShader, the bundled demo model, `bench:browser
 * --peer wllama`), not a promise for every machine.
 */
import { isSoftwareAdapter } from '../../../workers/gpu/software.ts';
import { optionId, type ModelOption } from '../../engines/types.ts';
import { isExternalSelection } from './engineSlice.ts';
import type { GpuProbe } from './fit.ts';

/** What was measured here (tok/s), quoted by the notice. */
export const MEASURED_SOFTWARE = {
  adapter: 'SwiftShader',
  model: 'Brix Demo 30M',
  wllama: { decode: 189, prefill: 470 },
  brix: { decode: 2.1, prefill: 2.5 },
} as const;

/** wllama's decode over Brix's, as measured here, rounded to a multiple of 5 (189 / 2.1 ≈ 90 → "about 90×"; tests/bench-results/2026-12-07-cpu-swiftshader-bench-browser-peer-wllama-compact.txt). */
export function measuredSpeedup(): number {
  return Math.max(1, Math.round(MEASURED_SOFTWARE.wllama.decode / MEASURED_SOFTWARE.brix.decode / 5) * 5);
}

/** The chat selection of wllama's option for a Brix model (same GGUF). */
export function wllamaSelectionFor(brixModelId: string): string {
  return optionId('wllama', brixModelId);
}

export interface WllamaOffer {
  /** wllama's option for the selected model: what "Use wllama" loads. */
  readonly option: ModelOption;
  /** The software adapter's name, as the worker reports it. */
  readonly adapter: string;
}

/** The offer to show, or undefined (hardware or unknown adapter, a non-Brix selection, no wllama option, dismissed). */
export function wllamaOfferFor(gpu: GpuProbe, selectedId: string, options: readonly ModelOption[], dismissed: boolean): WllamaOffer | undefined {
  if (dismissed || gpu.kind !== 'ok' || !isSoftwareAdapter(gpu.info) || isExternalSelection(selectedId)) return undefined;
  const id = wllamaSelectionFor(selectedId);
  const option = options.find((o) => o.kind === 'wllama' && o.id === id);
  if (!option) return undefined;
  const adapter = [gpu.info.vendor, gpu.info.architecture].filter((s) => s !== '').join(' ') || gpu.info.description || 'a software adapter';
  return { option, adapter };
}
