/**
 * @file Finding GGUF models on the Hugging Face Hub from the app, through its public API (no key): repositories
 * tagged `gguf` matching a search (`GET <base>/api/models?search=…&filter=gguf`), and a repository's GGUF files
 * (`GET <base>/api/models/<repo>/tree/main?recursive=true`), grouped into one entry per model file: a split set
 * (`name-00001-of-00003.gguf`) is one entry with its parts' total size. The base URL is a setting
 * (`HF_BASE_KEY`), so tests point it at a local fake Hub. Hub answers are untrusted: checked field by field.
 */
export const HF_DEFAULT_BASE = 'https://huggingface.co';
export const HF_BASE_KEY = 'brix.hfBase';

export type FetchFn = (url: string, init?: RequestInit) => Promise<Response>;

export class HubError extends Error {
  override name = 'HubError';
}

export interface HubRepo {
  readonly id: string;
  readonly downloads?: number;
  readonly likes?: number;
}

export interface HubFile {
  readonly path: string;
  readonly size: number;
}

/** One model in a repository: a single GGUF or a whole split set. */
export interface HubModelFile {
  /** The file name without `.gguf` and split suffix. */
  readonly name: string;
  /** Quantization from the file name (Q4_K_M, IQ4_XS, Q8_0, F16…), or '' when it does not say. */
  readonly quant: string;
  readonly parts: readonly HubFile[];
  readonly totalBytes: number;
  /** The `resolve` URL of the (first part's) file: what the app downloads and the engine opens. */
  readonly url: string;
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const MAX_RESULTS = 50;
/** Hub repository ids: `owner/name` of letters, digits, `-_.`. */
const REPO_ID = /^[A-Za-z0-9][\w.-]{0,95}\/[\w.-]{1,96}$/;
const SPLIT = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/i;
const QUANT = /(?:^|[-_.])((?:IQ\d_(?:XXS|XS|S|M|NL)|I?Q\d_K(?:_[SML])?|Q\d_[01]|TQ\d_0|MXFP4|BF16|F16|F32))(?=$|[-_.])/i;

/** A base URL as typed: http(s), no trailing slash. */
export function normalizeHubBase(text: string): string {
  const t = text.trim() === '' ? HF_DEFAULT_BASE : text.trim();
  let u: URL;
  try {
    u = new URL(t);
  } catch {
    throw new HubError(`"${t}" is not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new HubError('the Hub URL must be http(s)');
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

async function getJson(f: FetchFn, url: string, signal?: AbortSignal): Promise<unknown> {
  let res: Response;
  try {
    res = await f(url, { headers: { accept: 'application/json' }, signal });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new HubError(`${url}: the Hub is unreachable (offline, or blocked): ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!res.ok) throw new HubError(`${url}: the Hub answered ${res.status}${res.status === 429 ? ' (rate limited: try again in a minute)' : ''}`);
  try {
    return await res.json();
  } catch {
    throw new HubError(`${url}: the answer is not JSON`);
  }
}

export async function searchGgufRepos(base: string, query: string, f: FetchFn, signal?: AbortSignal): Promise<HubRepo[]> {
  const q = query.trim();
  if (q === '') return [];
  const url = `${normalizeHubBase(base)}/api/models?search=${encodeURIComponent(q)}&filter=gguf&sort=downloads&direction=-1&limit=${MAX_RESULTS}`;
  const j = await getJson(f, url, signal);
  if (!Array.isArray(j)) throw new HubError(`${url}: expected a list of models`);
  const out: HubRepo[] = [];
  for (const m of j.slice(0, MAX_RESULTS)) {
    if (!isRecord(m)) continue;
    const id = typeof m.id === 'string' ? m.id : typeof m.modelId === 'string' ? m.modelId : undefined;
    if (id === undefined || !REPO_ID.test(id)) continue;
    out.push({
      id,
      ...(typeof m.downloads === 'number' ? { downloads: m.downloads } : {}),
      ...(typeof m.likes === 'number' ? { likes: m.likes } : {}),
    });
  }
  return out;
}

export function quantOf(fileName: string): string {
  const base = fileName.split('/').at(-1) ?? fileName;
  const m = QUANT.exec(base.replace(SPLIT, '$1').replace(/\.gguf$/i, ''));
  return m ? m[1].toUpperCase() : '';
}

/** GGUF files grouped into models: split sets become one entry (only complete sets), sorted by size. */
export function groupGgufFiles(base: string, repo: string, files: readonly HubFile[]): HubModelFile[] {
  const root = normalizeHubBase(base);
  const resolve = (path: string): string => `${root}/${repo}/resolve/main/${path.split('/').map(encodeURIComponent).join('/')}`;
  const singles: HubModelFile[] = [];
  const sets = new Map<string, { total: number; parts: Map<number, HubFile> }>();
  for (const file of files) {
    if (!/\.gguf$/i.test(file.path)) continue;
    const name = file.path.split('/').at(-1) ?? file.path;
    // mmproj files are vision projectors, not language models.
    if (/mmproj/i.test(name)) continue;
    const m = SPLIT.exec(file.path);
    if (m) {
      const key = m[1];
      const set = sets.get(key) ?? { total: Number(m[3]), parts: new Map<number, HubFile>() };
      set.parts.set(Number(m[2]), file);
      sets.set(key, set);
      continue;
    }
    singles.push({ name: name.replace(/\.gguf$/i, ''), quant: quantOf(name), parts: [file], totalBytes: file.size, url: resolve(file.path) });
  }
  for (const [key, set] of sets) {
    const parts = [...set.parts.entries()].sort((a, b) => a[0] - b[0]).map(([, p]) => p);
    if (parts.length !== set.total || !set.parts.has(1)) continue;
    const name = key.split('/').at(-1) ?? key;
    singles.push({ name, quant: quantOf(name), parts, totalBytes: parts.reduce((s, p) => s + p.size, 0), url: resolve(parts[0].path) });
  }
  return singles.sort((a, b) => a.totalBytes - b.totalBytes);
}

export async function listGgufFiles(base: string, repo: string, f: FetchFn, signal?: AbortSignal): Promise<HubModelFile[]> {
  if (!REPO_ID.test(repo)) throw new HubError(`"${repo}" is not a Hub repository id`);
  const url = `${normalizeHubBase(base)}/api/models/${repo}/tree/main?recursive=true`;
  const j = await getJson(f, url, signal);
  if (!Array.isArray(j)) throw new HubError(`${url}: expected a list of files`);
  const files: HubFile[] = [];
  for (const x of j) {
    if (!isRecord(x) || x.type !== 'file' || typeof x.path !== 'string') continue;
    if (x.path.includes('..') || x.path.startsWith('/')) continue;
    const lfs = isRecord(x.lfs) && typeof x.lfs.size === 'number' ? x.lfs.size : undefined;
    const size = lfs ?? (typeof x.size === 'number' ? x.size : 0);
    if (!Number.isFinite(size) || size < 0) continue;
    files.push({ path: x.path, size });
  }
  return groupGgufFiles(base, repo, files);
}
