/**
 * @file GPU acquisition policy (workers/gpu/device.ts) against fake adapters: clear GpuUnavailableError for
 * every way of having no GPU, only present features enabled, the adapter's maxima requested as limits.
 */
import { describe, expect, it } from 'vitest';
import { acquireGpu, describeGpu, GpuUnavailableError } from '../../workers/gpu/device.ts';
import { DEFAULT_LIMITS, fakeGpu } from '../helpers/fakeGpu.ts';

describe('acquireGpu without a GPU', () => {
  it('rejects undefined (no navigator.gpu) with GpuUnavailableError saying which browsers work', async () => {
    const err = await acquireGpu(undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuUnavailableError);
    expect(err).toHaveProperty('name', 'GpuUnavailableError');
    expect(err).toHaveProperty('message', expect.stringMatching(/WebGPU is not available in this browser.*Chrome or Edge 113\+.*--enable-unsafe-webgpu/));
  });

  it('rejects a null adapter with GpuUnavailableError that says how to enable one', async () => {
    const fake = fakeGpu({ adapter: 'null' });
    const err = await acquireGpu(fake.gpu).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuUnavailableError);
    expect(err).toHaveProperty('message', expect.stringMatching(/no GPU adapter.*--enable-unsafe-webgpu/));
    expect(err).toHaveProperty('message', expect.not.stringMatching(/Node|VK_ICD/));
    const nodeErr = await acquireGpu(fakeGpu({ adapter: 'null' }).gpu, { host: 'node' }).catch((e: unknown) => e);
    expect(nodeErr).toHaveProperty('message', expect.stringMatching(/no adapter.*VK_ICD_FILENAMES/));
    expect(fake.deviceRequests).toHaveLength(0);
  });

  it('turns a throwing requestAdapter into GpuUnavailableError with the cause', async () => {
    const err = await acquireGpu(fakeGpu({ adapter: 'throw' }).gpu).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuUnavailableError);
    expect(err).toHaveProperty('message', 'requestAdapter failed: driver exploded');
  });

  it('turns a failing requestDevice into GpuUnavailableError with the cause', async () => {
    const err = await acquireGpu(fakeGpu({ requestDeviceError: 'limit too high' }).gpu).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuUnavailableError);
    expect(err).toHaveProperty('message', 'requestDevice failed: limit too high');
  });
});

describe('acquireGpu feature detection', () => {
  it('enables only the optional features the adapter has', async () => {
    const fake = fakeGpu({ features: ['shader-f16', 'timestamp-query', 'texture-compression-bc'] });
    const { info } = await acquireGpu(fake.gpu);
    expect(info.features).toEqual({ f16: true, subgroups: false, timestampQuery: true });
    expect(fake.deviceRequests[0]?.requiredFeatures).toEqual(['shader-f16', 'timestamp-query']);
  });

  it('enables nothing on an adapter without optional features', async () => {
    const fake = fakeGpu({ features: [] });
    const { info } = await acquireGpu(fake.gpu);
    expect(info.features).toEqual({ f16: false, subgroups: false, timestampQuery: false });
    expect(fake.deviceRequests[0]?.requiredFeatures).toEqual([]);
  });

  it('enables all three when present, and `disable` turns single ones off', async () => {
    const all = ['shader-f16', 'subgroups', 'timestamp-query'];
    const full = fakeGpu({ features: all });
    expect((await acquireGpu(full.gpu)).info.features).toEqual({ f16: true, subgroups: true, timestampQuery: true });
    expect(full.deviceRequests[0]?.requiredFeatures).toEqual(all);

    const partial = fakeGpu({ features: all });
    const { info } = await acquireGpu(partial.gpu, { disable: { subgroups: true, f16: true } });
    expect(info.features).toEqual({ f16: false, subgroups: false, timestampQuery: true });
    expect(partial.deviceRequests[0]?.requiredFeatures).toEqual(['timestamp-query']);
  });
});

describe('acquireGpu limits, info and lifetime', () => {
  it("requests the adapter's maxima for the engine's limits and reports what the device got", async () => {
    const fake = fakeGpu({ limits: { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 2 ** 31 } });
    const { info } = await acquireGpu(fake.gpu);
    const req = fake.deviceRequests[0]?.requiredLimits ?? {};
    expect(req.maxStorageBufferBindingSize).toBe(128 * 2 ** 20);
    expect(req.maxBufferSize).toBe(2 ** 31);
    expect(req.maxComputeInvocationsPerWorkgroup).toBe(DEFAULT_LIMITS.maxComputeInvocationsPerWorkgroup);
    expect(req).not.toHaveProperty('maxBindGroups');
    expect(info.limits.maxStorageBufferBindingSize).toBe(128 * 2 ** 20);
    expect(info.limits.maxComputeWorkgroupsPerDimension).toBe(65535);
  });

  it('asks for the high-performance adapter unless told otherwise', async () => {
    const fake = fakeGpu();
    await acquireGpu(fake.gpu);
    await acquireGpu(fake.gpu, { powerPreference: 'low-power' });
    expect(fake.adapterRequests.map((o) => o?.powerPreference)).toEqual(['high-performance', 'low-power']);
  });

  it('copies adapter info, accepts fallback adapters and describes them in one line', async () => {
    const fake = fakeGpu({
      features: ['subgroups'],
      info: { vendor: 'google', architecture: 'swiftshader', device: '', description: '', isFallbackAdapter: true, subgroupMinSize: 4, subgroupMaxSize: 4 },
    });
    const { info } = await acquireGpu(fake.gpu);
    expect(info).toMatchObject({ vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true, subgroupMinSize: 4, subgroupMaxSize: 4 });
    const line = describeGpu(info);
    expect(line).toMatch(/^google swiftshader \(fallback\); features \[subgroups\]; subgroup 4-4; binding 1024 MiB, buffer 4096 MiB$/);
  });

  it('resolves `lost` with destroyed=true after our own destroy()', async () => {
    const fake = fakeGpu();
    const ctx = await acquireGpu(fake.gpu);
    ctx.device.destroy();
    await expect(ctx.lost).resolves.toEqual({ destroyed: true, message: 'Device was destroyed.' });
    expect(fake.destroyed()).toBe(1);
  });
});
