/**
 * @file Versions of a message: Regenerate adds a version to the answer, Edit adds one to the user message and
 * keeps what followed the old text with that version, so switching back brings the old branch back. The
 * record's own fields always mirror `versions[version]`; a message with one version has no `versions`.
 */
import type { ChatMessageRecord, Conversation, MessageVersion } from './types.ts';

/** The version fields of a record (no tail). */
export function versionOf(m: ChatMessageRecord): MessageVersion {
  const v: { -readonly [K in keyof MessageVersion]?: MessageVersion[K] } = { content: m.content, createdAt: m.createdAt };
  if (m.model !== undefined) v.model = m.model;
  if (m.stats !== undefined) v.stats = m.stats;
  if (m.finishReason !== undefined) v.finishReason = m.finishReason;
  if (m.seed !== undefined) v.seed = m.seed;
  if (m.error !== undefined) v.error = m.error;
  return { content: v.content ?? '', createdAt: v.createdAt ?? 0, ...v };
}

/** The record showing version `i` of `versions` (fields of other versions cleared). */
function showing(m: ChatMessageRecord, versions: readonly MessageVersion[], i: number): ChatMessageRecord {
  const { tail: _tail, ...v } = versions[i];
  return { id: m.id, role: m.role, ...v, versions, version: i };
}

export function versionCount(m: ChatMessageRecord): number {
  return m.versions?.length ?? 1;
}

export function versionIndex(m: ChatMessageRecord): number {
  return m.versions ? Math.min(Math.max(0, m.version ?? m.versions.length - 1), m.versions.length - 1) : 0;
}

/** `m` with `next` added as its newest (shown) version; `tail`: what followed the version shown so far (user messages). */
export function addVersion(m: ChatMessageRecord, next: MessageVersion, tail?: readonly ChatMessageRecord[]): ChatMessageRecord {
  const list = [...(m.versions ?? [versionOf(m)])];
  const cur = versionIndex(m);
  if (tail !== undefined) list[cur] = { ...list[cur], tail };
  list.push(next);
  return showing(m, list, list.length - 1);
}

/** The same message with its shown version's fields replaced (Continue extends the version shown). */
export function updateShown(m: ChatMessageRecord, next: MessageVersion): ChatMessageRecord {
  if (!m.versions) {
    const { tail: _tail, ...v } = next;
    return { id: m.id, role: m.role, ...v };
  }
  const list = [...m.versions];
  list[versionIndex(m)] = { ...next, ...(list[versionIndex(m)].tail ? { tail: list[versionIndex(m)].tail } : {}) };
  return showing(m, list, versionIndex(m));
}

/** Shows version `target` of message `messageId`; for a user message the conversation after it switches branch too. */
export function switchVersion(c: Conversation, messageId: string, target: number): Conversation {
  const i = c.messages.findIndex((m) => m.id === messageId);
  const m = c.messages[i];
  if (i < 0 || !m.versions || target < 0 || target >= m.versions.length || target === versionIndex(m)) return c;
  const list = [...m.versions];
  if (m.role === 'user') {
    list[versionIndex(m)] = { ...list[versionIndex(m)], tail: c.messages.slice(i + 1) };
    const tail = list[target].tail ?? [];
    return { ...c, messages: [...c.messages.slice(0, i), showing(m, list, target), ...tail] };
  }
  return { ...c, messages: c.messages.map((x, j) => (j === i ? showing(m, list, target) : x)) };
}
