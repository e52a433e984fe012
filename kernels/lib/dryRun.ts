/**
 * @file A dry run of graph recording: a stand-in GPUDevice that allocates nothing, compiles nothing and
 * submits nothing, so code that records dispatches (the runner's constructor) can run once to learn which
 * pipelines it needs. The real device then compiles them all asynchronously and in parallel
 * (`KernelContext.precompile`), and the real recording finds every pipeline in the cache.
 *
 * Only what recording touches is emulated; anything else throws `DryRunUnsupported`, and callers fall back to
 * recording on the real device (compiling as they go).
 */
import type { GpuInfo } from './gpuInfo.ts';
import { KernelContext, type KernelContextOptions, type PipelineSpec } from './context.ts';

export class DryRunUnsupported extends Error {
  override name = 'DryRunUnsupported';
}

const inert = (label: string): object =>
  new Proxy(
    { label },
    {
      get(t, p) {
        if (p in t) return Reflect.get(t, p);
        if (typeof p === 'symbol' || p === 'then') return undefined;
        // Recording only builds objects; anything that would do GPU work is not part of a dry run.
        return () => {
          throw new DryRunUnsupported(`dry run: ${label}.${p} is not emulated`);
        };
      },
    },
  );

function dryBuffer(d: GPUBufferDescriptor): object {
  return {
    label: d.label ?? '',
    size: d.size,
    usage: d.usage,
    mapState: 'unmapped',
    destroy: () => undefined,
    unmap: () => undefined,
    getMappedRange: (offset = 0, size = d.size - offset) => new ArrayBuffer(size),
    mapAsync: () => Promise.resolve(),
  };
}

function dryEncoder(): object {
  const pass = { setPipeline: () => undefined, setBindGroup: () => undefined, dispatchWorkgroups: () => undefined, end: () => undefined };
  return {
    beginComputePass: () => pass,
    copyBufferToBuffer: () => undefined,
    clearBuffer: () => undefined,
    finish: () => ({}),
  };
}

function dryDevice(real: GPUDevice): GPUDevice {
  const device = {
    label: 'dry run',
    limits: real.limits,
    features: real.features,
    queue: { writeBuffer: () => undefined, submit: () => undefined, onSubmittedWorkDone: () => Promise.resolve() },
    createBuffer: dryBuffer,
    createBindGroup: (d: GPUBindGroupDescriptor) => ({ label: d.label ?? '' }),
    createShaderModule: (d: GPUShaderModuleDescriptor) => ({ label: d.label ?? '' }),
    createCommandEncoder: dryEncoder,
    pushErrorScope: () => undefined,
    popErrorScope: () => Promise.resolve(null),
    destroy: () => undefined,
  };
  // The stand-in implements the part of GPUDevice that recording uses; the rest throws (see `inert`).
  return new Proxy(device, {
    get(t, p) {
      if (p in t) return Reflect.get(t, p);
      return Reflect.get(inert('GPUDevice'), p);
    },
  }) as unknown as GPUDevice;
}

/** A KernelContext over the stand-in device: `pipeline()` records specs and returns placeholders. */
export class DryKernelContext extends KernelContext {
  readonly specs = new Map<string, PipelineSpec>();

  constructor(real: GPUDevice, info: GpuInfo, opts: KernelContextOptions = {}) {
    super(dryDevice(real), info, opts);
  }

  override pipeline(spec: PipelineSpec): GPUComputePipeline {
    const key = KernelContext.key(spec);
    this.specs.set(key, spec);
    const layout = inert(`${key} layout`);
    // A placeholder the dry device's createBindGroup accepts; it is never encoded on a real device.
    return { label: key, getBindGroupLayout: () => layout } as unknown as GPUComputePipeline;
  }
}

/**
 * Runs `record` on a dry context and returns the pipelines it asked for (in first-use order), or undefined
 * when the recording fails or needs something a dry run cannot emulate (the caller then records on the real
 * device, which compiles as it goes and reports any real error itself).
 */
export function collectPipelines(real: GPUDevice, info: GpuInfo, record: (ctx: KernelContext) => void, opts: KernelContextOptions = {}): PipelineSpec[] | undefined {
  const dry = new DryKernelContext(real, info, opts);
  try {
    record(dry);
  } catch {
    // DryRunUnsupported, or a real error (a shape or memory limit) that the real recording reports itself.
    return undefined;
  }
  return [...dry.specs.values()];
}
