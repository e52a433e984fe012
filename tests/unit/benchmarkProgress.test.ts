/**
 * @file Settings → Benchmark's sizing and progress (app/features/settings/benchmark.ts): a software adapter
 * (isFallbackAdapter, or SwiftShader/llvmpipe/lavapipe by name) gets the short default run, a real GPU keeps
 * 64/32/3; and the time left and share done follow the measured cost of the run so far, from the worker's
 * `benchStep` events on a scripted clock.
 */
import { describe, expect, it } from 'vitest';
import {
  BENCHMARK_DEFAULTS,
  BENCHMARK_SOFTWARE_DEFAULTS,
  benchFraction,
  benchmarkDefaults,
  benchProgressText,
  benchRemainingMs,
  startTrack,
  trackStep,
  type BenchTrack,
} from '../../app/features/settings/benchmark.ts';
import type { BenchParams, BenchStep } from '../../workers/protocol.ts';

const adapter = (o: Partial<{ vendor: string; architecture: string; device: string; description: string; isFallbackAdapter: boolean }>) => ({
  vendor: '',
  architecture: '',
  device: '',
  description: '',
  isFallbackAdapter: false,
  ...o,
});

describe('benchmarkDefaults', () => {
  it('a software adapter gets a short run: few tokens, one measured run', () => {
    expect(BENCHMARK_SOFTWARE_DEFAULTS).toEqual({ promptTokens: 4, genTokens: 2, runs: 1 });
    expect(benchmarkDefaults(adapter({ vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true }))).toEqual(BENCHMARK_SOFTWARE_DEFAULTS);
    // Chromium does not always flag it: the name tells.
    expect(benchmarkDefaults(adapter({ vendor: 'google', architecture: 'swiftshader' }))).toEqual(BENCHMARK_SOFTWARE_DEFAULTS);
    expect(benchmarkDefaults(adapter({ vendor: 'mesa', device: 'llvmpipe (LLVM 19.1.7, 256 bits)' }))).toEqual(BENCHMARK_SOFTWARE_DEFAULTS);
    expect(benchmarkDefaults(adapter({ description: 'lavapipe' }))).toEqual(BENCHMARK_SOFTWARE_DEFAULTS);
    expect(benchmarkDefaults(adapter({ isFallbackAdapter: true }))).toEqual(BENCHMARK_SOFTWARE_DEFAULTS);
  });
  it("a real GPU, or an adapter not known yet, keeps today's default", () => {
    expect(BENCHMARK_DEFAULTS).toEqual({ promptTokens: 64, genTokens: 32, runs: 3 });
    expect(benchmarkDefaults(adapter({ vendor: 'nvidia', architecture: 'hopper', device: 'NVIDIA H100 80GB HBM3' }))).toEqual(BENCHMARK_DEFAULTS);
    expect(benchmarkDefaults(adapter({ vendor: 'apple', architecture: 'metal-3' }))).toEqual(BENCHMARK_DEFAULTS);
    expect(benchmarkDefaults(undefined)).toEqual(BENCHMARK_DEFAULTS);
  });
});

describe('progress and time left', () => {
  const P: BenchParams = { promptTokens: 10, genTokens: 4, runs: 2 };
  const step = (run: number, phase: BenchStep['phase'], done: number): BenchStep => ({
    run,
    runs: P.runs,
    phase,
    done,
    total: phase === 'prefill' ? P.promptTokens : phase === 'decode' ? P.genTokens : 0,
  });
  /** Feeds steps at the given times. */
  const feed = (events: readonly [BenchStep, number][]): BenchTrack => events.reduce((t, [s, at]) => trackStep(t, s, at), startTrack(P, 0));

  it('unknown until the warm-up has measured a prompt token and a decoded token', () => {
    const t0 = startTrack(P, 0);
    expect(benchRemainingMs(t0, 0)).toBeUndefined();
    expect(benchProgressText(t0, 0)).toBe('Starting…');
    const t1 = feed([[step(0, 'prefill', 0), 0]]);
    expect(benchRemainingMs(t1, 500)).toBeUndefined();
    expect(benchProgressText(t1, 500)).toBe('Run 1 of 3 (warm-up) · prefill of 10 tokens · estimating time left');
    const t2 = trackStep(t1, step(0, 'decode', 0), 2000);
    expect(t2.prefillMsPerToken).toBe(200);
    expect(benchRemainingMs(t2, 2000)).toBeUndefined();
    expect(benchFraction(t2, 2000)).toBeCloseTo(10 / 42, 9); // by tokens: 10 of 3 × 14
  });

  it('from measured throughput: the rest of this run plus the later runs, counting down between steps', () => {
    // Warm-up: prefill 10 tokens in 2000 ms (200 ms/token), decode tokens every 500 ms.
    const t = feed([
      [step(0, 'prefill', 0), 0],
      [step(0, 'decode', 0), 2000],
      [step(0, 'decode', 1), 2500],
    ]);
    expect(t.decodeMsPerToken).toBe(500);
    // This run: 3 tokens × 500; runs 1 and 2: 2 × (10 × 200 + 4 × 500) = 8000.
    expect(benchRemainingMs(t, 2500)).toBe(1500 + 8000);
    expect(benchRemainingMs(t, 2800)).toBe(1200 + 8000);
    expect(benchProgressText(t, 2500)).toBe('Run 1 of 3 (warm-up) · decode, 1 of 4 tokens · about 10 s left');
    expect(benchFraction(t, 2500)).toBeCloseTo(2500 / (2500 + 9500), 9);
    // The average over the run so far: tokens at 2500, 3500 → 750 ms/token.
    const t2 = trackStep(t, step(0, 'decode', 2), 3500);
    expect(t2.decodeMsPerToken).toBe(750);
    expect(benchRemainingMs(t2, 3500)).toBe(2 * 750 + 2 * (2000 + 3000));
  });

  it("a later run's prefill uses the last measured costs and updates them when it ends", () => {
    const t = feed([
      [step(0, 'prefill', 0), 0],
      [step(0, 'decode', 0), 2000],
      [step(0, 'decode', 4), 4000], // 500 ms/token
      [step(1, 'prefill', 0), 4000],
    ]);
    expect(benchProgressText(t, 4000)).toBe('Run 2 of 3 · prefill of 10 tokens · about 8 s left');
    expect(benchRemainingMs(t, 4500)).toBe(1500 + 2000 + 4000);
    expect(benchRemainingMs(t, 9000)).toBe(0 + 2000 + 4000); // overdue prefill: never negative
    const t2 = trackStep(t, step(1, 'decode', 0), 5000); // faster now: 100 ms/token
    expect(t2.prefillMsPerToken).toBe(100);
    expect(t2.decodeMsPerToken).toBe(500); // kept from the warm-up until this run decodes
    expect(benchRemainingMs(t2, 5000)).toBe(4 * 500 + (1000 + 2000));
  });

  it('the bandwidth probe at the end: all runs done, no estimate', () => {
    const t = feed([
      [step(0, 'prefill', 0), 0],
      [step(0, 'decode', 0), 10],
      [step(0, 'decode', 1), 20],
      [step(2, 'bandwidth', 0), 100],
    ]);
    expect(benchRemainingMs(t, 100)).toBeUndefined();
    expect(benchFraction(t, 100)).toBe(1);
    expect(benchProgressText(t, 100)).toBe("Measuring the GPU's read bandwidth");
  });
});
