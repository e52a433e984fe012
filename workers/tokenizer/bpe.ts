/**
 * @file Byte-level BPE (`tokenizer.ggml.model = gpt2`): the merge loop of llama.cpp `llm_tokenizer_bpe_session`
 * on one pre-tokenized word. A word is given in byte-level form (one UTF-16 unit per byte, see byteLevel.ts);
 * symbols start as single bytes and the adjacent pair with the lowest merge rank (ties: leftmost) is merged
 * until no listed pair is left. Results are cached per word, because natural text repeats words a lot.
 */
import { NumberMinHeap } from './heap.ts';

/** Pairs are keyed `left + SEP + right`; NUL never occurs in byte-level symbols (byte 0 is stored as 'Ā'). */
const SEP = '\u0000';
/** (rank, position) packed in one double: rank · 2^32 + position. Ranks stay below 2^21. */
const POS_SPAN = 4294967296;
const CACHE_MAX_ENTRIES = 100_000;
const CACHE_MAX_WORD = 128;

export class BytePairEncoder {
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, readonly number[]>();

  /**
   * `merges` are "left right" strings (rank = index; split at the first space after the first character, and
   * the first listing of a pair wins, as llama.cpp parses them). `tokenToId` maps byte-level text to ids.
   * `ignoreMerges`: a word that is already a token is taken whole (llama.cpp `ignore_merges`, llama-3 family).
   */
  constructor(
    merges: readonly string[],
    private readonly tokenToId: ReadonlyMap<string, number>,
    private readonly ignoreMerges: boolean,
  ) {
    for (let i = 0; i < merges.length; i++) {
      const m = merges[i];
      const sp = m.indexOf(' ', 1);
      if (sp < 0) continue;
      const key = m.slice(0, sp) + SEP + m.slice(sp + 1);
      if (!this.ranks.has(key)) this.ranks.set(key, i);
    }
  }

  get mergeCount(): number {
    return this.ranks.size;
  }

  /** Appends the ids of one byte-level word to `out`. */
  encodeWord(word: string, out: number[]): void {
    const n = word.length;
    if (n === 0) return;
    if (this.ignoreMerges || n === 1) {
      const id = this.tokenToId.get(word);
      if (id !== undefined) {
        out.push(id);
        return;
      }
    }
    const cached = n <= CACHE_MAX_WORD ? this.cache.get(word) : undefined;
    if (cached !== undefined) {
      for (const id of cached) out.push(id);
      return;
    }
    const ids = this.merge(word);
    if (n <= CACHE_MAX_WORD) {
      if (this.cache.size >= CACHE_MAX_ENTRIES) this.cache.clear();
      this.cache.set(word, ids);
    }
    for (const id of ids) out.push(id);
  }

  private merge(word: string): number[] {
    const n = word.length;
    // Symbol i covers word[i, i + len[i]); a merged-away symbol has len 0. Starts never move.
    const len = new Int32Array(n).fill(1);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const rankOf = (l: number, r: number): number | undefined =>
      this.ranks.get(word.substr(l, len[l]) + SEP + word.substr(r, len[r]));
    const heap = new NumberMinHeap();
    const pushPair = (l: number): void => {
      const r = next[l];
      if (l < 0 || r < 0) return;
      const rank = rankOf(l, r);
      if (rank !== undefined) heap.push(rank * POS_SPAN + l);
    };
    for (let i = 0; i + 1 < n; i++) pushPair(i);

    for (;;) {
      const key = heap.pop();
      if (key === undefined) break;
      const rank = Math.floor(key / POS_SPAN);
      const l = key - rank * POS_SPAN;
      const r = next[l];
      // Stale entry: the left symbol was absorbed, or its pair changed since the push.
      if (len[l] === 0 || r < 0 || rankOf(l, r) !== rank) continue;
      len[l] += len[r];
      len[r] = 0;
      next[l] = next[r];
      if (next[r] >= 0) prev[next[r]] = l;
      pushPair(prev[l]);
      pushPair(l);
    }

    const ids: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) {
      const text = word.substr(i, len[i]);
      const id = this.tokenToId.get(text);
      if (id !== undefined) {
        ids.push(id);
        continue;
      }
      // Not a token (incomplete merges): fall back to single-byte tokens; bytes without one are dropped,
      // as llama.cpp does.
      for (let j = 0; j < text.length; j++) {
        const b = this.tokenToId.get(text[j]);
        if (b !== undefined) ids.push(b);
      }
    }
    return ids;
  }
}
