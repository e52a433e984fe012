/**
 * @file Issue 22, items 4, 7 and 8 (the first hour of a new user): the benchmark page offers the load and runs a
 * run sized to the adapter with progress and time left; a model added by URL is described from its GGUF header
 * (ranged reads of the bundled demo, served by a local Range server) with one size on every page; Compare's
 * picker can be searched, is grouped by engine and shows the fit verdict beside each model.
 */
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { readBytes, startShardServer } from './server/shardServer.ts';

const DEMO_DIR = 'public/models/brix-demo-30m';
const PARTS = ['brix-demo-30m-q8_0-00001-of-00002.gguf', 'brix-demo-30m-q8_0-00002-of-00002.gguf'];

test('4: the benchmark page opened directly offers the load, runs a default sized to the adapter, shows progress and time left', async ({ page }) => {
  test.setTimeout(600_000); // a SwiftShader load (~30 s) and the short run (~20–60 s) on a busy runner
  await page.goto('/#/settings');
  const bench = page.getByRole('region', { name: 'Benchmark' });
  await expect(bench).toContainText('No model is loaded.');
  await bench.getByRole('button', { name: 'Load Brix Demo 30M' }).click();
  const run = bench.getByRole('button', { name: 'Run benchmark' });
  await expect(run.or(page.getByTestId('load-status').and(page.locator('[data-state="error"]')))).toBeVisible({ timeout: 300_000 });
  await expect(run, 'the demo model did not load').toBeEnabled();

  // SwiftShader is a software adapter: the short default, said so.
  await expect(bench.getByTestId('bench-sizing')).toContainText('software adapter');
  await expect(bench.getByRole('spinbutton', { name: 'Prompt tokens' })).toHaveValue('4');
  await expect(bench.getByRole('spinbutton', { name: 'Tokens to generate' })).toHaveValue('2');
  await expect(bench.getByRole('spinbutton', { name: 'Runs' })).toHaveValue('1');

  // Every progress line shown, kept as it changes (a step can pass between two polls).
  await page.evaluate(() => {
    const seen: string[] = [];
    Object.assign(window, { benchProgressSeen: seen });
    new MutationObserver(() => {
      const t = document.querySelector('[data-testid="bench-progress"]')?.textContent ?? '';
      if (t && seen[seen.length - 1] !== t) seen.push(t);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await run.click();
  await expect(bench.getByRole('progressbar', { name: 'Benchmark progress' })).toBeVisible();
  const result = page.getByRole('status', { name: 'Benchmark result' });
  await expect(result).toHaveAttribute('data-state', /^(done|error)$/, { timeout: 240_000 });
  expect(await result.getAttribute('data-state'), await result.innerText()).toBe('done');
  await expect(page.getByTestId('bench-prefill')).toHaveText(/^[\d.]+ tok\/s \(4 tokens\)$/);
  await expect(page.getByTestId('bench-decode')).toHaveText(/^[\d.]+ tok\/s \(2 tokens\)$/);
  await expect(result).toContainText('Over 1 run');

  const seen = await page.evaluate(() => {
    const v: unknown = Reflect.get(window, 'benchProgressSeen');
    return Array.isArray(v) ? v.map(String) : [];
  });
  const text = seen.join('\n');
  expect(text).toMatch(/Run 1 of 2 \(warm-up\) · prefill of 4 tokens · estimating time left/);
  expect(text).toMatch(/Run 1 of 2 \(warm-up\) · decode, [12] of 2 tokens · about (\d+ min )?\d+ s left/);
  expect(text).toMatch(/Run 2 of 2 · (prefill of 4 tokens|decode, [0-2] of 2 tokens) · about (\d+ min )?\d+ s left/);
});

test('7: a model added by URL is described from its GGUF header by ranged reads; sizes agree between pages', async ({ page }) => {
  const srv = await startShardServer();
  try {
    let total = 0;
    for (const f of PARTS) {
      const b = readBytes(path.join(DEMO_DIR, f));
      total += b.byteLength;
      srv.addFile(f, b);
    }
    await page.goto('/#/models');
    await page.getByRole('textbox', { name: 'Model URL' }).fill(`${srv.origin}/files/${PARTS[0]}`);
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    const card = page.getByTestId('model-card').filter({ has: page.getByRole('heading', { name: 'brix-demo-30m-q8_0', exact: true }) });
    const details = card.locator('dl');
    await expect(details).toContainText('Architecturedbrx');
    await expect(details).toContainText('29.7M total, 20.2M active per token');
    await expect(details).toContainText('Experts16, 4 per token');
    await expect(details).toContainText('Context2,048 tokens');
    await expect(details).toContainText(/QuantizationQ8_0 \d+ %, Q4_0 \d+ %/);
    await expect(details).toContainText('Licensecc0-1.0');
    await expect(details).toContainText('Size28.6 MB');
    await expect(card).toContainText('Not downloaded.');
    // Only the headers travelled, not the weights.
    const sent = srv.bytesSent(PARTS[0]) + srv.bytesSent(PARTS[1]);
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(0.1 * total);

    // One size on every page: the bundled demo and Granite 1B on Models and in Compare's picker.
    const demo = page.getByTestId('model-card').filter({ has: page.getByRole('heading', { name: 'Brix Demo 30M', exact: true }) });
    await expect(demo.locator('dl')).toContainText('Size28.6 MB');
    const granite = page.getByTestId('model-card').filter({ has: page.getByRole('heading', { name: 'Granite 3.1 1B A400M Instruct', exact: true }) });
    await expect(granite.locator('dl')).toContainText('Sizeabout 820 MB');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Compare', exact: true }).click();
    const box = page.getByRole('region', { name: 'Pane 1' }).getByRole('combobox', { name: 'Model', exact: true });
    await expect(box.locator('option[value="brix:brix-demo-30m"]')).toHaveText(/^Brix Demo 30M \(28\.6 MB\)/);
    await expect(box.locator('option', { hasText: 'Granite 3.1 1B A400M Instruct' }).first()).toHaveText(/\(about 820 MB\)/);
    await expect(box.locator('option', { hasText: 'brix-demo-30m-q8_0' }).first()).toHaveText(/\(28\.6 MB\)/);
  } finally {
    await srv.close();
  }
});

test("8: Compare's picker: search, one group per engine, the fit verdict beside each model", async ({ page }) => {
  await page.goto('/#/compare');
  const pane = page.getByRole('region', { name: 'Pane 1' });
  const box = pane.getByRole('combobox', { name: 'Model', exact: true });
  await expect(box.locator('optgroup[label^="WebLLM"] option').first()).toBeAttached({ timeout: 30_000 });
  const all = await box.locator('option:not([value=""])').count();
  expect(all).toBeGreaterThan(50);
  const groups = await box.locator('optgroup').evaluateAll((gs) => gs.map((g) => g.getAttribute('label')));
  expect(groups[0]).toBe('Brix (this tab, our engine)');
  expect(groups).toContain('WebLLM (this tab, downloads from the internet)');
  // Every model carries the memory check's verdict once the adapter is known.
  const verdict = / · (fits|tight fit|does not fit|size unknown)$/;
  await expect(box.locator('option[value="brix:brix-demo-30m"]')).toHaveText(verdict, { timeout: 30_000 });
  const texts = await box.locator('optgroup[label^="WebLLM"] option').allInnerTexts();
  expect(texts.filter((t) => !verdict.test(t.trim()))).toEqual([]);
  expect(await box.locator('option:not([value=""])').evaluateAll((os) => os.filter((o) => !o.hasAttribute('data-fit')).length)).toBe(0);

  const search = pane.getByRole('searchbox', { name: 'Search models' });
  await search.fill('demo 30m');
  const found = await box.locator('option:not([value=""])').allInnerTexts();
  expect(found.length).toBeGreaterThan(0);
  expect(found.length).toBeLessThan(all);
  for (const t of found) expect(t).toMatch(/demo 30m/i);
  await expect(pane.getByTestId('model-count')).toHaveText(`${found.length} of ${all} models match`);
  await box.selectOption('brix:brix-demo-30m');
  // The picked model stays listed while the search changes.
  await search.fill('llama 70b');
  await expect(box).toHaveValue('brix:brix-demo-30m');
  for (const t of await box.locator('option:not([value=""]):not([value="brix:brix-demo-30m"])').allInnerTexts()) expect(t).toMatch(/70b/i);
  await search.fill('');
  await expect(box.locator('option:not([value=""])')).toHaveCount(all);
});
