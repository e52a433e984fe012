/**
 * @file Splits a document's text into overlapping passages ("chunks") for the lexical index. Cuts fall on a
 * paragraph, sentence or word boundary near the target size, and each chunk repeats the end of the one before
 * (`overlap` characters, also moved to a word boundary), so a sentence cut in two is whole in one of them.
 */

export interface ChunkOptions {
  /** Target chunk length in characters (a chunk may be up to 20 % longer to end on a boundary). */
  readonly size: number;
  /** Characters each chunk repeats from the end of the previous one. */
  readonly overlap: number;
}

/** About 200–300 tokens of English: several fit a 4K context next to the question and the answer. */
export const DEFAULT_CHUNKING: ChunkOptions = { size: 1000, overlap: 200 };

/** One passage of a file; `start`/`end` are offsets into the file's extracted text. */
export interface Chunk {
  readonly file: string;
  /** 0-based position of the chunk within its file. */
  readonly chunk: number;
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/** Whitespace runs collapsed (blank lines kept as paragraph breaks), control characters dropped. */
export function normalizeText(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, ' ')
    .replace(/[ \t\u00a0]+/g, ' ')
    .replace(/ *\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** The best cut in text[lo, hi): after a paragraph break, else a sentence end, else a space; else hi. */
function cutPoint(text: string, lo: number, hi: number): number {
  const window = text.slice(lo, hi);
  const para = window.lastIndexOf('\n\n');
  if (para > 0) return lo + para + 2;
  const sentence = Math.max(...['. ', '! ', '? ', '.\n', '\n'].map((s) => {
    const i = window.lastIndexOf(s);
    return i < 0 ? -1 : i + s.length;
  }));
  if (sentence > 0) return lo + sentence;
  const space = window.lastIndexOf(' ');
  return space > 0 ? lo + space + 1 : hi;
}

/** Moves `i` forward to the start of the next word (so an overlap never begins mid-word). */
function wordStart(text: string, i: number, limit: number): number {
  if (i <= 0) return 0;
  let j = i;
  while (j < limit && !/\s/.test(text[j - 1])) j++;
  return j < limit ? j : i;
}

export function chunkText(file: string, raw: string, opts: ChunkOptions = DEFAULT_CHUNKING): Chunk[] {
  if (!(opts.size > 0) || !(opts.overlap >= 0) || opts.overlap >= opts.size) {
    throw new RangeError(`chunking needs size > overlap >= 0, got size ${opts.size}, overlap ${opts.overlap}`);
  }
  const text = normalizeText(raw);
  const out: Chunk[] = [];
  let start = 0;
  while (start < text.length) {
    let end: number;
    if (text.length - start <= opts.size * 1.2) end = text.length;
    else end = cutPoint(text, start + Math.floor(opts.size * 0.6), start + Math.floor(opts.size * 1.2));
    const piece = text.slice(start, end).trim();
    if (piece !== '') out.push({ file, chunk: out.length, start, end, text: piece });
    if (end >= text.length) break;
    // Step back by the overlap, but always forward of the previous start.
    const back = wordStart(text, Math.max(start + 1, end - opts.overlap), end);
    start = back;
  }
  return out;
}
