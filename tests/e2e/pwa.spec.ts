/**
 * @file The installable, offline app: a valid web app manifest (name, standalone, theme, PNG icons 192/512 and
 * a maskable one, all served), a service worker that controls the page and precaches the app shell but no model
 * weights, the app opening offline, and (with the engine) a chat offline with the cached demo model.
 */
import { expect, test, type Page } from '@playwright/test';

async function waitForController(page: Page): Promise<void> {
  await page.waitForFunction(() => navigator.serviceWorker?.controller !== null && navigator.serviceWorker?.controller !== undefined, undefined, { timeout: 30_000 });
}

function pngSize(buf: Buffer): { w: number; h: number } {
  expect(buf.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  return { w: buf.readUInt32BE(16), h: buf.readUInt32BE(20) };
}

test('the web app manifest is valid and its icons are served', async ({ page, request }) => {
  await page.goto('/');
  const href = await page.locator('link[rel="manifest"]').getAttribute('href');
  expect(href).toBeTruthy();
  const res = await request.get(new URL(href ?? '', page.url()).href);
  expect(res.ok()).toBe(true);
  const m: unknown = await res.json();
  expect(m).toMatchObject({ name: 'Brix', short_name: 'Brix', display: 'standalone', start_url: './', theme_color: '#0f766e' });
  const icons = (m as { icons: { src: string; sizes: string; type: string; purpose?: string }[] }).icons;
  const want = [
    { sizes: '192x192', purpose: 'any' },
    { sizes: '512x512', purpose: 'any' },
    { sizes: '512x512', purpose: 'maskable' },
  ];
  for (const w of want) {
    const icon = icons.find((i) => i.sizes === w.sizes && (i.purpose ?? 'any') === w.purpose);
    expect(icon, `${w.sizes} ${w.purpose} icon`).toBeDefined();
    expect(icon?.type).toBe('image/png');
    const img = await request.get(new URL(icon?.src ?? '', res.url()).href);
    expect(img.ok()).toBe(true);
    const [width, height] = w.sizes.split('x').map(Number);
    expect(pngSize(await img.body())).toEqual({ w: width, h: height });
  }
  await expect(page.locator('meta[name="theme-color"]')).toHaveAttribute('content', '#0f766e');
});

test('the service worker controls the page, precaches the shell but not the weights, and the app opens offline', async ({ page, context }) => {
  await page.goto('/#/settings');
  await waitForController(page);
  const cached = await page.evaluate(async () => {
    const urls: string[] = [];
    for (const name of await caches.keys()) {
      for (const req of await (await caches.open(name)).keys()) urls.push(req.url);
    }
    return urls;
  });
  expect(cached.some((u) => /\/index\.html/.test(u))).toBe(true);
  expect(cached.some((u) => /\/assets\/index-[^/]+\.js/.test(u))).toBe(true);
  // The engine host: a dedicated worker, or a SharedWorker where the browser has them.
  expect(cached.some((u) => /host\.worker-[^/]+\.js/.test(u))).toBe(true);
  expect(cached.some((u) => /host\.shared-[^/]+\.js/.test(u))).toBe(true);
  expect(cached.filter((u) => /\.gguf/.test(u))).toEqual([]);

  await context.setOffline(true);
  try {
    await page.reload();
    await expect(page.getByRole('heading', { level: 1, name: 'Settings' })).toBeVisible();
    await page.goto('/#/chat');
    await expect(page.getByRole('textbox', { name: 'Message' })).toBeVisible();
    // The engine worker script comes from the precache too: the diagnostics ping still answers.
    await page.goto('/#/settings');
    await expect(page.getByRole('status', { name: 'Engine diagnostics' })).toHaveAttribute('data-state', /^(ok|no-gpu)$/);
  } finally {
    await context.setOffline(false);
  }
});

test('offline: reload and chat with the cached demo model', async ({ page, context }) => {
  test.setTimeout(1_200_000); // SwiftShader on a busy runner: minutes to load, minutes per short answer
  await page.addInitScript(() => {
    if (localStorage.getItem('brix.settings') === null) {
      localStorage.setItem(
        'brix.settings',
        JSON.stringify({ state: { theme: 'system', sampling: { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, maxTokens: 4, seed: 1, randomSeed: false }, contextSize: 512 }, version: 1 }),
      );
    }
  });
  await page.goto('/#/chat');
  await waitForController(page);
  const status = page.getByTestId('load-status');
  await expect(status).toHaveAttribute('data-state', /^(ready|error)$/, { timeout: 300_000 });
  expect(await status.getAttribute('data-state'), await status.innerText()).toBe('ready');

  await context.setOffline(true);
  try {
    await page.reload();
    await expect(status).toHaveAttribute('data-state', /^(ready|error)$/, { timeout: 300_000 });
    expect(await status.getAttribute('data-state'), await status.innerText()).toBe('ready');
    await page.getByRole('textbox', { name: 'Message' }).fill('Hello!');
    await page.getByRole('textbox', { name: 'Message' }).press('Enter');
    const answer = page.getByRole('article', { name: /^Assistant message from Brix Demo 30M/ });
    await expect(answer).toBeVisible({ timeout: 400_000 });
    await expect(answer.getByTestId('message-stats')).toContainText('tok/s');
  } finally {
    await context.setOffline(false);
  }
});
