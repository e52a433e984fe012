/**
 * @file The statistics line under a compare answer. Engines know different things (an endpoint may report no
 * prompt tokens, WebLLM no expert usage), so unknown numbers (NaN) are left out instead of printed as "NaN";
 * decode speed always shows, as "— tok/s" when unknown, so every pane's line can be read the same way.
 */
import type { GenerationStats } from '../../../workers/protocol.ts';
import { finishText, formatTokPerSec } from '../../lib/format.ts';

export function statsLine(s: GenerationStats): string {
  const parts: string[] = [];
  if (Number.isFinite(s.timeToFirstTokenMs)) parts.push(`${Math.round(s.timeToFirstTokenMs)} ms to first token`);
  if (Number.isFinite(s.prefillTokensPerSecond) && s.prefillTokensPerSecond > 0) parts.push(`prefill ${formatTokPerSec(s.prefillTokensPerSecond)} tok/s`);
  parts.push(`decode ${Number.isFinite(s.decodeTokensPerSecond) && s.decodeTokensPerSecond > 0 ? formatTokPerSec(s.decodeTokensPerSecond) : '—'} tok/s`);
  parts.push(Number.isFinite(s.promptTokens) ? `${s.promptTokens} prompt + ${s.generatedTokens} generated tokens` : `${s.generatedTokens} generated tokens`);
  if (s.finishReason !== 'eog') parts.push(finishText(s.finishReason));
  if (s.truncatedTokens > 0) parts.push(`${s.truncatedTokens} early tokens dropped to fit the context`);
  return parts.join(' · ');
}
