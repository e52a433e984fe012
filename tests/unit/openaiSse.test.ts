/**
 * @file The server-sent events parser (app/engines/sse.ts) against the event-stream format: the same events
 * whatever the chunking (every split point of a stream with multi-byte UTF-8 and CRLF, CR split from its LF,
 * seeded random chunkings), comments, multi-line data, field edge cases, and a truncated last event dropped.
 */
import { describe, expect, it } from 'vitest';
import { SseParser, type SseEvent } from '../../app/engines/sse.ts';
import { mulberry32 } from '../helpers/rng.ts';

const enc = new TextEncoder();

function parseChunks(chunks: readonly (Uint8Array | string)[]): { events: SseEvent[]; comments: string[] } {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const p = new SseParser(
    (e) => events.push(e),
    (c) => comments.push(c),
  );
  for (const c of chunks) p.push(c);
  p.end();
  return { events, comments };
}

/** An OpenAI-style stream: keep-alive comment, UTF-8 outside ASCII, CRLF endings, usage, [DONE]. */
const STREAM =
  ': keep-alive\r\n\r\n' +
  'data: {"choices":[{"delta":{"content":"Grüß "}}]}\r\n\r\n' +
  'data: {"choices":[{"delta":{"content":"😀 日本"}}]}\r\n\r\n' +
  'event: message\r\nid: 7\r\ndata: {"usage":{"prompt_tokens":3}}\r\n\r\n' +
  'data: [DONE]\r\n\r\n';

const EXPECTED: SseEvent[] = [
  { event: 'message', data: '{"choices":[{"delta":{"content":"Grüß "}}]}', id: '' },
  { event: 'message', data: '{"choices":[{"delta":{"content":"😀 日本"}}]}', id: '' },
  { event: 'message', data: '{"usage":{"prompt_tokens":3}}', id: '7' },
  { event: 'message', data: '[DONE]', id: '7' },
];

describe('SseParser', () => {
  it('parses a whole stream in one chunk', () => {
    const r = parseChunks([enc.encode(STREAM)]);
    expect(r.events).toEqual(EXPECTED);
    expect(r.comments).toEqual(['keep-alive']);
  });

  it('gives the same events when the bytes are split at every possible point (inside UTF-8 characters and CRLF)', () => {
    const bytes = enc.encode(STREAM);
    for (let i = 1; i < bytes.length; i++) {
      const r = parseChunks([bytes.subarray(0, i), bytes.subarray(i)]);
      expect(r.events, `split at byte ${i}`).toEqual(EXPECTED);
    }
  });

  it('gives the same events for one byte at a time and for seeded random chunkings', () => {
    const bytes = enc.encode(STREAM);
    expect(parseChunks(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))).events).toEqual(EXPECTED);
    const rnd = mulberry32(42);
    for (let trial = 0; trial < 200; trial++) {
      const chunks: Uint8Array[] = [];
      for (let o = 0; o < bytes.length; ) {
        const n = 1 + Math.floor(rnd() * 17);
        chunks.push(bytes.subarray(o, o + n));
        o += n;
      }
      expect(parseChunks(chunks).events, `trial ${trial}`).toEqual(EXPECTED);
    }
  });

  it('joins multi-line data with \\n and keeps an empty data line', () => {
    const r = parseChunks(['data: first\ndata:second\ndata\ndata:  two spaces\n\n', 'data:\n\n']);
    expect(r.events.map((e) => e.data)).toEqual(['first\nsecond\n\n two spaces', '']);
  });

  it('accepts LF, CR and CRLF line endings, also with CR and LF in separate chunks', () => {
    expect(parseChunks(['data: a\rdata: b\r\rdata: c\n\n']).events.map((e) => e.data)).toEqual(['a\nb', 'c']);
    expect(parseChunks(['data: a\r', '\n', '\r', '\ndata: b\n\n']).events.map((e) => e.data)).toEqual(['a', 'b']);
  });

  it('reports comments apart and never as events, and ignores retry and unknown fields', () => {
    const r = parseChunks([':ping\n: with space\nretry: 100\nfoo: bar\n\n', 'data: x\n: between\n\n']);
    expect(r.events).toEqual([{ event: 'message', data: 'x', id: '' }]);
    expect(r.comments).toEqual(['ping', 'with space', 'between']);
  });

  it('takes the event type per event, and the id until changed (an id with NUL is ignored)', () => {
    const r = parseChunks(['event: error\nid: 1\ndata: a\n\n', 'data: b\n\n', 'id: x\0y\ndata: c\n\n']);
    expect(r.events).toEqual([
      { event: 'error', data: 'a', id: '1' },
      { event: 'message', data: 'b', id: '1' },
      { event: 'message', data: 'c', id: '1' },
    ]);
  });

  it('strips a leading byte order mark', () => {
    const bom = new Uint8Array([0xef, 0xbb, 0xbf]);
    const r = parseChunks([bom.subarray(0, 2), bom.subarray(2), 'data: ok\n\n']);
    expect(r.events.map((e) => e.data)).toEqual(['ok']);
  });

  it('drops an event whose closing blank line never came (a truncated stream)', () => {
    const r = parseChunks(['data: complete\n\ndata: {"choices":[{"delta":{"content":"par']);
    expect(r.events.map((e) => e.data)).toEqual(['complete']);
    const r2 = parseChunks(['data: complete\n\ndata: [DONE]\n']);
    expect(r2.events.map((e) => e.data)).toEqual(['complete']);
  });

  it('does not dispatch blank lines without data', () => {
    expect(parseChunks(['\n\n\r\n: c\n\n']).events).toEqual([]);
  });
});
