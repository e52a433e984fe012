#!/usr/bin/env node
/**
 * @file `npm test`: every test stage in order, one summary. Stages: typecheck, unit, kernels (twice: lavapipe,
 * then SwiftShader — the f16/subgroup-8 path and the browser's no-f16/subgroup-4 path), golden, e2e (vite
 * build + Playwright). On Debian, when a chosen stage needs Chromium or lavapipe and it is missing, it first runs
 * scripts/setup-system.sh where that needs no password (root, or `sudo -n`), else stops before any stage with
 * the one command to run (scripts/lib/systemSetup.mjs; BRIX_NO_SYSTEM_SETUP=1: never install, only say so). A
 * driver still missing FAILS its stage with the fix; nothing is skipped silently.
 * Test counts come from the runners' JSON reports, so the last line (`N passed, N failed`) counts tests; a
 * stage that fails outside any test (type errors, a missing driver, a crash) adds one failure so the line
 * never reads "0 failed" on a red run.
 *
 * usage: node scripts/test.mjs [stage...] [-- extra args for vitest/playwright]
 *   stages: typecheck unit kernels (= kernels:lavapipe kernels:swiftshader) golden e2e; default: all.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingFor, setupPlan } from './lib/systemSetup.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => path.join(root, 'node_modules/.bin', name);

/** Vulkan ICD files; BRIX_ICD_LAVAPIPE / BRIX_ICD_SWIFTSHADER override them (other distributions' paths). */
const DRIVERS = {
  lavapipe: process.env.BRIX_ICD_LAVAPIPE || '/usr/share/vulkan/icd.d/lvp_icd.json',
  swiftshader: process.env.BRIX_ICD_SWIFTSHADER || '/usr/lib/chromium/vk_swiftshader_icd.json',
};
const DRIVER_HELP = {
  lavapipe: 'Mesa 25 lavapipe from bookworm-backports',
  swiftshader: "SwiftShader, shipped in Debian's chromium package",
};
const SYSTEM_CHROMIUM = '/usr/bin/chromium';

const ALL = ['typecheck', 'unit', 'kernels:lavapipe', 'kernels:swiftshader', 'golden', 'e2e'];
const ALIASES = { kernels: ['kernels:lavapipe', 'kernels:swiftshader'] };

// ---------------------------------------------------------------------------------------------------------
// Arguments

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const names = dash >= 0 ? argv.slice(0, dash) : argv;
const extra = dash >= 0 ? argv.slice(dash + 1) : [];
if (names.includes('--help') || names.includes('-h')) {
  console.log('usage: node scripts/test.mjs [stage...] [-- extra args for vitest/playwright]');
  console.log(`stages: ${['typecheck', 'unit', 'kernels', ...ALL.slice(2)].join(' ')}`);
  process.exit(0);
}
const wanted = new Set();
for (const n of names) {
  const expanded = ALIASES[n] ?? (ALL.includes(n) ? [n] : null);
  if (!expanded) {
    console.error(`test.mjs: unknown stage '${n}'; stages: typecheck unit kernels ${ALL.slice(2).join(' ')}`);
    process.exit(2);
  }
  for (const s of expanded) wanted.add(s);
}
const stages = names.length === 0 ? ALL : ALL.filter((s) => wanted.has(s));

// ---------------------------------------------------------------------------------------------------------
// Environment: a private XDG_RUNTIME_DIR (mkdtemp makes it 0700) silences Dawn's "XDG_RUNTIME_DIR is
// invalid" lines; reports go there too and it is removed at the end.

const scratch = mkdtempSync(path.join(os.tmpdir(), 'brix-test-'));
const baseEnv = { ...process.env, XDG_RUNTIME_DIR: scratch };
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

function run(cmd, args, env = baseEnv) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', (e) => {
      console.error(`test.mjs: cannot start ${cmd}: ${e.message}`);
      resolve(127);
    });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * One stage's outcome. `passed`/`failed`/`skipped` count tests; `note` says why a stage failed outside tests.
 * @typedef {{ ok: boolean, passed: number, failed: number, skipped: number, tests: boolean, note?: string }} Outcome
 */

/** Turns an exit code and a vitest JSON report into an Outcome; a crash or suite-level failure counts. */
function vitestOutcome(code, reportFile, { requireTests = false } = {}) {
  const r = readJson(reportFile);
  if (!r) return { ok: false, passed: 0, failed: 1, skipped: 0, tests: true, note: `no report (exit ${code})` };
  const out = {
    ok: code === 0,
    passed: r.numPassedTests ?? 0,
    failed: r.numFailedTests ?? 0,
    skipped: (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0),
    tests: true,
  };
  if (!out.ok && out.failed === 0) {
    out.failed = Math.max(1, r.numFailedTestSuites ?? 0);
    out.note = r.numFailedTestSuites ? `${r.numFailedTestSuites} file(s) failed to run` : `exit ${code}`;
  }
  if (requireTests && out.passed === 0 && out.ok) {
    out.ok = false;
    out.failed += 1;
    out.note = 'no test ran: at least one GPU test must run';
  }
  return out;
}

async function vitest(project, env, opts) {
  const report = path.join(scratch, `vitest-${project}-${Date.now()}.json`);
  const args = ['run', '--project', project, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`];
  if (opts?.passWithNoTests) args.push('--passWithNoTests');
  const code = await run(bin('vitest'), [...args, ...extra], env);
  return vitestOutcome(code, report, opts);
}

function stageFailure(note) {
  return { ok: false, passed: 0, failed: 1, skipped: 0, tests: false, note };
}

// ---------------------------------------------------------------------------------------------------------
// Stages

async function typecheck() {
  const code = await run(bin('tsc'), ['--noEmit', '-p', 'tsconfig.json']);
  return code === 0 ? { ok: true, passed: 0, failed: 0, skipped: 0, tests: false } : stageFailure('type errors');
}

async function kernels(driver) {
  const icd = DRIVERS[driver];
  if (!existsSync(icd)) {
    const msg =
      `the ${driver} Vulkan driver (${icd}) is missing. Install it with \`sudo bash scripts/setup-system.sh\` ` +
      `(${DRIVER_HELP[driver]}).`;
    console.error(`test.mjs: kernels:${driver} FAILED: ${msg}`);
    return stageFailure(`missing ${icd}: run scripts/setup-system.sh`);
  }
  console.log(`driver: ${driver} (VK_ICD_FILENAMES=${icd})`);
  return vitest('kernels', { ...baseEnv, VK_ICD_FILENAMES: icd }, { requireTests: true });
}

async function golden() {
  // The engine runs on Node WebGPU here too; lavapipe unless the caller chose a driver.
  const icd = process.env.VK_ICD_FILENAMES ?? (existsSync(DRIVERS.lavapipe) ? DRIVERS.lavapipe : undefined);
  console.log(`driver: VK_ICD_FILENAMES=${icd ?? '(unset: no lavapipe; run scripts/setup-system.sh)'}`);
  return vitest('golden', icd ? { ...baseEnv, VK_ICD_FILENAMES: icd } : baseEnv, { passWithNoTests: true });
}

async function ensureBrowser() {
  if (existsSync(SYSTEM_CHROMIUM)) {
    console.log(`browser: ${SYSTEM_CHROMIUM}`);
    return true;
  }
  const { chromium } = await import('@playwright/test');
  if (existsSync(chromium.executablePath())) {
    console.log(`browser: Playwright's Chromium (${chromium.executablePath()})`);
    return true;
  }
  console.log(`browser: neither ${SYSTEM_CHROMIUM} nor Playwright's Chromium; installing Playwright's (scripts/setup-system.sh installs Debian's)`);
  return (await run(bin('playwright'), ['install', 'chromium'])) === 0;
}

async function e2e() {
  if (!(await ensureBrowser())) return stageFailure('no browser: `npx playwright install chromium` failed');
  console.log('building the app (vite build)');
  if ((await run(bin('vite'), ['build', '--logLevel', 'warn'])) !== 0) return stageFailure('vite build failed');
  const report = path.join(scratch, 'playwright.json');
  const code = await run(bin('playwright'), ['test', '--reporter=list,json', ...extra], {
    ...baseEnv,
    PLAYWRIGHT_JSON_OUTPUT_NAME: report,
  });
  const r = readJson(report);
  if (!r?.stats) return stageFailure(`no report (exit ${code})`);
  const s = r.stats;
  const out = { ok: code === 0, passed: s.expected + s.flaky, failed: s.unexpected, skipped: s.skipped, tests: true };
  if (s.flaky) out.note = `${s.flaky} flaky (passed on retry)`;
  if (!out.ok && out.failed === 0) {
    out.failed = 1;
    out.note = r.errors?.[0]?.message?.split('\n')[0] ?? `exit ${code}`;
  }
  if (out.ok && out.passed === 0) Object.assign(out, { ok: false, failed: 1, note: 'no e2e test ran' });
  return out;
}

const RUNNERS = {
  typecheck: { title: 'tsc --noEmit -p tsconfig.json', fn: typecheck },
  unit: { title: 'vitest run --project unit', fn: () => vitest('unit', baseEnv) },
  'kernels:lavapipe': { title: 'vitest run --project kernels on lavapipe', fn: () => kernels('lavapipe') },
  'kernels:swiftshader': { title: 'vitest run --project kernels on SwiftShader', fn: () => kernels('swiftshader') },
  golden: { title: 'vitest run --project golden --passWithNoTests', fn: golden },
  e2e: { title: 'vite build && playwright test', fn: e2e },
};

// ---------------------------------------------------------------------------------------------------------
// System packages: what the chosen stages need that setup-system.sh installs (Debian only; elsewhere the
// stages say what is missing, as before).

function missingSystemPackages() {
  const sh = (cmd) => spawnSync('sh', ['-c', cmd], { stdio: 'ignore', timeout: 10_000 }).status === 0;
  if (!sh('command -v apt-get')) return { missing: [], sh };
  return { missing: missingFor(stages, { chromium: SYSTEM_CHROMIUM, ...DRIVERS }, existsSync), sh };
}

async function ensureSystemPackages() {
  const { missing, sh } = missingSystemPackages();
  if (missing.length === 0) return;
  // BRIX_NO_SYSTEM_SETUP=1: never install from here, only say what to run (and the tests of this path).
  const mayInstall = !process.env.BRIX_NO_SYSTEM_SETUP;
  const uid = mayInstall && typeof process.getuid === 'function' ? process.getuid() : undefined;
  const plan = setupPlan({ uid, hasSudo: mayInstall && uid !== 0 && sh('sudo -n true'), missing });
  if (plan.action === 'none') return;
  if (plan.action === 'stop') {
    console.error(plan.message);
    process.exit(1);
  }
  console.log(plan.message);
  const code = await run(plan.argv[0], plan.argv.slice(1));
  if (code !== 0) {
    console.error(`test.mjs: scripts/setup-system.sh failed (exit ${code}); fix what it printed, then run \`sudo bash scripts/setup-system.sh\` and \`npm test\` again`);
    process.exit(1);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Main

await ensureSystemPackages();

const results = [];
for (const [i, name] of stages.entries()) {
  const { title, fn } = RUNNERS[name];
  console.log(`\n==== [${i + 1}/${stages.length}] ${name}: ${title} ====\n`);
  const t0 = performance.now();
  let outcome;
  try {
    outcome = await fn();
  } catch (e) {
    outcome = stageFailure(`test.mjs error: ${e instanceof Error ? e.message : String(e)}`);
  }
  results.push({ name, seconds: (performance.now() - t0) / 1000, ...outcome });
}

console.log('\n==== summary ====');
const w = Math.max(...results.map((r) => r.name.length));
for (const r of results) {
  const counts = r.tests ? `${r.passed} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ''}` : '';
  const parts = [r.ok ? 'ok    ' : 'FAILED', counts, r.note ? `(${r.note})` : '', `${r.seconds.toFixed(1)} s`].filter(Boolean);
  console.log(`${r.name.padEnd(w)}  ${parts.join('  ')}`);
}
const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = results.every((r) => r.ok) ? 0 : 1;
