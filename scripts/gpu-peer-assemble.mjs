#!/usr/bin/env node
/**
 * @file gpu-peer-latest.json (issues 14/15) from the raw files of `gpu-browser-bench.sh peer`: per model, Brix's bench
 * JSON (`peer-brix-<m>.json`: medians of its measured runs after a warm-up, spread = decode min and max) and
 * llama.cpp's peer-bench lines (`llamacpp-<m>.jsonl`: the first run is cold and dropped, median of the rest).
 * The JSON has exactly issue 14's form (its checks read it; activations, run counts and devices stay in the raw
 * files). Prints one line per model with the ratios.
 * usage: node scripts/gpu-peer-assemble.mjs RES_DIR OUT.json MODEL...
 */
import { writeFileSync } from 'node:fs';
import { median, readText } from './lib/resultFiles.mjs';

const [res, out, ...models] = process.argv.slice(2);
const read = (f) => readText(res, f) ?? '';
const r1 = (x) => (x === null || x === undefined ? null : Math.round(x * 10) / 10);
let gpu = null;
let date = null;
const runs = [];
for (const m of models) {
  let brix = null;
  let llamacpp = null;
  try {
    const b = JSON.parse(read(`peer-brix-${m}.json`));
    gpu ??= b.gpu?.description ? `${b.gpu.vendor} ${b.gpu.device} (${b.gpu.description})` : b.adapter;
    date ??= b.date?.slice(0, 10) ?? null;
    brix = {
      decode: r1(b.decodeTokensPerSecond.median),
      prefill: r1(b.prefillTokensPerSecond.median),
      spread: [r1(b.decodeTokensPerSecond.min), r1(b.decodeTokensPerSecond.max)],
    };
  } catch {
    /* not measured */
  }
  const lines = read(`llamacpp-${m}.jsonl`).split('\n').filter((l) => l.startsWith('{'));
  const last = lines.map((l) => JSON.parse(l)).find((o) => Array.isArray(o.runs));
  if (last && last.runs.length > 1) {
    const warm = last.runs.slice(1);
    llamacpp = { decode: r1(median(warm.map((r) => r.decodeTokPerS))), prefill: r1(median(warm.map((r) => r.prefillTokPerS))) };
  }
  runs.push({ model: m, brix, llamacpp });
  const ratio = (a, b) => (a && b ? (a / b).toFixed(2) : '-');
  console.log(
    `${m.padEnd(20)} Brix decode ${brix?.decode ?? '-'} prefill ${brix?.prefill ?? '-'} | llama.cpp decode ${llamacpp?.decode ?? '-'} prefill ${llamacpp?.prefill ?? '-'} | decode x${ratio(brix?.decode, llamacpp?.decode)} prefill x${ratio(brix?.prefill, llamacpp?.prefill)}`,
  );
}
const commit = read('commit.txt').trim().split(/\s+/)[0] || null;
writeFileSync(out, JSON.stringify({ date: date ?? new Date().toISOString().slice(0, 10), gpu, commit, runs }, null, 2) + '\n');
