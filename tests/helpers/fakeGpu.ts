/**
 * @file A fake WebGPU entry point for CPU-only unit tests of GPU acquisition and of `ping`: it records what
 * acquireGpu asked for (features, limits, power preference) so tests can check the policy without a driver.
 */

export interface FakeAdapterSpec {
  /** What requestAdapter does: give the adapter (default), return null, or throw. */
  readonly adapter?: 'ok' | 'null' | 'throw';
  readonly features?: readonly string[];
  readonly limits?: Readonly<Record<string, number>>;
  readonly info?: Readonly<{
    vendor?: string;
    architecture?: string;
    device?: string;
    description?: string;
    isFallbackAdapter?: boolean;
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
  }>;
  /** Makes requestDevice reject with this message. */
  readonly requestDeviceError?: string;
}

export interface FakeGpu {
  readonly gpu: GPU;
  readonly adapterRequests: (GPURequestAdapterOptions | undefined)[];
  readonly deviceRequests: (GPUDeviceDescriptor | undefined)[];
  /** How many devices were destroyed. */
  readonly destroyed: () => number;
}

export const DEFAULT_LIMITS: Readonly<Record<string, number>> = {
  maxStorageBufferBindingSize: 1 << 30,
  maxBufferSize: 2 ** 32,
  maxComputeWorkgroupStorageSize: 32768,
  maxStorageBuffersPerShaderStage: 10,
  maxComputeInvocationsPerWorkgroup: 1024,
  maxComputeWorkgroupSizeX: 1024,
  maxComputeWorkgroupsPerDimension: 65535,
  maxBindGroups: 4,
};

export function fakeGpu(spec: FakeAdapterSpec = {}): FakeGpu {
  const adapterRequests: (GPURequestAdapterOptions | undefined)[] = [];
  const deviceRequests: (GPUDeviceDescriptor | undefined)[] = [];
  let destroyed = 0;
  const limits = { ...DEFAULT_LIMITS, ...spec.limits };
  const adapter = {
    features: new Set(spec.features ?? []),
    limits,
    info: {
      vendor: 'fakevendor',
      architecture: 'fakearch',
      device: 'fakedevice',
      description: 'a fake adapter',
      isFallbackAdapter: false,
      subgroupMinSize: 4,
      subgroupMaxSize: 64,
      ...spec.info,
    },
    requestDevice(desc?: GPUDeviceDescriptor) {
      deviceRequests.push(desc);
      if (spec.requestDeviceError) return Promise.reject(new Error(spec.requestDeviceError));
      let resolveLost: (v: { reason: GPUDeviceLostReason; message: string }) => void = () => {};
      const lost = new Promise<{ reason: GPUDeviceLostReason; message: string }>((r) => (resolveLost = r));
      // The device gets exactly the limits it asked for, as a real one does.
      const granted: Record<string, number> = {};
      for (const [k, v] of Object.entries(desc?.requiredLimits ?? {})) if (typeof v === 'number') granted[k] = v;
      return Promise.resolve({
        limits: granted,
        lost,
        destroy() {
          destroyed++;
          resolveLost({ reason: 'destroyed', message: 'Device was destroyed.' });
        },
      });
    },
  };
  const gpu = {
    requestAdapter(opts?: GPURequestAdapterOptions) {
      adapterRequests.push(opts);
      if (spec.adapter === 'throw') return Promise.reject(new Error('driver exploded'));
      return Promise.resolve(spec.adapter === 'null' ? null : adapter);
    },
  };
  // The one cast: WebGPU's types are branded, and a fake cannot carry the brand.
  return { gpu: gpu as unknown as GPU, adapterRequests, deviceRequests, destroyed: () => destroyed };
}
