/**
 * @file An incremental server-sent events parser (the WHATWG event-stream format), for streamed chat
 * completions. Network chunks split anywhere: inside a UTF-8 character, between CR and LF, inside a field
 * name, so bytes go through a streaming TextDecoder and lines are cut only once their terminator is known.
 * Comments (`:` lines, used as keep-alives) are reported apart; multi-line `data:` fields join with "\n".
 * An event is dispatched at its blank line; one still open when the stream ends is discarded, as the spec says
 * (a truncated last event is how a dropped connection looks, and must not pass for a whole one).
 */

export interface SseEvent {
  /** The `event:` field, "message" when absent. */
  readonly event: string;
  /** The `data:` lines joined with "\n". */
  readonly data: string;
  /** The last `id:` seen (persists across events, as in EventSource). */
  readonly id: string;
}

export class SseParser {
  private readonly decoder = new TextDecoder('utf-8');
  private line = '';
  /** The previous chunk ended with CR: an LF starting the next one belongs to the same terminator. */
  private afterCr = false;
  private started = false;
  private data: string[] = [];
  private event = '';
  private lastId = '';

  constructor(
    private readonly onEvent: (e: SseEvent) => void,
    private readonly onComment?: (text: string) => void,
  ) {}

  /** Feeds bytes (or already decoded text) as they arrive. */
  push(chunk: Uint8Array | string): void {
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    this.feed(text);
  }

  /** The stream ended: flushes the decoder; an event without its closing blank line is dropped. */
  end(): void {
    this.feed(this.decoder.decode());
    this.line = '';
    this.data = [];
    this.event = '';
  }

  private feed(text: string): void {
    let s = text;
    if (!this.started && s.length > 0) {
      this.started = true;
      if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    }
    let i = 0;
    if (this.afterCr && s.length > 0) {
      this.afterCr = false;
      if (s[0] === '\n') i = 1;
    }
    while (i < s.length) {
      let j = i;
      while (j < s.length && s[j] !== '\n' && s[j] !== '\r') j++;
      if (j === s.length) {
        this.line += s.slice(i);
        return;
      }
      const line = this.line + s.slice(i, j);
      this.line = '';
      if (s[j] === '\r') {
        if (j + 1 < s.length) {
          if (s[j + 1] === '\n') j++;
        } else {
          this.afterCr = true;
        }
      }
      i = j + 1;
      this.processLine(line);
    }
  }

  private processLine(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line[0] === ':') {
      this.onComment?.(line.slice(1).replace(/^ /, ''));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      default:
        // `retry:` and unknown fields do not matter to a one-shot stream.
        break;
    }
  }

  private dispatch(): void {
    const data = this.data;
    const event = this.event;
    this.data = [];
    this.event = '';
    if (data.length === 0) return;
    this.onEvent({ event: event || 'message', data: data.join('\n'), id: this.lastId });
  }
}
