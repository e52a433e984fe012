/**
 * @file The lexical index over a conversation's chunks: BM25 (minisearch's BM25+) on stemmed, lower-cased
 * words without stop words. It holds the chunks themselves too, so a hit carries its passage. Serialisable as
 * plain JSON (`toJSON` / `DocIndex.fromJSON`) for IndexedDB and for the docs worker's answers.
 *
 * Embeddings later: `search` is the one entry point; a vector index would score the same chunk ids and the
 * two rankings would be fused here (reciprocal rank fusion), with nothing else changing.
 */
import MiniSearch, { type AsPlainObject, type Options } from 'minisearch';
import { chunkText, DEFAULT_CHUNKING, type Chunk, type ChunkOptions } from './chunk.ts';

export const INDEX_VERSION = 1;

export interface SearchHit extends Chunk {
  readonly score: number;
}

/** What the index knows about one attached file. */
export interface IndexedFile {
  readonly name: string;
  readonly bytes: number;
  readonly chunks: number;
  readonly chars: number;
  /** Pages (PDFs only). */
  readonly pages?: number;
}

export interface DocIndexJson {
  readonly version: typeof INDEX_VERSION;
  readonly chunking: ChunkOptions;
  readonly files: readonly IndexedFile[];
  /** Chunk id → chunk (ids are never reused, so removed files leave gaps). */
  readonly chunks: Readonly<Record<string, Chunk>>;
  readonly nextId: number;
  readonly index: AsPlainObject;
}

const STOP = new Set(
  ('a an and are as at be but by for from has have he her his i if in into is it its me my no not of on or our she so ' +
    'than that the their them then there these they this those to was we were what when where which who whom why will ' +
    'with you your do does did can could would should been being am how all any about over under up down out off').split(' '),
);

/** A light English stemmer (plural and common verb endings): "passages" and "passage" meet, "running" and "run". */
export function stem(w: string): string {
  if (w.length <= 3 || /\d/.test(w)) return w;
  if (w.endsWith('ies') && w.length > 4) return `${w.slice(0, -3)}y`;
  if (w.endsWith('sses')) return w.slice(0, -2);
  if (w.endsWith('ing') && w.length > 5) return undouble(w.slice(0, -3));
  if (w.endsWith('ed') && w.length > 4) return undouble(w.slice(0, -2));
  if (w.endsWith('es') && /(x|ch|sh|ss|z)es$/.test(w)) return w.slice(0, -2);
  if (w.endsWith('s') && !w.endsWith('ss') && !w.endsWith('us') && !w.endsWith('is')) return w.slice(0, -1);
  return w;
}

function undouble(w: string): string {
  return /([^aeiouls])\1$/.test(w) ? w.slice(0, -1) : w;
}

export function processTerm(term: string): string | null {
  const w = term.toLowerCase();
  if (w.length < 2 && !/\d/.test(w)) return null;
  if (STOP.has(w)) return null;
  return stem(w);
}

interface IndexedChunk {
  readonly id: number;
  readonly text: string;
}

const OPTIONS: Options<IndexedChunk> = {
  fields: ['text'],
  storeFields: [],
  processTerm,
  searchOptions: { combineWith: 'OR', prefix: false, fuzzy: false },
};

export class DocIndex {
  private constructor(
    private readonly ms: MiniSearch<IndexedChunk>,
    private readonly chunkById: Map<number, Chunk>,
    private fileList: IndexedFile[],
    private nextId: number,
    readonly chunking: ChunkOptions,
  ) {}

  static empty(chunking: ChunkOptions = DEFAULT_CHUNKING): DocIndex {
    return new DocIndex(new MiniSearch(OPTIONS), new Map(), [], 0, chunking);
  }

  /** Throws on a record of another version or shape (the caller re-indexes or reports). */
  static fromJSON(json: DocIndexJson): DocIndex {
    if (json.version !== INDEX_VERSION) throw new Error(`document index version ${String(json.version)} is not supported`);
    const byId = new Map<number, Chunk>();
    for (const [k, c] of Object.entries(json.chunks)) byId.set(Number(k), c);
    const ms = MiniSearch.loadJS(json.index, OPTIONS);
    return new DocIndex(ms, byId, [...json.files], json.nextId, json.chunking);
  }

  toJSON(): DocIndexJson {
    const chunks: Record<string, Chunk> = {};
    for (const [id, c] of this.chunkById) chunks[String(id)] = c;
    return { version: INDEX_VERSION, chunking: this.chunking, files: this.fileList, chunks, nextId: this.nextId, index: this.ms.toJSON() };
  }

  get files(): readonly IndexedFile[] {
    return this.fileList;
  }

  get size(): number {
    return this.chunkById.size;
  }

  /** Chunks and indexes one file's text; a file of the same name is replaced. */
  addFile(name: string, text: string, meta: { bytes: number; pages?: number }): IndexedFile {
    this.removeFile(name);
    const chunks = chunkText(name, text, this.chunking);
    const docs: IndexedChunk[] = [];
    for (const c of chunks) {
      const id = this.nextId++;
      this.chunkById.set(id, c);
      docs.push({ id, text: c.text });
    }
    this.ms.addAll(docs);
    const entry: IndexedFile = {
      name,
      bytes: meta.bytes,
      chunks: chunks.length,
      chars: chunks.length > 0 ? chunks[chunks.length - 1].end : 0,
      ...(meta.pages !== undefined ? { pages: meta.pages } : {}),
    };
    this.fileList = [...this.fileList, entry];
    return entry;
  }

  removeFile(name: string): boolean {
    if (!this.fileList.some((f) => f.name === name)) return false;
    for (const [id, c] of this.chunkById) {
      if (c.file !== name) continue;
      this.ms.discard(id);
      this.chunkById.delete(id);
    }
    this.fileList = this.fileList.filter((f) => f.name !== name);
    return true;
  }

  /** The `top` best chunks for `query`, best first (ties: earlier file, earlier chunk). */
  search(query: string, top: number): SearchHit[] {
    if (!(top > 0) || this.chunkById.size === 0) return [];
    const hits: SearchHit[] = [];
    for (const r of this.ms.search(query)) {
      const c = this.chunkById.get(Number(r.id));
      if (c) hits.push({ ...c, score: r.score });
    }
    hits.sort((a, b) => b.score - a.score || this.fileOrder(a.file) - this.fileOrder(b.file) || a.chunk - b.chunk);
    return hits.slice(0, top);
  }

  private fileOrder(name: string): number {
    return this.fileList.findIndex((f) => f.name === name);
  }
}
