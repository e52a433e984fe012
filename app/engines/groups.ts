/**
 * @file How model pickers group and judge models (Chat's picker; Compare's panes can share it): one group per
 * engine, and a short fit verdict per model from the memory check (app/features/compare/memory.ts).
 */
import { fitAlongside, type LoadedModel, type MemoryVerdict } from '../features/compare/memory.ts';
import type { GpuProbe } from '../features/models/fit.ts';
import type { EngineKind, ModelOption } from './types.ts';

export const ENGINE_GROUPS: readonly EngineKind[] = ['brix', 'wllama', 'webllm', 'openai'];

export const ENGINE_GROUP_LABEL: Record<EngineKind, string> = {
  brix: 'Brix (this tab, our engine)',
  wllama: 'wllama (llama.cpp in this tab)',
  webllm: 'WebLLM (this tab, downloads from the internet)',
  openai: 'Endpoints',
};

const SHORT: Record<MemoryVerdict, string> = {
  fits: 'fits',
  tight: 'tight fit',
  no: 'does not fit',
  unknown: 'size unknown',
  remote: 'runs on the server',
};

export interface OptionFit {
  readonly verdict: MemoryVerdict | 'checking';
  /** A few words for the option's label. */
  readonly short: string;
  /** The whole verdict (title, status line). */
  readonly text: string;
}

export function optionFit(option: ModelOption, gpu: GpuProbe, deviceMemoryGb: number | undefined, others: readonly LoadedModel[] = []): OptionFit {
  if (gpu.kind === 'unknown' && option.kind !== 'openai') return { verdict: 'checking', short: 'checking this device…', text: 'Checking this device…' };
  const f = fitAlongside(option, others, gpu, deviceMemoryGb);
  return { verdict: f.verdict, short: SHORT[f.verdict], text: f.text };
}

/** The options of each engine, in the groups' order, empty groups left out. */
export function groupOptions<T extends { readonly option: ModelOption }>(items: readonly T[]): [EngineKind, T[]][] {
  return ENGINE_GROUPS.map((k): [EngineKind, T[]] => [k, items.filter((i) => i.option.kind === k)]).filter(([, xs]) => xs.length > 0);
}
