/**
 * @file A request's prompt ids within the context budget (the engine's context policy): the conversation
 * through `encodeChat` (message text never becomes control tokens), and when it does not fit, the oldest
 * non-system messages dropped, then the rest cut from its start. The number of messages to drop is found by
 * binary search over renders of the conversation (token count only grows with the messages kept), and pieces of
 * text between control tokens are encoded once across those renders: 1,000 messages cost ~12 renders and one
 * encoding of each message, not one of each per dropped message.
 */
import { EngineStateError } from '../errors.ts';
import { ChatTemplateError, encodeChat } from '../tokenizer/chatTemplate.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import type { ChatMessage } from '../protocol.ts';

export interface PromptRequest {
  readonly messages: readonly ChatMessage[];
  /** Content joined and encoded as plain text, no template. */
  readonly raw?: boolean;
  /** Extend the last (assistant) message instead of starting a new turn (GenerateRequest.continueFinal). */
  readonly continueFinal?: boolean;
}

export interface BuiltPrompt {
  readonly ids: number[];
  /** Tokens of the full prompt that were left out. */
  readonly truncated: number;
  /** Times the conversation was rendered and encoded (bounded work: ⌈log2(messages)⌉ + 2 at most). */
  readonly renders: number;
}

/**
 * Prompt ids within `budget` tokens (see the file comment). `nCtx` only words the errors. Throws
 * EngineStateError when there is no room for a prompt or the prompt is empty, ChatTemplateError when the
 * template fails or renders nothing.
 */
export function buildPrompt(tokenizer: Tokenizer, template: string | undefined, request: PromptRequest, budget: number, nCtx: number): BuiltPrompt {
  if (budget < 1) {
    throw new EngineStateError(
      `the context holds ${nCtx} token(s): no room for a prompt and the answer (it needs at least 2 tokens; load the model with a larger context size)`,
    );
  }
  if (request.raw) {
    const text = request.messages.map((m) => m.content).join('');
    if (text === '') throw new EngineStateError('the prompt is empty: give some text to continue');
    const ids = tokenizer.encode(text, { addSpecial: true });
    const cut = ids.length > budget ? ids.slice(ids.length - budget) : ids;
    return { ids: cut, truncated: ids.length - cut.length, renders: 1 };
  }
  if (request.messages.length === 0) throw new EngineStateError('the conversation has no messages');
  const cache = new Map<string, number[]>();
  let renders = 0;
  const encode = (msgs: readonly ChatMessage[]): number[] => {
    renders++;
    return encodeChat(tokenizer, template, msgs, { addGenerationPrompt: true, continueFinal: request.continueFinal === true, cache });
  };
  const full = encode(request.messages);
  if (full.length === 0) throw new ChatTemplateError('the chat template rendered no tokens for this conversation');
  if (full.length <= budget) return { ids: full, truncated: 0, renders };

  // Droppable: non-system messages before the last one, oldest first. keep(k) leaves out the first k of them.
  const droppable: number[] = [];
  request.messages.forEach((m, i) => {
    if (m.role !== 'system' && i < request.messages.length - 1) droppable.push(i);
  });
  const keep = (k: number): ChatMessage[] => {
    const gone = new Set(droppable.slice(0, k));
    return request.messages.filter((_, i) => !gone.has(i));
  };
  // Smallest k in [1, D] whose prompt fits; D when none does (then the prompt is cut from its start).
  let lo = 1;
  let hi = droppable.length;
  let best: { k: number; ids: number[] } | undefined;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const ids = encode(keep(mid));
    if (ids.length <= budget) {
      hi = mid;
      best = { k: mid, ids };
    } else lo = mid + 1;
  }
  let ids = droppable.length === 0 ? full : best?.k === lo ? best.ids : encode(keep(lo));
  if (ids.length > budget) ids = ids.slice(ids.length - budget);
  return { ids, truncated: full.length - ids.length, renders };
}
