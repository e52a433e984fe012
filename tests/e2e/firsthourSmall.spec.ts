/**
 * @file The small things a new user hits in the first hour (issue 22, item 10), each a test of seconds with no
 * model load: deleting a download asks first, the conversation menu closes when another chat opens, the phone
 * layout (390 px) clips no placeholder and keeps the nav off the edge, radios and checkboxes take the theme's
 * colour, and the pages other than Chat scroll with the window. (Distinct titles: tests/unit/appStore.test.ts.)
 */
import { expect, test, type Page } from '@playwright/test';
import { putConversations } from './seedChats.ts';

/** Not cached in a fresh profile: the chat page does not auto-load it (the bundled demo would load). */
const UNCACHED_MODEL = 'granite-3.1-1b-a400m-instruct-q4_k_m';

async function noAutoLoad(page: Page): Promise<void> {
  await page.addInitScript((model) => localStorage.setItem('brix.selectedModel', JSON.stringify(model)), UNCACHED_MODEL);
}

/** Two stored conversations, "Whales" (open) and "Serendipity", written before the app reads them. */
async function seedChats(page: Page): Promise<void> {
  await page.addInitScript(() => localStorage.setItem('brix.activeChat', JSON.stringify('c1')));
  const now = Date.now();
  const base = { titleEdited: false, systemPrompt: '' };
  await putConversations(page, [
    { ...base, id: 'c1', title: 'Whales', createdAt: now, updatedAt: now, messages: [{ id: 'm1', role: 'user', content: 'Whales?', createdAt: now }] },
    { ...base, id: 'c2', title: 'Serendipity', createdAt: now - 1, updatedAt: now - 1, messages: [{ id: 'm2', role: 'user', content: 'Serendipity?', createdAt: now }] },
  ]);
}

test('10: deleting the bundled model\'s download asks first', async ({ page }) => {
  await page.goto('/#/models');
  const card = page.locator('[data-testid="model-card"][data-model-id="brix-demo-30m"]');
  const state = card.getByTestId('cache-state');
  await card.getByRole('button', { name: 'Download', exact: true }).click();
  await expect(state).toHaveText(/^Downloaded/);
  await card.getByRole('button', { name: 'Delete download' }).click();
  const confirm = card.getByRole('group', { name: 'Confirm delete' });
  await expect(confirm).toBeVisible();
  // It says what comes back and from where (the bundled model: this site), and Keep is where focus lands.
  await expect(confirm).toContainText(/downloaded again from this site/);
  await expect(confirm.getByRole('button', { name: 'Keep' })).toBeFocused();
  await expect(state).toHaveText(/^Downloaded/);
  await confirm.getByRole('button', { name: 'Keep' }).click();
  await expect(confirm).toHaveCount(0);
  await expect(state).toHaveText(/^Downloaded/);
  await expect(card.getByRole('button', { name: 'Delete download' })).toBeFocused();
  await card.getByRole('button', { name: 'Delete download' }).click();
  await card.getByRole('group', { name: 'Confirm delete' }).getByRole('button', { name: 'Delete', exact: true }).click();
  await expect(state).toHaveText('Not downloaded.');
});

test('10: the conversation menu closes when another chat opens', async ({ page }) => {
  await noAutoLoad(page);
  await seedChats(page);
  await page.goto('/#/chat');
  await page.getByRole('button', { name: /^Rename, export, delete/ }).click();
  await expect(page.getByRole('group', { name: 'Actions for Whales' })).toBeVisible();
  await page.getByRole('button', { name: 'Serendipity', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Serendipity' })).toBeVisible();
  await expect(page.getByRole('group', { name: 'Actions for Whales' })).toHaveCount(0);
  await page.getByRole('button', { name: 'Whales', exact: true }).click();
  await expect(page.getByRole('button', { name: /^Rename, export, delete/ })).toBeVisible();
  await expect(page.getByRole('group', { name: 'Actions for Whales' })).toHaveCount(0);
});

/** Placeholders wider than their box (a one-row box shows one line of it), and what sticks out of the viewport. */
async function layoutFaults(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const faults: string[] = [];
    const ctx = document.createElement('canvas').getContext('2d');
    if (!ctx) return ['no 2d canvas'];
    for (const el of document.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>('input[placeholder], textarea[placeholder]')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || el.value !== '') continue;
      const cs = getComputedStyle(el);
      ctx.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
      const need = ctx.measureText(el.placeholder).width;
      const room = (el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight)) * (el instanceof HTMLTextAreaElement ? el.rows : 1);
      if (need > room) faults.push(`placeholder "${el.placeholder}" needs ${Math.round(need)} px, has ${Math.round(room)}`);
    }
    const vw = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth > vw) faults.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${vw}`);
    const links = document.querySelectorAll('nav[aria-label="Main"] a');
    const last = links[links.length - 1];
    const right = last ? last.getBoundingClientRect().right : 0;
    if (right > vw - 8) faults.push(`nav's last link ends ${Math.round(vw - right)} px from the right edge`);
    return faults;
  });
}

test.describe('10: phone layout (390 px)', () => {
  test.use({ viewport: { width: 390, height: 844 } });

  test('no placeholder is clipped and the nav keeps off the right edge, on every page', async ({ page }) => {
    await noAutoLoad(page);
    const found: string[] = [];
    for (const route of ['chat', 'compare', 'models', 'settings']) {
      await page.goto(`/#/${route}`);
      await expect(page.locator('main h1').first()).toBeAttached();
      found.push(...(await layoutFaults(page)).map((f) => `${route}: ${f}`));
    }
    expect(found, found.join('\n')).toEqual([]);
  });
});

/** Each radio's and checkbox's accent colour, and its contrast with the page's background (any CSS colour, via a 2d canvas). */
async function accents(page: Page): Promise<{ type: string; accent: string; contrast: number }[]> {
  return page.evaluate(() => {
    const ctx = document.createElement('canvas').getContext('2d', { willReadFrequently: true });
    const luminance = (css: string): number => {
      if (!ctx) return NaN;
      ctx.clearRect(0, 0, 1, 1);
      ctx.fillStyle = css;
      ctx.fillRect(0, 0, 1, 1);
      const [r, g, b] = [...ctx.getImageData(0, 0, 1, 1).data].map((v) => (v / 255 <= 0.04045 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4));
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const bg = luminance(getComputedStyle(document.documentElement).backgroundColor);
    return [...document.querySelectorAll<HTMLInputElement>('input[type=radio], input[type=checkbox]')].map((i) => {
      const accent = getComputedStyle(i).accentColor;
      const l = accent === 'auto' ? NaN : luminance(accent);
      return { type: i.type, accent, contrast: (Math.max(l, bg) + 0.05) / (Math.min(l, bg) + 0.05) };
    });
  });
}

test('10: radio buttons and checkboxes take the theme colour, in both themes', async ({ page }) => {
  await noAutoLoad(page);
  const found: string[] = [];
  for (const theme of ['Light', 'Dark'] as const) {
    await page.goto('/#/settings');
    await page.getByRole('radio', { name: theme }).check();
    await expect(page.locator('html')).toHaveClass(theme === 'Dark' ? /\bdark\b/ : /^(?!.*\bdark\b)/);
    for (const route of ['settings', 'compare']) {
      await page.goto(`/#/${route}`);
      await expect(page.locator('main h1').first()).toBeAttached();
      const inputs = await accents(page);
      // Settings has the theme radios and the random-seed checkbox, Compare the blind-mode checkbox.
      expect(inputs.map((i) => i.type)).toContain(route === 'settings' ? 'radio' : 'checkbox');
      for (const i of inputs) {
        if (i.accent === 'auto') found.push(`${theme} ${route}: a ${i.type} with the browser's accent colour`);
        // WCAG 1.4.11: a control's state needs 3:1 against what is around it.
        else if (!(i.contrast >= 3)) found.push(`${theme} ${route}: a ${i.type}'s ${i.accent} has ${i.contrast.toFixed(2)}:1 on the page`);
      }
    }
  }
  expect(found).toEqual([]);
});

test('10: the Models page scrolls with the window, not inside a box', async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 600 });
  await page.goto('/#/models');
  await expect(page.locator('[data-testid="model-card"]').first()).toBeVisible();
  const inner = await page.evaluate(() =>
    [...document.querySelectorAll('body *')]
      .filter((el) => {
        const o = getComputedStyle(el).overflowY;
        return (o === 'auto' || o === 'scroll') && el.scrollHeight > el.clientHeight + 1 && el.clientHeight > 200;
      })
      .map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className.toString().slice(0, 40)}`),
  );
  expect(inner).toEqual([]);
  await page.mouse.wheel(0, 800);
  await expect.poll(() => page.evaluate(() => window.scrollY)).toBeGreaterThan(0);
});
