/**
 * @file Fakes for the engine host (workers/host/): a scripted HostedEngine (loads counted, tokens one per
 * step, device loss on demand, `continueFrom` honoured) and tabs wired to a host in memory, every message
 * structuredClone'd and delivered on a later task as postMessage does.
 */
import { GpuDeviceLostError } from '../../workers/gpu/device.ts';
import { EngineStateError } from '../../workers/errors.ts';
import type { BenchMeasurement, BenchParams, BenchRun, BenchStep, GenerateRequest, GenerationResult, LoadOptions, LoadProgress, ModelInfo, ModelSource, TokenDelta } from '../../workers/protocol.ts';
import type { HostedEngine } from '../../workers/host/engineSlot.ts';
import { createEngineHost, type EngineHost, type EngineHostDeps } from '../../workers/host/engineHost.ts';
import type { HostMessage, HostState } from '../../workers/host/messages.ts';
import { HostLink, type HostTransport } from '../../app/lib/hostLink.ts';
import { EngineClient } from '../../app/lib/engineClient.ts';

export const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The text of answer token i to a prompt: a resumed answer can be checked against an uninterrupted one. */
export const piece = (prompt: string, i: number): string => `${prompt}#${i} `;

export interface EngineLog {
  loads: number;
  unloads: number;
  /** `start:<prompt>` / `end:<prompt>:<finish>` in the order the engines ran them. */
  readonly runs: string[];
  readonly restored: string[];
  /** Every engine made, newest last. */
  readonly engines: FakeHostedEngine[];
  /** When set, loads after the first fail with this error. */
  failReloads?: Error;
  /**
   * How a running generate meets the loss: 'throw' (GpuDeviceLostError at the next step, default), 'hang' (never
   * settles, as a mapAsync Dawn leaves pending), 'throw-first' (mapAsync's AbortError now, `device.lost` 5 ms
   * later: the order Chromium showed, the pending map is aborted before the loss is reported).
   */
  onLoss?: 'throw' | 'hang' | 'throw-first';
}

export function newLog(): EngineLog {
  return { loads: 0, unloads: 0, runs: [], restored: [], engines: [] };
}

export class FakeHostedEngine implements HostedEngine {
  private lostFns: ((e: Error) => void)[] = [];
  private lost = false;
  private loaded = false;
  constructor(
    private readonly log: EngineLog,
    private readonly stepMs = 2,
  ) {
    log.engines.push(this);
  }

  async load(source: ModelSource, _options: LoadOptions, onProgress?: (p: LoadProgress) => void, signal?: AbortSignal): Promise<ModelInfo> {
    this.log.loads++;
    if (this.log.failReloads && this.log.loads > 1) throw this.log.failReloads;
    for (let i = 0; i < 3; i++) {
      await tick(2);
      signal?.throwIfAborted();
      onProgress?.({ phase: 'upload', loaded: i + 1, total: 3 });
    }
    this.loaded = true;
    const name = source.kind === 'url' ? source.url : 'model';
    return { name, architecture: 'fake', nParams: 1, nLayer: 1, nExpert: 0, nExpertUsed: 0, contextSize: 64, vocabSize: 10, fileBytes: 1, gpuBytes: 1000 };
  }

  async generate(request: GenerateRequest, onToken?: (d: TokenDelta) => void, signal?: AbortSignal): Promise<GenerationResult> {
    if (!this.loaded) throw new EngineStateError('no model is loaded');
    const prompt = request.messages.at(-1)?.content ?? '';
    const done = request.continueFrom ?? [];
    const tokenIds = [...done];
    let text = done.map((_, i) => piece(prompt, i)).join('');
    this.log.runs.push(`start:${prompt}${done.length ? `@${done.length}` : ''}`);
    let finish: 'length' | 'abort' = 'length';
    for (let i = done.length; i < request.sampling.maxTokens; i++) {
      await tick(this.stepMs);
      if (this.lost) {
        if (this.log.onLoss === 'hang') await new Promise<never>(() => undefined);
        if (this.log.onLoss === 'throw-first') throw new DOMException("Failed to execute 'mapAsync' on 'GPUBuffer': Buffer was unmapped before mapping was resolved.", 'AbortError');
        throw new GpuDeviceLostError('the GPU device was lost (fake)');
      }
      if (signal?.aborted) {
        finish = 'abort';
        break;
      }
      tokenIds.push(i);
      text += piece(prompt, i);
      onToken?.({ text: piece(prompt, i), tokenIds: [i] });
    }
    this.log.runs.push(`end:${prompt}:${finish}`);
    const stats = { promptTokens: 1, generatedTokens: tokenIds.length, timeToFirstTokenMs: 0, prefillTokensPerSecond: 0, decodeTokensPerSecond: 0, totalMs: 0, finishReason: finish, expertUsage: [], truncatedTokens: 0 };
    return { text, tokenIds, stats };
  }

  /** A benchmark of `runs` + 1 runs, a step per phase start and decoded token, one `stepMs` each. */
  async bench(p: BenchParams, onRun?: (r: BenchRun) => void, signal?: AbortSignal, onStep?: (s: BenchStep) => void): Promise<BenchMeasurement> {
    if (!this.loaded) throw new EngineStateError('no model is loaded');
    for (let run = 0; run <= p.runs; run++) {
      onStep?.({ run, runs: p.runs, phase: 'prefill', done: 0, total: p.promptTokens });
      for (let done = 0; done <= p.genTokens; done++) {
        await tick(this.stepMs);
        signal?.throwIfAborted();
        onStep?.({ run, runs: p.runs, phase: 'decode', done, total: p.genTokens });
      }
      onRun?.({ run, runs: p.runs, prefillTokensPerSecond: 1, decodeTokensPerSecond: 1, timeToFirstTokenMs: 1 });
    }
    onStep?.({ run: p.runs, runs: p.runs, phase: 'bandwidth', done: 0, total: 0 });
    const one = { median: 1, min: 1, max: 1 };
    const limits = { maxStorageBufferBindingSize: 1, maxBufferSize: 1, maxComputeWorkgroupStorageSize: 1, maxStorageBuffersPerShaderStage: 1, maxComputeInvocationsPerWorkgroup: 1, maxComputeWorkgroupSizeX: 1, maxComputeWorkgroupsPerDimension: 1 };
    return {
      architecture: 'fake',
      adapter: 'fake',
      gpu: { vendor: 'fake', architecture: '', device: '', description: '', isFallbackAdapter: true, subgroupMinSize: 4, subgroupMaxSize: 4, features: { f16: false, subgroups: false, timestampQuery: false }, limits },
      ...p,
      prefillTokensPerSecond: one,
      decodeTokensPerSecond: one,
      decodeMsPerToken: one,
      timeToFirstTokenMs: one,
      gpuMemoryBytes: 1000,
      roofline: { kvCache: 'f32', activeWeightBytesPerToken: 1, kvBytesPerToken: 1, bytesPerToken: 2, measuredReadGBps: 1, rooflineTokensPerSecond: 1, percentOfRoofline: 100 },
    };
  }

  async restoreContext(request: GenerateRequest, answer: readonly number[]): Promise<void> {
    this.log.restored.push(`${request.messages.at(-1)?.content ?? ''}+${answer.length}`);
    await tick(1);
  }

  async unload(): Promise<void> {
    this.log.unloads++;
    this.loaded = false;
  }

  onDeviceLost(fn: (e: Error) => void): void {
    this.lostFns.push(fn);
  }

  simulateDeviceLoss(): boolean {
    if (!this.loaded || this.lost) return false;
    this.lost = true;
    const report = (): void => {
      for (const fn of this.lostFns) fn(new GpuDeviceLostError('lost'));
    };
    if (this.log.onLoss === 'throw-first') setTimeout(report, 5);
    else queueMicrotask(report);
    return true;
  }
}

/** A tab in memory: its HostLink talks to `host` through a transport that can be cut (the leader tab died). */
export class FakeTab {
  readonly link: HostLink;
  private readonly fns: ((m: HostMessage) => void)[] = [];
  /** Where this tab's messages go; swapped on a hand-over. */
  host: EngineHost | undefined;
  readonly states: HostState[] = [];

  constructor(
    readonly id: string,
    host: EngineHost | undefined,
    private readonly net: FakeNet,
  ) {
    this.host = host;
    net.tabs.add(this);
    const transport: HostTransport = {
      post: (m) => {
        const copy = structuredClone(m);
        setTimeout(() => this.host?.receive(copy, (out) => this.deliver(out)), 0);
      },
      listen: (fn) => this.fns.push(fn),
    };
    this.link = new HostLink(id, transport);
    this.link.subscribe((s) => {
      if (s) this.states.push(s);
    });
  }

  client(): EngineClient {
    return new EngineClient(this.link.openSession());
  }

  deliver(m: HostMessage): void {
    const copy = structuredClone(m);
    setTimeout(() => {
      if (!this.net.tabs.has(this)) return;
      for (const fn of this.fns) fn(copy);
    }, 0);
  }

  /** The tab closes: the host learns it (as from the tab's Web Lock), nothing reaches the tab any more. */
  close(): void {
    this.net.tabs.delete(this);
    const host = this.host;
    setTimeout(() => host?.closeTab(this.id), 0);
  }
}

/** Every tab and the host they share; `broadcast` reaches every open tab. */
export class FakeNet {
  readonly tabs = new Set<FakeTab>();

  host(deps: Omit<EngineHostDeps, 'broadcast'> & { hostId: string }): EngineHost {
    return createEngineHost({ ...deps, broadcast: (m) => this.broadcast(m), gpuAvailable: () => Promise.resolve(true) });
  }

  broadcast(m: HostMessage): void {
    for (const t of this.tabs) t.deliver(m);
  }
}

/** Polls until `pred` holds (fails after `ms`). */
export async function until(pred: () => boolean, ms = 2000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error('condition not reached in time');
    await tick(1);
  }
}
