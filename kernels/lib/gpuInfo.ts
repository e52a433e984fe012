/**
 * @file The adapter's description in plain data: what the kernels size workgroups and bindings by, and what
 * the worker posts to the UI. Produced by workers/gpu/device.ts; lives here so kernels import nothing from
 * workers/.
 */

/** Optional features the engine uses when present. */
export interface GpuFeatures {
  readonly f16: boolean;
  readonly subgroups: boolean;
  readonly timestampQuery: boolean;
}

/** The limits the engine sizes its buffers and workgroups by. */
export interface GpuLimits {
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxComputeWorkgroupStorageSize: number;
  readonly maxStorageBuffersPerShaderStage: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupSizeX: number;
  readonly maxComputeWorkgroupsPerDimension: number;
}

/** What we got, in plain data (safe to post across the worker boundary and to print). */
export interface GpuInfo {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  readonly isFallbackAdapter: boolean;
  readonly subgroupMinSize: number;
  readonly subgroupMaxSize: number;
  readonly features: GpuFeatures;
  readonly limits: GpuLimits;
}
