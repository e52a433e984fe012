/**
 * @file The `tokenize` / `detokenize` CLI contracts through the real entry (`node scripts/cli.mjs`): one JSON
 * line of ids, special tokens parsed, BOS per `add_bos_token`, text printed back with a newline, and exit codes
 * for bad input. Uses a tokenizer-only GGUF written here, and the demo model when it is present.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildVocab } from '../../scripts/lib/vocab.ts';
import { kv, writeGgufToBytes } from '../../workers/gguf/writer.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DEMO = path.resolve(repoRoot, '../shared/models/brix-demo-30m-q8_0.gguf');

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/cli.mjs'), ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 60_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;
let small: string;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'brix-tokcli-'));
  small = path.join(dir, 'small-vocab.gguf');
  const v = buildVocab('small');
  const kvs = [
    kv.string('general.architecture', 'dbrx'),
    kv.string('tokenizer.ggml.model', 'gpt2'),
    kv.string('tokenizer.ggml.pre', v.pre),
    kv.strings('tokenizer.ggml.tokens', v.tokens),
    kv.i32s('tokenizer.ggml.token_type', v.tokenTypes),
    kv.strings('tokenizer.ggml.merges', v.merges),
    kv.u32('tokenizer.ggml.bos_token_id', v.bos),
    kv.u32('tokenizer.ggml.eos_token_id', v.eos),
    kv.bool('tokenizer.ggml.add_bos_token', true),
  ];
  writeFileSync(small, await writeGgufToBytes(kvs, []));
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tokenize / detokenize CLI', () => {
  it('tokenize prints one JSON line: BOS (add_bos_token), then the ids, specials parsed', () => {
    const r = cli('tokenize', '--model', small, '--text', 'Hi<|im_end|>');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\[[\d,]+\]\n$/);
    const ids: unknown = JSON.parse(r.stdout);
    expect(ids).toEqual([4096, 39, 72, 4103]); // <|endoftext|> as BOS, "H" "i" (small vocabulary), <|im_end|>
  });

  it('tokenize reads --text-file as-is, and detokenize prints the text back', () => {
    const file = path.join(dir, 'in.txt');
    writeFileSync(file, 'Café 😀\n');
    const t = cli('tokenize', '--model', small, '--text-file', file);
    expect(t.code).toBe(0);
    const ids: unknown = JSON.parse(t.stdout);
    expect(Array.isArray(ids)).toBe(true);
    const d = cli('detokenize', '--model', small, '--tokens', Array.isArray(ids) ? ids.join(',') : '');
    expect(d.code).toBe(0);
    expect(d.stdout).toBe('<|endoftext|>Café 😀\n\n');
  });

  it('--help documents special-token parsing and BOS', () => {
    const r = cli('tokenize', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/special tokens parsed/);
    expect(r.stdout).toMatch(/BOS/);
    expect(r.stdout).toMatch(/--text-file/);
  });

  it('bad input exits with 2 (usage) or 1 (data), saying what is wrong', () => {
    const noText = cli('tokenize', '--model', small);
    expect(noText.code).toBe(2);
    expect(noText.stderr).toMatch(/exactly one of --text or --text-file/);
    const badList = cli('detokenize', '--model', small, '--tokens', '1,x');
    expect(badList.code).toBe(2);
    expect(badList.stderr).toMatch(/comma-separated token ids, got 'x'/);
    const range = cli('detokenize', '--model', small, '--tokens', '99999');
    expect(range.code).toBe(1);
    expect(range.stderr).toMatch(/TokenizerError: token id 99999 is outside the vocabulary/);
    const missing = cli('tokenize', '--model', path.join(dir, 'nope.gguf'), '--text', 'x');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot open/);
  });

  it('on the demo model: ChatML ids and back', () => {
    if (!existsSync(DEMO)) {
      console.warn(`[tokenizerCli.test] ${DEMO} not found: skipping the demo-model case`);
      return;
    }
    const r = cli('tokenize', '--model', DEMO, '--text', '<|im_start|>user\nHello world<|im_end|>\n');
    expect(r.code).toBe(0);
    const ids: unknown = JSON.parse(r.stdout);
    expect(ids).toEqual([32006, 882, 198, 9906, 1917, 32007, 198]);
    const d = cli('detokenize', '--model', DEMO, '--tokens', '32006,882,198,9906,1917,32007,198');
    expect(d.stdout).toBe('<|im_start|>user\nHello world<|im_end|>\n\n');
  });
});
