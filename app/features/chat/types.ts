/**
 * @file The chat data model: what a conversation and its messages are, as stored in IndexedDB and exported to
 * JSON. Plain data only (no class instances, no Blobs), so it survives structured cloning and JSON round trips.
 */
import type { FinishReason, GenerationStats } from '../../../workers/protocol.ts';
import type { SerializedError } from '../../../workers/errors.ts';
import type { SourceRef } from '../../../workers/retrieval/context.ts';

export type MessageRole = 'user' | 'assistant';

/** One version of a message (Regenerate and Edit add one; "Previous version" / "Next version" switch). */
export interface MessageVersion {
  readonly content: string;
  readonly createdAt: number;
  readonly model?: string;
  readonly stats?: GenerationStats;
  readonly finishReason?: FinishReason;
  readonly seed?: number;
  readonly error?: SerializedError;
  /** User messages: the messages that followed this version (the current version's are the conversation's own). */
  readonly tail?: readonly ChatMessageRecord[];
}

export interface ChatMessageRecord {
  readonly id: string;
  readonly role: MessageRole;
  readonly content: string;
  /** ms since the epoch. */
  readonly createdAt: number;
  /** Assistant only: the model that wrote it (display name). */
  readonly model?: string;
  /** Assistant only: engine statistics of the generation (absent when it failed before finishing). */
  readonly stats?: GenerationStats;
  /** Assistant only: why the generation ended ('abort' when the user pressed Stop). */
  readonly finishReason?: FinishReason;
  /** Assistant only: the sampling seed used, so an answer can be reproduced. */
  readonly seed?: number;
  /** Assistant only: the generation failed; `content` holds whatever had streamed before. */
  readonly error?: SerializedError;
  /** Assistant only: the attached files' passages the prompt carried, by their number in it. */
  readonly sources?: readonly SourceRef[];
  /** Every version of this message, oldest first, when there is more than one; the fields above are `versions[version]`'s. */
  readonly versions?: readonly MessageVersion[];
  readonly version?: number;
}

/** Per-conversation sampling ("Chat settings"); an absent field follows the global setting. */
export interface ChatSettings {
  readonly temperature?: number;
  readonly topP?: number;
  readonly topK?: number;
  readonly repetitionPenalty?: number;
  readonly maxTokens?: number;
}

export interface Conversation {
  readonly id: string;
  readonly title: string;
  /** True once the user renamed it (then the first message no longer sets the title). */
  readonly titleEdited: boolean;
  readonly systemPrompt: string;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly messages: readonly ChatMessageRecord[];
  readonly settings?: ChatSettings;
}

export const UNTITLED = 'New chat';

/** A title from the first user message: its first line, cut at a word near 48 characters. */
export function titleFrom(text: string): string {
  const line = text.trim().split('\n', 1)[0].replace(/\s+/g, ' ');
  if (line === '') return UNTITLED;
  if (line.length <= 48) return line;
  const cut = line.slice(0, 48);
  const space = cut.lastIndexOf(' ');
  return `${space > 24 ? cut.slice(0, space) : cut}…`;
}

/**
 * `title`, or `title (2)`, `title (3)`… when another conversation has it already: many chats start with the same
 * "Hello!", and a list of identical titles cannot be told apart.
 */
export function distinctTitle(title: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  if (!used.has(title)) return title;
  let n = 2;
  while (used.has(`${title} (${n})`)) n++;
  return `${title} (${n})`;
}
