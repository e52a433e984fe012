import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argmax, sample, samplePlan, updateSample, ARGMAX_WG_SIZES, SAMPLE_WG_SIZES, type SampleArgs, type SampleConfig } from '../../kernels/sample.ts';
import { argmaxRef, pcgHash, sampleRef, uniform01 } from '../../kernels/sample.ref.ts';
import { KernelShapeError, type KernelContext } from '../../kernels/lib/context.ts';
import { adapterLine, gpuFixture, randomF32, rng, type GpuFixture } from './harness.ts';

let sg: GpuFixture;
let nosg: GpuFixture;
beforeAll(async () => {
  sg = await gpuFixture();
  nosg = await gpuFixture({ noSubgroups: true });
  console.log(adapterLine(sg.ctx));
});
afterAll(() => {
  sg?.release();
  nosg?.release();
});

/** Logits like a model's: a few strong candidates over a broad tail. */
function modelLogits(n: number, seed: number): Float32Array {
  const x = randomF32(n, seed, 4);
  const r = rng(seed + 1);
  for (let j = 0; j < Math.min(20, n); j++) x[Math.floor(r() * n)] += 6 + 4 * r();
  return x;
}

async function runSample(
  ctx: KernelContext,
  logits: Float32Array,
  config: SampleConfig,
  step: number,
  recent?: readonly number[],
  wg?: number,
  blockSize?: number,
): Promise<{ token: number; prob: number }> {
  const gl = ctx.storage(new Float32Array([0, 0, 0, ...logits]));
  const gout = ctx.storage(16);
  const gpen = ctx.storage(new Uint32Array([0, ...(recent ?? []), 0xffffffff]));
  ctx.run(
    sample(ctx, {
      vocab: logits.length,
      logits: gl,
      logitsOffset: 3,
      penalty: recent ? { buffer: gpen, offset: 1, count: recent.length + 1 } : undefined,
      out: gout,
      outOffset: 1,
      config,
      step,
      workgroupSize: wg,
      blockSize,
    }),
  );
  const raw = await ctx.read(gout, 4, 8);
  for (const b of [gl, gout, gpen]) b.destroy();
  return { token: new Uint32Array(raw)[0], prob: new Float32Array(raw)[1] };
}

describe('RNG', () => {
  it('PCG hash known values and a uniform spread', () => {
    expect(pcgHash(0)).toBe(129708002);
    expect(pcgHash(1)).toBe(2831084092);
    const bins = new Array<number>(10).fill(0);
    for (let s = 0; s < 10000; s++) bins[Math.floor(uniform01(42, s) * 10)]++;
    for (const b of bins) expect(Math.abs(b - 1000)).toBeLessThan(150);
    expect(uniform01(1, 2)).not.toBe(uniform01(2, 1));
  });
});

describe('argmax', () => {
  for (const [name, get] of [
    ['subgroups', () => sg],
    ['workgroup memory', () => nosg],
  ] as const)
    it(`exact for vocab 1, 5, 32064, 100352 with ties, NaN and -inf (${name}, every workgroup size)`, async () => {
      const { ctx } = get();
      for (const wg of ARGMAX_WG_SIZES) {
        if (wg > ctx.info.limits.maxComputeInvocationsPerWorkgroup) continue;
        for (const n of [1, 5, 32064, 100352]) {
          const x = randomF32(n, n + wg, 3);
          const cases: Float32Array[] = [x];
          if (n > 1) {
            // Ties: the maximum at a high id and at a lower one.
            const t = x.slice();
            t[n - 1] = 9;
            t[Math.floor(n / 3)] = 9;
            t[Math.floor(n / 2)] = 9;
            cases.push(t);
            const nan = t.slice();
            nan[0] = NaN;
            nan[n - 2] = NaN;
            cases.push(nan);
            cases.push(new Float32Array(n).fill(-Infinity));
            const neg = new Float32Array(n).fill(-5);
            neg[n - 1] = -4.5;
            cases.push(neg);
          }
          for (const c of cases) {
            const gl = ctx.storage(new Float32Array([7, ...c]));
            const gout = ctx.storage(16);
            ctx.run([argmax(ctx, { n, logits: gl, logitsOffset: 1, out: gout, outOffset: 2, workgroupSize: wg })]);
            const got = (await ctx.readU32(gout, 2, 2))[0];
            expect(got, `argmax n=${n} wg=${wg}`).toBe(argmaxRef(c));
            gl.destroy();
            gout.destroy();
          }
        }
      }
    });
});

describe('sample', () => {
  it('plans partial top-k stages for a 100,352-token vocabulary', () => {
    const { ctx } = sg;
    const p40 = samplePlan(ctx, 100352, 40);
    expect(p40.stages[0].kind).toBe('block');
    expect(p40.stages.at(-1)!.kind).toBe('final');
    expect(p40.stages[0].blocks).toBe(Math.ceil(100352 / p40.stages[0].nb));
    expect(p40.stages[1].n).toBe(p40.stages[0].blocks * 40);
    expect(samplePlan(ctx, 100352, 40, 256, 2048).stages.length).toBe(2);
    const p256 = samplePlan(ctx, 100352, 0);
    expect(p256.k).toBe(256);
    expect(p256.stages.at(-1)!.n).toBeLessThanOrEqual(p256.stages[0].nb);
    expect(samplePlan(ctx, 5, 40).stages).toEqual([{ kind: 'final', fromLogits: true, n: 5, nb: 64, blocks: 1 }]);
  });

  it('top-k = 1 and temperature 0 equal argmax (ties to the lowest id), vocab 5 to 100352', async () => {
    const { ctx } = sg;
    for (const n of [5, 3000, 100352]) {
      const x = modelLogits(n, n);
      x[n - 1] = 30;
      x[Math.floor(n / 2)] = 30;
      const want = argmaxRef(x);
      for (const config of [
        { temperature: 0.8, topK: 1, topP: 0.9, seed: 3 },
        { temperature: 0, topK: 40, topP: 0.9, seed: 3 },
        { temperature: 0, topK: 0, topP: 1, seed: 3 },
      ].slice(0, n > 50000 ? 2 : 3)) {
        const got = await runSample(ctx, x, config, 11);
        expect(got.token, `n=${n} ${JSON.stringify(config)}`).toBe(want);
        expect(got.prob).toBe(1);
      }
    }
  });

  it('a given (seed, step) picks exactly the reference token (same RNG, same candidates), every workgroup size', async () => {
    const { ctx } = sg;
    const configs: SampleConfig[] = [
      { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, seed: 1234 },
      { temperature: 1.3, topK: 0, topP: 0.9, seed: 99 },
      { temperature: 0.6, topK: 256, topP: 1, repeatPenalty: 1.3, seed: 7 },
      { temperature: 1, topK: 100, topP: 0.5, seed: 0xfffffff0 },
    ];
    let mismatches = 0;
    let checked = 0;
    // Big vocabularies are few steps (each is a chain of sorts, slow on a CPU Vulkan); the small one many.
    // (vocab, steps, configs): the big vocabularies are few chains (slow on CPU Vulkan), the small one many.
    for (const [n, steps, cis] of [
      [100352, [123456], [0, 2]],
      [32064, [1], [1, 3]],
      [2000, [0, 1, 2, 1000, 123456, 7, 8, 9], [0, 1, 2, 3]],
    ] as const)
      for (const ci of cis) {
        const config = configs[ci];
        const x = modelLogits(n, n + ci);
        // Flatten the head so that many candidates carry mass.
        for (let i = 0; i < n; i++) x[i] *= 0.35;
        const recent = [5, 17, n - 1, 17, 42];
        for (const step of steps) {
          const wg = SAMPLE_WG_SIZES[(step + ci) % SAMPLE_WG_SIZES.length];
          const blockSize = [512, 1024, 2048][(step + n) % 3];
          const got = await runSample(ctx, x, config, step, recent, wg, blockSize);
          const want = sampleRef(x, recent, config, step);
          checked++;
          if (got.token !== want.token) {
            // Only a draw within float rounding of a boundary may land on a neighbour.
            expect(want.margin, `n=${n} config ${ci} step ${step}: GPU ${got.token} vs CPU ${want.token}`).toBeLessThan(1e-5);
            mismatches++;
          } else {
            expect(Math.abs(got.prob - want.prob), `prob n=${n} config ${ci} step ${step}`).toBeLessThan(1e-5);
          }
          expect(want.candidates.slice(0, want.keep)).toContain(got.token);
        }
      }
    console.log(`[sample] exact picks: ${checked - mismatches}/${checked} equal to the CPU reference`);
    expect(checked).toBe(36);
    expect(mismatches).toBeLessThanOrEqual(1);
  });

  it('distribution over many steps matches the reference probabilities (chi-square), single- and multi-stage', async () => {
    const { ctx } = sg;
    for (const [n, draws] of [
      [300, 1200],
      [3000, 500],
    ] as const) {
      const x = modelLogits(n, 5 + n);
      for (let i = 0; i < n; i++) x[i] *= 0.3;
      const config: SampleConfig = { temperature: 0.7, topK: 50, topP: 0.9, seed: 2024 };
      const ref = sampleRef(x, [], config, 0);
      const gl = ctx.storage(x);
      const gout = ctx.storage(8);
      const results = ctx.device.createBuffer({ size: draws * 8, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC | GPUBufferUsage.STORAGE });
      const args: SampleArgs = { vocab: n, logits: gl, out: gout, config, step: 0 };
      const ds = sample(ctx, args);
      for (let s = 0; s < draws; s++) {
        updateSample(ctx, ds, { ...args, step: s });
        const enc = ctx.device.createCommandEncoder();
        const pass = enc.beginComputePass();
        for (const d of ds) {
          pass.setPipeline(d.pipeline);
          pass.setBindGroup(0, d.bindGroup);
          pass.dispatchWorkgroups(...d.workgroups);
        }
        pass.end();
        enc.copyBufferToBuffer(gout, 0, results, s * 8, 8);
        ctx.device.queue.submit([enc.finish()]);
      }
      const got = await ctx.readU32(results);
      const counts = new Map<number, number>();
      for (let s = 0; s < draws; s++) counts.set(got[2 * s], (counts.get(got[2 * s]) ?? 0) + 1);
      const kept = ref.candidates.slice(0, ref.keep);
      for (const id of counts.keys()) expect(kept, `token ${id} outside the kept candidates`).toContain(id);
      // Chi-square over bins of expected count ≥ 5: the small candidates are pooled, and the pool joins the
      // smallest bin when it is itself under 5.
      const binsE: number[] = [];
      const binsO: number[] = [];
      let restE = 0;
      let restO = 0;
      kept.forEach((id, i) => {
        const e = ref.probs[i] * draws;
        const o = counts.get(id) ?? 0;
        if (e >= 5) {
          binsE.push(e);
          binsO.push(o);
        } else {
          restE += e;
          restO += o;
        }
      });
      if (restE >= 5) {
        binsE.push(restE);
        binsO.push(restO);
      } else if (restE > 0) {
        const j = binsE.indexOf(Math.min(...binsE));
        binsE[j] += restE;
        binsO[j] += restO;
      }
      const bins = binsE.length;
      const chi = binsE.reduce((acc, e, j) => acc + (binsO[j] - e) ** 2 / e, 0);
      // The bound is loose (a correct sampler fails it with p ≈ 1e-6): the draws are a fixed RNG stream, and the
      // CPU reference drawing with the same (seed, step)s lands on the same statistic (e.g. 39 over 19 for n = 3000).
      const df = Math.max(1, bins - 1);
      console.log(`[sample] n=${n}: ${draws} draws, chi-square ${chi.toFixed(1)} over ${df} degrees of freedom, ${ref.keep} kept candidates`);
      expect(bins, `n=${n}: enough bins for a meaningful test`).toBeGreaterThan(5);
      expect(chi, `n=${n}: chi-square ${chi.toFixed(1)} over ${df} degrees of freedom`).toBeLessThan(df + 6 * Math.sqrt(2 * df) + 10);
      gl.destroy();
      gout.destroy();
      results.destroy();
    }
  });

  it('repetition penalty: divides positive logits, multiplies negative ones, once per id, ignores ids ≥ vocab', async () => {
    const { ctx } = sg;
    for (const n of [64, 5000]) {
      const greedy = { temperature: 0, topK: 40, topP: 1, seed: 1 };
      const x = new Float32Array(n).fill(-3);
      const a = n - 7;
      x[a] = 5;
      x[3] = 4;
      expect((await runSample(ctx, x, greedy, 0)).token).toBe(a);
      expect((await runSample(ctx, x, { ...greedy, repeatPenalty: 1.5 }, 0, [a, 0xfffffff0, n])).token).toBe(3);
      // Applied once: 5 / 1.3 = 3.85 still beats 3.5; three times it would not.
      const y = x.slice();
      y[3] = 3.5;
      expect((await runSample(ctx, y, { ...greedy, repeatPenalty: 1.3 }, 0, [a, a, a])).token).toBe(a);
      // Negative logits are multiplied: -1 · 1.5 = -1.5 < -1.2.
      const z = new Float32Array(n).fill(-9);
      z[2] = -1;
      z[n - 2] = -1.2;
      expect((await runSample(ctx, z, greedy, 0)).token).toBe(2);
      expect((await runSample(ctx, z, { ...greedy, repeatPenalty: 1.5 }, 0, [2])).token).toBe(n - 2);
      // Penalty 1 changes nothing.
      expect((await runSample(ctx, z, { ...greedy, repeatPenalty: 1 }, 0, [2])).token).toBe(2);
    }
  });

  it('runs without subgroups and with a tiny vocabulary; same token for the same (seed, step)', async () => {
    const { ctx } = nosg;
    const x = Float32Array.from([0.1, 0.5, 0.3, -2, 0.45]);
    const config = { temperature: 1, topK: 0, topP: 1, seed: 77 };
    const a = await runSample(ctx, x, config, 5);
    const b = await runSample(ctx, x, config, 5);
    expect(a).toEqual(b);
    expect(a.token).toBe(sampleRef(x, [], config, 5).token);
    // The penalty on a single-stage chain: 0.5 / 4 < 0.45.
    expect((await runSample(ctx, x, { ...config, temperature: 0, repeatPenalty: 4 }, 0, [1])).token).toBe(4);
    const seen = new Set<number>();
    for (let s = 0; s < 40; s++) seen.add((await runSample(ctx, x, config, s)).token);
    expect(seen.size).toBeGreaterThanOrEqual(4);
  });

  it('rejects bad arguments with KernelShapeError', () => {
    const { ctx } = sg;
    const l = ctx.storage(100 * 4);
    const o = ctx.storage(8);
    const base: SampleArgs = { vocab: 100, logits: l, out: o, config: { temperature: 1, topK: 10, topP: 0.9, seed: 1 }, step: 0 };
    expect(() => sample(ctx, { ...base, vocab: 101 })).toThrow(KernelShapeError);
    expect(() => sample(ctx, { ...base, config: { ...base.config, topP: 0 } })).toThrow(KernelShapeError);
    expect(() => sample(ctx, { ...base, config: { ...base.config, topK: -1 } })).toThrow(KernelShapeError);
    expect(() => sample(ctx, { ...base, config: { ...base.config, seed: 2 ** 32 } })).toThrow(KernelShapeError);
    expect(() => sample(ctx, { ...base, step: 1.5 })).toThrow(KernelShapeError);
    expect(() => sample(ctx, { ...base, outOffset: 1 })).toThrow(KernelShapeError);
    expect(() => argmax(ctx, { n: 101, logits: l, out: o })).toThrow(KernelShapeError);
    expect(() => argmax(ctx, { n: 10, logits: l, out: o, workgroupSize: 100 })).toThrow(KernelShapeError);
    l.destroy();
    o.destroy();
  });
});
