/**
 * @file Node WebGPU smoke test, deliberately independent of kernels/lib: can this machine's driver
 * (VK_ICD_FILENAMES, set by scripts/test.mjs) give us an adapter, compile WGSL, dispatch and read back?
 * No adapter is a failure with the acquisition error's message, never a skip.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeGpu, type GpuContext } from '../../workers/gpu/device.ts';
import { acquireNodeGpu } from '../../workers/gpu/nodeGpu.ts';
import { seededF32 } from '../helpers/rng.ts';

const WG = 64;
const SHADER = /* wgsl */ `
struct Params { a: f32, b: f32, n: u32, _pad: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // (n)
@group(0) @binding(2) var<storage, read_write> y: array<f32>;  // (n)

@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= p.n) { return; }
  y[i] = p.a * x[i] + p.b;
}
`;

let gpu: GpuContext;

beforeAll(async () => {
  gpu = await acquireNodeGpu();
  console.log(`[smoke] VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? '(unset)'}\n[smoke] adapter: ${describeGpu(gpu.info)}`);
});

afterAll(() => {
  // dawn.node keeps the process alive while a device exists.
  gpu?.device.destroy();
});

/** y = a*x + b on the GPU, n not a multiple of the workgroup size so the bounds check matters. */
async function saxpy(device: GPUDevice, a: number, b: number, x: Float32Array): Promise<Float32Array> {
  const n = x.length;
  const params = new ArrayBuffer(16);
  new Float32Array(params, 0, 2).set([a, b]);
  new Uint32Array(params, 8, 1)[0] = n;
  const uniform = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(uniform, 0, params);
  const xb = device.createBuffer({ size: x.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(xb, 0, x);
  // One spare element past n, pre-filled with a sentinel, catches writes beyond the bound.
  const yb = device.createBuffer({ size: (n + 1) * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(yb, 0, new Float32Array(n + 1).fill(-12345));
  const read = device.createBuffer({ size: (n + 1) * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });

  device.pushErrorScope('validation');
  const pipeline = device.createComputePipeline({
    label: 'smoke:saxpy',
    layout: 'auto',
    compute: { module: device.createShaderModule({ code: SHADER }), entryPoint: 'main' },
  });
  const bind = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      { binding: 0, resource: { buffer: uniform } },
      { binding: 1, resource: { buffer: xb } },
      { binding: 2, resource: { buffer: yb } },
    ],
  });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bind);
  pass.dispatchWorkgroups(Math.ceil(n / WG));
  pass.end();
  enc.copyBufferToBuffer(yb, 0, read, 0, (n + 1) * 4);
  device.queue.submit([enc.finish()]);
  const err = await device.popErrorScope();
  if (err) throw new Error(`WebGPU validation error: ${err.message}`);

  await read.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(read.getMappedRange().slice(0));
  read.unmap();
  for (const buf of [uniform, xb, yb, read]) buf.destroy();
  return out;
}

describe('Node WebGPU smoke', () => {
  it('has an adapter with sane limits', () => {
    expect(gpu.info.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(gpu.info.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
  });

  it('computes y = a*x + b over 1001 elements like the CPU', async () => {
    const n = 1001;
    const x = seededF32(n, 42, 10);
    const a = Math.fround(1.7);
    const b = Math.fround(-0.3);
    const got = await saxpy(gpu.device, a, b, x);
    let worst = 0;
    let worstAt = -1;
    for (let i = 0; i < n; i++) {
      // f32 multiply-add, with or without FMA: within 2 ulp of the exact value.
      const want = a * x[i] + b;
      const err = Math.abs(got[i] - want) / Math.max(1, Math.abs(want));
      if (!(err <= worst)) {
        worst = err;
        worstAt = i;
      }
    }
    expect(worst, `max relative error ${worst} at [${worstAt}]: computed ${got[worstAt]}, expected ${a * x[worstAt] + b}`).toBeLessThan(5e-7);
    expect(got[n], 'the shader wrote past n').toBe(-12345);
  });
});
