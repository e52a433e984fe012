/**
 * @file One loaded model in the engine host, and its recovery from a lost GPU device. When the device is lost
 * (driver reset, the browser reclaiming memory, Diagnostics' "Simulate GPU device loss"), the slot drops the
 * engine, builds a new one (a new device), loads the same model again (URL models come from the IndexedDB
 * weight cache), rebuilds the KV cache of the last conversation, and goes on: an answer in progress resumes
 * where it was (`continueFrom`: the tokens already delivered are evaluated again, not emitted again). After
 * `maxAttempts` failed reloads, or as many losses within one answer, it gives up with a GpuDeviceLostError that
 * says so. Pure logic over an injected engine factory, so tests drive it with fakes.
 */
import { EngineStateError } from '../errors.ts';
import { GpuDeviceLostError } from '../gpu/device.ts';
import type { Engine } from '../engine/types.ts';
import type { BenchMeasurement, BenchParams, BenchRun, BenchStep } from '../measurement.ts';
import type { ChatMessage, GenerateRequest, GenerationResult, LoadOptions, LoadProgress, ModelInfo, ModelSource, TokenDelta } from '../protocol.ts';
import type { SlotState } from './messages.ts';

/** What the host needs of an engine beyond `Engine` (BrixEngine has all of it). */
export interface HostedEngine extends Engine {
  /** Called when the loaded model's device is lost (not on unload). */
  onDeviceLost(fn: (e: Error) => void): void;
  /** Destroys the loaded model's device as a driver reset would; false when nothing is loaded. */
  simulateDeviceLoss(): boolean;
  /** Evaluates a conversation's prompt and answer into the KV cache (after a reload). */
  restoreContext?(request: GenerateRequest, answer: readonly number[], signal?: AbortSignal): Promise<void>;
}

export interface RecoveryPolicy {
  /** Reloads tried per loss, and losses tolerated within one answer. */
  readonly maxAttempts: number;
  /** Wait before reload attempt `attempt` (1-based): a driver reset takes a moment to settle. */
  readonly delayMs: (attempt: number) => number;
  /** How long a failed GPU call waits for `device.lost` before counting as an ordinary error. */
  readonly lostGraceMs: number;
}

export const DEFAULT_RECOVERY: RecoveryPolicy = { maxAttempts: 3, delayMs: (a) => 250 * 2 ** (a - 1), lostGraceMs: 300 };

export interface SlotDeps {
  readonly create: () => HostedEngine;
  readonly policy?: RecoveryPolicy;
  readonly sleep?: (ms: number) => Promise<void>;
  /** The slot's state changed (the host pushes its state to the tabs). */
  readonly onChange: () => void;
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class EngineSlot {
  state: SlotState = 'loading';
  info: ModelInfo | undefined;
  /** While recovering: the reload attempt under way (1-based). */
  attempt = 0;
  /** Why recovery gave up. */
  failed: GpuDeviceLostError | undefined;
  readonly policy: RecoveryPolicy;
  private engine: HostedEngine | undefined;
  /** Bumped per engine instance: a loss reported by a retired engine is ignored. */
  private epoch = 0;
  private lost = false;
  private lostSignal: Promise<void> = Promise.resolve();
  private recovering: Promise<void> | undefined;
  private running = 0;
  /** The last finished answer: its conversation is put back into the KV cache after a reload. */
  private last: { readonly request: GenerateRequest; readonly tokenIds: readonly number[] } | undefined;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    readonly key: string,
    private readonly source: ModelSource,
    private readonly options: LoadOptions,
    private readonly deps: SlotDeps,
  ) {
    this.policy = deps.policy ?? DEFAULT_RECOVERY;
    this.sleep = deps.sleep ?? sleepMs;
  }

  async load(onProgress: (p: LoadProgress) => void, signal?: AbortSignal): Promise<ModelInfo> {
    const engine = this.fresh();
    this.info = await engine.load(this.source, this.options, onProgress, signal);
    this.state = 'ready';
    this.deps.onChange();
    return this.info;
  }

  async generate(request: GenerateRequest, onToken?: (d: TokenDelta) => void, signal?: AbortSignal): Promise<GenerationResult> {
    const delivered = [...(request.continueFrom ?? [])];
    let losses = 0;
    this.running++;
    try {
      for (;;) {
        const engine = await this.ready();
        const lost = this.lostSignal;
        // Set once this call is abandoned (its device was lost): its late tokens must not reach the tab.
        let abandoned = false;
        try {
          const req = delivered.length > 0 ? { ...request, continueFrom: [...delivered] } : request;
          const call = engine.generate(
            req,
            (d) => {
              if (abandoned) return;
              delivered.push(...d.tokenIds);
              onToken?.(d);
            },
            signal,
          );
          let result: GenerationResult;
          try {
            result = await this.orLost(call, lost);
          } catch (e) {
            abandoned = true;
            throw e;
          }
          const { continueFrom: _, ...plain } = request;
          this.last = { request: plain, tokenIds: result.tokenIds };
          return result;
        } catch (e) {
          if (!(await this.isLoss(e, engine, signal))) throw e;
          if (++losses > this.policy.maxAttempts) {
            throw new GpuDeviceLostError(`the GPU was reset ${losses} times during this answer; giving up. Reload the page to try again.`);
          }
          await this.recover(false);
        }
      }
    } finally {
      this.running--;
      this.recoverIfIdle();
    }
  }

  /** Prompt tokens of each message list, as generate would encode them (retrieval's budget). */
  async countPromptTokens(prompts: readonly (readonly ChatMessage[])[]): Promise<number[]> {
    const engine = await this.ready();
    if (!engine.countPromptTokens) throw new EngineStateError('this engine cannot count prompt tokens');
    return [...(await engine.countPromptTokens(prompts))];
  }

  /** A benchmark is not resumed: after a loss the model is reloaded and the benchmark fails saying so. */
  async bench(params: BenchParams, onRun?: (r: BenchRun) => void, signal?: AbortSignal, onStep?: (s: BenchStep) => void): Promise<BenchMeasurement> {
    this.running++;
    try {
      const engine = await this.ready();
      if (!engine.bench) throw new GpuDeviceLostError('this engine has no benchmark');
      try {
        return await this.orLost(engine.bench(params, onRun, signal, onStep), this.lostSignal);
      } catch (e) {
        if (!(await this.isLoss(e, engine, signal))) throw e;
        await this.recover(true);
        throw new GpuDeviceLostError('the GPU was reset during the benchmark; the model was reloaded: run it again');
      }
    } finally {
      this.running--;
      this.recoverIfIdle();
    }
  }

  simulateDeviceLoss(): boolean {
    return this.state === 'ready' && this.engine !== undefined && this.engine.simulateDeviceLoss();
  }

  async unload(): Promise<void> {
    this.epoch++;
    const engine = this.engine;
    this.engine = undefined;
    await engine?.unload();
  }

  /** The engine to use, once any recovery in progress is over; the give-up error after a failed one. */
  private async ready(): Promise<HostedEngine> {
    if (this.recovering) await this.recovering;
    if (this.failed) throw this.failed;
    if (!this.engine) throw new GpuDeviceLostError('the model was unloaded');
    return this.engine;
  }

  private fresh(): HostedEngine {
    const engine = this.deps.create();
    const epoch = ++this.epoch;
    this.engine = engine;
    this.lost = false;
    let resolveLost = (): void => undefined;
    this.lostSignal = new Promise<void>((r) => (resolveLost = r));
    engine.onDeviceLost(() => {
      if (epoch !== this.epoch) return;
      this.lost = true;
      resolveLost();
      this.recoverIfIdle();
    });
    return engine;
  }

  /** A loss with no request running (the GPU reset while the user reads): reload now, not at the next turn. */
  private recoverIfIdle(): void {
    if (this.lost && this.running === 0 && !this.recovering && !this.failed && this.engine) void this.recover(true).catch(() => undefined);
  }

  /**
   * `call`, or a GpuDeviceLostError once the device is lost and `call` has not settled within the grace time: a
   * GPU call on a lost device may never settle (a mapAsync Dawn leaves pending), and a request waiting on it
   * would hold recovery back for good (it starts when no request runs).
   */
  private orLost<T>(call: Promise<T>, lost: Promise<void>): Promise<T> {
    const stuck = lost
      .then(() => this.sleep(this.policy.lostGraceMs))
      .then(() => {
        throw new GpuDeviceLostError('the GPU device was lost and the request in progress did not stop');
      });
    call.catch(() => undefined); // an abandoned call may still reject later
    return Promise.race([call, stuck]);
  }

  /** Whether `e` (thrown by `engine`) came from a lost device: named so, or the device reports lost soon after. */
  private async isLoss(e: unknown, engine: HostedEngine, signal: AbortSignal | undefined): Promise<boolean> {
    if (engine !== this.engine) return true; // another request's recovery already replaced it
    if (e instanceof Error && e.name === 'GpuDeviceLostError') return true;
    if (this.lost) return true;
    // An AbortError is the user's only when they aborted: Dawn aborts a pending mapAsync with one (DOMException)
    // when the device goes, before `device.lost` fires.
    const name = e instanceof Error || e instanceof DOMException ? e.name : '';
    if (name === 'EngineStateError' || (name === 'AbortError' && signal?.aborted)) return false;
    await Promise.race([this.lostSignal, this.sleep(this.policy.lostGraceMs)]);
    return this.lost;
  }

  /** One recovery at a time; every request that meets the loss waits for the same one. */
  private recover(restore: boolean): Promise<void> {
    this.recovering ??= this.reload(restore).finally(() => {
      this.recovering = undefined;
    });
    return this.recovering;
  }

  private async reload(restore: boolean): Promise<void> {
    const max = this.policy.maxAttempts;
    let lastError: unknown;
    for (let attempt = 1; attempt <= max; attempt++) {
      this.state = 'recovering';
      this.attempt = attempt;
      this.deps.onChange();
      await this.sleep(this.policy.delayMs(attempt));
      const old = this.engine;
      this.epoch++; // the old engine's late reports are ignored from here
      await old?.unload().catch(() => undefined);
      try {
        const engine = this.fresh();
        this.info = await engine.load(this.source, this.options, () => undefined);
        if (restore && this.last && engine.restoreContext) {
          const last = this.last;
          await this.orLost(engine.restoreContext(last.request, last.tokenIds), this.lostSignal).catch(() => undefined);
        }
        if (this.lost) throw new GpuDeviceLostError('the GPU was lost again while reloading');
        this.state = 'ready';
        this.attempt = 0;
        this.deps.onChange();
        return;
      } catch (e) {
        lastError = e;
      }
    }
    this.failed = new GpuDeviceLostError(
      `the GPU was reset and reloading the model failed ${max} times (${errorText(lastError)}); reload the page to try again`,
    );
    this.state = 'failed';
    this.deps.onChange();
    throw this.failed;
  }
}
