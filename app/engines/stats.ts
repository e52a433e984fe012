/**
 * @file Generation statistics measured on the client, for engines that report few or none of their own
 * (endpoints; WebLLM reports some): time to first token from the request to the first non-empty delta, decode
 * speed over the deltas after the first. Numbers an engine reports win over measured ones; what nobody knows
 * is NaN (shown as "—", exported as null), never a made-up 0.
 */
import type { FinishReason, GenerationStats } from '../../workers/protocol.ts';

/** What an engine told us about a finished generation; every field optional. */
export interface ReportedStats {
  readonly promptTokens?: number;
  readonly generatedTokens?: number;
  readonly timeToFirstTokenMs?: number;
  readonly prefillTokensPerSecond?: number;
  readonly decodeTokensPerSecond?: number;
}

const finite = (x: number | undefined): x is number => x !== undefined && Number.isFinite(x);

export class StatsClock {
  private readonly t0: number;
  private tFirst = 0;
  private tLast = 0;
  private deltas = 0;

  constructor(private readonly now: () => number) {
    this.t0 = now();
  }

  /** A delta with text arrived. */
  delta(): void {
    const t = this.now();
    if (this.deltas === 0) this.tFirst = t;
    this.tLast = t;
    this.deltas++;
  }

  get deltaCount(): number {
    return this.deltas;
  }

  finish(finishReason: FinishReason, reported: ReportedStats = {}): GenerationStats {
    const tEnd = this.now();
    const generated = finite(reported.generatedTokens) ? reported.generatedTokens : this.deltas;
    const ttft = finite(reported.timeToFirstTokenMs) ? reported.timeToFirstTokenMs : this.deltas > 0 ? this.tFirst - this.t0 : NaN;
    const span = this.tLast - this.tFirst;
    const measuredDecode = generated > 1 && span > 0 ? ((generated - 1) / span) * 1000 : NaN;
    const promptTokens = finite(reported.promptTokens) ? reported.promptTokens : NaN;
    return {
      promptTokens,
      generatedTokens: generated,
      timeToFirstTokenMs: ttft,
      prefillTokensPerSecond: finite(reported.prefillTokensPerSecond) ? reported.prefillTokensPerSecond : NaN,
      decodeTokensPerSecond: finite(reported.decodeTokensPerSecond) && reported.decodeTokensPerSecond > 0 ? reported.decodeTokensPerSecond : measuredDecode,
      totalMs: tEnd - this.t0,
      finishReason,
      expertUsage: [],
      truncatedTokens: 0,
    };
  }
}
