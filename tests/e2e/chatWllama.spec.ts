/**
 * @file On a software WebGPU adapter (the SwiftShader test browser) the chat offers wllama: a notice near the
 * model status says Brix runs on a software renderer here and quotes the ratio measured here; "Use wllama"
 * switches the chat to wllama's option of the same model (llama.cpp's wasm CPU path, the bundled demo served by
 * this origin) and an answer comes from it. "Not now" dismisses the notice for good.
 */
import { expect, test, type Page } from '@playwright/test';

/** wllama's wasm CPU path loads the 30M demo in seconds and decodes tens of tokens a second here. */
const LOAD_MS = 120_000;
const ANSWER_MS = 120_000;

async function seedSettings(page: Page): Promise<void> {
  await page.addInitScript(() => {
    if (localStorage.getItem('brix.settings') !== null) return;
    localStorage.setItem(
      'brix.settings',
      JSON.stringify({ state: { theme: 'system', sampling: { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, maxTokens: 8, seed: 1, randomSeed: false }, contextSize: 512 }, version: 1 }),
    );
  });
}

const offer = (page: Page) => page.getByRole('note', { name: 'A faster engine for this machine' });
const picker = (page: Page) => page.getByRole('combobox', { name: 'Model' });

test('on SwiftShader the chat offers wllama; "Use wllama" switches the model to it and wllama answers', async ({ page }) => {
  test.setTimeout(LOAD_MS + ANSWER_MS + 60_000);
  await seedSettings(page);
  await page.goto('/#/chat');
  await expect(picker(page)).toHaveValue('brix-demo-30m');
  // The adapter probe says software: the notice, with the ratio measured here (not a promise).
  await expect(offer(page)).toBeVisible({ timeout: 60_000 });
  await expect(offer(page)).toContainText('This browser has no hardware GPU: Brix runs on a software renderer here');
  await expect(offer(page)).toContainText(/measured here on SwiftShader, it decoded Brix Demo 30M about 90× faster than Brix \(189 against 2\.1 tokens\/s\)/);
  // The picker lists the same GGUF under wllama.
  await expect(picker(page).locator('optgroup[label^="wllama"] option[value="wllama:brix-demo-30m"]')).toHaveCount(1);

  await offer(page).getByRole('button', { name: 'Use wllama', exact: true }).click();
  await expect(picker(page)).toHaveValue('wllama:brix-demo-30m');
  await expect(offer(page)).toHaveCount(0);
  const status = page.getByTestId('load-status');
  await expect(status).toHaveAttribute('data-state', /^(ready|error)$/, { timeout: LOAD_MS });
  expect(await status.getAttribute('data-state'), `wllama did not load: ${await status.innerText()}`).toBe('ready');
  await expect(status).toContainText('wllama (wasm CPU)');

  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill('Hello!');
  await box.press('Enter');
  const answer = page.getByRole('article', { name: /^Assistant message from/ }).first();
  await expect(answer).toBeVisible({ timeout: ANSWER_MS });
  await expect(page.locator('[data-streaming="true"]')).toHaveCount(0, { timeout: ANSWER_MS });
  await expect(answer).toHaveAccessibleName(/^Assistant message from Brix Demo 30M/);
  expect((await answer.locator('.markdown').innerText()).trim().length).toBeGreaterThan(0);
  await expect(answer.getByTestId('message-stats')).toContainText(/decode [\d.]+ tok\/s/);
  // wllama is still the chat's engine (no fallback to Brix), and the choice is kept over a reload.
  await expect(status).toContainText('wllama (wasm CPU)');
  await page.reload();
  await expect(picker(page)).toHaveValue('wllama:brix-demo-30m');
  await expect(offer(page)).toHaveCount(0);
});

test('the wllama notice can be dismissed, and stays dismissed', async ({ page }) => {
  await page.goto('/#/chat');
  await expect(offer(page)).toBeVisible({ timeout: 60_000 });
  await offer(page).getByRole('button', { name: 'Not now', exact: true }).click();
  await expect(offer(page)).toHaveCount(0);
  await expect(picker(page)).toHaveValue('brix-demo-30m');
  await page.reload();
  await expect(picker(page)).toHaveValue('brix-demo-30m');
  // The probe has answered (the fit verdict replaced "checking…") and still no notice.
  await expect(picker(page).locator('option:checked')).not.toHaveText(/checking/, { timeout: 60_000 });
  await expect(offer(page)).toHaveCount(0);
});
