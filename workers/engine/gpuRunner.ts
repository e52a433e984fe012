/**
 * @file The model on the GPU: uploads the weights, allocates the KV cache, records the decode graph
 * (decodeGraph.ts) once and the prefill graph (prefillGraph.ts) per chunk size, both from the one layer program
 * (layerProgram.ts), and runs them: each decode step writes the token id and position into tiny buffers, encodes
 * the recorded dispatches into one command buffer, and reads back only what it must (the sampled id, or logits).
 * Steps are submitted ahead of their readback where the caller says another token follows.
 *
 * Prompts (more than one token) run through the batched prefill graph in chunks of up to `prefillChunk` tokens,
 * one command buffer each; the last chunk ends with the final norm of its last row and the decode graph's lm
 * head and sampler. Without a prefill graph (no chunk of PREFILL_MIN_CHUNK tokens fits, its kernels' limits not
 * met, or `prefillChunk: 0`) prompts run through the decode graph, 64 tokens per command buffer (a console
 * warning says why).
 *
 * KV cache: f16 where the device has shader-f16 (half the memory and attention reads), f32 otherwise or when
 * `kvCache: 'f32'` is asked (the golden tests compare both). kCache[l], vCache[l]: (n_kv, n_ctx, hd), shared by
 * both graphs.
 *
 * `activations` picks the products' arithmetic once per load (activationRounding.ts): 'f32' (default), 'ggml-cpu'
 * (each product's input rounded as llama.cpp's CPU backend does, both graphs), 'int8' (the same values; the
 * decode graph's Q4_K/Q8_0 products read int8 activations; the prefill graph rounds as 'ggml-cpu').
 */
import type { GpuContext } from '../gpu/device.ts';
import type { GgufModel } from '../gguf/model.ts';
import type { ModelConfig } from '../model/config.ts';
import type { LoadProgress } from '../protocol.ts';
import { AbortError, GpuOutOfMemoryError } from '../errors.ts';
import { KernelContext, KernelShapeError, encodeDispatch, type Dispatch } from '../../kernels/lib/context.ts';
import { collectPipelines } from '../../kernels/lib/dryRun.ts';
import { destroyWeight, type GpuWeight } from '../../kernels/lib/weights.ts';
import { planUpload, uploadTensors } from './loader.ts';
import { isSoftwareAdapter } from '../gpu/software.ts';
import type { ActivationMode } from './activationRounding.ts';
import { recordDecodeGraph } from './decodeGraph.ts';
import { biasWidth } from './layerProgram.ts';
import { PrefillGraph, choosePrefillChunk, type PrefillRecording } from './prefillGraph.ts';
import type { CreateRunnerArgs, DispatchTime, EvalOptions, KvCacheType, Runner, RunnerSampling } from './runner.ts';
import { argmax as argmaxKernel, sample as sampleKernel, updateSample, type SampleArgs } from '../../kernels/sample.ts';

/** Recent ids the repetition penalty looks at (the engine passes at most this many). */
const PENALTY_SLOTS = 64;
/** Prompt tokens per command buffer when the prompt runs through the decode graph (no prefill graph). */
const PREFILL_BATCH = 64;
/** Staging for all-position logits: rows read back per map. */
const LOGITS_READ_BYTES = 16 * 2 ** 20;

/** Upper bound of the default context (KV memory grows linearly with it). */
const DEFAULT_MAX_CTX = 4096;

export type { CreateRunnerArgs, KvCacheType, RunnerOptions as GpuRunnerOptions } from './runner.ts';

export async function createGpuRunner(a: CreateRunnerArgs): Promise<Runner> {
  const { gpu, model, config, options: opts, onProgress, signal } = a;
  // Software adapters compile each byte of workgroup memory (Dawn zero-initialises it in generated code there).
  const kernelOpts = { compactWorkgroupMemory: isSoftwareAdapter(gpu.info) };
  const ctx = new KernelContext(gpu.device, gpu.info, kernelOpts);
  const plan = planUpload(
    ctx,
    model,
    model.tensors.map((t) => t.name),
  );
  const weights = await uploadTensors(ctx, model, plan, (p) => onProgress({ phase: 'upload', loaded: p.loaded, total: p.total }), signal);
  try {
    const kvF16 = chooseKvF16(ctx, opts.kvCache ?? 'auto');
    const nCtx = chooseContext(ctx, config, opts.contextSize, kvF16);
    const record = (c: KernelContext): GpuRunner =>
      new GpuRunner({
        ctx: c,
        config,
        weights,
        nCtx,
        weightBytes: plan.gpuBytes,
        kvF16,
        prefillChunk: opts.prefillChunk,
        activations: opts.activations ?? 'f32',
      });
    // A dry run of the recording names the pipelines; they compile in parallel (with real progress) before the
    // real recording, which then finds each in the cache.
    const specs = collectPipelines(gpu.device, gpu.info, (c) => void record(c), kernelOpts) ?? [];
    await ctx.precompile(specs, (done, total) => onProgress({ phase: 'compile', loaded: done, total }), signal);
    const runner = record(ctx);
    await gpu.device.queue.onSubmittedWorkDone();
    return runner;
  } catch (e) {
    for (const w of weights.values()) destroyWeight(w);
    throw e;
  }
}

function chooseKvF16(ctx: KernelContext, kind: KvCacheType): boolean {
  if (kind === 'f16' && !ctx.f16) throw new RangeError('an f16 KV cache needs shader-f16, which this GPU lacks');
  return kind === 'f16' || (kind === 'auto' && ctx.f16);
}

/** The user's choice, else the model's training context capped at DEFAULT_MAX_CTX; never past one binding. */
function chooseContext(ctx: KernelContext, c: ModelConfig, asked: number | undefined, kvF16: boolean): number {
  const perToken = c.nHeadKv * c.headDim * (kvF16 ? 2 : 4);
  const fit = Math.floor(ctx.maxBinding / perToken);
  const want = asked ?? Math.min(c.nCtxTrain, DEFAULT_MAX_CTX);
  if (asked !== undefined && asked > fit) {
    throw new GpuOutOfMemoryError(`a ${asked}-token context needs ${perToken * asked} bytes per layer cache; this GPU binds at most ${fit} tokens`);
  }
  return Math.max(1, Math.min(want, fit));
}

interface GpuRunnerInit {
  readonly ctx: KernelContext;
  readonly config: ModelConfig;
  readonly weights: Map<string, GpuWeight>;
  readonly nCtx: number;
  readonly weightBytes: number;
  readonly kvF16: boolean;
  readonly prefillChunk: number | undefined;
  readonly activations: ActivationMode;
}

class GpuRunner implements Runner {
  readonly gpuBytes: number;
  readonly config: ModelConfig;
  readonly nCtx: number;
  readonly kvF16: boolean;
  readonly activations: ActivationMode;
  private readonly ctx: KernelContext;
  private readonly w: Map<string, GpuWeight>;
  private readonly owned: GPUBuffer[] = [];
  private readonly step: readonly Dispatch[];
  private readonly tokenBuf: GPUBuffer;
  private readonly posBuf: GPUBuffer;
  private readonly logits: GPUBuffer;
  private readonly counts: GPUBuffer | undefined;
  private readonly staging: GPUBuffer;
  private readonly sampleOut: GPUBuffer;
  /** (PREFILL_BATCH, 2) u32: token id and position per batched step. */
  private readonly batchIn: GPUBuffer;
  /** Two 8-byte read-back buffers: the step being read and the step submitted ahead of it. */
  private readonly sampleStaging: [GPUBuffer, GPUBuffer];
  private stagingTurn = 0;
  /**
   * The decode step submitted ahead (see evalAndSample): it evaluates the token the GPU just sampled, at `pos`,
   * before the CPU has read that token back, so the GPU never waits for the CPU between tokens.
   */
  private ahead: { pos: number; step: number; key: string; staging: GPUBuffer } | undefined;
  private readonly penalty: GPUBuffer;
  private readonly argmaxStep: Dispatch;
  /** Sampling chains by top-k (the chain's shape depends on it). */
  private readonly chains = new Map<number, Dispatch[]>();
  /** The decode graph's lm head (reads `headInput`, writes `logits`), reused after the prefill graph's final norm. */
  private readonly head: readonly Dispatch[];
  private readonly headInput: GPUBuffer;
  /** The batched prompt graph; undefined: prompts run through the decode graph. */
  private readonly prefill: PrefillGraph | undefined;
  /** Why there is no prefill graph (for the CLI and tests), or undefined. */
  readonly prefillFallback: string | undefined;
  /** Staging for all-position logits (allocated on first use). */
  private rowsStaging: GPUBuffer | undefined;

  constructor(init: GpuRunnerInit) {
    const { ctx, config: c, nCtx, kvF16, activations } = init;
    this.ctx = ctx;
    this.config = c;
    this.w = init.weights;
    this.nCtx = nCtx;
    this.kvF16 = kvF16;
    this.activations = activations;
    const buf = (n: number, label: string): GPUBuffer => {
      const b = ctx.storage(Math.max(1, n) * 4, label);
      this.owned.push(b);
      return b;
    };
    const W = (name: string): GpuWeight => {
      const t = this.w.get(name);
      if (!t) throw new Error(`internal: tensor ${name} was not uploaded`);
      return t;
    };
    const opt = (name: string): GpuWeight | undefined => this.w.get(name);
    this.counts = c.nExpert > 0 ? buf(c.nLayer * c.nExpert, 'moe.counts') : undefined;
    // (n_kv, n_ctx, hd) per layer; f16 packs two per u32 (hd is a multiple of 4, so the size stays whole words).
    const kvWords = ((kvF16 ? 0.5 : 1) * c.nHeadKv * c.headDim * nCtx);
    const kv = {
      k: Array.from({ length: c.nLayer }, (_, l) => buf(kvWords, `k${l}`)),
      v: Array.from({ length: c.nLayer }, (_, l) => buf(kvWords, `v${l}`)),
      nCtx,
      f16: kvF16,
    };
    const graph = recordDecodeGraph({ ctx, config: c, weight: W, optWeight: opt, kv, activations, counts: this.counts, buffer: buf });
    this.step = graph.step;
    this.head = graph.head;
    this.headInput = graph.headInput;
    this.tokenBuf = graph.token;
    this.posBuf = graph.pos;
    this.logits = graph.logits;
    this.staging = ctx.device.createBuffer({ label: 'logits.staging', size: c.nVocab * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.sampleOut = buf(2, 'sample.out');
    this.batchIn = buf(2 * PREFILL_BATCH, 'prefill.batch');
    this.penalty = buf(PENALTY_SLOTS, 'sample.penalty');
    const stagingBuf = (i: number): GPUBuffer =>
      ctx.device.createBuffer({ label: `sample.staging${i}`, size: 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.sampleStaging = [stagingBuf(0), stagingBuf(1)];
    this.argmaxStep = argmaxKernel(ctx, { n: c.nVocab, logits: this.logits, out: this.sampleOut });

    const bias = biasWidth(c, (n) => this.w.has(n));
    // The prefill graph rounds in place for 'int8' too (its tiled matmuls have no int8 path): the same values.
    const prefillActivations = activations === 'int8' ? 'ggml-cpu' : activations;
    const asked = init.prefillChunk;
    const chunk = choosePrefillChunk(ctx, c, bias, asked, prefillActivations);
    let prefill: PrefillGraph | undefined;
    let fallback: string | undefined = chunk === 0 ? (asked === 0 ? 'disabled (prefillChunk 0)' : 'no room for a chunk of 8 tokens') : undefined;
    if (chunk > 0) {
      try {
        prefill = new PrefillGraph({
          ctx,
          config: c,
          shared: { weight: W, optWeight: opt, kv, counts: this.counts, headInput: this.headInput, activations: prefillActivations },
          maxTokens: chunk,
          bias,
        });
      } catch (e) {
        // A prefill kernel's limit not met on this device: prompts take the decode graph instead.
        if (!(e instanceof KernelShapeError)) throw e;
        fallback = e.message;
      }
    }
    if (fallback && asked !== 0) console.warn(`[brix] batched prefill unavailable (${fallback}); prompts run through the decode graph`);
    this.prefill = prefill;
    this.prefillFallback = fallback;
    this.gpuBytes = init.weightBytes + this.owned.reduce((a, b) => a + b.size, 0) + (prefill?.bytes ?? 0);
  }

  /** Tokens per prefill chunk (0: prompts run through the decode graph). */
  get prefillChunk(): number {
    return this.prefill?.maxTokens ?? 0;
  }

  get kvCache(): 'f16' | 'f32' {
    return this.kvF16 ? 'f16' : 'f32';
  }

  /** Runs one token through the recorded graph, then `extra` dispatches; optionally copies `copy` to staging. */
  private encodeStep(token: number | 'sampled', pos: number, extra: readonly Dispatch[], copy?: { src: GPUBuffer; dst: GPUBuffer; bytes: number }): void {
    const q = this.ctx.device.queue;
    // 'sampled': the token the previous step sampled, copied on the GPU (a step submitted ahead of its readback).
    if (token !== 'sampled') q.writeBuffer(this.tokenBuf, 0, new Uint32Array([token]));
    q.writeBuffer(this.posBuf, 0, new Uint32Array([pos]));
    const enc = this.ctx.device.createCommandEncoder({ label: 'decode step' });
    if (token === 'sampled') enc.copyBufferToBuffer(this.sampleOut, 0, this.tokenBuf, 0, 4);
    const pass = enc.beginComputePass();
    for (const d of this.step) encodeDispatch(pass, d);
    for (const d of extra) encodeDispatch(pass, d);
    pass.end();
    if (copy) enc.copyBufferToBuffer(copy.src, 0, copy.dst, 0, copy.bytes);
    q.submit([enc.finish()]);
  }

  private async readLogits(): Promise<Float32Array> {
    await this.staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(this.staging.getMappedRange().slice(0));
    this.staging.unmap();
    if (this.config.logitScale !== 1) for (let i = 0; i < out.length; i++) out[i] /= this.config.logitScale;
    return out;
  }

  /** The sampling dispatches for these settings (greedy: one argmax), parameters updated for this step. */
  private sampler(s: RunnerSampling, step: number, recent: readonly number[]): Dispatch[] {
    const usePenalty = s.repetitionPenalty !== 1 && recent.length > 0;
    if (usePenalty) {
      const ids = new Uint32Array(PENALTY_SLOTS).fill(0xffffffff);
      ids.set(recent.slice(-PENALTY_SLOTS));
      this.ctx.device.queue.writeBuffer(this.penalty, 0, ids);
    }
    if (s.temperature <= 0 && !usePenalty) return [this.argmaxStep];
    const args: SampleArgs = {
      vocab: this.config.nVocab,
      logits: this.logits,
      penalty: { buffer: this.penalty, count: PENALTY_SLOTS },
      out: this.sampleOut,
      // Granite divides logits by its logit scale: fold it into the temperature (argmax is unaffected).
      config: {
        temperature: s.temperature * this.config.logitScale,
        topK: s.topK,
        topP: s.topP,
        repeatPenalty: usePenalty ? s.repetitionPenalty : 1,
        seed: s.seed >>> 0,
      },
      step,
    };
    let chain = this.chains.get(s.topK);
    if (!chain) {
      chain = sampleKernel(this.ctx, args);
      this.chains.set(s.topK, chain);
    } else updateSample(this.ctx, chain, args);
    return chain;
  }

  async evalAndSample(tokens: readonly number[], pos: number, e: EvalOptions): Promise<number> {
    const { sampling: s, step, recent = [], signal, next = false } = e;
    const key = `${s.temperature}|${s.topK}|${s.topP}|${s.repetitionPenalty}|${s.seed}`;
    const ahead = this.ahead;
    this.ahead = undefined;
    let staging: GPUBuffer;
    if (ahead && tokens.length === 1 && ahead.pos === pos && ahead.step === step && ahead.key === key) {
      // Already submitted with this very token (the GPU's own sample): only its result is left to read.
      staging = ahead.staging;
    } else {
      // A stale step ahead (the caller went elsewhere) has run or runs first (queue order); what it wrote at
      // its position is rewritten by whatever is evaluated there later.
      staging = this.nextStaging();
      const sample = this.sampler(s, step, recent);
      const copy = { src: this.sampleOut, dst: staging, bytes: 8 };
      const last = tokens.length - 1;
      if (this.prefill && tokens.length > 1) {
        await this.runPrefill(this.prefill, tokens, pos, signal, (r) => [r.lastNorm, ...this.head, ...sample], copy);
      } else {
        // All but the last token go through the graph in batches of one command buffer each (ids and positions
        // copied into the step's input buffers between passes), so a prompt costs a few submits, not one per token.
        for (let i = 0; i < last; i += PREFILL_BATCH) this.encodeBatch(tokens.slice(i, Math.min(last, i + PREFILL_BATCH)), pos + i);
        this.encodeStep(tokens[last], pos + last, sample, copy);
      }
    }
    // Submit the next step before reading this one back: its input token is copied on the GPU from this step's
    // sample. Not with a repetition penalty (its recent-id list needs this token on the CPU first).
    const nextPos = pos + tokens.length;
    if (next && nextPos < this.nCtx && (s.repetitionPenalty === 1 || recent.length === 0)) {
      const sp = this.nextStaging();
      this.encodeStep('sampled', nextPos, this.sampler(s, step + 1, recent), { src: this.sampleOut, dst: sp, bytes: 8 });
      this.ahead = { pos: nextPos, step: step + 1, key, staging: sp };
    }
    await staging.mapAsync(GPUMapMode.READ);
    const id = new Uint32Array(staging.getMappedRange())[0];
    staging.unmap();
    return id;
  }

  async profileDecode(pos: number): Promise<readonly DispatchTime[] | undefined> {
    if (!this.ctx.info.features.timestampQuery) return undefined;
    this.ahead = undefined;
    const dev = this.ctx.device;
    const list = [...this.step, this.argmaxStep];
    const query = dev.createQuerySet({ type: 'timestamp', count: 2 * list.length });
    const resolve = dev.createBuffer({ size: 16 * list.length, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const read = dev.createBuffer({ size: 16 * list.length, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      dev.queue.writeBuffer(this.posBuf, 0, new Uint32Array([pos]));
      const enc = dev.createCommandEncoder({ label: 'profile step' });
      list.forEach((d, i) => {
        const pass = enc.beginComputePass({ timestampWrites: { querySet: query, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
        encodeDispatch(pass, d);
        pass.end();
      });
      enc.resolveQuerySet(query, 0, 2 * list.length, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, read, 0, 16 * list.length);
      dev.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      const ts = new BigUint64Array(read.getMappedRange().slice(0));
      read.unmap();
      return list.map((d, i) => ({ label: d.label, us: Number(ts[2 * i + 1] - ts[2 * i]) / 1000 }));
    } finally {
      query.destroy();
      resolve.destroy();
      read.destroy();
    }
  }

  private nextStaging(): GPUBuffer {
    this.stagingTurn ^= 1;
    return this.sampleStaging[this.stagingTurn];
  }


  /**
   * Runs `tokens` (positions pos, pos+1, ...) through the prefill graph, one command buffer per chunk. The last
   * chunk's pass ends with `tail(recording)` and then `copy`. One chunk stays queued ahead of the one the host
   * waits for, so the GPU stays busy and an abort takes effect at the next chunk (AbortError).
   */
  private async runPrefill(
    g: PrefillGraph,
    tokens: readonly number[],
    pos: number,
    signal: AbortSignal | undefined,
    tail: (r: PrefillRecording) => readonly Dispatch[],
    copy?: { src: GPUBuffer; dst: GPUBuffer; bytes: number },
  ): Promise<void> {
    const q = this.ctx.device.queue;
    let inFlight: Promise<undefined> | undefined;
    for (let i = 0; i < tokens.length; i += g.maxTokens) {
      if (signal?.aborted) throw new AbortError('prompt processing aborted');
      const T = Math.min(g.maxTokens, tokens.length - i);
      const lastChunk = i + T === tokens.length;
      this.encodeChunk(g, tokens.slice(i, i + T), pos + i, lastChunk ? tail : undefined, lastChunk ? copy : undefined);
      if (!lastChunk) {
        const done = q.onSubmittedWorkDone();
        if (inFlight) await inFlight;
        inFlight = done;
      }
    }
  }

  /** Writes the chunk's ids and positions and submits its recorded graph (+ tail dispatches, + copy). */
  private encodeChunk(
    g: PrefillGraph,
    chunk: readonly number[],
    pos: number,
    tail?: (r: PrefillRecording) => readonly Dispatch[],
    copy?: { src: GPUBuffer; dst: GPUBuffer; bytes: number },
  ): PrefillRecording {
    const T = chunk.length;
    const r = g.recording(T);
    const q = this.ctx.device.queue;
    // Queue writes are ordered with submits: the previous chunk has read ids/pos before these land.
    q.writeBuffer(g.ids, 0, Uint32Array.from(chunk));
    q.writeBuffer(g.pos, 0, Uint32Array.from({ length: T }, (_, j) => pos + j));
    const enc = this.ctx.device.createCommandEncoder({ label: `prefill chunk of ${T}` });
    const pass = enc.beginComputePass();
    for (const d of r.body) encodeDispatch(pass, d);
    if (tail) for (const d of tail(r)) encodeDispatch(pass, d);
    pass.end();
    if (copy) enc.copyBufferToBuffer(copy.src, 0, copy.dst, 0, copy.bytes);
    q.submit([enc.finish()]);
    return r;
  }

  /** Encodes the decode graph for each token of `tokens` (positions pos, pos+1, ...) into one submit. */
  private encodeBatch(tokens: readonly number[], pos: number): void {
    if (tokens.length === 0) return;
    const q = this.ctx.device.queue;
    const data = new Uint32Array(2 * tokens.length);
    tokens.forEach((t, i) => {
      data[2 * i] = t;
      data[2 * i + 1] = pos + i;
    });
    q.writeBuffer(this.batchIn, 0, data);
    const enc = this.ctx.device.createCommandEncoder({ label: 'prefill batch' });
    for (let i = 0; i < tokens.length; i++) {
      enc.copyBufferToBuffer(this.batchIn, 8 * i, this.tokenBuf, 0, 4);
      enc.copyBufferToBuffer(this.batchIn, 8 * i + 4, this.posBuf, 0, 4);
      const pass = enc.beginComputePass();
      for (const d of this.step) encodeDispatch(pass, d);
      pass.end();
    }
    q.submit([enc.finish()]);
  }

  async evalLogits(tokens: readonly number[], pos: number, allPositions: boolean): Promise<Float32Array[]> {
    this.ahead = undefined;
    const copy = { src: this.logits, dst: this.staging, bytes: this.config.nVocab * 4 };
    const last = tokens.length - 1;
    const g = this.prefill;
    if (g && tokens.length > 1) {
      if (!allPositions) {
        await this.runPrefill(g, tokens, pos, undefined, (r) => [r.lastNorm, ...this.head], copy);
        return [await this.readLogits()];
      }
      const out: Float32Array[] = [];
      for (let i = 0; i < tokens.length; i += g.maxTokens) {
        const T = Math.min(g.maxTokens, tokens.length - i);
        this.encodeChunk(g, tokens.slice(i, i + T), pos + i, (r) => [r.allNorm]);
        out.push(...(await this.readRowLogits(g, T)));
      }
      return out;
    }
    if (!allPositions) {
      for (let i = 0; i < last; i += PREFILL_BATCH) this.encodeBatch(tokens.slice(i, Math.min(last, i + PREFILL_BATCH)), pos + i);
      this.encodeStep(tokens[last], pos + last, [], copy);
      return [await this.readLogits()];
    }
    const out: Float32Array[] = [];
    for (let i = 0; i <= last; i++) {
      this.encodeStep(tokens[i], pos + i, [], copy);
      out.push(await this.readLogits());
    }
    return out;
  }

  /** Logits of rows 0..T-1 of the prefill graph's final norm: each row through the decode lm head, read in groups. */
  private async readRowLogits(g: PrefillGraph, T: number): Promise<Float32Array[]> {
    const V = this.config.nVocab;
    const E = this.config.nEmbd;
    const group = Math.max(1, Math.min(g.maxTokens, Math.floor(LOGITS_READ_BYTES / (V * 4))));
    this.rowsStaging ??= this.ctx.device.createBuffer({
      label: 'logits.rows.staging',
      size: group * V * 4,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const staging = this.rowsStaging;
    const out: Float32Array[] = [];
    for (let r0 = 0; r0 < T; r0 += group) {
      const n = Math.min(group, T - r0);
      const enc = this.ctx.device.createCommandEncoder({ label: 'prefill row logits' });
      for (let j = 0; j < n; j++) {
        enc.copyBufferToBuffer(g.xn, (r0 + j) * E * 4, this.headInput, 0, E * 4);
        const pass = enc.beginComputePass();
        for (const d of this.head) encodeDispatch(pass, d);
        pass.end();
        enc.copyBufferToBuffer(this.logits, 0, staging, j * V * 4, V * 4);
      }
      this.ctx.device.queue.submit([enc.finish()]);
      await staging.mapAsync(GPUMapMode.READ, 0, n * V * 4);
      const all = new Float32Array(staging.getMappedRange(0, n * V * 4).slice(0));
      staging.unmap();
      for (let j = 0; j < n; j++) {
        const row = all.slice(j * V, (j + 1) * V);
        if (this.config.logitScale !== 1) for (let i = 0; i < V; i++) row[i] /= this.config.logitScale;
        out.push(row);
      }
    }
    return out;
  }

  async expertUsage(): Promise<number[][]> {
    if (!this.counts) return [];
    const raw = await this.ctx.readU32(this.counts);
    const c = this.config;
    return Array.from({ length: c.nLayer }, (_, l) => Array.from(raw.subarray(l * c.nExpert, (l + 1) * c.nExpert)));
  }

  resetExpertUsage(): void {
    if (this.counts) this.ctx.device.queue.writeBuffer(this.counts, 0, new Uint32Array(this.config.nLayer * this.config.nExpert));
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
    this.prefill?.destroy();
    this.rowsStaging?.destroy();
    this.staging.destroy();
    for (const b of this.sampleStaging) b.destroy();
    for (const t of this.w.values()) destroyWeight(t);
  }
}
