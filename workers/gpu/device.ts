/**
 * @file GPU acquisition shared by the browser worker and Node. One place decides which adapter we take
 * (fallback adapters such as SwiftShader are accepted), which limits we ask for (the adapter's maxima for
 * the few limits the engine depends on) and which optional features we enable (only those present).
 * Nothing else in the engine calls requestAdapter/requestDevice.
 */
import type { GpuFeatures, GpuInfo, GpuLimits } from '../../kernels/lib/gpuInfo.ts';

/** No usable WebGPU: the UI shows the "WebGPU missing" page, tests fail loudly. */
export class GpuUnavailableError extends Error {
  override name = 'GpuUnavailableError';
}

/** The device was lost (driver reset, tab backgrounded too long, destroy()). */
export class GpuDeviceLostError extends Error {
  override name = 'GpuDeviceLostError';
}

export interface GpuContext {
  readonly device: GPUDevice;
  readonly info: GpuInfo;
  /** Resolves when the device is lost; `destroyed` is true for our own destroy(). */
  readonly lost: Promise<{ destroyed: boolean; message: string }>;
}

export interface AcquireOptions {
  readonly powerPreference?: GPUPowerPreference;
  /** Turn off optional features even where present (tests of the fallback paths). */
  readonly disable?: Partial<Record<keyof GpuFeatures, boolean>>;
  /** Whose advice the errors give: a browser user's (default) or the Node CLI's (Vulkan drivers). */
  readonly host?: 'browser' | 'node';
}

const LIMIT_NAMES = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
] as const satisfies readonly (keyof GpuLimits)[];

/** The browser's WebGPU entry point, or undefined where there is none. */
export function browserGpu(): GPU | undefined {
  const nav: { gpu?: GPU } | undefined = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  return nav?.gpu;
}

function readLimits(l: GPUSupportedLimits): GpuLimits {
  const out: Record<string, number> = {};
  for (const n of LIMIT_NAMES) out[n] = l[n];
  return out as unknown as GpuLimits;
}

/**
 * Requests an adapter and a device from `gpu` (navigator.gpu in a browser, `webgpu`'s create() in Node).
 * Throws GpuUnavailableError with a message that says what to do when there is no WebGPU or no adapter.
 */
export async function acquireGpu(gpu: GPU | undefined, opts: AcquireOptions = {}): Promise<GpuContext> {
  const node = opts.host === 'node';
  if (!gpu) {
    throw new GpuUnavailableError(
      node
        ? 'WebGPU is not available here: Node needs the `webgpu` package with a Vulkan driver (VK_ICD_FILENAMES).'
        : 'WebGPU is not available in this browser. Use Chrome or Edge 113+ on desktop; on Linux start Chrome or ' +
            'Chromium with --enable-unsafe-webgpu.',
    );
  }
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  } catch (e) {
    throw new GpuUnavailableError(`requestAdapter failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!adapter) {
    throw new GpuUnavailableError(
      node
        ? 'WebGPU found no adapter: set VK_ICD_FILENAMES to a working Vulkan driver (lavapipe or SwiftShader).'
        : 'This browser has WebGPU but found no GPU adapter. On Linux, start Chrome or Chromium with ' +
            '--enable-unsafe-webgpu; elsewhere, turn on hardware acceleration (chrome://settings/system) and check ' +
            'that chrome://gpu lists "WebGPU: Hardware accelerated", or use another browser.',
    );
  }
  const has = (f: string): boolean => adapter.features.has(f);
  const features: GpuFeatures = {
    f16: has('shader-f16') && !opts.disable?.f16,
    subgroups: has('subgroups') && !opts.disable?.subgroups,
    timestampQuery: has('timestamp-query') && !opts.disable?.timestampQuery,
  };
  const requiredFeatures: GPUFeatureName[] = [];
  if (features.f16) requiredFeatures.push('shader-f16');
  if (features.subgroups) requiredFeatures.push('subgroups' as GPUFeatureName);
  if (features.timestampQuery) requiredFeatures.push('timestamp-query');
  const requiredLimits: Record<string, number> = {};
  for (const n of LIMIT_NAMES) requiredLimits[n] = adapter.limits[n];

  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'brix' });
  } catch (e) {
    throw new GpuUnavailableError(`requestDevice failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  const ai = adapter.info;
  const sub = ai as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const info: GpuInfo = {
    vendor: ai.vendor,
    architecture: ai.architecture,
    device: ai.device,
    description: ai.description,
    isFallbackAdapter: Boolean((ai as { isFallbackAdapter?: boolean }).isFallbackAdapter),
    subgroupMinSize: sub.subgroupMinSize ?? 0,
    subgroupMaxSize: sub.subgroupMaxSize ?? 0,
    features,
    limits: readLimits(device.limits),
  };
  const lost = device.lost.then((l) => ({ destroyed: l.reason === 'destroyed', message: l.message }));
  return { device, info, lost };
}

/** One line for logs and the CLI. */
export function describeGpu(info: GpuInfo): string {
  const f = Object.entries(info.features)
    .filter(([, v]) => v)
    .map(([k]) => k)
    .join(',');
  const mib = (n: number): string => `${Math.round(n / 2 ** 20)} MiB`;
  return (
    `${info.vendor || '?'} ${info.architecture || ''} ${info.device || ''} ${info.description || ''}`.replace(/\s+/g, ' ').trim() +
    `${info.isFallbackAdapter ? ' (fallback)' : ''}; features [${f}]; subgroup ${info.subgroupMinSize}-${info.subgroupMaxSize}; ` +
    `binding ${mib(info.limits.maxStorageBufferBindingSize)}, buffer ${mib(info.limits.maxBufferSize)}`
  );
}
