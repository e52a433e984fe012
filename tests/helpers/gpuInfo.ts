/** @file A GpuInfo for CPU-only tests (fit checks, adapter choices): a hardware GPU unless overridden. */
import type { GpuFeatures, GpuInfo, GpuLimits } from '../../kernels/lib/gpuInfo.ts';

export interface GpuInfoOverrides extends Partial<Omit<GpuInfo, 'features' | 'limits'>> {
  readonly features?: Partial<GpuFeatures>;
  readonly limits?: Partial<GpuLimits>;
}

export function testGpuInfo(o: GpuInfoOverrides = {}): GpuInfo {
  return {
    vendor: 'nvidia',
    architecture: 'hopper',
    device: '',
    description: '',
    isFallbackAdapter: false,
    subgroupMinSize: 32,
    subgroupMaxSize: 32,
    ...o,
    features: { f16: true, subgroups: true, timestampQuery: true, ...o.features },
    limits: {
      maxStorageBufferBindingSize: 2 ** 30,
      maxBufferSize: 2 ** 30,
      maxComputeWorkgroupStorageSize: 32768,
      maxStorageBuffersPerShaderStage: 10,
      maxComputeInvocationsPerWorkgroup: 1024,
      maxComputeWorkgroupSizeX: 1024,
      maxComputeWorkgroupsPerDimension: 65535,
      ...o.limits,
    },
  };
}
