/**
 * @file Node's WebGPU entry point: Dawn from the `webgpu` package. The Vulkan driver is whatever
 * VK_ICD_FILENAMES names (lavapipe or SwiftShader here, NVIDIA on the GPU machine). Kept out of the
 * browser bundle: only Node entry points (CLI, tests, benchmarks) import it.
 */
import { acquireGpu, type AcquireOptions, type GpuContext } from './device.ts';

let cached: GPU | undefined;

/** The process-wide `GPU` object; created once because dawn.node instances are heavy. */
export async function nodeGpu(): Promise<GPU> {
  if (cached) return cached;
  const mod: { create: (opts: string[]) => GPU; globals: object } = await import('webgpu');
  Object.assign(globalThis, mod.globals);
  // BRIX_DAWN_FLAGS: Dawn options separated by spaces, e.g. `disable-dawn-features=timestamp_quantization` for
  // the profile command (Dawn rounds timestamps to ~65 µs by default, too coarse for one dispatch).
  cached = mod.create((process.env.BRIX_DAWN_FLAGS ?? '').split(/\s+/).filter((f) => f.length > 0));
  return cached;
}

/** acquireGpu() on Node WebGPU. */
export async function acquireNodeGpu(opts: AcquireOptions = {}): Promise<GpuContext> {
  return acquireGpu(await nodeGpu(), { host: 'node', ...opts });
}
