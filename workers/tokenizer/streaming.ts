/**
 * @file Incremental detokenization for generation: tokens arrive one at a time and a UTF-8 character can span
 * several of them (emoji or CJK spelled with byte-level or `<0xXX>` tokens), so decoding each token alone
 * would emit U+FFFD halves. `StreamingDecoder` keeps the incomplete tail of the byte stream and returns only
 * complete characters; `flush()` ends the stream (an unfinished character then becomes U+FFFD, once).
 * The concatenation of everything returned equals `tokenizer.decode(allIds)` for `gpt2` vocabularies, and
 * for `llama` ones too when `stripLeadingSpace` is set (decode drops the SentencePiece prefix space).
 */
import type { DecodeOptions, Tokenizer } from './tokenizer.ts';

export interface StreamingDecoderOptions extends DecodeOptions {
  /** SentencePiece only: drop the leading space of the stream, as `decode` does. Default false: a
   *  continuation after a prompt keeps its leading space ("▁world" → " world"). */
  stripLeadingSpace?: boolean;
}

export class StreamingDecoder {
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private readonly skipSpecial: boolean;
  private pendingStrip: boolean;

  constructor(
    private readonly tokenizer: Tokenizer,
    opts: StreamingDecoderOptions = {},
  ) {
    this.skipSpecial = opts.skipSpecial === true;
    this.pendingStrip = opts.stripLeadingSpace === true && tokenizer.addSpacePrefix;
  }

  /** Adds one token; returns the text completed by it (often '', never a broken character). */
  push(id: number): string {
    const bytes = this.tokenizer.tokenBytes(id, { skipSpecial: this.skipSpecial });
    return this.strip(this.decoder.decode(bytes, { stream: true }));
  }

  /** Ends the stream: returns what was held back (U+FFFD for an unfinished character) and resets. */
  flush(): string {
    return this.strip(this.decoder.decode());
  }

  private strip(text: string): string {
    if (!this.pendingStrip || text === '') return text;
    this.pendingStrip = false;
    return text.startsWith(' ') ? text.slice(1) : text;
  }
}
