/**
 * @file What a new user hits in the first hour (issue 22), each in a short test that needs no model load except
 * the repaint one: readable text controls in both themes (the edit box), the offline toast covering nothing, a
 * browser whose WebGPU finds no adapter (no download, sending disabled, advice for that browser), and the page
 * painting during a load.
 */
import { expect, test, type Page } from '@playwright/test';
import { putConversations } from './seedChats.ts';

/** Hides navigator.gpu in the page (not the worker): no auto-load, so these tests cost seconds. */
async function noGpuInPage(page: Page): Promise<void> {
  await page.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
}

async function seedTheme(page: Page, theme: 'light' | 'dark'): Promise<void> {
  await page.addInitScript((t) => {
    localStorage.setItem('brix.settings', JSON.stringify({ state: { theme: t }, version: 2 }));
  }, theme);
}

/** One stored conversation with a user message, written into the chats database before the app reads it. */
async function seedConversation(page: Page): Promise<void> {
  const now = Date.now();
  await putConversations(page, [
    {
      id: 'c1',
      title: 'Seeded',
      titleEdited: false,
      systemPrompt: '',
      createdAt: now,
      updatedAt: now,
      messages: [{ id: 'm1', role: 'user', content: 'Edit me please', createdAt: now }],
    },
  ]);
}

/** Contrast ratio of every visible, enabled text control against the background it is drawn on. */
async function controlContrasts(page: Page): Promise<{ what: string; ratio: number }[]> {
  return page.evaluate(() => {
    // Tailwind 4 colours are oklch(): let a canvas turn any CSS colour into sRGB bytes.
    const cv = document.createElement('canvas').getContext('2d', { willReadFrequently: true });
    const rgb = (c: string): [number, number, number, number] => {
      if (!cv) throw new Error('no 2d canvas');
      cv.clearRect(0, 0, 1, 1);
      cv.fillStyle = c;
      cv.fillRect(0, 0, 1, 1);
      const d = cv.getImageData(0, 0, 1, 1).data;
      return [d[0], d[1], d[2], d[3] / 255];
    };
    const lum = ([r, g, b]: number[]): number => {
      const f = (v: number): number => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = (el: Element | null): [number, number, number, number] => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c[3] > 0.5) return c;
      }
      return [255, 255, 255, 1];
    };
    const out: { what: string; ratio: number }[] = [];
    for (const el of document.querySelectorAll<HTMLElement>('textarea, input:not([type=checkbox]):not([type=radio]):not([type=range]), select, button')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || (el as HTMLButtonElement).disabled) continue;
      const fg = lum(rgb(getComputedStyle(el).color));
      const bg = lum(background(el));
      const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
      out.push({ what: `${el.tagName.toLowerCase()} "${el.getAttribute('aria-label') ?? el.textContent?.trim().slice(0, 30) ?? ''}"`, ratio: Math.round(ratio * 100) / 100 });
    }
    return out;
  });
}

for (const theme of ['light', 'dark'] as const) {
  test(`1: the edit box and every text control are readable (${theme} theme)`, async ({ page }) => {
    await noGpuInPage(page);
    await seedTheme(page, theme);
    await seedConversation(page);
    await page.goto('/#/chat');
    await page.getByRole('button', { name: 'Seeded' }).first().click();
    await page.getByRole('button', { name: 'Edit', exact: true }).click();
    const box = page.getByRole('textbox', { name: 'Edit message' });
    await expect(box).toHaveValue('Edit me please');
    const low = (await controlContrasts(page)).filter((c) => c.ratio < 4.5);
    expect(low, JSON.stringify(low)).toEqual([]);
    for (const route of ['settings', 'models', 'compare'] as const) {
      await page.goto(`/#/${route}`);
      await expect(page.locator('main h1, main h2').first()).toBeVisible();
      const bad = (await controlContrasts(page)).filter((c) => c.ratio < 4.5);
      expect(bad, `${route}: ${JSON.stringify(bad)}`).toEqual([]);
    }
  });
}

test('5: the "ready to work offline" notice covers nothing', async ({ page }) => {
  await noGpuInPage(page);
  await page.goto('/');
  const toast = page.getByTestId('pwa-toast');
  await expect(toast).toBeVisible({ timeout: 30_000 });
  const t = await toast.boundingBox();
  expect(t).not.toBeNull();
  // Nothing outside the notice may lie under it.
  const covered = await page.evaluate(() => {
    const toastEl = document.querySelector('[data-testid="pwa-toast"]');
    if (!toastEl) return ['no toast'];
    const tr = toastEl.getBoundingClientRect();
    const hits: string[] = [];
    for (const el of document.querySelectorAll('button, select, input, textarea, a')) {
      if (toastEl.contains(el)) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      if (r.left < tr.right && r.right > tr.left && r.top < tr.bottom && r.bottom > tr.top) hits.push(el.outerHTML.slice(0, 80));
    }
    return hits;
  });
  expect(covered).toEqual([]);
});

test.describe('6: WebGPU without an adapter', () => {
  // The worker script must come from the network (not the service worker's cache) so the route below can stub it.
  test.use({ serviceWorkers: 'block' });

  test('downloads nothing, disables sending, and says what to do in this browser', async ({ page }) => {
    const modelRequests: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/models/')) modelRequests.push(r.url());
    });
    // The engine host's script, dedicated or shared (a SharedWorker's fetch is the context's, not the page's).
    await page.context().route(/host\.(worker|shared).*\.js$/, async (route) => {
      const res = await route.fetch();
      const stub = 'GPU.prototype.requestAdapter = async function () { return null; };\n';
      await route.fulfill({ response: res, body: stub + (await res.text()) });
    });
    await page.goto('/');
    const notice = page.getByTestId('no-webgpu');
    await expect(notice).toBeVisible({ timeout: 30_000 });
    await expect(notice).toContainText('no GPU adapter');
    await expect(notice).not.toContainText('VK_ICD_FILENAMES');
    await expect(notice).not.toContainText('Node');
    await expect(page.getByRole('textbox', { name: 'Message' })).toBeDisabled();
    await page.waitForTimeout(2000);
    expect(modelRequests).toEqual([]);
  });
});

test('2: the page keeps painting while the demo model loads (no frame gap over 500 ms)', async ({ page }) => {
  test.setTimeout(400_000);
  await page.addInitScript(() => {
    const w = window as unknown as { __maxGap: number };
    w.__maxGap = 0;
    let last = performance.now();
    const tick = (t: number): void => {
      if (document.querySelector('[data-testid="load-status"][data-state="loading"]')) w.__maxGap = Math.max(w.__maxGap, t - last);
      last = t;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  await page.goto('/');
  const bar = page.getByRole('progressbar', { name: 'Loading model' });
  await expect(bar).toHaveAttribute('data-phase', 'compile', { timeout: 300_000 });
  // Progress counts real pipelines: "k of n" with n > 1.
  await expect(bar).toHaveAttribute('aria-valuetext', /Preparing GPU kernels · \d+ of ([2-9]|\d\d+)/);
  const status = page.getByTestId('load-status');
  await expect(status).toHaveAttribute('data-state', /^(ready|error)$/, { timeout: 300_000 });
  expect(await status.getAttribute('data-state'), await status.innerText()).toBe('ready');
  const gap = await page.evaluate(() => (window as unknown as { __maxGap: number }).__maxGap);
  expect(gap).toBeLessThan(500);
});
