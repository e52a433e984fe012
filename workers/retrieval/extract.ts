/**
 * @file Text out of an attached file, by its name: plain text as is (.txt, .md, .csv, .json, source code),
 * HTML without its markup (a string pass: workers have no DOMParser), PDF through pdfjs-dist (the caller passes
 * the library in, so the browser worker and the CLI each load the build that fits them). Same code in the docs
 * worker and in the CLI; nothing here touches the DOM or `node:`.
 */

/** The part of pdfjs-dist's API text extraction uses. */
export interface PdfJs {
  getDocument(src: {
    data: Uint8Array;
    isEvalSupported?: boolean;
    useSystemFonts?: boolean;
    disableFontFace?: boolean;
    stopAtErrors?: boolean;
    verbosity?: number;
  }): { promise: Promise<PdfDocument>; destroy(): Promise<void> };
}
interface PdfDocument {
  readonly numPages: number;
  getPage(n: number): Promise<{ getTextContent(): Promise<{ items: readonly unknown[] }>; cleanup(): boolean | void }>;
  destroy(): Promise<void>;
}

export class UnsupportedFileError extends Error {
  override name = 'UnsupportedFileError';
}

export type FileKind = 'text' | 'html' | 'pdf';

const TEXT_EXT = new Set(
  ('txt md markdown rst csv tsv json jsonl ndjson yaml yml toml ini cfg conf log xml svg tex ' +
    'js mjs cjs jsx ts tsx py rb go rs java kt kts scala c h cc cpp hpp cs swift m php pl sh bash zsh ps1 sql r lua ' +
    'dart zig vue svelte css scss less wgsl glsl hlsl proto graphql gql dockerfile makefile cmake gradle ex exs erl hs ml clj')
    .split(' '),
);

/** What kind of file this is by its name, or undefined when we do not read it. */
export function fileKind(name: string): FileKind | undefined {
  const lower = name.toLowerCase();
  const base = lower.split(/[\\/]/).pop() ?? lower;
  const dot = base.lastIndexOf('.');
  const ext = dot >= 0 ? base.slice(dot + 1) : base;
  if (ext === 'pdf') return 'pdf';
  if (ext === 'html' || ext === 'htm' || ext === 'xhtml') return 'html';
  if (TEXT_EXT.has(ext)) return 'text';
  return undefined;
}

export const SUPPORTED_HINT = '.txt, .md, .html, .pdf, .json, .csv and source code';

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** Visible text of an HTML document: scripts, styles and comments dropped, block tags as line breaks. */
export function htmlToText(html: string): string {
  return html
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(script|style|noscript|template|head)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<(br|hr)\b[^>]*>/gi, '\n')
    .replace(/<\/?(p|div|section|article|header|footer|li|ul|ol|tr|table|h[1-6]|pre|blockquote|dd|dt|figcaption)\b[^>]*>/gi, '\n\n')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
      if (e[0] === '#') {
        const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : ' ';
      }
      return ENTITIES[e.toLowerCase()] ?? m;
    });
}

/** Text from UTF-8 bytes (a BOM dropped; invalid sequences become U+FFFD instead of failing). */
export function decodeText(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes).replace(/^\ufeff/, '');
}

export interface Extracted {
  readonly text: string;
  readonly pages?: number;
}

export interface ExtractOptions {
  readonly pdfjs?: () => Promise<PdfJs>;
  /** PDFs: called after each page. */
  readonly onPage?: (done: number, total: number) => void;
  readonly signal?: AbortSignal;
}

function textOfItem(item: unknown): string {
  if (typeof item !== 'object' || item === null || !('str' in item) || typeof item.str !== 'string') return '';
  const eol = 'hasEOL' in item && item.hasEOL === true;
  return item.str + (eol ? '\n' : '');
}

/** Every page's text, pages separated by blank lines. */
export async function pdfToText(data: Uint8Array, pdfjs: PdfJs, opts: Omit<ExtractOptions, 'pdfjs'> = {}): Promise<Extracted> {
  const task = pdfjs.getDocument({ data, isEvalSupported: false, useSystemFonts: false, disableFontFace: true, verbosity: 0 });
  let doc: PdfDocument;
  try {
    doc = await task.promise;
  } catch (e) {
    throw new UnsupportedFileError(`not a readable PDF: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    const pages: string[] = [];
    for (let n = 1; n <= doc.numPages; n++) {
      if (opts.signal?.aborted) throw opts.signal.reason instanceof Error ? opts.signal.reason : new Error('aborted');
      const page = await doc.getPage(n);
      const content = await page.getTextContent();
      let text = '';
      for (const item of content.items) {
        const t = textOfItem(item);
        // pdfjs gives runs without spaces between them when the PDF positions words itself.
        text += text !== '' && !/\s$/.test(text) && t !== '' && !/^\s/.test(t) ? ` ${t}` : t;
      }
      page.cleanup();
      pages.push(text.trim());
      opts.onPage?.(n, doc.numPages);
    }
    return { text: pages.join('\n\n'), pages: doc.numPages };
  } finally {
    await doc.destroy();
  }
}

export async function extractText(name: string, bytes: Uint8Array, opts: ExtractOptions = {}): Promise<Extracted> {
  const kind = fileKind(name);
  if (kind === undefined) throw new UnsupportedFileError(`${name}: not a file type Brix reads (${SUPPORTED_HINT})`);
  if (kind === 'pdf') {
    if (!opts.pdfjs) throw new UnsupportedFileError(`${name}: PDF support is not available here`);
    return pdfToText(bytes, await opts.pdfjs(), opts);
  }
  const text = decodeText(bytes);
  return { text: kind === 'html' ? htmlToText(text) : text };
}
