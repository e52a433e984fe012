/**
 * @file Shared harness for kernel tests: one GPU per test file (a missing adapter FAILS the file, never
 * skips it), a seeded RNG, and a comparison that reports NMSE and max-abs error and, on failure, the first
 * indices with computed and expected values (llm.c / web-rwkv style).
 */
import { expect } from 'vitest';
import { describeGpu } from '../../workers/gpu/device.ts';
import { acquireNodeGpu } from '../../workers/gpu/nodeGpu.ts';
import { KernelContext, type KernelContextOptions } from '../../kernels/lib/context.ts';

export interface GpuFixture {
  readonly ctx: KernelContext;
  release(): void;
}

/** Acquires the Node WebGPU adapter; throws (fails the test) when there is none. */
export async function gpuFixture(opts: KernelContextOptions & { noSubgroups?: boolean } = {}): Promise<GpuFixture> {
  const gpu = await acquireNodeGpu(opts.noSubgroups ? { disable: { subgroups: true } } : {});
  const ctx = new KernelContext(gpu.device, gpu.info, opts);
  return {
    ctx,
    release: () => gpu.device.destroy(),
  };
}

export function adapterLine(ctx: KernelContext): string {
  return `[kernels] adapter: ${describeGpu(ctx.info)} (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? 'default'})`;
}

/** Seeded test data: the same generator as the other tests. */
export { mulberry32 as rng, seededF32 as randomF32 } from '../helpers/rng.ts';

export interface Tolerance {
  /** Normalised MSE: mse(got, want) / mse(want, 0). */
  readonly nmse: number;
  readonly maxAbs: number;
}

export interface Comparison {
  readonly nmse: number;
  readonly maxAbs: number;
  readonly worst: number;
}

export function compareArrays(got: ArrayLike<number>, want: ArrayLike<number>): Comparison {
  let se = 0;
  let sw = 0;
  let maxAbs = 0;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const d = got[i] - want[i];
    se += d * d;
    sw += want[i] * want[i];
    const ad = Number.isNaN(d) ? Infinity : Math.abs(d);
    if (ad > maxAbs) {
      maxAbs = ad;
      worst = i;
    }
  }
  return { nmse: sw > 0 ? se / sw : se, maxAbs, worst };
}

/** Asserts closeness; the failure message names the case and lists the first bad indices. */
export function expectClose(label: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance): Comparison {
  expect(got.length, `${label}: length`).toBe(want.length);
  const c = compareArrays(got, want);
  if (!(c.nmse <= tol.nmse && c.maxAbs <= tol.maxAbs)) {
    const bad: string[] = [];
    for (let i = 0; i < want.length && bad.length < 8; i++) {
      if (!(Math.abs(got[i] - want[i]) <= tol.maxAbs)) bad.push(`  [${i}] computed ${got[i]} expected ${want[i]}`);
    }
    throw new Error(
      `${label}: NMSE ${c.nmse.toExponential(2)} (limit ${tol.nmse}), max-abs ${c.maxAbs.toExponential(2)} at ${c.worst} ` +
        `(limit ${tol.maxAbs})\n${bad.join('\n')}`,
    );
  }
  return c;
}
