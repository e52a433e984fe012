/**
 * @file Foundation e2e: the built app serves, each route renders its page, and the engine worker gets a
 * WebGPU adapter (SwiftShader in headless Chromium here) and completes a protocol round trip. No adapter is a
 * failure with the worker's own message, never a skip.
 */
import { expect, test, type Page } from '@playwright/test';

/** Fails the test on any uncaught page error or console error (a broken worker import shows up here). */
function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
  });
  return errors;
}

const PAGES = [
  { route: 'chat', heading: 'Chat' },
  { route: 'compare', heading: 'Compare' },
  { route: 'models', heading: 'Models' },
  { route: 'settings', heading: 'Settings' },
] as const;

test('each route renders its page and the nav marks it current', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1, name: 'Chat' })).toBeVisible();
  const nav = page.getByRole('navigation', { name: 'Main' });
  for (const p of PAGES) {
    await nav.getByRole('link', { name: p.heading, exact: true }).click();
    await expect(page).toHaveURL(new RegExp(`#/${p.route}$`));
    await expect(page.getByRole('heading', { level: 1, name: p.heading })).toBeVisible();
    await expect(nav.getByRole('link', { name: p.heading, exact: true })).toHaveAttribute('aria-current', 'page');
  }
  // Direct loads by URL work too (hash routes need no server rewrite).
  for (const p of PAGES) {
    await page.goto(`/#/${p.route}`);
    await expect(page.getByRole('heading', { level: 1, name: p.heading })).toBeVisible();
  }
  await page.goto('/#/nowhere');
  await expect(page.getByRole('heading', { level: 1, name: 'Page not found' })).toBeVisible();
  expect(errors).toEqual([]);
});

test('the engine worker gets a WebGPU adapter and round-trips a ping', async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto('/#/settings');
  const diag = page.getByRole('status', { name: 'Engine diagnostics' });
  await expect(diag).toBeVisible();
  await expect(diag).not.toHaveAttribute('data-state', 'running');
  const state = await diag.getAttribute('data-state');
  const text = (await diag.innerText()).replace(/\s+/g, ' ');
  console.log(`diagnostics (${state}): ${text}`);
  expect(state, `the engine worker got no WebGPU adapter: ${text}`).toBe('ok');

  await expect(page.getByTestId('diag-ping')).toHaveText(/sent 'hello', got 'hello' back in \d+ ms/);
  const adapter = await page.getByTestId('diag-adapter').innerText();
  expect(adapter.trim()).not.toBe('unknown');
  await expect(page.getByTestId('diag-fallback')).toHaveText(/^(yes|no)$/);
  await expect(page.getByTestId('diag-features')).toHaveText(/f16 (yes|no), subgroups (yes|no), timestampQuery (yes|no)/);

  // A second run starts a fresh worker and succeeds again (the first one released its device).
  await page.getByRole('button', { name: 'Run again' }).click();
  await expect(diag).toHaveAttribute('data-run', '2');
  await expect(diag).toHaveAttribute('data-state', 'ok');
  expect(errors).toEqual([]);
});

test('the theme follows the system and the setting overrides it', async ({ page }) => {
  const html = page.locator('html');
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto('/#/settings');
  await expect(html).toHaveClass(/\bdark\b/);
  await page.emulateMedia({ colorScheme: 'light' });
  await expect(html).not.toHaveClass(/\bdark\b/);
  await page.getByRole('radio', { name: 'Dark' }).check();
  await expect(html).toHaveClass(/\bdark\b/);
  await page.reload();
  await expect(html).toHaveClass(/\bdark\b/);
  await page.getByRole('radio', { name: 'Follow the system' }).check();
  await expect(html).not.toHaveClass(/\bdark\b/);
});
