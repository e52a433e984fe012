/**
 * @file Settings: sampling defaults and context size are clamped and persist over a reload; the WebGPU
 * diagnostics stay; and with the engine, the one-click benchmark of the loaded demo model (the worker's `bench`,
 * the CLI's measurement) reports prefill and decode tok/s, their spread and the roofline, and copies its result.
 */
import { expect, test } from '@playwright/test';

test('sampling settings are clamped, persist over a reload and reset to defaults', async ({ page }) => {
  await page.goto('/#/settings');
  const temp = page.getByRole('spinbutton', { name: 'Temperature' });
  await expect(temp).toHaveValue('0.7');
  await temp.fill('5');
  await temp.press('Enter');
  await expect(temp).toHaveValue('2');
  await page.getByRole('spinbutton', { name: 'Top-k' }).fill('12.6');
  await page.getByRole('spinbutton', { name: 'Top-k' }).press('Tab');
  await expect(page.getByRole('spinbutton', { name: 'Top-k' })).toHaveValue('13');
  await page.getByRole('spinbutton', { name: 'Max tokens' }).fill('64');
  await page.getByRole('spinbutton', { name: 'Max tokens' }).press('Tab');
  await page.getByRole('checkbox', { name: /New random seed for each answer/ }).uncheck();
  await page.getByRole('spinbutton', { name: 'Seed' }).fill('1234');
  await page.getByRole('spinbutton', { name: 'Seed' }).press('Tab');
  await page.getByRole('spinbutton', { name: 'Context size' }).fill('1000');
  await page.getByRole('spinbutton', { name: 'Context size' }).press('Tab');
  const arithmetic = page.getByRole('combobox', { name: 'Arithmetic' });
  await expect(arithmetic).toHaveValue('auto');
  await arithmetic.selectOption('int8');

  await page.reload();
  await expect(arithmetic).toHaveValue('int8');
  await expect(temp).toHaveValue('2');
  await expect(page.getByRole('spinbutton', { name: 'Top-k' })).toHaveValue('13');
  await expect(page.getByRole('spinbutton', { name: 'Max tokens' })).toHaveValue('64');
  await expect(page.getByRole('spinbutton', { name: 'Seed' })).toHaveValue('1234');
  await expect(page.getByRole('checkbox', { name: /New random seed for each answer/ })).not.toBeChecked();
  await expect(page.getByRole('spinbutton', { name: 'Context size' })).toHaveValue('1000');

  await page.getByRole('button', { name: 'Reset to defaults' }).click();
  await expect(temp).toHaveValue('0.7');
  await expect(page.getByRole('checkbox', { name: /New random seed for each answer/ })).toBeChecked();
  await expect(page.getByRole('status', { name: 'Engine diagnostics' })).toBeVisible();
});

test('benchmark of the loaded demo model: prefill and decode tok/s, spread, roofline, copyable', async ({ page, context }) => {
  test.setTimeout(900_000); // SwiftShader on a busy runner
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await page.goto('/#/chat');
  const status = page.getByTestId('load-status');
  await expect(status).toHaveAttribute('data-state', /^(ready|error)$/, { timeout: 300_000 });
  expect(await status.getAttribute('data-state'), `the demo model did not load: ${await status.innerText()}`).toBe('ready');

  await page.getByRole('link', { name: 'Settings', exact: true }).click();
  // Small: SwiftShader runs the demo model at about a token per second.
  await page.getByRole('spinbutton', { name: 'Prompt tokens' }).fill('8');
  await page.getByRole('spinbutton', { name: 'Tokens to generate' }).fill('4');
  await page.getByRole('spinbutton', { name: 'Runs' }).fill('2');
  await page.getByRole('button', { name: 'Run benchmark' }).click();
  const result = page.getByRole('status', { name: 'Benchmark result' });
  await expect(result).toHaveAttribute('data-state', /^(done|error)$/, { timeout: 500_000 });
  expect(await result.getAttribute('data-state'), await result.innerText()).toBe('done');
  await expect(page.getByTestId('bench-prefill')).toHaveText(/^[\d.]+ tok\/s \(8 tokens\)$/);
  await expect(page.getByTestId('bench-decode')).toHaveText(/^[\d.]+ tok\/s \(4 tokens\)$/);
  await expect(page.getByTestId('bench-spread')).toHaveText(/^prefill [\d.]+ \([\d.]+–[\d.]+\), decode [\d.]+ \([\d.]+–[\d.]+\) tok\/s$/);
  await expect(page.getByTestId('bench-roofline')).toHaveText(/^[\d.]+ % of [\d.]+ tok\/s \([\d.]+ GB\/s read, [\d.]+ MiB per token\)$/);
  await result.getByRole('button', { name: 'Copy result' }).click();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  expect(copied).toMatch(/^Brix benchmark/);
  expect(copied).toContain('model: Brix Demo 30M (dbrx');
  expect(copied).toMatch(/decode: 4 tokens, [\d.]+ tok\/s/);
  expect(copied).toMatch(/runs: 2 after a warm-up/);
  expect(copied).toMatch(/roofline: decode at [\d.]+ % of/);
});
