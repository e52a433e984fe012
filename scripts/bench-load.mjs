#!/usr/bin/env node
/**
 * @file `npm run bench:load`: how long the app takes to load the bundled demo model in headless Chromium, the
 * first time (download into IndexedDB + upload + kernels) and again after a reload (from the weight cache). Serves
 * the built `dist/` (run `vite build` first) with `vite preview`, uses the e2e browser flags, prints one line per
 * load, the load phases with their times, and the longest gap between animation frames.
 *
 * usage: node scripts/bench-load.mjs [--runs 2] [--port 4299] [--dist dist]
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium } from '@playwright/test';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const port = opt('port', 4299);
const reloads = opt('runs', 2);
const base = `http://localhost:${port}`;
const di = args.indexOf('--dist');
const dist = di >= 0 ? args[di + 1] : 'dist';

const server = spawn('npx', ['vite', 'preview', '--port', String(port), '--strictPort', '--outDir', dist], { stdio: 'ignore', detached: true });
const stop = () => {
  try {
    process.kill(-server.pid);
  } catch {
    /* already gone */
  }
};
process.on('exit', stop);
for (let i = 0; ; i++) {
  try {
    if ((await fetch(base)).ok) break;
  } catch {
    /* not up yet */
  }
  if (i > 100) throw new Error('vite preview did not start');
  await new Promise((r) => setTimeout(r, 300));
}

const SYSTEM_CHROMIUM = '/usr/bin/chromium';
const browser = await chromium.launch({
  ...(existsSync(SYSTEM_CHROMIUM) ? { executablePath: SYSTEM_CHROMIUM } : {}),
  args: ['--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-unsafe-webgpu'],
});
const context = await browser.newContext();
const page = await context.newPage();
await page.addInitScript(() => {
  // Longest gap between animation frames and the load phases as the UI shows them.
  const w = window;
  w.__maxGap = 0;
  w.__phases = [];
  let last = performance.now();
  const tick = (t) => {
    w.__maxGap = Math.max(w.__maxGap, t - last);
    last = t;
    const bar = document.querySelector('[role="progressbar"][aria-label="Loading model"]');
    const phase = bar?.getAttribute('data-phase') ?? document.querySelector('[data-testid="load-status"]')?.getAttribute('data-state') ?? '';
    if (phase && w.__phases.at(-1)?.phase !== phase) w.__phases.push({ phase, at: Math.round(t) });
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
});

async function timeLoad(label) {
  const t0 = Date.now();
  await page.waitForSelector('[data-testid="load-status"][data-state="ready"], [data-testid="load-status"][data-state="error"]', { timeout: 900_000 });
  const state = await page.getAttribute('[data-testid="load-status"]', 'data-state');
  const ms = Date.now() - t0;
  const { maxGap, phases } = await page.evaluate(() => ({ maxGap: window.__maxGap, phases: window.__phases }));
  if (state !== 'ready') throw new Error(`${label}: ${await page.textContent('[data-testid="load-status"]')}`);
  console.log(`${label}: ${(ms / 1000).toFixed(1)} s (longest frame gap ${Math.round(maxGap)} ms)`);
  for (const p of phases) console.log(`  ${(p.at / 1000).toFixed(1).padStart(6)} s  ${p.phase}`);
  return ms;
}

await page.goto(base + '/');
await timeLoad('first load (download + upload + kernels)');
for (let i = 0; i < reloads; i++) {
  await page.reload();
  await timeLoad(`load from cache #${i + 1}`);
}
await browser.close();
stop();
process.exit(0);
