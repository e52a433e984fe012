/**
 * @file Untrusted Markdown renders inert in the real browser: a conversation imported from JSON (no model
 * needed) whose answer holds a <script>, an <img onerror>, javascript: links and images, and a code block.
 * Nothing runs (no dialog, no global set), no img/script/iframe element appears inside messages, links keep
 * only http(s) URLs, raw HTML shows as text, and the code block is highlighted with a working copy button.
 */
import { expect, test } from '@playwright/test';

const EVIL = [
  'Hello <script>window.__pwned = "script"</script>',
  '',
  '<img src="x" onerror="window.__pwned = \'img\'">',
  '',
  '<iframe src="javascript:window.__pwned=\'iframe\'"></iframe>',
  '',
  '[click me](javascript:window.__pwned=\'link\') and [safe](https://example.com/page) and [data](data:text/html,<script>alert(1)</script>)',
  '',
  '![pic](javascript:window.__pwned=\'image\')',
  '',
  '```js',
  'const answer = 42; // <b>not bold</b>',
  '```',
].join('\n');

function exportFile(): string {
  const t = 1_700_000_000_000;
  return JSON.stringify({
    format: 'brix-conversations',
    version: 1,
    exportedAt: new Date(t).toISOString(),
    conversations: [
      {
        id: 'evil-1',
        title: 'Hostile markdown',
        titleEdited: true,
        systemPrompt: '',
        createdAt: t,
        updatedAt: t,
        messages: [
          { id: 'u1', role: 'user', content: 'Show me <b>HTML</b> <script>window.__pwned="user"</script>', createdAt: t },
          { id: 'a1', role: 'assistant', content: EVIL, createdAt: t + 1, model: 'Test model' },
        ],
      },
    ],
  });
}

test('imported hostile Markdown renders inert; safe links, text and code survive', async ({ page, context }) => {
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await page.goto('/#/chat');
  await page.getByLabel('Import conversations').setInputFiles({ name: 'evil.json', mimeType: 'application/json', buffer: Buffer.from(exportFile()) });
  await expect(page.getByRole('status').filter({ hasText: 'Imported 1 conversation.' })).toBeVisible();
  await page.getByRole('button', { name: 'Hostile markdown', exact: true }).click();

  const answer = page.getByRole('article', { name: /^Assistant/ });
  await expect(answer).toBeVisible();
  await expect(answer).toContainText('Hello <script>window.__pwned = "script"</script>');
  await expect(answer).toContainText(`<img src="x" onerror="window.__pwned = 'img'">`);
  const user = page.getByRole('article', { name: /^User/ });
  await expect(user).toContainText('Show me <b>HTML</b>');

  // Nothing executed, nothing dangerous in the DOM of the messages.
  await page.waitForTimeout(500);
  expect(await page.evaluate(() => Reflect.get(window, '__pwned'))).toBeUndefined();
  expect(dialogs).toEqual([]);
  const list = page.getByTestId('message-list');
  await expect(list.locator('script, img, iframe, object, embed')).toHaveCount(0);
  await expect(list.locator('[onerror], [onclick], [onload]')).toHaveCount(0);
  const hrefs = await list.locator('a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  expect(hrefs).toEqual(['https://example.com/page']);
  await expect(list.getByRole('link', { name: 'safe' })).toHaveAttribute('rel', /noopener/);
  await expect(list.getByRole('link', { name: 'safe' })).toHaveAttribute('target', '_blank');
  await expect(answer.getByText('click me')).toBeVisible(); // the text stays, the URL goes
  await expect(answer.getByText('[image: pic]')).toBeVisible();

  // The code block: highlighted (spans with hljs classes, loaded lazily), the HTML in it shown as text, copyable.
  const code = answer.locator('pre code');
  await expect(code).toContainText('const answer = 42; // <b>not bold</b>');
  await expect(code.locator('.hljs-keyword').first()).toHaveText('const');
  await answer.getByRole('button', { name: 'Copy code' }).click();
  await expect(answer.getByRole('button', { name: 'Copy code' })).toHaveText('Copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('const answer = 42; // <b>not bold</b>');
});

test('a malformed import is refused with the reason, and nothing is imported', async ({ page }) => {
  await page.goto('/#/chat');
  const bad = JSON.stringify({ format: 'brix-conversations', version: 1, conversations: [{ id: 'x', title: 'X', createdAt: 1, updatedAt: 1, messages: [{ id: 'm', role: 'system', content: 'hi', createdAt: 1 }] }] });
  await page.getByLabel('Import conversations').setInputFiles({ name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from(bad) });
  const alert = page.getByRole('alert').filter({ hasText: 'That file cannot be imported' });
  await expect(alert).toContainText('conversations[0].messages[0].role must be "user" or "assistant", found "system"');
  await expect(page.getByRole('navigation', { name: 'Conversation list' }).getByRole('button', { name: 'X', exact: true })).toHaveCount(0);
});
