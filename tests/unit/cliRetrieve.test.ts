/**
 * @file The `retrieve` CLI contract, through the real `node scripts/cli.mjs`: `--docs <file or folder>…
 * --query <text> [--top N] [--json]` prints exactly `{"results":[{"file","chunk","score","text"}]}`, best first,
 * at most N; files and folders mix; bad flags exit 2 and a missing path exits 1 naming it.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/cli.mjs'), 'retrieve', ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 120_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('cli retrieve', () => {
  it('prints {"results":[{"file","chunk","score","text"}]} for a folder and a file, best first, --top at most', () => {
    const r = cli('--docs', 'tests/fixtures/docs', 'tests/fixtures/retrieval-set/museum-guide.txt', '--query', 'What is the lighthouse keeper password? Is the museum open?', '--top', '2', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.endsWith('\n')).toBe(true);
    const out = JSON.parse(r.stdout) as { results: Record<string, unknown>[] };
    expect(Object.keys(out)).toEqual(['results']);
    expect(out.results).toHaveLength(2);
    for (const x of out.results) {
      expect(Object.keys(x)).toEqual(['file', 'chunk', 'score', 'text']);
      expect(typeof x.file).toBe('string');
      expect(Number.isInteger(x.chunk)).toBe(true);
      expect(typeof x.score).toBe('number');
      expect(typeof x.text).toBe('string');
    }
    expect(out.results[0]).toMatchObject({ file: 'tests/fixtures/docs/harbor-manual.pdf', chunk: 0, text: expect.stringContaining('ZEPHYR-42') });
    expect(Number(out.results[0].score)).toBeGreaterThan(Number(out.results[1].score));
  });

  it('without --json prints numbered passages; no match says so', () => {
    const r = cli('--docs', 'tests/fixtures/docs/office-notes.txt', '--query', 'coffee machine');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\[1\] tests\/fixtures\/docs\/office-notes\.txt · chunk 0 · score [\d.]+\nTeam notes/);
    const none = cli('--docs', 'tests/fixtures/docs/office-notes.txt', '--query', 'zebra', '--json');
    expect(JSON.parse(none.stdout)).toEqual({ results: [] });
  });

  it('bad flags exit 2, a missing path exits 1 naming it', () => {
    expect(cli('--docs', '--query', 'x').code).toBe(2);
    expect(cli('--docs', 'tests/fixtures/docs', '--query', 'x', '--top', '0').code).toBe(2);
    expect(cli('--query', 'x').code).toBe(2);
    const missing = cli('--docs', 'no/such/place', '--query', 'x');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no\/such\/place: no such file or folder/);
  });
});
