/**
 * @file The engine: loads a GGUF model onto the GPU and generates text, the same code in the browser worker
 * and in Node. Platform specifics come in as `EngineDeps` (how to get a GPU, how to open a model source).
 *
 * Context policy: the KV cache holds `nCtx` tokens. A new prompt reuses the cached prefix it shares with the
 * previous one (chat turns re-send the whole conversation). When a conversation does not fit, the oldest
 * non-system messages are dropped (the system prompt is always kept) until the prompt plus room for the answer
 * fits; a single message that still does not fit is cut from its start (prompt.ts). `stats.truncatedTokens` reports it.
 */
import { AbortError, EngineStateError } from '../errors.ts';
import { GpuDeviceLostError } from '../gpu/device.ts';
import type { GpuContext } from '../gpu/device.ts';
import type { ByteSource } from '../gguf/byteSource.ts';
import { openGgufModel, type GgufModel } from '../gguf/model.ts';
import { describeModel, type ModelConfig } from '../gguf/arch.ts';
import { Tokenizer } from '../tokenizer/tokenizer.ts';
import { tokenizerSpecFromMetadata } from '../tokenizer/fromGguf.ts';
import { StreamingDecoder } from '../tokenizer/streaming.ts';
import { checkChatTemplate } from '../tokenizer/chatTemplate.ts';
import { buildPrompt } from './prompt.ts';
import { promptBudget } from './contextPolicy.ts';
import type {
  ChatMessage,
  GenerateRequest,
  GenerationResult,
  GenerationStats,
  LoadOptions,
  LoadProgress,
  ModelInfo,
  ModelSource,
  TokenDelta,
  FinishReason,
} from '../protocol.ts';
import type { Engine } from './types.ts';
import { GREEDY, type CreateRunnerArgs, type Runner } from './runner.ts';
import { productWeights, resolveActivations } from './activationChoice.ts';
import type { ActivationMode } from './activationRounding.ts';
import { StopStringFilter, commonPrefix } from './textStream.ts';
import { activeWeightBytes, measureBench } from '../bench/bench.ts';
import type { BenchMeasurement, BenchParams, BenchRun, BenchStep } from '../measurement.ts';
import { measureReadBandwidth } from '../bench/timing.ts';

export interface OpenedSource {
  readonly first: ByteSource;
  readonly openSibling?: (fileName: string) => Promise<ByteSource>;
  /** Releases file handles; called once every tensor is on the GPU (or the load failed). */
  readonly close?: () => Promise<void>;
}

export interface EngineDeps {
  readonly acquireGpu: () => Promise<GpuContext>;
  readonly openSource: (source: ModelSource, onProgress: (p: LoadProgress) => void, signal?: AbortSignal) => Promise<OpenedSource>;
  /** Builds the GPU runner (gpuRunner.ts); injected so the loop can be tested with a fake. */
  readonly createRunner: (args: CreateRunnerArgs) => Promise<Runner>;
  readonly now?: () => number;
}

interface Loaded {
  readonly gpu: GpuContext;
  readonly runner: Runner;
  readonly tokenizer: Tokenizer;
  readonly template: string | undefined;
  readonly info: ModelInfo;
  /** Weight bytes read per decoded token (the benchmark's roofline). */
  readonly activeWeightBytes: number;
  /** Tokens whose K/V are in the cache, in order from position 0. */
  cached: number[];
  /** Set when the device is lost: every later call fails with it until a new load. */
  lost?: GpuDeviceLostError;
  /** Set by simulateDeviceLoss: its destroy() counts as a loss, not as our own unload. */
  simulated?: boolean;
}

const RECENT_WINDOW = 64;

export class BrixEngine implements Engine {
  private loaded: Loaded | undefined;
  private busy = false;
  private readonly now: () => number;
  private readonly lostListeners: ((e: GpuDeviceLostError) => void)[] = [];

  constructor(private readonly deps: EngineDeps) {
    this.now = deps.now ?? (() => performance.now());
  }

  get model(): ModelInfo | undefined {
    return this.loaded?.info;
  }

  /** For the CLI and tests: the loaded tokenizer and runner. */
  get internals(): { tokenizer: Tokenizer; runner: Runner } {
    const l = this.require();
    return { tokenizer: l.tokenizer, runner: l.runner };
  }

  async load(source: ModelSource, options: LoadOptions, onProgress?: (p: LoadProgress) => void, signal?: AbortSignal): Promise<ModelInfo> {
    if (this.busy) throw new EngineStateError('the engine is busy; abort the current request first');
    this.busy = true;
    const progress = onProgress ?? (() => undefined);
    try {
      await this.unloadNow();
      const opened = await this.deps.openSource(source, progress, signal);
      try {
        const loaded = await this.loadFrom(opened, options, progress, signal);
        this.loaded = loaded;
        void loaded.gpu.lost.then((l) => {
          if (l.destroyed && !loaded.simulated) return;
          loaded.lost ??= new GpuDeviceLostError(`the GPU device was lost (${l.message || 'no reason given'}); load the model again`);
          if (this.loaded === loaded) for (const fn of this.lostListeners) fn(loaded.lost);
        });
        return loaded.info;
      } finally {
        await opened.close?.();
      }
    } finally {
      this.busy = false;
    }
  }

  /** `fn` runs when the device of the loaded model is lost (not on unload); the engine then needs a new load. */
  onDeviceLost(fn: (e: GpuDeviceLostError) => void): void {
    this.lostListeners.push(fn);
  }

  /** Destroys the loaded model's GPU device as a driver reset would (Settings → Diagnostics). */
  simulateDeviceLoss(): boolean {
    const l = this.loaded;
    if (!l) return false;
    l.simulated = true;
    // Set before destroy(): a map that fails right away must already read as a device loss.
    l.lost ??= new GpuDeviceLostError('the GPU device was lost (simulated: device.destroy()); load the model again');
    l.gpu.device.destroy();
    return true;
  }

  private async loadFrom(opened: OpenedSource, options: LoadOptions, progress: (p: LoadProgress) => void, signal?: AbortSignal): Promise<Loaded> {
    const model = await openGgufModel(opened.first, opened.openSibling);
    const hp = describeModel(model);
    const tokenizer = Tokenizer.fromSpec(tokenizerSpecFromMetadata(model.metadata));
    const template = model.metadata.optString('tokenizer.chat_template');
    // Untrusted code: a template that does not parse or runs past its limits fails the load, not a later turn.
    checkChatTemplate(template, {
      bosToken: tokenizer.bos !== undefined ? tokenizer.tokenText(tokenizer.bos) : '',
      eosToken: tokenizer.eos !== undefined ? tokenizer.tokenText(tokenizer.eos) : '',
    });
    if (signal?.aborted) throw new AbortError('model load aborted');
    const gpu = await this.deps.acquireGpu();
    let runner: Runner;
    let activations: ActivationMode | undefined;
    try {
      // activations only when asked: a host's own runner options (Node's loadNodeEngine) must not be overridden.
      // 'auto' is decided here, once, from the adapter and the weight types (activationChoice.ts).
      activations = options.activations && resolveActivations(options.activations, gpu.info, productWeights(model.tensors));
      const runnerOpts = activations ? { contextSize: options.contextSize, activations } : { contextSize: options.contextSize };
      runner = await this.deps.createRunner({ gpu, model, config: hp, options: runnerOpts, onProgress: progress, signal });
    } catch (e) {
      gpu.device.destroy();
      throw e;
    }
    const nParams = model.tensors.reduce((a, t) => a + t.dims.reduce((x, y) => x * y, 1), 0);
    const info: ModelInfo = {
      name: model.metadata.optString('general.name') ?? opened.first.name,
      architecture: hp.arch,
      nParams,
      nLayer: hp.nLayer,
      nExpert: hp.nExpert,
      nExpertUsed: hp.nExpertUsed,
      contextSize: runner.nCtx,
      vocabSize: hp.nVocab,
      fileBytes: model.tensorBytes,
      gpuBytes: runner.gpuBytes,
      ...(activations ? { activations } : {}),
    };
    return {
      gpu,
      runner,
      tokenizer,
      template,
      info,
      activeWeightBytes: activeWeightBytes(model, hp),
      cached: [],
    };
  }

  async generate(request: GenerateRequest, onToken?: (d: TokenDelta) => void, signal?: AbortSignal): Promise<GenerationResult> {
    const l = this.require();
    if (this.busy) throw new EngineStateError('the engine is busy with another request');
    this.busy = true;
    try {
      if (l.lost) throw l.lost;
      return await this.generateLocked(l, request, onToken, signal);
    } catch (e) {
      // The cache may hold K/V of tokens we did not record; start clean next time.
      l.cached = [];
      // A failed map or submit after a device loss surfaces as whatever Dawn says; name it.
      throw l.lost ?? e;
    } finally {
      this.busy = false;
    }
  }

  private async generateLocked(
    l: Loaded,
    request: GenerateRequest,
    onToken: ((d: TokenDelta) => void) | undefined,
    signal: AbortSignal | undefined,
  ): Promise<GenerationResult> {
    const s = request.sampling;
    const t0 = this.now();
    const { ids, truncated } = buildPrompt(l.tokenizer, l.template, request, promptBudget(l.runner.nCtx, s.maxTokens), l.runner.nCtx);

    // A resumed answer (continueFrom: after a GPU reset or an engine hand-over) re-evaluates the tokens already
    // delivered after the prompt and goes on from there: sampling steps are counted from the answer's start, so
    // the same seed gives the same text as an uninterrupted run.
    const resumed = request.continueFrom ?? [];
    const all = resumed.length > 0 ? [...ids, ...resumed] : ids;
    let reuse = commonPrefix(l.cached, all);
    if (reuse === all.length) reuse--; // at least one token must run to produce logits
    l.cached = l.cached.slice(0, reuse);
    l.runner.resetExpertUsage();

    const decoder = new StreamingDecoder(l.tokenizer, { skipSpecial: true });
    const stops = new StopStringFilter(s.stop);
    const generated: number[] = [...resumed];
    const recent = all.slice(-RECENT_WINDOW);
    let text = '';
    let finish: FinishReason = 'length';
    let tFirst = 0;
    let sawFirst = false;
    const emit = (piece: string, tokenIds: number[]): void => {
      if (!piece && tokenIds.length === 0) return;
      text += piece;
      onToken?.({ text: piece, tokenIds });
    };
    // The text of the delivered tokens, through the same decoder and stop filter, without emitting it again.
    for (const t of resumed) text += stops.push(decoder.push(t));

    const sampling = { temperature: s.temperature, topK: s.topK, topP: s.topP, repetitionPenalty: s.repetitionPenalty, seed: s.seed };
    let pending = all.slice(reuse);
    let pos = reuse;
    const prefillTokens = pending.length;
    let tPrefillEnd = 0;
    if (stops.stopped) finish = 'stop';
    while (!stops.stopped && generated.length < s.maxTokens) {
      if (signal?.aborted) {
        finish = 'abort';
        break;
      }
      if (pos + pending.length > l.runner.nCtx) {
        finish = 'context';
        break;
      }
      let next: number;
      try {
        next = await l.runner.evalAndSample(pending, pos, { sampling, step: generated.length, recent, signal, next: generated.length + 1 < s.maxTokens });
      } catch (e) {
        // Aborted between prompt chunks: the cache is good up to `pos` (l.cached), nothing was generated.
        if (e instanceof AbortError && signal?.aborted) {
          finish = 'abort';
          break;
        }
        throw e;
      }
      l.cached.push(...pending);
      pos += pending.length;
      if (!sawFirst) {
        sawFirst = true;
        tFirst = this.now();
        tPrefillEnd = tFirst;
      }
      if (l.tokenizer.isEog(next)) {
        finish = 'eog';
        break;
      }
      generated.push(next);
      recent.push(next);
      if (recent.length > RECENT_WINDOW) recent.shift();
      const piece = stops.push(decoder.push(next));
      emit(piece, [next]);
      if (stops.stopped) {
        finish = 'stop';
        break;
      }
      pending = [next];
    }
    if (finish !== 'stop') emit(stops.push(decoder.flush()) + stops.flush(), []);
    // The last sampled token was never evaluated: the cache holds everything up to it.
    const tEnd = this.now();
    const decodeCount = Math.max(0, generated.length - 1);
    const stats: GenerationStats = {
      promptTokens: ids.length,
      generatedTokens: generated.length,
      timeToFirstTokenMs: tFirst ? tFirst - t0 : tEnd - t0,
      prefillTokensPerSecond: tPrefillEnd > t0 ? (prefillTokens / (tPrefillEnd - t0)) * 1000 : 0,
      decodeTokensPerSecond: decodeCount > 0 && tEnd > tPrefillEnd ? (decodeCount / (tEnd - tPrefillEnd)) * 1000 : 0,
      totalMs: tEnd - t0,
      finishReason: finish,
      expertUsage: await l.runner.expertUsage(),
      truncatedTokens: truncated,
    };
    return { text, tokenIds: generated, stats };
  }

  /**
   * The model benchmark (workers/bench/bench.ts) on the loaded model: warm-up + `runs` runs straight on the
   * runner, then the read bandwidth on the same device. Aborting throws (unlike generate).
   */
  async bench(params: BenchParams, onRun?: (r: BenchRun) => void, signal?: AbortSignal, onStep?: (s: BenchStep) => void): Promise<BenchMeasurement> {
    const l = this.require();
    if (this.busy) throw new EngineStateError('the engine is busy with another request');
    this.busy = true;
    try {
      if (l.lost) throw l.lost;
      return await measureBench(
        { runner: l.runner, gpu: l.gpu.info, activeWeightBytes: l.activeWeightBytes },
        params,
        { now: this.now, readGBps: () => measureReadBandwidth(l.gpu), onRun, onStep, signal },
      );
    } catch (e) {
      throw l.lost ?? e;
    } finally {
      // The benchmark wrote its own tokens into the KV cache from position 0.
      l.cached = [];
      this.busy = false;
    }
  }

  /**
   * Prompt tokens of each message list, encoded exactly as `generate` would (chat template, generation prompt,
   * control tokens only from the template's markup, no truncation): retrieval measures its sources with it.
   */
  async countPromptTokens(prompts: readonly (readonly ChatMessage[])[]): Promise<number[]> {
    const l = this.require();
    return prompts.map((messages) => buildPrompt(l.tokenizer, l.template, { messages }, Number.MAX_SAFE_INTEGER, l.runner.nCtx).ids.length);
  }

  /**
   * Rebuilds the KV cache for a conversation (after a GPU reset): evaluates the prompt of `request` and the
   * answer tokens that followed it, so the next turn of that conversation reuses them as a cached prefix.
   */
  async restoreContext(request: GenerateRequest, answer: readonly number[], signal?: AbortSignal): Promise<void> {
    const l = this.require();
    if (this.busy) throw new EngineStateError('the engine is busy with another request');
    this.busy = true;
    try {
      if (l.lost) throw l.lost;
      const { ids } = buildPrompt(l.tokenizer, l.template, request, promptBudget(l.runner.nCtx, request.sampling.maxTokens), l.runner.nCtx);
      const all = [...ids, ...answer].slice(0, l.runner.nCtx);
      const reuse = commonPrefix(l.cached, all);
      if (reuse === all.length) return;
      l.cached = l.cached.slice(0, reuse);
      await l.runner.evalAndSample(all.slice(reuse), reuse, { sampling: GREEDY, step: 0, signal });
      l.cached = all;
    } catch (e) {
      l.cached = [];
      throw l.lost ?? e;
    } finally {
      this.busy = false;
    }
  }

  async unload(): Promise<void> {
    await this.unloadNow();
  }

  private async unloadNow(): Promise<void> {
    const l = this.loaded;
    this.loaded = undefined;
    if (!l) return;
    l.runner.destroy();
    l.gpu.device.destroy();
    await Promise.resolve();
  }

  private require(): Loaded {
    if (!this.loaded) throw new EngineStateError('no model is loaded');
    return this.loaded;
  }
}
