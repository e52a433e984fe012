/**
 * @file What every kernel wrapper needs: the device and its features, a pipeline cache keyed by
 * `family:variant` (filled on first use, or ahead by `precompile`: asynchronous, parallel compilation of the set a
 * dry run of the recording collected, see dryRun.ts), uniform and storage buffer helpers, and `Dispatch` — a pipeline + bind group + grid built
 * once and encoded many times, so a decode step can be re-recorded without rebuilding bind groups.
 */
import type { GpuInfo } from './gpuInfo.ts';
import { definesKey, preprocess, type Defines } from './preprocess.ts';
import { packParams, paramsByteSize, type ParamSchema, type ParamValues } from './params.ts';

/** A shape or type that a kernel cannot take: thrown by wrappers before anything reaches the GPU. */
export class KernelShapeError extends Error {
  override name = 'KernelShapeError';
}

export function check(cond: boolean, msg: () => string): asserts cond {
  if (!cond) throw new KernelShapeError(msg());
}

export interface PipelineSpec {
  /** Kernel family (the .wgsl file), e.g. `matvec`. */
  readonly family: string;
  readonly source: string;
  readonly defines?: Defines;
  readonly includes?: Readonly<Record<string, string>>;
  /** WGSL `override` constants. */
  readonly overrides?: Readonly<Record<string, number>>;
  readonly entry?: string;
}

/** A recorded dispatch: encode it into any compute pass, any number of times. */
export interface Dispatch {
  readonly label: string;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly workgroups: readonly [number, number, number];
  /** Uniform buffer of this dispatch, for updating parameters (e.g. position) between encodes. */
  readonly params?: GPUBuffer;
}

export interface KernelContextOptions {
  /** Pretend the binding limit is smaller (tests of the split-binding path). */
  readonly maxBindingOverride?: number;
  /**
   * Kernels declare only the workgroup memory the shape needs (smaller tiles). For software adapters: Dawn
   * zero-initialises workgroup memory there in generated code, so compile time grows with every byte declared
   * (SwiftShader: about 85 ms per KiB per pipeline; the 29 KiB split-attention kernel took 3.2 s against 0.11 s
   * with that initialisation off), while their speed barely depends on tile sizes.
   */
  readonly compactWorkgroupMemory?: boolean;
}

export class KernelContext {
  readonly maxBinding: number;
  readonly subgroups: boolean;
  readonly f16: boolean;
  /** See KernelContextOptions.compactWorkgroupMemory. */
  readonly compact: boolean;
  private readonly pipelines = new Map<string, GPUComputePipeline>();

  constructor(
    readonly device: GPUDevice,
    readonly info: GpuInfo,
    opts: KernelContextOptions = {},
  ) {
    const lim = info.limits.maxStorageBufferBindingSize;
    this.maxBinding = Math.min(lim, opts.maxBindingOverride ?? lim);
    this.compact = opts.compactWorkgroupMemory === true;
    this.subgroups = info.features.subgroups;
    this.f16 = info.features.f16;
  }

  /** The cache key and label of a pipeline: `family:defines:overrides:entry`. */
  static key(spec: PipelineSpec): string {
    const ov = spec.overrides ?? {};
    return (
      `${spec.family}:${definesKey(spec.defines ?? {})}:` +
      Object.keys(ov)
        .sort()
        .map((k) => `${k}=${ov[k]}`)
        .join(',') +
      `:${spec.entry ?? 'main'}`
    );
  }

  private static descriptor(device: GPUDevice, spec: PipelineSpec, key: string): GPUComputePipelineDescriptor {
    const code = preprocess(spec.source, spec.defines ?? {}, spec.includes ?? {});
    const module = device.createShaderModule({ code, label: key });
    return { label: key, layout: 'auto', compute: { module, entryPoint: spec.entry ?? 'main', constants: spec.overrides ?? {} } };
  }

  /** Compiles (once per key) and returns the pipeline. The label is `family:defines:overrides`. */
  pipeline(spec: PipelineSpec): GPUComputePipeline {
    const key = KernelContext.key(spec);
    const hit = this.pipelines.get(key);
    if (hit) return hit;
    const p = this.device.createComputePipeline(KernelContext.descriptor(this.device, spec, key));
    this.pipelines.set(key, p);
    return p;
  }

  /**
   * Compiles `specs` with createComputePipelineAsync, all at once (the browser compiles them in parallel, off the
   * page's threads), into the cache `pipeline()` reads; `onProgress(done, total)` after each. A spec that fails to
   * compile is left to `pipeline()` (which reports it as WebGPU does). Rejects with the signal's reason when aborted.
   */
  async precompile(specs: readonly PipelineSpec[], onProgress?: (done: number, total: number) => void, signal?: AbortSignal): Promise<void> {
    const todo = new Map<string, PipelineSpec>();
    for (const s of specs) {
      const key = KernelContext.key(s);
      if (!this.pipelines.has(key)) todo.set(key, s);
    }
    const total = todo.size;
    let done = 0;
    onProgress?.(0, total);
    const aborted = new Promise<never>((_, reject) => {
      if (signal?.aborted) reject(signal.reason);
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
    aborted.catch(() => undefined);
    const jobs = [...todo].map(async ([key, spec]) => {
      try {
        const p = await this.device.createComputePipelineAsync(KernelContext.descriptor(this.device, spec, key));
        this.pipelines.set(key, p);
      } catch (e) {
        console.warn(`[brix] ${key}: asynchronous compilation failed (${e instanceof Error ? e.message : String(e)}); compiling it on first use`);
      }
      onProgress?.(++done, total);
    });
    await Promise.race([Promise.all(jobs), aborted]);
  }

  get pipelineCount(): number {
    return this.pipelines.size;
  }

  uniform<S extends ParamSchema>(schema: S, values: ParamValues<S>, label = 'params'): GPUBuffer {
    const buf = this.device.createBuffer({
      label,
      size: paramsByteSize(schema),
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.device.queue.writeBuffer(buf, 0, packParams(schema, values));
    return buf;
  }

  writeUniform<S extends ParamSchema>(buf: GPUBuffer, schema: S, values: ParamValues<S>): void {
    this.device.queue.writeBuffer(buf, 0, packParams(schema, values));
  }

  /** A storage buffer (size rounded up to 4 bytes), optionally filled. */
  storage(sizeOrData: number | ArrayBufferView, label = 'storage', extraUsage = 0): GPUBuffer {
    const size = typeof sizeOrData === 'number' ? sizeOrData : sizeOrData.byteLength;
    const buf = this.device.createBuffer({
      label,
      size: Math.max(4, Math.ceil(size / 4) * 4),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST | extraUsage,
    });
    if (typeof sizeOrData !== 'number') writeBytes(this.device, buf, 0, sizeOrData);
    return buf;
  }

  /** Builds a dispatch; `buffers[i]` goes to binding i of group 0 (a uniform `params` may be one of them). */
  dispatch(
    pipeline: GPUComputePipeline,
    buffers: readonly (GPUBuffer | GPUBufferBinding)[],
    workgroups: readonly [number, number?, number?],
    params?: GPUBuffer,
  ): Dispatch {
    const [x, y = 1, z = 1] = workgroups;
    const max = this.info.limits.maxComputeWorkgroupsPerDimension;
    check(x <= max && y <= max && z <= max && x >= 0 && y >= 0 && z >= 0, () => `grid ${x}x${y}x${z} exceeds ${max}`);
    const bindGroup = this.device.createBindGroup({
      label: pipeline.label,
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.map((b, i) => ({ binding: i, resource: 'buffer' in b ? b : { buffer: b } })),
    });
    return { label: pipeline.label, pipeline, bindGroup, workgroups: [x, y, z], params };
  }

  /** Encodes dispatches into one compute pass of a new command buffer and submits it. */
  run(dispatches: readonly Dispatch[]): void {
    const enc = this.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (const d of dispatches) encodeDispatch(pass, d);
    pass.end();
    this.device.queue.submit([enc.finish()]);
  }

  /** Copies `size` bytes of `src` at `offset` back to the CPU. */
  async read(src: GPUBuffer, offset = 0, size = src.size - offset): Promise<ArrayBuffer> {
    const staging = this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(src, offset, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    return out;
  }

  async readF32(src: GPUBuffer, count?: number, offsetElems = 0): Promise<Float32Array> {
    const n = count ?? src.size / 4 - offsetElems;
    return new Float32Array(await this.read(src, offsetElems * 4, n * 4));
  }

  async readU32(src: GPUBuffer, count?: number, offsetElems = 0): Promise<Uint32Array> {
    const n = count ?? src.size / 4 - offsetElems;
    return new Uint32Array(await this.read(src, offsetElems * 4, n * 4));
  }
}

export function encodeDispatch(pass: GPUComputePassEncoder, d: Dispatch): void {
  pass.setPipeline(d.pipeline);
  pass.setBindGroup(0, d.bindGroup);
  pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
}

/** writeBuffer needs 4-byte multiples: pad the tail. */
export function writeBytes(device: GPUDevice, buf: GPUBuffer, offset: number, data: ArrayBufferView): void {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const whole = bytes.byteLength & ~3;
  if (whole) device.queue.writeBuffer(buf, offset, bytes, 0, whole);
  if (whole !== bytes.byteLength) {
    const tail = new Uint8Array(4);
    tail.set(bytes.subarray(whole));
    device.queue.writeBuffer(buf, offset + whole, tail);
  }
}

/** Splits `n` workgroups into an (x, y) grid within the per-dimension limit; kernels rebuild the linear id. */
export function grid2d(n: number, max = 65535): [number, number] {
  if (n <= max) return [n, 1];
  const y = Math.ceil(n / max);
  return [Math.ceil(n / y), y];
}
