// Assembles issue #16's browser-gpu-latest.json from the raw outputs of scripts/gpu-browser-bench.sh (plain Node,
// no dependencies: it runs on the GPU machine's bare node, and here on a b16.tgz brought back).
//   node scripts/gpu-browser-bench-assemble.mjs RES_DIR OUT.json DETAILS.json [model...]
// RES_DIR holds browser-<model>.json (bench-browser --peer wllama --json), node-<model>.json (bench --json), and
// their .err logs. A run that did not finish (no JSON) is read from its log lines ("run i/n: prefill X tok/s,
// decode Y tok/s", "loaded ... in Z s"; wllama's prefixed "wllama "), flagged in the details and the summary.
// OUT.json has exactly the shape (nulls for what is missing); DETAILS.json adds ranges, runs, KV cache,
// adapter features, flags and errors. Prints a summary with the targets.
import fs from 'node:fs';
import path from 'node:path';
import { median, readText as readTextIn } from './lib/resultFiles.mjs';

const [res, outPath, detailsPath, ...argModels] = process.argv.slice(2);
if (!res || !outPath || !detailsPath) {
  console.error('usage: node gpu-browser-bench-assemble.mjs RES_DIR OUT.json DETAILS.json [model...]');
  process.exit(2);
}
const models = argModels.length > 0 ? argModels : ['olmoe-1b-7b', 'dense-olmoe-active', 'dbrx-4l'];

const readJson = (f) => {
  try {
    const t = fs.readFileSync(path.join(res, f), 'utf8').trim();
    return t ? JSON.parse(t.split('\n').filter((l) => l.startsWith('{')).pop() ?? t) : null;
  } catch {
    return null;
  }
};
const readText = (f) => readTextIn(res, f);
const r2 = (x) => (typeof x === 'number' && Number.isFinite(x) ? Math.round(x * 100) / 100 : null);
const spreadOf = (s) => (s && typeof s.median === 'number' ? { median: r2(s.median), min: r2(s.min), max: r2(s.max) } : null);

/** Figures from the progress lines of a run that printed no JSON: measured runs only (not the warm-up). */
function fromLog(text, prefix) {
  if (!text) return null;
  const re = new RegExp(`^${prefix}run (\\d+)/(\\d+): prefill ([\\d.]+) tok/s, decode ([\\d.]+) tok/s`);
  const pre = [];
  const dec = [];
  let load = null;
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (m) {
      pre.push(Number(m[3]));
      dec.push(Number(m[4]));
    }
    const l = prefix ? /^wllama \(\w+\) loaded in ([\d.]+) s/.exec(line) : /^loaded .* in ([\d.]+) s;/.exec(line);
    if (l) load = Number(l[1]);
  }
  if (dec.length === 0) return null;
  return { decode: median(dec), prefill: median(pre), loadSeconds: load, runs: dec.length, fromLog: true };
}
/** The error a failed run ended with: the CLI's last non-progress line. */
function lastError(text) {
  if (!text) return null;
  const lines = text.split('\n').filter((l) => /error|timed out|failed|exited|cannot|could not/i.test(l) && !/^\[browser warning\]/.test(l));
  return lines.length ? lines[lines.length - 1].slice(0, 500) : null;
}

const runs = [];
const details = [];
let adapter = null;
let browser = null;
let date = null;
for (const m of models) {
  const b = readJson(`browser-${m}.json`);
  const bErr = readText(`browser-${m}.err`);
  const n = readJson(`node-${m}.json`);
  const nErr = readText(`node-${m}.err`);
  const nf16 = readJson(`node-f16-${m}.json`);
  const d = { model: m, notes: [] };

  let brix = { decode: null, prefill: null, loadSeconds: null };
  let wllama = { decode: null, prefill: null, loadSeconds: null };
  if (b) {
    brix = { decode: r2(b.decodeTokensPerSecond?.median), prefill: r2(b.prefillTokensPerSecond?.median), loadSeconds: r2(b.loadSeconds) };
    d.brix = {
      file: b.model,
      decode: spreadOf(b.decodeTokensPerSecond),
      prefill: spreadOf(b.prefillTokensPerSecond),
      ttftMs: spreadOf(b.timeToFirstTokenMs),
      loadSeconds: r2(b.loadSeconds),
      runs: b.runs,
      promptTokens: b.promptTokens,
      genTokens: b.genTokens,
      kvCache: b.roofline?.kvCache ?? null,
      percentOfRoofline: r2(b.roofline?.percentOfRoofline),
      measuredReadGBps: r2(b.roofline?.measuredReadGBps),
      gpuMemoryBytes: b.gpuMemoryBytes ?? null,
      adapter: b.adapter,
      gpu: b.gpu,
      browser: b.browser,
    };
    adapter ??= b.gpu ? { vendor: b.gpu.vendor ?? null, architecture: b.gpu.architecture ?? null, description: b.gpu.description ?? null } : null;
    browser ??= b.browser?.version ? `Chromium ${b.browser.version}` : null; // replaced below by `--version`'s, where it has one
    date ??= typeof b.date === 'string' ? b.date.slice(0, 10) : null;
    const p = b.peer;
    if (p?.ok) {
      wllama = { decode: r2(p.decodeTokensPerSecond?.median), prefill: r2(p.prefillTokensPerSecond?.median), loadSeconds: r2(p.loadSeconds) };
      d.wllama = {
        engine: p.engine,
        backend: p.backend,
        decode: spreadOf(p.decodeTokensPerSecond),
        prefill: spreadOf(p.prefillTokensPerSecond),
        ttftMs: spreadOf(p.timeToFirstTokenMs),
        promptTokens: p.promptTokens,
        genTokens: p.genTokens,
        runs: p.runs,
        loadSeconds: r2(p.loadSeconds),
      };
    } else if (p) {
      d.wllama = { engine: p.engine, backend: p.backend, error: `${p.error?.name}: ${p.error?.message}` };
      d.notes.push(`wllama failed: ${d.wllama.error}`);
    } else d.notes.push('no wllama result in the JSON');
  } else {
    const lb = fromLog(bErr, '');
    const lw = fromLog(bErr, 'wllama ');
    if (lb) {
      brix = { decode: r2(lb.decode), prefill: r2(lb.prefill), loadSeconds: r2(lb.loadSeconds) };
      d.brix = lb;
      d.notes.push(`Brix in Chromium read from its log (${lb.runs} runs; the run printed no JSON)`);
    }
    if (lw) {
      wllama = { decode: r2(lw.decode), prefill: r2(lw.prefill), loadSeconds: r2(lw.loadSeconds) };
      d.wllama = lw;
      d.notes.push(`wllama read from the log (${lw.runs} runs)`);
    }
    if (bErr === null) d.notes.push('bench-browser not run');
    else d.notes.push(`bench-browser: ${lastError(bErr) ?? 'no JSON'}`);
  }

  let brixNode = { decode: null, prefill: null };
  if (n) {
    brixNode = { decode: r2(n.decodeTokensPerSecond?.median), prefill: r2(n.prefillTokensPerSecond?.median) };
    d.brixNode = {
      file: n.model,
      decode: spreadOf(n.decodeTokensPerSecond),
      prefill: spreadOf(n.prefillTokensPerSecond),
      ttftMs: spreadOf(n.timeToFirstTokenMs),
      loadSeconds: r2(n.loadSeconds),
      runs: n.runs,
      activations: n.activations,
      kvCache: n.roofline?.kvCache ?? null,
      percentOfRoofline: r2(n.roofline?.percentOfRoofline),
      measuredReadGBps: r2(n.roofline?.measuredReadGBps),
      adapter: n.adapter,
    };
    date ??= typeof n.date === 'string' ? n.date.slice(0, 10) : null;
  } else {
    const ln = fromLog(nErr, '');
    if (ln) {
      brixNode = { decode: r2(ln.decode), prefill: r2(ln.prefill) };
      d.brixNode = ln;
      d.notes.push('brixNode read from its log');
    } else d.notes.push(nErr === null ? 'brixNode not run' : `brixNode: ${lastError(nErr) ?? 'no JSON'}`);
  }
  if (nf16) d.brixNodeF16 = { decode: spreadOf(nf16.decodeTokensPerSecond), prefill: spreadOf(nf16.prefillTokensPerSecond), kvCache: nf16.roofline?.kvCache, adapter: nf16.adapter };
  runs.push({ model: m, brix, wllama, brixNode });
  details.push(d);
}

if (!adapter) {
  // the probe's adapter, when no bench ran
  for (const v of ['vulkan', 'angle-swiftshader']) {
    const t = readText(`chromium-probe-${v}.txt`);
    const line = t?.split('\n').find((l) => l.startsWith('RESULT '));
    try {
      const r = line ? JSON.parse(line.slice(7)) : null;
      const i = r?.adapter?.info;
      if (i) {
        adapter = { vendor: i.vendor ?? null, architecture: i.architecture ?? null, description: i.description ?? null };
        break;
      }
    } catch {
      // not JSON
    }
  }
}
// `chromium --version` (the staged headless_shell: "Chromium 153.0.8010.0"); the user agent's may be reduced (156.0.0.0)
const version = /\b(\d+\.\d+\.\d+\.\d+)\b/.exec(readText('chromium-version.txt') ?? '')?.[1];
if (version) browser = `Chromium ${version}`;

const out = { date: date ?? new Date().toISOString().slice(0, 10), browser, adapter: adapter ?? { vendor: null, architecture: null, description: null }, runs };
fs.writeFileSync(outPath, JSON.stringify(out, null, 1) + '\n');
const flags = readText('chromium-flags.txt')?.trim() ?? null;
const commit = readText('commit.txt')?.trim() ?? null;
fs.writeFileSync(detailsPath, JSON.stringify({ ...out, runs: undefined, commit, chromiumFlags: flags, details }, null, 1) + '\n');

// the summary, against the targets
const f = (x, d = 1) => (typeof x === 'number' ? x.toFixed(d) : '—');
const ratio = (a, b) => (typeof a === 'number' && typeof b === 'number' && b > 0 ? a / b : null);
console.log(`browser ${out.browser ?? '?'}; adapter ${JSON.stringify(out.adapter)}; date ${out.date}`);
console.log('model               | Brix decode prefill load | wllama decode prefill load | brixNode decode prefill | Brix/wllama dec (≥2) pre (≥1) | Node/Brix dec (≤1.15)');
for (const r of runs) {
  const rd = ratio(r.brix.decode, r.wllama.decode);
  const rp = ratio(r.brix.prefill, r.wllama.prefill);
  const nb = ratio(r.brixNode.decode, r.brix.decode);
  console.log(
    `${r.model.padEnd(19)} | ${f(r.brix.decode).padStart(6)} ${f(r.brix.prefill, 0).padStart(6)} ${f(r.brix.loadSeconds).padStart(5)} s` +
      ` | ${f(r.wllama.decode).padStart(6)} ${f(r.wllama.prefill, 0).padStart(6)} ${f(r.wllama.loadSeconds).padStart(5)} s` +
      ` | ${f(r.brixNode.decode).padStart(6)} ${f(r.brixNode.prefill, 0).padStart(6)}` +
      ` | ×${f(rd, 2)} ×${f(rp, 2)} | ×${f(nb, 2)}`,
  );
}
for (const d of details) for (const n of d.notes) console.log(`  ${d.model}: ${n}`);
const missing = runs.filter((r) => r.brix.decode === null || r.wllama.decode === null || r.brixNode.decode === null).map((r) => r.model);
console.log(missing.length ? `incomplete: ${missing.join(', ')}` : 'complete: every model has brix, wllama and brixNode');
