/**
 * @file Accessibility (issue 22, item 9): axe-core finds no serious or critical violation on any page, in both
 * themes, with the states a user sees in the first hour (a stopped answer with its stats line, the conversation
 * menu open, an endpoint in Settings, Compare's panes). No model loads: the selected model is one that is not
 * cached, so the first visit downloads nothing and every check costs seconds.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { ROUTES } from '../../app/router.ts';
import { putConversations } from './seedChats.ts';

/** Not cached in a fresh profile: the chat page does not auto-load it (the bundled demo would load). */
const UNCACHED_MODEL = 'granite-3.1-1b-a400m-instruct-q4_k_m';

async function seed(page: Page, theme: 'light' | 'dark'): Promise<void> {
  await page.addInitScript(
    ({ t, model }) => {
      localStorage.setItem('brix.settings', JSON.stringify({ state: { theme: t }, version: 2 }));
      localStorage.setItem('brix.selectedModel', JSON.stringify(model));
      localStorage.setItem('brix.activeChat', JSON.stringify('c1'));
      // An endpoint nobody listens on (port 9, discard): Settings lists it, Compare offers it.
      localStorage.setItem(
        'brix.compare.endpoints',
        JSON.stringify([{ id: 'e1', name: 'Local server', baseUrl: 'http://127.0.0.1:9/v1', model: 'tiny', extendedSampling: false }]),
      );
    },
    { t: theme, model: UNCACHED_MODEL },
  );
  const now = Date.now();
  const stats = {
    promptTokens: 12,
    generatedTokens: 3,
    timeToFirstTokenMs: 850,
    prefillTokensPerSecond: 14.1,
    decodeTokensPerSecond: 0.5,
    totalMs: 6850,
    finishReason: 'abort',
    expertUsage: [],
    truncatedTokens: 0,
  };
  const chats = [
    {
      id: 'c1',
      title: 'Whales',
      titleEdited: false,
      systemPrompt: '',
      createdAt: now,
      updatedAt: now,
      messages: [
        { id: 'm1', role: 'user', content: 'Tell me a short story about a whale.', createdAt: now },
        { id: 'm2', role: 'assistant', content: 'Once upon', createdAt: now, model: 'Brix Demo 30M', stats, finishReason: 'abort', seed: 1 },
      ],
    },
    { id: 'c2', title: 'Serendipity', titleEdited: false, systemPrompt: '', createdAt: now - 1000, updatedAt: now - 1000, messages: [] },
  ];
  await putConversations(page, chats);
}

/** Serious and critical violations, one line each (rule, impact, the first few elements). */
async function violations(page: Page): Promise<string[]> {
  // label-content-name-mismatch is "experimental" in axe, so off by default: the issue names it.
  const r = await new AxeBuilder({ page }).options({ rules: { 'label-content-name-mismatch': { enabled: true } } }).analyze();
  return r.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 4).map((n) => `${n.target.join(' ')} ${n.failureSummary?.split('\n')[1]?.trim() ?? ''}`).join(' | ')}`);
}

for (const theme of ['light', 'dark'] as const) {
  test(`9: no serious or critical axe violation on any page (${theme} theme)`, async ({ page }) => {
    await seed(page, theme);
    const found: string[] = [];
    for (const route of ROUTES) {
      await page.goto(`/#/${route}`);
      await expect(page.locator('main h1').first()).toBeAttached();
      if (route === 'chat') {
        await expect(page.getByText('Stopped.')).toBeVisible();
        await expect(page.getByTestId('message-stats')).toBeVisible();
        found.push(...(await violations(page)).map((v) => `chat: ${v}`));
        await page.getByRole('button', { name: /^Rename, export, delete/ }).click();
        await expect(page.getByRole('group', { name: 'Actions for Whales' })).toBeVisible();
        found.push(...(await violations(page)).map((v) => `chat (menu open): ${v}`));
      } else {
        if (route === 'settings') await expect(page.getByRole('textbox', { name: /name/i }).first()).toBeVisible();
        found.push(...(await violations(page)).map((v) => `${route}: ${v}`));
      }
    }
    expect(found, found.join('\n')).toEqual([]);
  });
}
