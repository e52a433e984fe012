/**
 * @file How many prompt tokens a generation may use: the KV cache holds `nCtx` tokens and the answer gets
 * `min(maxTokens, nCtx / 2)` of them (at least one). The engine cuts prompts to this budget (dropping old turns
 * first, keeping the system prompt and the last message); retrieval sizes its sources by the same number.
 */
export function promptBudget(nCtx: number, maxTokens: number): number {
  const reserve = Math.max(1, Math.min(maxTokens, Math.floor(nCtx / 2)));
  return nCtx - reserve;
}
