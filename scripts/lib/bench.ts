/**
 * @file The model benchmark behind `bench`: load time, prefill and decode tok/s over several runs, time to
 * first token, GPU memory, peak JS heap, and the bandwidth roofline — bytes read per decoded token (active
 * weights from the GGUF's tensor types and the architecture's k-of-E experts, plus the KV cache at the run's
 * context) against a read bandwidth measured in the same run by a streaming kernel.
 */
import { performance } from 'node:perf_hooks';
import { loadNodeEngine } from './nodeEngine.ts';
import { openModelFile } from './nodeSource.ts';
import { acquireNodeGpu } from '../../workers/gpu/nodeGpu.ts';
import { describeGpu, type GpuInfo } from '../../workers/gpu/device.ts';
import { KernelContext } from '../../kernels/lib/context.ts';
import { streamRead } from './benchKernels.ts';
import type { GgufModel } from '../../workers/gguf/model.ts';
import type { Token } from 'node-llama-cpp';
import { describeModel, type ModelHParams } from '../../workers/gguf/arch.ts';

export interface BenchOptions {
  readonly model: string;
  readonly promptTokens: number;
  readonly genTokens: number;
  readonly runs: number;
  readonly peer?: 'llama.cpp';
  readonly log?: (line: string) => void;
}

export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export interface BenchResult {
  readonly date: string;
  readonly model: string;
  readonly architecture: string;
  readonly adapter: string;
  readonly gpu: GpuInfo;
  readonly promptTokens: number;
  readonly genTokens: number;
  readonly runs: number;
  readonly loadSeconds: number;
  readonly prefillTokensPerSecond: Spread;
  readonly decodeTokensPerSecond: Spread;
  readonly decodeMsPerToken: Spread;
  readonly timeToFirstTokenMs: Spread;
  readonly gpuMemoryBytes: number;
  readonly peakJsHeapBytes: number;
  readonly roofline: {
    readonly activeWeightBytesPerToken: number;
    readonly kvBytesPerToken: number;
    readonly bytesPerToken: number;
    readonly measuredReadGBps: number;
    readonly rooflineTokensPerSecond: number;
    readonly percentOfRoofline: number;
  };
  readonly peer?: {
    readonly name: string;
    readonly backend: string;
    readonly prefillTokensPerSecond: number;
    readonly decodeTokensPerSecond: number;
    readonly ratioPrefill: number;
    readonly ratioDecode: number;
  } | { readonly name: string; readonly error: string };
}

function spread(xs: readonly number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1] };
}

/** Bytes of weights read to decode one token: every tensor once, expert tensors k/E of it, one embedding row. */
export function activeWeightBytes(model: GgufModel, hp: ModelHParams): number {
  let total = 0;
  const tiedOutput = model.tensor('output.weight') === undefined;
  for (const t of model.tensors) {
    if (t.name === 'token_embd.weight') {
      const rows = t.dims[1];
      total += tiedOutput ? t.nbytes : t.nbytes / rows;
    } else if (/_exps\.weight$/.test(t.name) && hp.n_expert > 0) {
      total += (t.nbytes * hp.n_expert_used) / hp.n_expert;
    } else total += t.nbytes;
  }
  return total;
}

/** f32 K and V of every layer for one cached position. */
export function kvBytesPerPosition(hp: ModelHParams): number {
  return 2 * hp.n_layer * hp.n_head_kv * hp.head_dim * 4;
}

export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const log = o.log ?? (() => undefined);
  let peakHeap = 0;
  const sampleHeap = (): void => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  };
  const heapTimer = setInterval(sampleHeap, 20);
  try {
    const opened = await openModelFile(o.model);
    const hp = describeModel(opened.model);
    const active = activeWeightBytes(opened.model, hp);
    await opened.close();

    const ctxLen = o.promptTokens + o.genTokens + 8;
    const t0 = performance.now();
    const { engine, info } = await loadNodeEngine(o.model, ctxLen);
    const loadSeconds = (performance.now() - t0) / 1000;
    sampleHeap();
    log(`loaded ${info.name} (${info.architecture}) in ${loadSeconds.toFixed(2)} s; ${(info.gpuBytes / 2 ** 20).toFixed(0)} MiB on the GPU`);
    const { runner } = engine.internals;
    // A deterministic prompt of ordinary token ids (no specials: the low ranks of any BPE vocabulary).
    const prompt = Array.from({ length: o.promptTokens }, (_, i) => 100 + ((i * 7919) % Math.max(1, Math.min(hp.n_vocab - 200, 20000))));
    const greedy = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0 };
    const prefill: number[] = [];
    const decode: number[] = [];
    const decodeMs: number[] = [];
    const ttft: number[] = [];
    // One warm-up run compiles and pages everything in, then the measured runs.
    for (let run = -1; run < o.runs; run++) {
      const tp = performance.now();
      let tok = await runner.evalAndSample(prompt, 0, greedy, 0, []);
      const tf = performance.now();
      for (let i = 0; i < o.genTokens; i++) tok = await runner.evalAndSample([tok], o.promptTokens + i, greedy, i + 1, []);
      const td = performance.now();
      sampleHeap();
      if (run < 0) continue;
      prefill.push(o.promptTokens / ((tf - tp) / 1000));
      ttft.push(tf - tp);
      decode.push(o.genTokens / ((td - tf) / 1000));
      decodeMs.push((td - tf) / o.genTokens);
      log(`run ${run + 1}/${o.runs}: prefill ${prefill.at(-1)?.toFixed(1)} tok/s, decode ${decode.at(-1)?.toFixed(1)} tok/s`);
    }
    const gpuMemoryBytes = runner.gpuBytes;
    await engine.unload();

    // Bandwidth measured now, on its own device, with the same adapter.
    const gpu = await acquireNodeGpu();
    const kctx = new KernelContext(gpu.device, gpu.info);
    const quick = gpu.info.isFallbackAdapter;
    const stream = await streamRead(kctx, quick ? 64 * 2 ** 20 : 1024 * 2 ** 20, { passSeconds: quick ? 0.2 : 0.05, maxDispatches: 200, reps: 3 });
    const info2 = gpu.info;
    gpu.device.destroy();

    const kvPerToken = kvBytesPerPosition(hp) * (o.promptTokens + o.genTokens / 2);
    const bytesPerToken = active + kvPerToken;
    const rooflineTps = (stream.gbps * 1e9) / bytesPerToken;
    const dec = spread(decode);
    const result: BenchResult = {
      date: new Date().toISOString(),
      model: o.model,
      architecture: hp.arch,
      adapter: describeGpu(info2),
      gpu: info2,
      promptTokens: o.promptTokens,
      genTokens: o.genTokens,
      runs: o.runs,
      loadSeconds,
      prefillTokensPerSecond: spread(prefill),
      decodeTokensPerSecond: dec,
      decodeMsPerToken: spread(decodeMs),
      timeToFirstTokenMs: spread(ttft),
      gpuMemoryBytes,
      peakJsHeapBytes: peakHeap,
      roofline: {
        activeWeightBytesPerToken: active,
        kvBytesPerToken: kvPerToken,
        bytesPerToken,
        measuredReadGBps: stream.gbps,
        rooflineTokensPerSecond: rooflineTps,
        percentOfRoofline: (100 * dec.median) / rooflineTps,
      },
    };
    if (o.peer === 'llama.cpp') return { ...result, peer: await runLlamaCpp(o, prompt, result) };
    return result;
  } finally {
    clearInterval(heapTimer);
  }
}

async function runLlamaCpp(o: BenchOptions, prompt: number[], ours: BenchResult): Promise<NonNullable<BenchResult['peer']>> {
  try {
    const { getLlama } = await import('node-llama-cpp');
    // node-llama-cpp brands token ids; ours are plain integers already checked against the vocabulary.
    const isToken = (n: number): n is Token => Number.isInteger(n) && n >= 0;
    const tokens = prompt.filter(isToken);
    // Its Vulkan build where a real GPU is present, else its CPU build.
    const wantGpu = !ours.gpu.isFallbackAdapter;
    const llama = await getLlama({ gpu: wantGpu ? 'vulkan' : false, build: 'never' });
    const model = await llama.loadModel({ modelPath: o.model, gpuLayers: wantGpu ? 'max' : 0 });
    const context = await model.createContext({ contextSize: o.promptTokens + o.genTokens + 16, batchSize: Math.min(512, o.promptTokens) });
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
