/**
 * @file Retrieval quality on a small test set with known answers (tests/fixtures/retrieval-set.json over the
 * files in tests/fixtures/retrieval-set/: Markdown, HTML, CSV, Python, plain text and a PDF). A question is a hit
 * at k when one of the k best chunks comes from the right file and contains the answer. recall@3 is held here
 * and reported in README.md (the test prints the figures); both the shipped chunking and small chunks (more
 * chunks to choose from, a harder ranking) are measured.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CHUNKING, type ChunkOptions } from '../../workers/retrieval/chunk.ts';
import { extractText } from '../../workers/retrieval/extract.ts';
import { DocIndex } from '../../workers/retrieval/search.ts';
import { nodePdfJs } from '../../scripts/lib/docs.ts';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
const setDir = path.join(fixtures, 'retrieval-set');

interface Question {
  readonly q: string;
  readonly file: string;
  readonly answer: string;
}
const questions = (JSON.parse(readFileSync(path.join(fixtures, 'retrieval-set.json'), 'utf8')) as { questions: Question[] }).questions;

async function buildIndex(chunking: ChunkOptions): Promise<DocIndex> {
  const index = DocIndex.empty(chunking);
  for (const name of readdirSync(setDir).sort()) {
    const bytes = new Uint8Array(readFileSync(path.join(setDir, name)));
    const { text, pages } = await extractText(name, bytes, { pdfjs: nodePdfJs });
    index.addFile(name, text, { bytes: bytes.length, ...(pages !== undefined ? { pages } : {}) });
  }
  return index;
}

function recallAt(index: DocIndex, k: number): { recall: number; misses: string[] } {
  const misses: string[] = [];
  for (const q of questions) {
    const hit = index.search(q.q, k).some((h) => h.file === q.file && h.text.toLowerCase().includes(q.answer.toLowerCase()));
    if (!hit) misses.push(q.q);
  }
  return { recall: (questions.length - misses.length) / questions.length, misses };
}

describe('retrieval quality on the test set', () => {
  it('has questions whose answers are in their files', async () => {
    expect(questions.length).toBeGreaterThanOrEqual(25);
    const index = await buildIndex(DEFAULT_CHUNKING);
    for (const q of questions) {
      const all = index.search(q.answer, 1000).filter((h) => h.file === q.file);
      expect(all.some((h) => h.text.toLowerCase().includes(q.answer.toLowerCase())), `${q.file} contains "${q.answer}"`).toBe(true);
    }
  });

  for (const [label, chunking, min3] of [
    ['shipped chunking (1000 chars, 200 overlap)', DEFAULT_CHUNKING, 0.95],
    ['small chunks (300 chars, 60 overlap)', { size: 300, overlap: 60 }, 0.9],
  ] as const) {
    it(`recall@3 with ${label}`, async () => {
      const index = await buildIndex(chunking);
      const r1 = recallAt(index, 1);
      const r3 = recallAt(index, 3);
      console.log(`retrieval test set, ${label}: ${questions.length} questions, ${index.size} chunks, recall@1 ${r1.recall.toFixed(3)}, recall@3 ${r3.recall.toFixed(3)}`);
      expect(r3.recall, `missed at 3: ${r3.misses.join(' | ')}`).toBeGreaterThanOrEqual(min3);
    });
  }
});
