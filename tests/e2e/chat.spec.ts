/**
 * @file The chat, end to end on the real engine in headless Chromium (SwiftShader WebGPU: slow, so answers are
 * capped at a few tokens): on first run the bundled demo model loads with visible progress; "Hello!" gets an
 * answer streamed token by token with tok/s stats; Stop (button and Esc) keeps a partial answer; Regenerate
 * replaces the last answer; Edit-and-resend drops what followed; a second conversation; and after a reload
 * everything is still there. Plus the phone layout (no engine needed).
 */
import { expect, test, type Page } from '@playwright/test';

/** Few tokens: on a loaded CI runner SwiftShader decodes well under 1 token/s. */
const MAX_TOKENS = 4;
/** Loading the demo model on SwiftShader (download, upload, kernel compilation). */
const LOAD_MS = 300_000;
/** One short answer on SwiftShader, first token included. */
const ANSWER_MS = 400_000;

/** Greedy, few tokens, fixed seed: fast and repeatable on a software GPU. */
async function seedSettings(page: Page, maxTokens = MAX_TOKENS): Promise<void> {
  await page.addInitScript((n) => {
    if (localStorage.getItem('brix.settings') !== null) return;
    localStorage.setItem(
      'brix.settings',
      JSON.stringify({ state: { theme: 'system', sampling: { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, maxTokens: n, seed: 1, randomSeed: false }, contextSize: 512 }, version: 1 }),
    );
  }, maxTokens);
}

/** Fails with the load error's text (e.g. the engine is not built yet) instead of timing out. */
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
const users = (page: Page) => page.getByRole('article', { name: /^User/ });

/** Waits until no answer streams and every write reached IndexedDB. */
async function settled(page: Page): Promise<void> {
  await expect(page.locator('[data-streaming="true"]')).toHaveCount(0, { timeout: ANSWER_MS });
  await expect(page.getByTestId('chat')).toHaveAttribute('data-saving', 'false');
}

test('first run: the demo model loads with progress, answers "Hello!" token by token, with stats', async ({ page }) => {
  test.setTimeout(LOAD_MS + ANSWER_MS + 60_000);
  await seedSettings(page);
  await page.goto('/');
  await expect(page.getByRole('combobox', { name: 'Model' })).toHaveValue('brix-demo-30m');
  // The picker shows each model with its fit verdict ("Brix Demo 30M · fits").
  await expect(page.getByRole('combobox', { name: 'Model' }).locator('option:checked')).toHaveText(/^Brix Demo 30M · /);
  await expect(page.getByRole('progressbar', { name: 'Loading model' })).toBeVisible();
  await waitForModel(page);

  // Count distinct texts of the streaming answer as it grows (a MutationObserver in the page).
  await page.evaluate(() => {
    const seen = new Set<string>();
    Reflect.set(window, '__streamTexts', seen);
    new MutationObserver(() => {
      const el = document.querySelector('[data-streaming="true"] .markdown');
      if (el?.textContent) seen.add(el.textContent);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await send(page, 'Hello!');
  await expect(users(page)).toHaveText(/Hello!/);
  const answer = answers(page).first();
  await expect(answer).toBeVisible({ timeout: ANSWER_MS });
  await expect(answer).toHaveAccessibleName(/^Assistant message from Brix Demo 30M/);
  const stats = answer.getByTestId('message-stats');
  await expect(stats).toContainText('tok/s');
  await expect(stats).toContainText(/ms to first token · prefill [\d.]+ tok\/s · decode [\d.]+ tok\/s · \d+ prompt \+ \d+ generated tokens/);
  const text = (await answer.locator('.markdown').innerText()).trim();
  expect(text.length).toBeGreaterThan(0);
  const streamed = await page.evaluate(() => [...(Reflect.get(window, '__streamTexts') as Set<string>)]);
  expect(streamed.length, `streamed states: ${JSON.stringify(streamed)}`).toBeGreaterThanOrEqual(2);
  // Expert usage for this MoE model: 4 layers x 16 experts.
  await expect(answer.getByText('Experts: 4 layers × 16')).toBeVisible();
  await answer.getByText('Experts: 4 layers × 16').click();
  await expect(answer.getByRole('img', { name: /^Expert usage: 4 layers × 16 experts/ })).toBeVisible();
});

test('stop, regenerate, edit and resend, a second conversation, and everything persists over a reload', async ({ page }) => {
  test.setTimeout(LOAD_MS + 4 * ANSWER_MS);
  await seedSettings(page, 200);
  await page.goto('/');
  await waitForModel(page);
  const streamingText = page.locator('[data-streaming="true"] .markdown');

  // Stop with the button as soon as the answer streams: the partial answer stays, marked stopped.
  await send(page, 'Tell me a long story about a whale and a ship.');
  await expect(streamingText).not.toBeEmpty({ timeout: ANSWER_MS });
  await page.getByRole('button', { name: 'Stop' }).click();
  await settled(page);
  await expect(answers(page)).toHaveCount(1);
  await expect(answers(page).first()).toHaveAttribute('data-finish', 'abort');
  await expect(answers(page).first()).toContainText('Stopped.');
  await expect(page.getByRole('button', { name: 'Send' })).toBeVisible();

  // Regenerate replaces the last answer (stopped again, with Esc this time).
  await answers(page).first().getByRole('button', { name: 'Regenerate' }).click();
  await expect(page.locator('[data-streaming="true"]')).toHaveCount(1);
  await expect(answers(page)).toHaveCount(0); // the old answer is gone while the new one streams
  await expect(streamingText).not.toBeEmpty({ timeout: ANSWER_MS });
  await page.keyboard.press('Escape');
  await settled(page);
  await expect(answers(page)).toHaveCount(1);
  await expect(answers(page).first()).toHaveAttribute('data-finish', 'abort');

  // Short answers from here on (through the Settings page; the loaded model stays loaded).
  await page.getByRole('link', { name: 'Settings', exact: true }).click();
  await page.getByRole('spinbutton', { name: 'Max tokens' }).fill(String(MAX_TOKENS));
  await page.getByRole('spinbutton', { name: 'Max tokens' }).press('Enter');
  await page.getByRole('link', { name: 'Chat', exact: true }).click();
  await expect(page.getByTestId('load-status')).toHaveAttribute('data-state', 'ready');

  // Edit the first message and resend: everything after it is dropped and answered again.
  await users(page).first().getByRole('button', { name: 'Edit' }).click();
  await page.getByRole('textbox', { name: 'Edit message' }).fill('Hello! Who are you?');
  await page.getByRole('button', { name: 'Save and send' }).click();
  await settled(page);
  await expect(users(page)).toHaveCount(1);
  await expect(users(page).first()).toContainText('Hello! Who are you?');
  await expect(answers(page)).toHaveCount(1);
  await expect(answers(page).first().getByTestId('message-stats')).toContainText('tok/s');
  const firstAnswer = await answers(page).first().locator('.markdown').innerText();

  // A second conversation.
  await page.getByRole('button', { name: 'New chat' }).click();
  await expect(users(page)).toHaveCount(0);
  await send(page, 'Hello!');
  await settled(page);
  const list = page.getByRole('navigation', { name: 'Conversation list' });
  await expect(list.getByRole('listitem')).toHaveCount(2);
  await expect(list.getByRole('button', { name: 'Hello!', exact: true })).toBeVisible();
  await expect(list.getByRole('button', { name: 'Hello! Who are you?', exact: true })).toBeVisible();

  // Reload: both conversations, their messages and stats are back.
  await page.reload();
  await expect(page.getByTestId('chat')).toHaveAttribute('data-hydrated', 'true');
  await expect(list.getByRole('listitem')).toHaveCount(2);
  await expect(users(page).first()).toHaveText(/Hello!/);
  await list.getByRole('button', { name: 'Hello! Who are you?', exact: true }).click();
  await expect(users(page)).toHaveCount(1);
  await expect(answers(page).first().locator('.markdown')).toHaveText(firstAnswer);
  await expect(answers(page).first().getByTestId('message-stats')).toContainText('tok/s');

  // Search narrows the list; delete asks first.
  await page.getByRole('searchbox', { name: 'Search conversations' }).fill('who are');
  await expect(list.getByRole('listitem')).toHaveCount(1);
  await page.getByRole('searchbox', { name: 'Search conversations' }).fill('');
  await page.getByRole('button', { name: 'More actions for Hello! Who are you?' }).click();
  await page.getByRole('group', { name: 'Actions for Hello! Who are you?' }).getByRole('button', { name: 'Rename' }).click();
  await page.getByRole('textbox', { name: 'Conversation title' }).fill('Introductions');
  await page.getByRole('textbox', { name: 'Conversation title' }).press('Enter');
  await expect(list.getByRole('button', { name: 'Introductions', exact: true })).toBeVisible();
  await page.getByRole('button', { name: 'More actions for Introductions' }).click();
  await page.getByRole('group', { name: 'Actions for Introductions' }).getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('group', { name: 'Confirm delete' }).getByRole('button', { name: 'Delete' }).click();
  await expect(list.getByRole('listitem')).toHaveCount(1);
  await expect(page.getByTestId('chat')).toHaveAttribute('data-saving', 'false');
  await page.reload();
  await expect(list.getByRole('listitem')).toHaveCount(1);
});

test('system prompt per conversation, Shift+Enter for a new line, and the phone layout', async ({ page }) => {
  // No model is needed here: an uncached catalog model is selected, so the first visit downloads and compiles
  // nothing (the demo's auto-load would compete with this test for the CPU, twice with the reload).
  await page.addInitScript(() => localStorage.setItem('brix.selectedModel', JSON.stringify('granite-3.1-1b-a400m-instruct-q4_k_m')));
  await page.setViewportSize({ width: 390, height: 800 });
  await page.goto('/#/chat');
  const chat = page.getByTestId('chat');
  await expect(chat).toHaveAttribute('data-hydrated', 'true');
  // The sidebar is a drawer on a phone.
  await expect(page.getByRole('button', { name: 'New chat' })).toBeHidden();
  await page.getByRole('button', { name: 'Conversations' }).click();
  await expect(page.getByRole('button', { name: 'New chat' })).toBeVisible();
  await page.getByRole('button', { name: 'New chat' }).click();
  await expect(page.getByRole('button', { name: 'New chat' })).toBeHidden();

  await page.getByRole('button', { name: 'System prompt', exact: true }).click();
  await page.getByRole('textbox', { name: 'System prompt' }).fill('Answer like a pirate.');
  await page.getByRole('textbox', { name: 'System prompt' }).blur();
  // The bullet shows once the store holds the prompt, and its write is counted in data-saving from then on.
  await expect(page.getByRole('button', { name: 'System prompt •' })).toBeVisible();
  await expect(chat).toHaveAttribute('data-saving', 'false');

  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill('line one');
  await box.press('Shift+Enter');
  await box.pressSequentially('line two');
  await expect(box).toHaveValue('line one\nline two');

  await page.reload();
  // Read back from IndexedDB: the open conversation again, with its prompt (the bullet), before the box opens.
  await expect(chat).toHaveAttribute('data-hydrated', 'true');
  await page.getByRole('button', { name: 'System prompt •' }).click();
  await expect(page.getByRole('textbox', { name: 'System prompt' })).toHaveValue('Answer like a pirate.');
  await expect(page.getByTestId('load-status')).toHaveAttribute('data-state', 'idle');
});
