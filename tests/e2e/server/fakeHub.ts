/**
 * @file A local stand-in for the Hugging Face Hub's public API, for the Models page's "Search Hugging Face":
 * `GET /api/models?search=…&filter=gguf` (repositories whose id contains the search), `GET
 * /api/models/<owner>/<name>/tree/main?recursive=true` (files with sizes, LFS files as the Hub lists them), and
 * `GET|HEAD /<owner>/<name>/resolve/main/<file>` with HTTP Range (rangeFaults.ts' logic), all with CORS like the
 * real Hub, so the app in the browser downloads and loads a model from it.
 */
import http from 'node:http';
import { RangeFiles } from './rangeFaults.ts';

export interface FakeRepo {
  readonly id: string;
  readonly downloads: number;
  /** Path in the repo → bytes (served), or a size only (listed, not downloadable). */
  readonly files: Readonly<Record<string, Uint8Array | number>>;
}

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'range, if-range, if-match, accept',
  'access-control-expose-headers': 'content-range, content-length, accept-ranges, etag, last-modified, x-linked-etag',
};

export interface FakeHub {
  readonly origin: string;
  readonly requests: string[];
  close(): Promise<void>;
}

export async function startFakeHub(repos: readonly FakeRepo[]): Promise<FakeHub> {
  const range = new RangeFiles();
  for (const r of repos) {
    for (const [p, v] of Object.entries(r.files)) if (typeof v !== 'number') range.files.set(`${r.id}/${p}`, { bytes: v, etag: `"${r.id}-${p}-${v.length}"` });
  }
  const requests: string[] = [];
  const json = (res: http.ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { ...CORS, 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://hub');
    requests.push(`${req.method} ${u.pathname}${u.search}`);
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...CORS, 'access-control-allow-methods': 'GET, HEAD' });
      res.end();
      return;
    }
    if (u.pathname === '/api/models') {
      // Like the Hub: every word of the search in the repository id.
      const words = (u.searchParams.get('search') ?? '').toLowerCase().split(/\s+/).filter((w) => w !== '');
      const gguf = u.searchParams.get('filter') === 'gguf';
      const hits = repos.filter((r) => words.every((w) => r.id.toLowerCase().includes(w)) && (!gguf || Object.keys(r.files).some((f) => f.endsWith('.gguf'))));
      json(res, 200, hits.map((r) => ({ _id: r.id, id: r.id, modelId: r.id, downloads: r.downloads, likes: 1, tags: ['gguf'] })));
      return;
    }
    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/main$/.exec(u.pathname);
    if (tree) {
      const repo = repos.find((r) => r.id === tree[1]);
      if (!repo) return json(res, 404, { error: 'Repository not found' });
      json(
        res,
        200,
        Object.entries(repo.files).map(([p, v]) => {
          const size = typeof v === 'number' ? v : v.length;
          return p.endsWith('.gguf') ? { type: 'file', oid: 'x', size, path: p, lfs: { oid: 'y', size, pointerSize: 134 } } : { type: 'file', oid: 'x', size, path: p };
        }),
      );
      return;
    }
    const file = /^\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/.exec(u.pathname);
    if (file) {
      const plan = range.plan(`${file[1]}/${decodeURIComponent(file[2])}`, req.headers.range, req.method ?? 'GET');
      res.writeHead(plan.status, { ...plan.headers, ...CORS, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : Buffer.from(plan.body));
      return;
    }
    json(res, 404, { error: 'not found' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no TCP address');
  return {
    origin: `http://127.0.0.1:${addr.port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
