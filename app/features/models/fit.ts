/**
 * @file "Can this device run it?", answered before anything is downloaded, from what the page can know: the
 * adapter the engine worker gets (ping: fallback or not, buffer limits), the origin's storage estimate, and
 * the browser's rough memory hint. WebGPU does not reveal GPU memory, so a big model can still fail to load;
 * the verdict says so instead of promising.
 */
import type { GpuInfo } from '../../../kernels/lib/gpuInfo.ts';
import { formatBytes } from '../../lib/format.ts';

export type CheckVerdict = 'ok' | 'warn' | 'fail' | 'unknown';

export interface FitCheck {
  readonly label: string;
  readonly verdict: CheckVerdict;
  readonly detail: string;
}

export type FitVerdict = 'runs' | 'slow' | 'risky' | 'no' | 'unknown';

export interface Fit {
  readonly verdict: FitVerdict;
  readonly summary: string;
  readonly checks: readonly FitCheck[];
}

export type GpuProbe =
  | { readonly kind: 'unknown' }
  | { readonly kind: 'ok'; readonly info: GpuInfo }
  | { readonly kind: 'none'; readonly message: string };

export interface DeviceFacts {
  readonly gpu: GpuProbe;
  /** navigator.storage.estimate(), when available. */
  readonly storage?: { readonly usage: number; readonly quota: number };
  /** navigator.deviceMemory (GB, rounded and capped at 8 by browsers), when available. */
  readonly deviceMemoryGb?: number;
}

export interface FitInput {
  readonly sizeBytes?: number;
  /** Bytes of this model already in the cache (they need no new space). */
  readonly cachedBytes?: number;
  readonly largestTensorBytes?: number;
  /** GPU memory the engine allocates for it, when known (weights as uploaded, KV cache, scratch). */
  readonly gpuBytes?: number;
}

/** Tiny models are fine even on a software adapter. */
const SOFTWARE_OK_BYTES = 100e6;

function gpuCheck(gpu: GpuProbe, size: number | undefined): FitCheck {
  switch (gpu.kind) {
    case 'unknown':
      return { label: 'WebGPU', verdict: 'unknown', detail: 'checking the adapter…' };
    case 'none':
      return { label: 'WebGPU', verdict: 'fail', detail: gpu.message };
    case 'ok': {
      const name = [gpu.info.vendor, gpu.info.architecture].filter((s) => s !== '').join(' ') || 'an adapter';
      if (!gpu.info.isFallbackAdapter) return { label: 'WebGPU', verdict: 'ok', detail: `${name}${gpu.info.features.f16 ? ', f16' : ''}` };
      const slow = size === undefined || size > SOFTWARE_OK_BYTES;
      return {
        label: 'WebGPU',
        verdict: slow ? 'warn' : 'ok',
        detail: slow
          ? `software adapter (${name}): it works, but far too slowly for a model this size`
          : `software adapter (${name}): slow, fine for a model this small`,
      };
    }
  }
}

function storageCheck(storage: DeviceFacts['storage'], size: number | undefined, cached: number): FitCheck {
  if (size === undefined) return { label: 'Storage', verdict: 'unknown', detail: 'size unknown until the download starts' };
  const need = Math.max(0, size - cached);
  if (need === 0) return { label: 'Storage', verdict: 'ok', detail: 'already downloaded' };
  if (!storage) return { label: 'Storage', verdict: 'unknown', detail: `needs ${formatBytes(need)}; this browser gives no storage estimate` };
  const free = Math.max(0, storage.quota - storage.usage);
  if (need > free) {
    return { label: 'Storage', verdict: 'fail', detail: `needs ${formatBytes(need)}, ${formatBytes(free)} available: free disk space or delete cached models` };
  }
  return { label: 'Storage', verdict: 'ok', detail: `needs ${formatBytes(need)} of ${formatBytes(free)} available` };
}

function memoryCheck(gb: number | undefined, size: number | undefined, gpuBytes: number | undefined): FitCheck {
  if (size === undefined && gpuBytes === undefined) return { label: 'Memory', verdict: 'unknown', detail: 'size unknown' };
  // Known: the engine's own accounting. Otherwise the file plus a margin for padding, KV cache and scratch.
  const need = gpuBytes ?? (size ?? 0) * 1.2;
  const needs = gpuBytes !== undefined ? `needs ${formatBytes(need)} of GPU memory` : `needs about ${formatBytes(need)} of GPU memory`;
  if (gb === undefined) return { label: 'Memory', verdict: 'unknown', detail: `${needs}; this browser does not say how much there is` };
  // deviceMemory is capped at 8, so "≥ 8 GB" is all we can know at the top end.
  const have = gb * 1e9;
  const reports = `${gb >= 8 ? 'at least ' : ''}${gb} GB`;
  if (need > have) return { label: 'Memory', verdict: gb >= 8 ? 'warn' : 'fail', detail: `${needs}; this device reports ${reports} of RAM` };
  if (need > have / 2) return { label: 'Memory', verdict: 'warn', detail: `${needs} of ${reports}: close the other heavy tabs` };
  return { label: 'Memory', verdict: 'ok', detail: needs };
}

/** Unified-memory sizes machines are sold with (GiB). */
const UNIFIED_MEMORY_GIB = [8, 16, 18, 24, 32, 36, 48, 64, 96, 128, 192, 256, 512] as const;
/** Share of unified memory the GPU may hold by default (macOS's recommendedMaxWorkingSetSize is about 75 %). */
export const GPU_SHARE_OF_UNIFIED = 0.75;

/** The smallest unified-memory machine (GiB, as sold) whose GPU share holds `gpuBytes`; undefined past 512. */
export function fitsUnifiedMemoryGb(gpuBytes: number): number | undefined {
  return UNIFIED_MEMORY_GIB.find((g) => gpuBytes <= g * 2 ** 30 * GPU_SHARE_OF_UNIFIED);
}

function limitsCheck(gpu: GpuProbe, largest: number | undefined): FitCheck {
  if (gpu.kind !== 'ok') return { label: 'GPU limits', verdict: 'unknown', detail: 'no adapter yet' };
  const max = gpu.info.limits.maxBufferSize;
  if (largest === undefined) return { label: 'GPU limits', verdict: 'unknown', detail: `largest tensor unknown; buffers up to ${formatBytes(max)}` };
  if (largest > max) return { label: 'GPU limits', verdict: 'fail', detail: `largest tensor about ${formatBytes(largest)}, over this adapter's ${formatBytes(max)} buffer limit` };
  return { label: 'GPU limits', verdict: 'ok', detail: `largest tensor about ${formatBytes(largest)} (limit ${formatBytes(max)})` };
}

const SUMMARY: Record<FitVerdict, string> = {
  runs: 'Runs on this device',
  slow: 'Runs, slowly (software adapter)',
  risky: 'May not fit: try it, or pick a smaller model',
  no: 'Cannot run here',
  unknown: 'Checking this device…',
};

export function assessFit(model: FitInput, facts: DeviceFacts): Fit {
  const gpu = gpuCheck(facts.gpu, model.sizeBytes);
  const checks = [
    gpu,
    storageCheck(facts.storage, model.sizeBytes, model.cachedBytes ?? 0),
    memoryCheck(facts.deviceMemoryGb, model.sizeBytes, model.gpuBytes),
    limitsCheck(facts.gpu, model.largestTensorBytes),
  ];
  let verdict: FitVerdict;
  if (checks.some((c) => c.verdict === 'fail')) verdict = 'no';
  else if (gpu.verdict === 'unknown') verdict = 'unknown';
  else if (facts.gpu.kind === 'ok' && facts.gpu.info.isFallbackAdapter && gpu.verdict === 'warn') verdict = 'slow';
  else if (checks.some((c) => c.verdict === 'warn')) verdict = 'risky';
  else verdict = 'runs';
  return { verdict, summary: SUMMARY[verdict], checks };
}

/** navigator.deviceMemory without widening Navigator's type. */
export function deviceMemoryGb(): number | undefined {
  if (typeof navigator === 'undefined') return undefined;
  const v: unknown = Reflect.get(navigator, 'deviceMemory');
  return typeof v === 'number' && v > 0 ? v : undefined;
}
