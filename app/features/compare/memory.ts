/**
 * @file "Does this model fit next to the ones already loaded?", asked before a pane loads one. WebGPU does not
 * say how much GPU memory there is, so the answer is a budget from what the page can know — the browser's
 * memory hint (navigator.deviceMemory, capped at 8 GB) and the adapter the engine worker got (ping: a software
 * adapter uses system memory; its buffer and binding limits and f16 support, checked against what the model
 * needs) — against the loaded engines' reported `gpuBytes` plus the new model's estimate. The verdict says when
 * it is a guess. Endpoint models take no memory here.
 */
import type { GpuProbe } from '../models/fit.ts';
import { formatBytes } from '../../lib/format.ts';
import type { ModelOption } from '../../engines/types.ts';

export type MemoryVerdict = 'fits' | 'tight' | 'no' | 'unknown' | 'remote';

export interface MemoryFit {
  readonly verdict: MemoryVerdict;
  readonly text: string;
  /** Bytes of the other panes' models. */
  readonly loadedBytes: number;
  readonly budgetBytes: number | undefined;
}

export interface LoadedModel {
  readonly name: string;
  readonly gpuBytes: number;
}

/** When the browser gives no hint: a conservative guess for an integrated GPU or a laptop. */
const DEFAULT_BUDGET_GB = 4;
/** Of the device memory, what one tab's GPU allocations can reasonably take. */
const SHARE = 0.5;

export function memoryBudget(gpu: GpuProbe, deviceMemoryGb: number | undefined): { bytes: number; guessed: boolean } {
  if (deviceMemoryGb !== undefined) return { bytes: deviceMemoryGb * 1e9 * SHARE, guessed: gpu.kind !== 'ok' || deviceMemoryGb >= 8 };
  return { bytes: DEFAULT_BUDGET_GB * 1e9 * SHARE, guessed: true };
}

/** What the adapter the engine worker got lacks for this model, if anything. */
export function adapterProblem(option: ModelOption, gpu: GpuProbe): string | undefined {
  if (gpu.kind !== 'ok' || !option.needs) return undefined;
  const { limits, features } = gpu.info;
  const n = option.needs;
  if (n.f16 && !features.f16) return 'it needs the shader-f16 feature, which this adapter lacks (pick a q4f32/q0f32 variant)';
  if (n.bufferBytes !== undefined && n.bufferBytes > limits.maxBufferSize) {
    return `its largest tensor (about ${formatBytes(n.bufferBytes)}) is over this adapter's ${formatBytes(limits.maxBufferSize)} buffer limit`;
  }
  if (n.bindingBytes !== undefined && n.bindingBytes > limits.maxStorageBufferBindingSize) {
    return `it needs ${formatBytes(n.bindingBytes)} storage bindings, over this adapter's ${formatBytes(limits.maxStorageBufferBindingSize)}`;
  }
  return undefined;
}

export function fitAlongside(option: ModelOption, others: readonly LoadedModel[], gpu: GpuProbe, deviceMemoryGb: number | undefined): MemoryFit {
  const loadedBytes = others.reduce((s, m) => s + m.gpuBytes, 0);
  if (option.kind === 'openai') {
    return { verdict: 'remote', text: 'Runs on the server: takes no memory on this device.', loadedBytes, budgetBytes: undefined };
  }
  const need = option.gpuBytesEstimate;
  if (need === undefined) {
    return { verdict: 'unknown', text: 'Size unknown until it loads.', loadedBytes, budgetBytes: undefined };
  }
  if (gpu.kind === 'none') {
    return { verdict: 'no', text: `No WebGPU adapter: ${gpu.message}`, loadedBytes, budgetBytes: undefined };
  }
  const limit = adapterProblem(option, gpu);
  if (limit !== undefined) return { verdict: 'no', text: `Cannot run on this adapter: ${limit}.`, loadedBytes, budgetBytes: undefined };
  const { bytes: budget, guessed } = memoryBudget(gpu, deviceMemoryGb);
  const total = loadedBytes + need;
  const beside =
    others.length > 0 ? ` next to ${formatBytes(loadedBytes)} already loaded (${others.map((o) => o.name).join(', ')})` : '';
  const software = gpu.kind === 'ok' && gpu.info.isFallbackAdapter ? ' on a software adapter' : '';
  const of = `${formatBytes(total)} of ${guessed ? 'about ' : ''}${formatBytes(budget)}${software}`;
  let verdict: MemoryVerdict;
  let head: string;
  if (total <= budget * 0.6) {
    verdict = 'fits';
    head = 'Fits';
  } else if (total <= budget) {
    verdict = 'tight';
    head = 'Tight';
  } else {
    verdict = 'no';
    head = others.length > 0 ? 'Probably does not fit: close a pane first' : 'Probably does not fit';
  }
  return { verdict, text: `${head}: needs about ${formatBytes(need)}${beside}; ${of}.`, loadedBytes, budgetBytes: budget };
}
