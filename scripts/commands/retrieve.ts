/** @file `retrieve`: the best passages of local files for a query, with the app's retrieval code. */
import { UsageError, flagNumber, flagStrings, requireString, type CliCommand } from '../cliTypes.ts';
import { indexFiles } from '../lib/docs.ts';

export const DEFAULT_TOP = 5;

export const command: CliCommand = {
  name: 'retrieve',
  summary: 'the best passages of files for a query (BM25 over overlapping chunks; --json prints {"results":[{"file","chunk","score","text"}]})',
  flags: {
    docs: { kind: 'strings', help: 'files or folders (.txt .md .html .pdf .json .csv, source code)', required: true },
    query: { kind: 'string', help: 'the question', required: true },
    top: { kind: 'number', help: `how many passages (default ${DEFAULT_TOP})` },
    json: { kind: 'boolean', help: 'print {"results":[{"file","chunk","score","text"}]}' },
  },
  async run(flags, io) {
    const top = flagNumber(flags, 'top') ?? DEFAULT_TOP;
    if (!Number.isInteger(top) || top < 1) throw new UsageError(`--top ${top} must be a whole number of at least 1`);
    const docs = flagStrings(flags, 'docs') ?? [];
    const index = await indexFiles(docs);
    const hits = index.search(requireString(flags, 'query'), top);
    if (flags.json) {
      const results = hits.map((h) => ({ file: h.file, chunk: h.chunk, score: h.score, text: h.text }));
      io.out(JSON.stringify({ results }) + '\n');
      return 0;
    }
    if (hits.length === 0) io.out(`no passage matches (${index.files.length} files, ${index.size} chunks)\n`);
    for (const [i, h] of hits.entries()) {
      io.out(`[${i + 1}] ${h.file} · chunk ${h.chunk} · score ${h.score.toFixed(3)}\n${h.text}\n\n`);
    }
    return 0;
  },
};
