/**
 * @file The CLI side of `bench`: loads the model in Node, times the load, samples the process heap, and runs the
 * shared measurement (workers/bench/bench.ts, through `BrixEngine.bench`: the same code as the worker's `bench`
 * method behind Settings → Benchmark and `npm run bench:browser`); optionally llama.cpp on the same file.
 */
import { performance } from 'node:perf_hooks';
import { loadNodeEngine } from './nodeEngine.ts';
import type { ActivationMode } from '../../workers/engine/activationRounding.ts';
import type { KvCacheType } from '../../workers/engine/gpuRunner.ts';
import { benchPrompt, benchResult, spread, type BenchResult as SharedBenchResult } from '../../workers/bench/bench.ts';
import type { BenchMeasurement } from '../../workers/measurement.ts';
import os from 'node:os';
import type { Token } from 'node-llama-cpp';
import type { ByteSource } from '../../workers/gguf/byteSource.ts';

export interface BenchOptions {
  /** A GGUF path or URL, or a ByteSource (`--synthetic`: a model made on the fly; no llama.cpp peer then). */
  readonly model: string | ByteSource;
  readonly promptTokens: number;
  readonly genTokens: number;
  readonly runs: number;
  /** GpuRunnerOptions.activations (default 'f32'). */
  readonly activations?: ActivationMode;
  /** GpuRunnerOptions.kvCache (default 'auto'). */
  readonly kvCache?: KvCacheType;
  readonly peer?: 'llama.cpp';
  readonly log?: (line: string) => void;
}

export interface BenchResult extends SharedBenchResult {
  /** The model's size: blocks, weights (elements of every tensor) and GGUF tensor bytes. */
  readonly layers: number;
  readonly parameters: number;
  readonly fileBytes: number;
  /** The engine's activations mode (GpuRunnerOptions.activations). */
  readonly activations: ActivationMode;
  readonly peer?: {
    readonly name: string;
    readonly backend: string;
    readonly prefillTokensPerSecond: number;
    readonly decodeTokensPerSecond: number;
    readonly ratioPrefill: number;
    readonly ratioDecode: number;
  } | { readonly name: string; readonly error: string };
}

export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const log = o.log ?? (() => undefined);
  let peakHeap = 0;
  const sampleHeap = (): void => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  };
  const heapTimer = setInterval(sampleHeap, 20);
  try {
    const ctxLen = o.promptTokens + o.genTokens + 8;
    const t0 = performance.now();
    const activations = o.activations ?? 'f32';
    const { engine, info } = await loadNodeEngine(o.model, ctxLen, { activations, kvCache: o.kvCache ?? 'auto' });
    const loadSeconds = (performance.now() - t0) / 1000;
    sampleHeap();
    log(`loaded ${info.name} (${info.architecture}) in ${loadSeconds.toFixed(2)} s; ${(info.gpuBytes / 2 ** 20).toFixed(0)} MiB on the GPU`);
    let measured: BenchMeasurement;
    try {
      measured = await engine.bench({ promptTokens: o.promptTokens, genTokens: o.genTokens, runs: o.runs }, (r) => {
        sampleHeap();
        const what = r.run === 0 ? 'warm-up' : `run ${r.run}/${r.runs}`;
        log(`${what}: prefill ${r.prefillTokensPerSecond.toFixed(1)} tok/s, decode ${r.decodeTokensPerSecond.toFixed(1)} tok/s`);
      });
    } finally {
      await engine.unload();
    }
    sampleHeap();
    const model = typeof o.model === 'string' ? o.model : o.model.name;
    const result: BenchResult = {
      ...benchResult({ date: new Date().toISOString(), model, loadSeconds, peakJsHeapBytes: peakHeap }, measured),
      layers: info.nLayer,
      parameters: info.nParams,
      fileBytes: info.fileBytes,
      activations,
    };
    if (o.peer === 'llama.cpp') {
      const peer = typeof o.model === 'string' ? await runLlamaCpp(o.model, o, benchPrompt(o.promptTokens, info.vocabSize), result) : { name: 'llama.cpp', error: 'a synthetic model has no file for llama.cpp to open' };
      return { ...result, peer };
    }
    return result;
  } finally {
    clearInterval(heapTimer);
  }
}

async function runLlamaCpp(modelPath: string, o: BenchOptions, prompt: number[], ours: BenchResult): Promise<NonNullable<BenchResult['peer']>> {
  try {
    const { getLlama } = await import('node-llama-cpp');
    // node-llama-cpp brands token ids; ours are plain integers already checked against the vocabulary.
    const isToken = (n: number): n is Token => Number.isInteger(n) && n >= 0;
    const tokens = prompt.filter(isToken);
    // Its Vulkan build where a real GPU is present, else its CPU build.
    const wantGpu = !ours.gpu.isFallbackAdapter;
    const llama = await getLlama({ gpu: wantGpu ? 'vulkan' : false, build: 'never' });
    const model = await llama.loadModel({ modelPath, gpuLayers: wantGpu ? 'max' : 0 });
    // One thread per core: node-llama-cpp's default (4 here) oversubscribes a 2-core machine, and llama.cpp's
    // spinning workers then measured 60x slower (decode 1.6 instead of ~100 tok/s on the 30M demo model).
    const threads = Math.max(1, os.availableParallelism());
    const context = await model.createContext({ contextSize: o.promptTokens + o.genTokens + 16, batchSize: Math.min(512, o.promptTokens), threads });
    const prefill: number[] = [];
    const decode: number[] = [];
    for (let run = -1; run < o.runs; run++) {
      const seq = context.getSequence();
      const tp = performance.now();
      await seq.evaluateWithoutGeneratingNewTokens(tokens);
      const tf = performance.now();
      let n = 0;
      for await (const _t of seq.evaluate(tokens.slice(-1))) {
        void _t;
        if (++n >= o.genTokens) break;
      }
      const td = performance.now();
      seq.dispose();
      if (run < 0) continue;
      prefill.push(o.promptTokens / ((tf - tp) / 1000));
      decode.push(n / ((td - tf) / 1000));
    }
    await context.dispose();
    await model.dispose();
    const p = spread(prefill).median;
    const d = spread(decode).median;
    return {
      name: 'llama.cpp (node-llama-cpp 3.21.1)',
      backend: wantGpu ? 'vulkan' : 'cpu',
      prefillTokensPerSecond: p,
      decodeTokensPerSecond: d,
      ratioPrefill: ours.prefillTokensPerSecond.median / p,
      ratioDecode: ours.decodeTokensPerSecond.median / d,
    };
  } catch (e) {
    return { name: 'llama.cpp', error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
}
