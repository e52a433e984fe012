/**
 * @file One engine for every tab, and recovery from a lost GPU, end to end on the real engine (SwiftShader, the
 * bundled 30M demo model, a few greedy tokens). Each model load and answer costs minutes here, so each mode
 * runs what only it can show; the queue, abort and release logic is the same host code in both (unit tests in
 * engineHost.test.ts), and every other e2e spec runs on the default SharedWorker host.
 * - Leader-tab host (Web Locks + BroadcastChannel): the second page reaches a ready model without a second
 *   upload (one model on the GPU, two sessions), both chat, a Stop in one leaves the other's answer intact, and
 *   closing the first (the leader) hands the engine over to the second, which goes on answering.
 * - SharedWorker host (what this Chromium offers): the same one-upload check and closing the first page; then
 *   Diagnostics' "Simulate GPU device loss" during an answer: the notice shows, the answer completes, and the
 *   chat answers again without a reload.
 */
import { expect, test, type BrowserContext, type Page } from '@playwright/test';

const LOAD_MS = 300_000;
const ANSWER_MS = 300_000;

async function seed(context: BrowserContext, maxTokens: number, mode?: string): Promise<void> {
  await context.addInitScript(
    ([n, m]) => {
      if (localStorage.getItem('brix.settings') === null) {
        localStorage.setItem(
          'brix.settings',
          JSON.stringify({ state: { theme: 'system', sampling: { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, maxTokens: n, seed: 1, randomSeed: false }, contextSize: 512 }, version: 1 }),
        );
      }
      if (m) localStorage.setItem('brix.engineHost', String(m));
    },
    [maxTokens, mode ?? ''] as const,
  );
}

async function waitForModel(page: Page): Promise<void> {
  const status = page.getByTestId('load-status');
  await expect(status).toHaveAttribute('data-state', /^(ready|error)$/, { timeout: LOAD_MS });
  expect(await status.getAttribute('data-state'), `the demo model did not load: ${await status.innerText()}`).toBe('ready');
}

async function send(page: Page, text: string): Promise<void> {
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  await box.press('Enter');
}

const answers = (page: Page) => page.getByRole('article', { name: /^Assistant message from/ });

async function settled(page: Page): Promise<void> {
  await expect(page.locator('[data-streaming="true"]')).toHaveCount(0, { timeout: ANSWER_MS });
}

/** The Diagnostics panel's engine host rows, read on `page` (switches it to Settings and back to Chat). */
async function hostRows(page: Page): Promise<{ tabs: string; engines: string; mode: string }> {
  await page.goto('/#/settings');
  const tabs = page.getByTestId('diag-tabs');
  await expect(tabs).toBeVisible();
  const out = { tabs: await tabs.innerText(), engines: await page.getByTestId('diag-engines').innerText(), mode: await page.getByTestId('diag-host-mode').innerText() };
  await page.goto('/#/chat');
  return out;
}

test('two tabs share one engine (leader-tab): one upload, both chat, Stop stays in its tab, the second outlives the leader', async ({ browser }) => {
  test.setTimeout(2 * LOAD_MS + 3 * ANSWER_MS);
  const context = await browser.newContext();
  await seed(context, 3, 'leader-tab');
  const first = await context.newPage();
  await first.goto('/');
  await waitForModel(first);
  const second = await context.newPage();
  await second.goto('/');
  await waitForModel(second);

  // One model on the GPU with a session from each tab: the second tab did not upload its own copy.
  await expect(async () => {
    const rows = await hostRows(second);
    expect(rows.tabs).toBe('Tabs sharing this engine: 2');
    expect(rows.engines).toMatch(/^Brix Demo 30M \(\d[\d,]* MiB, ready, 2 sessions\)$/);
    expect(rows.mode).toBe('another tab (leader)');
  }).toPass({ timeout: 30_000 });

  // Both chat; a Stop in the second tab (its request queued behind the first's) leaves the first's answer whole.
  await send(first, 'Hi there');
  await send(second, 'Hello!');
  await second.getByRole('button', { name: 'Stop' }).click();
  await settled(second);
  await settled(first);
  await expect(answers(second).first()).toHaveAttribute('data-finish', 'abort');
  await expect(answers(first).first()).not.toHaveAttribute('data-finish', 'abort');
  await expect(answers(first).first().getByTestId('message-stats')).toContainText('generated tokens');

  // The leader closes: the second tab takes the engine over (its own host, the model from the weight cache).
  await first.close();
  await expect(async () => expect((await hostRows(second)).tabs).toBe('Tabs sharing this engine: 1')).toPass({ timeout: 60_000 });
  await send(second, 'Still there?');
  await settled(second);
  await expect(answers(second)).toHaveCount(2);
  await expect(answers(second).nth(1).getByTestId('message-stats')).toContainText('generated tokens');
  expect((await hostRows(second)).mode).toBe('this tab (leader)');
  await context.close();
});

test('two tabs share one engine (shared-worker), the second outlives the first; Simulate GPU device loss during an answer: "GPU was reset; reloading…", then the chat answers again without a reload', async ({ browser }) => {
  test.setTimeout(2 * LOAD_MS + 3 * ANSWER_MS);
  const context = await browser.newContext();
  await seed(context, 8, 'shared-worker');
  const first = await context.newPage();
  await first.goto('/');
  await waitForModel(first);
  const page = await context.newPage();
  await page.goto('/');
  await waitForModel(page);
  await expect(async () => {
    const rows = await hostRows(page);
    expect(rows.tabs).toBe('Tabs sharing this engine: 2');
    expect(rows.engines).toMatch(/^Brix Demo 30M \(\d[\d,]* MiB, ready, 2 sessions\)$/);
    expect(rows.mode).toBe('shared worker');
  }).toPass({ timeout: 30_000 });
  // The shared worker's first client closes: the engine stays, with the second tab's session only.
  await first.close();
  await expect(async () => {
    const rows = await hostRows(page);
    expect(rows.tabs).toBe('Tabs sharing this engine: 1');
    expect(rows.engines).toMatch(/ready, 1 session\)$/);
  }).toPass({ timeout: 60_000 });
  await page.evaluate(() => Reflect.set(window, '__noReload', true));

  await send(page, 'Tell me a story');
  await expect(page.locator('[data-streaming="true"] .markdown')).not.toBeEmpty({ timeout: ANSWER_MS });
  await page.goto('/#/settings');
  await page.getByRole('button', { name: 'Simulate GPU device loss' }).click();
  await expect(page.getByTestId('diag-simulated')).toHaveText('destroyed the GPU device of 1 model');
  await expect(page.getByTestId('gpu-reset')).toContainText('GPU was reset', { timeout: LOAD_MS });
  await page.goto('/#/chat');
  await settled(page);
  await expect(answers(page)).toHaveCount(1);
  await expect(answers(page).first().getByTestId('message-stats')).toContainText('generated tokens');
  await expect(page.getByTestId('gpu-reset')).toHaveCount(0, { timeout: 30_000 });

  await send(page, 'And another one');
  await settled(page);
  await expect(answers(page)).toHaveCount(2);
  await expect(answers(page).nth(1).getByTestId('message-stats')).toContainText('generated tokens');
  expect(await page.evaluate(() => Reflect.get(window, '__noReload'))).toBe(true);
  await context.close();
});
