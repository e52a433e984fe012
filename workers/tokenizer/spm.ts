/**
 * @file SentencePiece-style BPE (`tokenizer.ggml.model = llama`), as llama.cpp `llm_tokenizer_spm_session`
 * does it: spaces become '▁', the text is split into code points, and the adjacent pair whose concatenation is
 * a token with the highest score is merged (ties: leftmost) until no pair forms a token. Symbols that are not
 * tokens come out as byte-fallback tokens `<0xXX>` (or, failing that, a token spelled as that single byte,
 * then the unknown token).
 */
import { TokenizerError } from './spec.ts';

interface Bigram {
  readonly score: number;
  readonly left: number;
  readonly right: number;
  /** Combined length in UTF-16 units at push time; a mismatch later means a side has changed. */
  readonly size: number;
}

/** Max-heap on score, ties to the smaller `left` (llama.cpp `llm_bigram_spm::comparator`). */
class BigramHeap {
  private readonly a: Bigram[] = [];
  get size(): number {
    return this.a.length;
  }
  private static before(x: Bigram, y: Bigram): boolean {
    return x.score > y.score || (x.score === y.score && x.left < y.left);
  }
  push(b: Bigram): void {
    const a = this.a;
    let i = a.length;
    a.push(b);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!BigramHeap.before(b, a[p])) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = b;
  }
  pop(): Bigram | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      const n = a.length;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && BigramHeap.before(a[r], a[l]) ? r : l;
        if (!BigramHeap.before(a[c], last)) break;
        a[i] = a[c];
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

const HEX = '0123456789ABCDEF';
const UTF8 = new TextEncoder();

export class SentencePieceEncoder {
  /** byte → token id for byte fallback; -1 where the vocabulary has none. */
  private readonly byteTokens = new Int32Array(256).fill(-1);

  constructor(
    private readonly tokenToId: ReadonlyMap<string, number>,
    private readonly scores: readonly number[],
    private readonly unk: number | undefined,
  ) {
    for (let b = 0; b < 256; b++) {
      // llama.cpp `byte_to_token` falls back to a token spelled as the raw byte; only ASCII can be spelled so.
      const id = tokenToId.get(`<0x${HEX[b >> 4]}${HEX[b & 15]}>`) ?? (b < 0x80 ? tokenToId.get(String.fromCharCode(b)) : undefined);
      if (id !== undefined) this.byteTokens[b] = id;
    }
  }

  /** Appends the ids of `text` (already space-prefixed by the caller when needed) to `out`. */
  encode(text: string, out: number[]): void {
    const escaped = text.replaceAll(' ', '\u2581');
    // Symbols: code points. `start` is fixed; `len` grows when a right neighbour is absorbed (0 = absorbed).
    const start: number[] = [];
    for (let i = 0; i < escaped.length; ) {
      start.push(i);
      i += (escaped.codePointAt(i) ?? 0) > 0xffff ? 2 : 1;
    }
    const n = start.length;
    if (n === 0) return;
    const len = new Int32Array(n);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      len[i] = (i + 1 < n ? start[i + 1] : escaped.length) - start[i];
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const heap = new BigramHeap();
    const tryAdd = (l: number, r: number): void => {
      if (l < 0 || r < 0) return;
      const id = this.tokenToId.get(escaped.substr(start[l], len[l] + len[r]));
      if (id === undefined) return;
      heap.push({ score: this.scores[id] ?? 0, left: l, right: r, size: len[l] + len[r] });
    };
    for (let i = 1; i < n; i++) tryAdd(i - 1, i);

    for (;;) {
      const b = heap.pop();
      if (b === undefined) break;
      const l = b.left;
      const r = b.right;
      if (len[l] === 0 || len[r] === 0 || len[l] + len[r] !== b.size) continue;
      len[l] += len[r];
      len[r] = 0;
      next[l] = next[r];
      if (next[r] >= 0) prev[next[r]] = l;
      tryAdd(prev[l], l);
      tryAdd(l, next[l]);
    }

    for (let i = 0; i >= 0; i = next[i]) {
      const piece = escaped.substr(start[i], len[i]);
      const id = this.tokenToId.get(piece);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      for (const byte of UTF8.encode(piece)) {
        const bt = this.byteTokens[byte];
        if (bt >= 0) out.push(bt);
        else if (this.unk !== undefined) out.push(this.unk);
        else
          throw new TokenizerError(
            `SentencePiece vocabulary has no byte token for 0x${HEX[byte >> 4]}${HEX[byte & 15]} and no unknown token`,
          );
      }
    }
  }
}
