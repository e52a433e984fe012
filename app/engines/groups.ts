/**
 * @file How model pickers group and judge models (Chat's picker; Compare's panes can share it): one group per
 * engine, and a short fit verdict per model from the memory check (app/features/compare/memory.ts).
 */
import { fitAlongside, type LoadedModel, type MemoryFit, type MemoryVerdict } from '../features/compare/memory.ts';
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
  return shortFit(option, gpu, fitAlongside(option, others, gpu, deviceMemoryGb));
}

/** A memory check's verdict in a picker's words ("checking…" until the adapter is known). */
export function shortFit(option: ModelOption, gpu: GpuProbe, f: MemoryFit): OptionFit {
  if (gpu.kind === 'unknown' && option.kind !== 'openai') return { verdict: 'checking', short: 'checking this device…', text: 'Checking this device…' };
  return { verdict: f.verdict, short: SHORT[f.verdict], text: f.text };
}

/** Case-insensitive match of every word of `query` in the model's name or engine group. */
export function matchesQuery(option: ModelOption, query: string): boolean {
  const hay = `${option.name} ${option.ref} ${ENGINE_GROUP_LABEL[option.kind]}`.toLowerCase();
  return query
    .toLowerCase()
    .split(/\s+/)
    .filter((w) => w !== '')
    .every((w) => hay.includes(w));
}

/** The options of each engine, in the groups' order, empty groups left out. */
export function groupOptions<T extends { readonly option: ModelOption }>(items: readonly T[]): [EngineKind, T[]][] {
  return ENGINE_GROUPS.map((k): [EngineKind, T[]] => [k, items.filter((i) => i.option.kind === k)]).filter(([, xs]) => xs.length > 0);
}
