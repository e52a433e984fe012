/**
 * @file Timing GPU work, shared by `bench-kernels` (scripts/lib/benchKernels.ts) and the model benchmark
 * (bench.ts: the CLI `bench`, the worker's `bench` method, `bench:browser`, Settings → Benchmark): GPU time of
 * many back-to-back dispatches in one compute pass (timestamp queries when the adapter has them, else wall time
 * around onSubmittedWorkDone), and the streaming-read kernel that gives the device's read bandwidth in the
 * same run. No Node imports: it runs in the engine worker too.
 */
import { encodeDispatch, KernelContext, type Dispatch } from '../../kernels/lib/context.ts';
import { GpuOutOfMemoryError } from '../errors.ts';
import type { GpuContext } from '../gpu/device.ts';

export interface Timing {
  /** Seconds per dispatch (best of the repetitions). */
  readonly seconds: number;
  readonly dispatches: number;
  readonly method: 'timestamp' | 'wall';
}

/** Runs one pass of `ds` and returns its GPU seconds (timestamps) or wall seconds. */
async function timePass(ctx: KernelContext, ds: readonly Dispatch[], query: GPUQuerySet | undefined): Promise<number> {
  const enc = ctx.device.createCommandEncoder();
  const pass = enc.beginComputePass(
    query ? { timestampWrites: { querySet: query, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {},
  );
  for (const d of ds) encodeDispatch(pass, d);
  pass.end();
  let resolve: GPUBuffer | undefined;
  let staging: GPUBuffer | undefined;
  if (query) {
    resolve = ctx.device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    staging = ctx.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    enc.resolveQuerySet(query, 0, 2, resolve, 0);
    enc.copyBufferToBuffer(resolve, 0, staging, 0, 16);
  }
  const t0 = performance.now();
  ctx.device.queue.submit([enc.finish()]);
  await ctx.device.queue.onSubmittedWorkDone();
  const wall = (performance.now() - t0) / 1000;
  if (!staging || !resolve) return wall;
  await staging.mapAsync(GPUMapMode.READ);
  const ts = new BigUint64Array(staging.getMappedRange().slice(0));
  staging.unmap();
  staging.destroy();
  resolve.destroy();
  const ns = Number(ts[1] - ts[0]);
  // Some drivers report 0 or garbage for passes they cannot time: fall back to wall time.
  return ns > 0 && ns / 1e9 < wall * 2 ? ns / 1e9 : wall;
}

export interface TimeOptions {
  /** Aim for passes of about this many seconds (more dispatches for short kernels). */
  readonly passSeconds: number;
  readonly maxDispatches: number;
  readonly reps: number;
}

/**
 * Times `make(i)` dispatches: a calibration pass of a few dispatches sizes the real passes to about
 * `passSeconds`, then the best of `reps` passes gives the seconds per dispatch.
 */
export async function timeDispatches(ctx: KernelContext, make: (i: number) => Dispatch, opts: TimeOptions): Promise<Timing> {
  const query = ctx.info.features.timestampQuery ? ctx.device.createQuerySet({ type: 'timestamp', count: 2 }) : undefined;
  const warm = Array.from({ length: 4 }, (_, i) => make(i));
  await timePass(ctx, warm, undefined);
  const per = (await timePass(ctx, warm, query)) / warm.length;
  const n = Math.max(3, Math.min(opts.maxDispatches, Math.ceil(opts.passSeconds / Math.max(per, 1e-7))));
  const ds = Array.from({ length: n }, (_, i) => make(i));
  let best = Infinity;
  for (let r = 0; r < opts.reps; r++) best = Math.min(best, (await timePass(ctx, ds, query)) / n);
  query?.destroy();
  return { seconds: best, dispatches: n, method: query ? 'timestamp' : 'wall' };
}

const STREAM_WG = 256;
const STREAM_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(${STREAM_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = arrayLength(&src);
  let stride = nwg.x * ${STREAM_WG}u;
  var acc = vec4<f32>(0.0);
  for (var i = gid.x; i < n; i += stride) {
    acc += src[i];
  }
  // Written only when impossible in practice, so the loads are not optimised away.
  if (acc.x == 1.2345e-30) { dst[gid.x] = acc.y + acc.z + acc.w; }
}`;

export interface StreamResult {
  readonly bytes: number;
  readonly timing: Timing;
  readonly gbps: number;
}

/** The device's read bandwidth: a grid-stride vec4 sum over one large buffer. */
export async function streamRead(ctx: KernelContext, bytes: number, opts: TimeOptions): Promise<StreamResult> {
  const size = Math.floor(Math.min(bytes, ctx.maxBinding, ctx.info.limits.maxBufferSize) / 16) * 16;
  const src = ctx.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE, label: 'bench.stream' });
  const workgroups = Math.min(ctx.info.limits.maxComputeWorkgroupsPerDimension, 132 * 16);
  const dst = ctx.storage(workgroups * STREAM_WG * 4, 'bench.stream.dst');
  const pipeline = ctx.pipeline({ family: 'bench-stream', source: STREAM_WGSL });
  const d = ctx.dispatch(pipeline, [src, dst], [workgroups]);
  const timing = await timeDispatches(ctx, () => d, opts);
  src.destroy();
  dst.destroy();
  return { bytes: size, timing, gbps: size / timing.seconds / 1e9 };
}


/**
 * The read bandwidth (GB/s) of the device the model is on, in the same run: 1 GiB (64 MiB on a software
 * adapter, where a pass over 1 GiB takes seconds), halved while the allocation fails, down to 16 MiB.
 */
export async function measureReadBandwidth(gpu: GpuContext): Promise<number> {
  const ctx = new KernelContext(gpu.device, gpu.info);
  const quick = gpu.info.isFallbackAdapter;
  const opts: TimeOptions = { passSeconds: quick ? 0.2 : 0.05, maxDispatches: 200, reps: 3 };
  for (let bytes = quick ? 64 * 2 ** 20 : 1024 * 2 ** 20; bytes >= 16 * 2 ** 20; bytes /= 2) {
    gpu.device.pushErrorScope('out-of-memory');
    let r: StreamResult | undefined;
    let failed = false;
    try {
      r = await streamRead(ctx, bytes, opts);
    } finally {
      failed = (await gpu.device.popErrorScope()) !== null;
    }
    if (!failed && r) return r.gbps;
  }
  throw new GpuOutOfMemoryError('no room on the GPU for the 16 MiB bandwidth probe next to the model');
}
