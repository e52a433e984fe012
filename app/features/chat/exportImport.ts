/**
 * @file Conversations in and out of the app: JSON (lossless, re-importable) and Markdown (for reading). Import
 * trusts nothing: every field is checked and the first problem is reported with its path
 * (`conversations[2].messages[0].role ...`) as an `ImportError`, so a bad file never half-imports.
 */
import type { FinishReason, GenerationStats } from '../../../workers/protocol.ts';
import type { SerializedError } from '../../../workers/errors.ts';
import { formatStatsLine } from '../../lib/format.ts';
import type { SourceRef } from '../../../workers/retrieval/context.ts';
import type { ChatMessageRecord, ChatSettings, Conversation, MessageRole, MessageVersion } from './types.ts';

export const EXPORT_FORMAT = 'brix-conversations';
export const EXPORT_VERSION = 1;

/** Limits that keep a hostile file from exhausting memory or the UI. */
export const IMPORT_LIMITS = {
  conversations: 10_000,
  messagesPerConversation: 10_000,
  contentChars: 2_000_000,
  titleChars: 500,
  idChars: 200,
  expertDim: 4096,
  sources: 256,
} as const;

export class ImportError extends Error {
  override name = 'ImportError';
}

export interface ExportFile {
  readonly format: typeof EXPORT_FORMAT;
  readonly version: typeof EXPORT_VERSION;
  readonly exportedAt: string;
  readonly conversations: readonly Conversation[];
}

export function exportJson(conversations: readonly Conversation[], now: Date = new Date()): string {
  const file: ExportFile = { format: EXPORT_FORMAT, version: EXPORT_VERSION, exportedAt: now.toISOString(), conversations };
  return JSON.stringify(file, null, 2);
}

function messageMarkdown(m: ChatMessageRecord): string {
  const who = m.role === 'user' ? 'User' : `Assistant${m.model ? ` (${m.model})` : ''}`;
  const n = m.versions?.length ?? 1;
  const shown = m.version ?? n - 1;
  const parts = [`### ${who}${n > 1 ? ` (version ${shown + 1} / ${n})` : ''}`, m.content.trim() === '' ? '_(empty)_' : m.content.trim()];
  if (m.error) parts.push(`_Error: ${m.error.name}: ${m.error.message}_`);
  if (m.stats) parts.push(`_${formatStatsLine(m.stats)}_`);
  // The other versions, for reading (the JSON export keeps them with their branches).
  m.versions?.forEach((v, i) => {
    if (i !== shown) parts.push(`_Version ${i + 1} / ${n}:_\n\n${(v.content.trim() || '_(empty)_').replace(/^/gm, '> ')}`);
  });
  return parts.join('\n\n');
}

export function conversationMarkdown(c: Conversation): string {
  const parts = [`## ${c.title}`, `_Started ${new Date(c.createdAt).toISOString()}_`];
  if (c.systemPrompt.trim() !== '') parts.push(`**System prompt:**\n\n${c.systemPrompt.trim().replace(/^/gm, '> ')}`);
  for (const m of c.messages) parts.push(messageMarkdown(m));
  return parts.join('\n\n');
}

export function exportMarkdown(conversations: readonly Conversation[], now: Date = new Date()): string {
  const head = `# Brix conversations\n\n_Exported ${now.toISOString()}: ${conversations.length} conversation${conversations.length === 1 ? '' : 's'}_`;
  return [head, ...conversations.map(conversationMarkdown)].join('\n\n---\n\n') + '\n';
}

/** A file name safe on every OS: `brix-<slug>-<date>.<ext>`. */
export function exportFileName(title: string, ext: 'json' | 'md', now: Date = new Date()): string {
  const slug =
    title
      .toLowerCase()
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'chat';
  return `brix-${slug}-${now.toISOString().slice(0, 10)}.${ext}`;
}

// ---------------------------------------------------------------------------------------------------------
// Import

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

function fail(path: string, what: string): never {
  throw new ImportError(`${path} ${what}`);
}

function str(o: Obj, key: string, path: string, max: number): string {
  const v = o[key];
  if (typeof v !== 'string') fail(`${path}.${key}`, `must be a string, found ${describe(v)}`);
  if (v.length > max) fail(`${path}.${key}`, `is longer than ${max} characters`);
  return v;
}

function optStr(o: Obj, key: string, path: string, max: number): string | undefined {
  return o[key] === undefined ? undefined : str(o, key, path, max);
}

function num(o: Obj, key: string, path: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(`${path}.${key}`, `must be a non-negative number, found ${describe(v)}`);
  return v;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `"${v.length > 30 ? `${v.slice(0, 30)}…` : v}"`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

const FINISH: readonly FinishReason[] = ['eog', 'length', 'stop', 'abort', 'context'];

function finishReason(v: unknown, path: string): FinishReason {
  const hit = FINISH.find((f) => f === v);
  if (!hit) fail(path, `must be one of ${FINISH.join(', ')}, found ${describe(v)}`);
  return hit;
}

function stats(v: unknown, path: string): GenerationStats {
  if (!isObj(v)) fail(path, `must be an object, found ${describe(v)}`);
  const usage = v.expertUsage ?? [];
  if (!Array.isArray(usage) || usage.length > IMPORT_LIMITS.expertDim) fail(`${path}.expertUsage`, 'must be an array of layers');
  const expertUsage = usage.map((row: unknown, l: number) => {
    if (!Array.isArray(row) || row.length > IMPORT_LIMITS.expertDim) fail(`${path}.expertUsage[${l}]`, 'must be an array of counts');
    return row.map((n: unknown, e: number) => {
      if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) fail(`${path}.expertUsage[${l}][${e}]`, `must be a non-negative number, found ${describe(n)}`);
      return n;
    });
  });
  return {
    promptTokens: num(v, 'promptTokens', path),
    generatedTokens: num(v, 'generatedTokens', path),
    timeToFirstTokenMs: num(v, 'timeToFirstTokenMs', path),
    prefillTokensPerSecond: num(v, 'prefillTokensPerSecond', path),
    decodeTokensPerSecond: num(v, 'decodeTokensPerSecond', path),
    totalMs: num(v, 'totalMs', path),
    finishReason: finishReason(v.finishReason, `${path}.finishReason`),
    expertUsage,
    truncatedTokens: v.truncatedTokens === undefined ? 0 : num(v, 'truncatedTokens', path),
  };
}

function serializedError(v: unknown, path: string): SerializedError {
  if (!isObj(v)) fail(path, `must be an object, found ${describe(v)}`);
  return { name: str(v, 'name', path, 200), message: str(v, 'message', path, 10_000) };
}

function role(v: unknown, path: string): MessageRole {
  if (v !== 'user' && v !== 'assistant') fail(path, `must be "user" or "assistant", found ${describe(v)}`);
  return v;
}

/** Versions nest (a user version's tail holds messages with versions): bounded so a hostile file cannot recurse forever. */
const MAX_VERSION_DEPTH = 32;
const MAX_VERSIONS = 1000;

function versionFields(v: Obj, path: string): MessageVersion {
  const model = optStr(v, 'model', path, 500);
  const seed = v.seed === undefined ? undefined : num(v, 'seed', path);
  return {
    content: str(v, 'content', path, IMPORT_LIMITS.contentChars),
    createdAt: num(v, 'createdAt', path),
    ...(model !== undefined ? { model } : {}),
    ...(v.stats !== undefined ? { stats: stats(v.stats, `${path}.stats`) } : {}),
    ...(v.finishReason !== undefined ? { finishReason: finishReason(v.finishReason, `${path}.finishReason`) } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(v.error !== undefined ? { error: serializedError(v.error, `${path}.error`) } : {}),
  };
}

function versions(o: Obj, path: string, depth: number): { versions?: MessageVersion[]; version?: number } {
  if (o.versions === undefined) return {};
  const list = o.versions;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_VERSIONS) fail(`${path}.versions`, `must be an array of 1 to ${MAX_VERSIONS} versions`);
  if (depth > MAX_VERSION_DEPTH) fail(`${path}.versions`, `nest deeper than ${MAX_VERSION_DEPTH}`);
  const out = list.map((x: unknown, i: number): MessageVersion => {
    const p = `${path}.versions[${i}]`;
    if (!isObj(x)) fail(p, `must be an object, found ${describe(x)}`);
    const f = versionFields(x, p);
    if (x.tail === undefined) return f;
    if (!Array.isArray(x.tail) || x.tail.length > IMPORT_LIMITS.messagesPerConversation) fail(`${p}.tail`, 'must be an array of messages');
    return { ...f, tail: x.tail.map((m: unknown, j: number) => message(m, `${p}.tail[${j}]`, depth + 1)) };
  });
  const shown = o.version === undefined ? out.length - 1 : num(o, 'version', path);
  if (!Number.isInteger(shown) || shown >= out.length) fail(`${path}.version`, `must be an index into versions (0 to ${out.length - 1})`);
  return { versions: out, version: shown };
}

function message(v: unknown, path: string, depth = 0): ChatMessageRecord {
  if (!isObj(v)) fail(path, `must be an object, found ${describe(v)}`);
  const r = role(v.role, `${path}.role`);
  const model = optStr(v, 'model', path, 500);
  const seed = v.seed === undefined ? undefined : num(v, 'seed', path);
  return {
    ...versions(v, path, depth),
    id: id(v, path),
    role: r,
    content: str(v, 'content', path, IMPORT_LIMITS.contentChars),
    createdAt: num(v, 'createdAt', path),
    ...(model !== undefined ? { model } : {}),
    ...(v.stats !== undefined ? { stats: stats(v.stats, `${path}.stats`) } : {}),
    ...(v.finishReason !== undefined ? { finishReason: finishReason(v.finishReason, `${path}.finishReason`) } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(v.error !== undefined ? { error: serializedError(v.error, `${path}.error`) } : {}),
    ...(v.sources !== undefined ? { sources: sources(v.sources, `${path}.sources`) } : {}),
  };
}

function sources(v: unknown, path: string): SourceRef[] {
  if (!Array.isArray(v) || v.length > IMPORT_LIMITS.sources) fail(path, `must be an array of at most ${IMPORT_LIMITS.sources} sources`);
  return v.map((s: unknown, i: number) => {
    const p = `${path}[${i}]`;
    if (!isObj(s)) fail(p, `must be an object, found ${describe(s)}`);
    return { n: num(s, 'n', p), file: str(s, 'file', p, 1000), chunk: num(s, 'chunk', p), text: str(s, 'text', p, IMPORT_LIMITS.contentChars), score: num(s, 'score', p) };
  });
}

function id(o: Obj, path: string): string {
  const v = str(o, 'id', path, IMPORT_LIMITS.idChars);
  if (v === '') fail(`${path}.id`, 'must not be empty');
  return v;
}

/** Checks one conversation record (also used for what IndexedDB returns, which another version may have written). */
export function parseConversation(v: unknown, path = 'conversation'): Conversation {
  if (!isObj(v)) fail(path, `must be an object, found ${describe(v)}`);
  const msgs = v.messages;
  if (!Array.isArray(msgs)) fail(`${path}.messages`, `must be an array, found ${describe(msgs)}`);
  if (msgs.length > IMPORT_LIMITS.messagesPerConversation) fail(`${path}.messages`, `has more than ${IMPORT_LIMITS.messagesPerConversation} messages`);
  const messages = msgs.map((m: unknown, i: number) => message(m, `${path}.messages[${i}]`));
  const seen = new Set<string>();
  for (const [i, m] of messages.entries()) {
    if (seen.has(m.id)) fail(`${path}.messages[${i}].id`, `"${m.id}" is used twice`);
    seen.add(m.id);
  }
  const titleEdited = v.titleEdited;
  if (titleEdited !== undefined && typeof titleEdited !== 'boolean') fail(`${path}.titleEdited`, 'must be a boolean');
  return {
    id: id(v, path),
    title: str(v, 'title', path, IMPORT_LIMITS.titleChars),
    titleEdited: titleEdited ?? false,
    systemPrompt: v.systemPrompt === undefined ? '' : str(v, 'systemPrompt', path, IMPORT_LIMITS.contentChars),
    createdAt: num(v, 'createdAt', path),
    updatedAt: num(v, 'updatedAt', path),
    messages,
    ...(v.settings !== undefined ? { settings: chatSettings(v.settings, `${path}.settings`) } : {}),
  };
}

function chatSettings(v: unknown, path: string): ChatSettings {
  if (!isObj(v)) fail(path, `must be an object, found ${describe(v)}`);
  const out: { -readonly [K in keyof ChatSettings]: ChatSettings[K] } = {};
  for (const k of ['temperature', 'topP', 'topK', 'repetitionPenalty', 'maxTokens'] as const) if (v[k] !== undefined) out[k] = num(v, k, path);
  return out;
}

/** Parses an exported file (text). Throws ImportError naming the first problem. */
export function parseImport(text: string): Conversation[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ImportError(`not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isObj(json)) fail('the file', `must be a JSON object, found ${describe(json)}`);
  if (json.format !== EXPORT_FORMAT) fail('format', `must be "${EXPORT_FORMAT}", found ${describe(json.format)} (is this a Brix export?)`);
  if (json.version !== EXPORT_VERSION) fail('version', `${describe(json.version)} is not supported (this app reads version ${EXPORT_VERSION})`);
  const list = json.conversations;
  if (!Array.isArray(list)) fail('conversations', `must be an array, found ${describe(list)}`);
  if (list.length > IMPORT_LIMITS.conversations) fail('conversations', `has more than ${IMPORT_LIMITS.conversations} entries`);
  return list.map((c: unknown, i: number) => parseConversation(c, `conversations[${i}]`));
}
