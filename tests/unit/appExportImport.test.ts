/**
 * @file Conversation export/import: JSON round-trips exactly; Markdown lists every turn with its stats; import
 * rejects anything malformed with an ImportError naming the field, and never half-imports.
 */
import { describe, expect, it } from 'vitest';
import {
  EXPORT_FORMAT,
  ImportError,
  exportFileName,
  exportJson,
  exportMarkdown,
  parseImport,
} from '../../app/features/chat/exportImport.ts';
import { titleFrom, type Conversation } from '../../app/features/chat/types.ts';

const CONV: Conversation = {
  id: 'c1',
  title: 'Greetings',
  titleEdited: true,
  systemPrompt: 'Be kind.\nAnd short.',
  createdAt: 1_700_000_000_000,
  updatedAt: 1_700_000_100_000,
  messages: [
    { id: 'm1', role: 'user', content: 'Hello!', createdAt: 1_700_000_000_000 },
    {
      id: 'm2',
      role: 'assistant',
      content: 'Hi, I am **Brix**.',
      createdAt: 1_700_000_001_000,
      model: 'Brix Demo 30M',
      finishReason: 'eog',
      seed: 7,
      stats: {
        promptTokens: 12,
        generatedTokens: 9,
        timeToFirstTokenMs: 312.4,
        prefillTokensPerSecond: 95.12,
        decodeTokensPerSecond: 21.44,
        totalMs: 740,
        finishReason: 'eog',
        expertUsage: [
          [1, 2],
          [3, 4],
        ],
        truncatedTokens: 0,
      },
    },
    { id: 'm3', role: 'assistant', content: '', createdAt: 1_700_000_002_000, error: { name: 'GpuOutOfMemoryError', message: 'no room' } },
  ],
};

function exported(mutate: (file: { conversations: unknown[] } & Record<string, unknown>) => void): string {
  const file = JSON.parse(exportJson([CONV]));
  mutate(file);
  return JSON.stringify(file);
}

describe('export', () => {
  it('JSON round-trips exactly', () => {
    const text = exportJson([CONV], new Date('2025-01-02T03:04:05Z'));
    expect(JSON.parse(text)).toMatchObject({ format: EXPORT_FORMAT, version: 1, exportedAt: '2025-01-02T03:04:05.000Z' });
    expect(parseImport(text)).toEqual([CONV]);
  });

  it('Markdown has the title, system prompt, every turn, stats and errors', () => {
    const md = exportMarkdown([CONV, { ...CONV, id: 'c2', title: 'Second' }], new Date('2025-01-02T00:00:00Z'));
    expect(md).toContain('# Brix conversations');
    expect(md).toContain('2 conversations');
    expect(md).toContain('## Greetings');
    expect(md).toContain('## Second');
    expect(md).toContain('> Be kind.\n> And short.');
    expect(md).toContain('### User\n\nHello!');
    expect(md).toContain('### Assistant (Brix Demo 30M)\n\nHi, I am **Brix**.');
    expect(md).toContain('_312 ms to first token · prefill 95.1 tok/s · decode 21.4 tok/s · 12 prompt + 9 generated tokens_');
    expect(md).toContain('_Error: GpuOutOfMemoryError: no room_');
    expect(md.split('\n---\n')).toHaveLength(3);
  });

  it('file names are safe slugs', () => {
    expect(exportFileName('Héllo, wörld! / *?', 'md', new Date('2025-03-04T00:00:00Z'))).toBe('brix-hello-world-2025-03-04.md');
    expect(exportFileName('!!!', 'json', new Date('2025-03-04T00:00:00Z'))).toBe('brix-chat-2025-03-04.json');
  });
});

describe('import validation', () => {
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{nope', /^not JSON/],
    ['an array', '[]', /the file must be a JSON object, found an array/],
    ['foreign format', JSON.stringify({ format: 'chatgpt', version: 1, conversations: [] }), /format must be "brix-conversations", found "chatgpt"/],
    ['future version', JSON.stringify({ format: EXPORT_FORMAT, version: 9, conversations: [] }), /version number 9 is not supported/],
    ['bad role', exported((f) => ((f.conversations[0] as { messages: { role: string }[] }).messages[1].role = 'system')), /conversations\[0\]\.messages\[1\]\.role must be "user" or "assistant", found "system"/],
    ['content not a string', exported((f) => ((f.conversations[0] as { messages: { content: unknown }[] }).messages[0].content = { html: '<script>' })), /conversations\[0\]\.messages\[0\]\.content must be a string, found an object/],
    ['negative stat', exported((f) => ((f.conversations[0] as { messages: { stats: { totalMs: number } }[] }).messages[1].stats.totalMs = -1)), /messages\[1\]\.stats\.totalMs must be a non-negative number/],
    ['bad expert count', exported((f) => ((f.conversations[0] as { messages: { stats: { expertUsage: unknown[][] } }[] }).messages[1].stats.expertUsage[1][0] = 'x')), /stats\.expertUsage\[1\]\[0\] must be a non-negative number, found "x"/],
    ['bad finish reason', exported((f) => ((f.conversations[0] as { messages: { finishReason: string }[] }).messages[1].finishReason = 'boom')), /messages\[1\]\.finishReason must be one of eog, length, stop, abort, context/],
    ['duplicate message id', exported((f) => ((f.conversations[0] as { messages: { id: string }[] }).messages[2].id = 'm1')), /messages\[2\]\.id "m1" is used twice/],
    ['empty id', exported((f) => ((f.conversations[0] as { id: string }).id = '')), /conversations\[0\]\.id must not be empty/],
    ['missing messages', exported((f) => delete (f.conversations[0] as { messages?: unknown }).messages), /conversations\[0\]\.messages must be an array, found nothing/],
  ];
  for (const [what, text, message] of cases) {
    it(`rejects ${what}`, () => {
      let err: unknown;
      try {
        parseImport(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ImportError);
      expect((err as Error).message).toMatch(message);
    });
  }

  it('accepts older records without optional fields (titleEdited, systemPrompt, truncatedTokens)', () => {
    const text = exported((f) => {
      const c = f.conversations[0] as Record<string, unknown> & { messages: { stats?: Record<string, unknown> }[] };
      delete c.titleEdited;
      delete c.systemPrompt;
      delete c.messages[1].stats?.truncatedTokens;
    });
    const [c] = parseImport(text);
    expect(c.titleEdited).toBe(false);
    expect(c.systemPrompt).toBe('');
    expect(c.messages[1].stats?.truncatedTokens).toBe(0);
  });

  it('keeps hostile Markdown as plain text (rendering makes it inert, import does not rewrite content)', () => {
    const evil = '<script>alert(1)</script>';
    const text = exported((f) => ((f.conversations[0] as { messages: { content: string }[] }).messages[1].content = evil));
    expect(parseImport(text)[0].messages[1].content).toBe(evil);
  });
});

describe('titles', () => {
  it('come from the first line, cut at a word', () => {
    expect(titleFrom('  Hello!\nsecond line')).toBe('Hello!');
    expect(titleFrom('')).toBe('New chat');
    const long = titleFrom('Tell me a very long story about a whale and a ship and the sea and more');
    expect(long.endsWith('…')).toBe(true);
    expect(long.length).toBeLessThanOrEqual(49);
    expect(long).toBe('Tell me a very long story about a whale and a…');
  });
});
