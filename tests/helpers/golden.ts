/** @file Shared by the golden tests: where the demo models and their HF reference outputs are, and comparisons. */
import fs from 'node:fs';
import path from 'node:path';

export const repoRoot = path.resolve(import.meta.dirname, '../..');
export const sharedModel = (file: string): string => path.resolve(repoRoot, '../shared/models', file);

export interface ReferenceCase {
  prompt: string;
  tokens: number[];
  last_logits: number[];
  argmax_per_position: number[];
  greedy_tokens: number[];
  greedy_text: string;
}

function isReferenceCase(x: unknown): x is ReferenceCase {
  if (typeof x !== 'object' || x === null) return false;
  const numArr = (v: unknown): boolean => Array.isArray(v) && v.every((n) => typeof n === 'number');
  return (
    'prompt' in x && typeof x.prompt === 'string' &&
    'tokens' in x && numArr(x.tokens) &&
    'last_logits' in x && numArr(x.last_logits) &&
    'argmax_per_position' in x && numArr(x.argmax_per_position) &&
    'greedy_tokens' in x && numArr(x.greedy_tokens)
  );
}

export function readReferenceCases(file: string): ReferenceCase[] {
  const json: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
  const cases = typeof json === 'object' && json !== null && 'cases' in json ? json.cases : undefined;
  if (!Array.isArray(cases) || cases.length === 0 || !cases.every(isReferenceCase)) {
    throw new Error(`${file}: not a reference file ({ cases: [{ prompt, tokens, last_logits, argmax_per_position, greedy_tokens }] })`);
  }
  return cases;
}

/** The 30M demo model ships in public/models/brix-demo-30m/ (first split part), else ../shared. */
export function demo30mPath(): string | undefined {
  const dir = path.join(repoRoot, 'public/models/brix-demo-30m');
  if (fs.existsSync(dir)) {
    const ggufs = fs.readdirSync(dir).filter((f) => f.endsWith('.gguf')).sort();
    if (ggufs.length > 0) return path.join(dir, ggufs[0]);
  }
  const p = sharedModel('brix-demo-30m-q8_0.gguf');
  return fs.existsSync(p) ? p : undefined;
}

const existing = (p: string): string | undefined => (fs.existsSync(p) ? p : undefined);

export function demoModels(): { name: string; gguf: string | undefined; json: string | undefined }[] {
  return [
    { name: 'brix-demo-30m', gguf: demo30mPath(), json: existing(path.join(repoRoot, 'tests/golden/brix-demo-30m-reference.json')) },
    { name: 'brix-cl100k-65m', gguf: existing(sharedModel('brix-cl100k-65m-q8_0.gguf')), json: existing(sharedModel('brix-cl100k-65m-reference.json')) },
  ];
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; at: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let max = 0;
  let at = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= max)) {
      max = Number.isNaN(d) ? Infinity : d;
      at = i;
    }
  }
  return { max, at };
}

export function countSame(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}
