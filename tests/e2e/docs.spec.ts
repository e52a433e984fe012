/**
 * @file Chat with your documents, end to end and offline: after a first visit (service worker installed, demo
 * model in the weight cache) the network goes off and the page reloads; a text file and a PDF are attached (the
 * PDF read by pdfjs-dist inside the docs worker, from the precache); a question only the PDF answers sends a
 * prompt that carries the PDF's passage (read off the engine worker's `generate` request), and the answer's
 * "Sources" region names the PDF and opens the passage. One token of answer: SwiftShader is slow. A 50 MB PDF
 * (written here: four text pages over large uncompressed images) is read and indexed while the page keeps painting.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import { makePdf } from '../fixtures/makePdf.mjs';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/docs');
const LOAD_MS = 300_000;

/** Records every `generate` request the page posts to a worker (the engine's prompt, as the engine gets it). */
async function recordGenerateRequests(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const sent: unknown[] = [];
    Reflect.set(window, '__generateRequests', sent);
    // The engine is reached through a private worker, the SharedWorker host's port or the leader tab's channel
    // (app/lib/sharedEngine.ts); through a host a request travels wrapped as { kind: 'request', req }.
    const record = (msg: unknown): void => {
      if (typeof msg !== 'object' || msg === null) return;
      const wrapped = (msg as { kind?: unknown; req?: unknown }).kind === 'request' ? (msg as { req?: unknown }).req : msg;
      if (typeof wrapped === 'object' && wrapped !== null && (wrapped as { type?: unknown }).type === 'generate') sent.push(JSON.parse(JSON.stringify(wrapped)));
    };
    for (const proto of [Worker.prototype, MessagePort.prototype, BroadcastChannel.prototype]) {
      const post = proto.postMessage as (this: unknown, m: unknown, ...r: unknown[]) => void;
      Reflect.set(proto, 'postMessage', function (this: unknown, msg: unknown, ...rest: unknown[]) {
        record(msg);
        return post.call(this, msg, ...rest);
      });
    }
    if (localStorage.getItem('brix.settings') === null) {
      localStorage.setItem(
        'brix.settings',
        JSON.stringify({ state: { theme: 'system', sampling: { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, maxTokens: 1, seed: 1, randomSeed: false }, contextSize: 512 }, version: 1 }),
      );
    }
  });
}

async function waitForModel(page: Page): Promise<void> {
  const status = page.getByTestId('load-status');
  await expect(status).toHaveAttribute('data-state', /^(ready|error)$/, { timeout: LOAD_MS });
  expect(await status.getAttribute('data-state'), await status.innerText()).toBe('ready');
}

test('offline: attach a text file and a PDF, the answer cites the PDF passage the prompt carried', async ({ page, context }) => {
  test.setTimeout(2 * LOAD_MS + 400_000);
  await recordGenerateRequests(page);
  await page.goto('/#/chat');
  await page.waitForFunction(() => Boolean(navigator.serviceWorker?.controller), undefined, { timeout: 30_000 });
  await waitForModel(page);

  await context.setOffline(true);
  try {
    await page.reload();
    await waitForModel(page);

    const chooser = page.waitForEvent('filechooser');
    await page.getByRole('button', { name: 'Attach files' }).click();
    await (await chooser).setFiles([path.join(fixtures, 'office-notes.txt'), path.join(fixtures, 'harbor-manual.pdf')]);
    const attached = page.getByRole('list', { name: 'Attached files' });
    await expect(attached.getByRole('listitem')).toHaveCount(2, { timeout: 60_000 });
    await expect(attached).toContainText('office-notes.txt');
    await expect(attached).toContainText('harbor-manual.pdf');
    await expect(page.getByRole('alert')).toHaveCount(0);

    const box = page.getByRole('textbox', { name: 'Message' });
    await box.fill('What is the lighthouse keeper password?');
    await box.press('Enter');

    // The prompt the engine got carries the PDF's passage as a numbered source.
    await expect.poll(() => page.evaluate(() => (Reflect.get(window, '__generateRequests') as unknown[]).length), { timeout: 60_000 }).toBe(1);
    const [req] = (await page.evaluate(() => Reflect.get(window, '__generateRequests'))) as { request: { messages: { role: string; content: string }[] } }[];
    const last = req.request.messages.at(-1);
    expect(last?.role).toBe('user');
    expect(last?.content).toMatch(/<source n="1" file="harbor-manual\.pdf" passage="1">\n[^<]*The lighthouse keeper password is ZEPHYR-42\./);
    expect(last?.content).toMatch(/Question: What is the lighthouse keeper password\?$/);

    const answer = page.getByRole('article', { name: /^Assistant message from Brix Demo 30M/ });
    await expect(answer).toBeVisible({ timeout: 400_000 });
    const sources = answer.getByRole('region', { name: 'Sources' });
    const pdfSource = sources.getByRole('button', { name: '[1] harbor-manual.pdf · passage 1' });
    await expect(pdfSource).toBeVisible();
    await pdfSource.click();
    await expect(sources.getByLabel('Passage 1 of harbor-manual.pdf')).toContainText('ZEPHYR-42');
  } finally {
    await context.setOffline(false);
  }
});

test('files dropped on the message box are attached to the chat, and can be removed', async ({ page }) => {
  await page.goto('/#/chat');
  const zone = page.getByTestId('docs-drop-zone');
  const drop = await page.evaluateHandle(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['The tide table says high water at 06:12.'], 'tides.md', { type: 'text/markdown' }));
    return dt;
  });
  await zone.dispatchEvent('dragover', { dataTransfer: drop });
  await expect(zone).toHaveAttribute('data-drag-over', 'true');
  await zone.dispatchEvent('drop', { dataTransfer: drop });
  const attached = page.getByRole('list', { name: 'Attached files' });
  await expect(attached.getByRole('listitem')).toHaveText(['tides.md×'], { timeout: 30_000 });
  await page.getByRole('button', { name: 'Remove tides.md' }).click();
  await expect(attached).toHaveCount(0);
});

test('a 50 MB PDF is read and indexed in the docs worker with progress while the page keeps painting (no frame gap over 500 ms)', async ({ page }, testInfo) => {
  test.setTimeout(120_000);
  const filler = (p: number): string[] =>
    Array.from({ length: 8 }, (_, i) => `Archive page ${p}, line ${i + 1}: inventory of crates, ropes, lamps and tide tables kept in the north shed.`);
  const pages = [1, 2, 3, 4].map((p) => (p === 3 ? [...filler(p), 'The vault word is QUOKKAVELVET.'] : filler(p)));
  const pdf = testInfo.outputPath('big-archive.pdf');
  const bytes = makePdf(pages, { imageBytes: 12_500_000 });
  expect(bytes.length).toBeGreaterThan(50_000_000);
  writeFileSync(pdf, bytes);

  // From the click until the file is listed: the longest gap between frames, and every progress text shown (with
  // when it first showed: the PDF is parsed by the time "Indexing" shows).
  await page.addInitScript(() => {
    const w = window as unknown as { __big: { on: boolean; start: number; end: number; maxGap: number; seen: { text: string; t: number }[] } };
    w.__big = { on: false, start: 0, end: 0, maxGap: 0, seen: [] };
    let last = performance.now();
    const tick = (t: number): void => {
      const b = w.__big;
      if (b.on && b.end === 0) {
        b.maxGap = Math.max(b.maxGap, t - last);
        const status = document.querySelector('[role="status"][aria-label="Reading files"]')?.textContent ?? '';
        if (status !== '' && b.seen.at(-1)?.text !== status) b.seen.push({ text: status, t });
        if (document.querySelector('[aria-label="Attached files"] li')) b.end = t;
      }
      last = t;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  await page.goto('/#/chat');
  await page.evaluate(() => {
    const b = (window as unknown as { __big: { on: boolean; start: number } }).__big;
    b.on = true;
    b.start = performance.now();
  });
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Attach files' }).click();
  await (await chooser).setFiles(pdf);
  const attached = page.getByRole('list', { name: 'Attached files' });
  await expect(attached.getByRole('listitem')).toHaveText(['big-archive.pdf×'], { timeout: 90_000 });
  await expect(page.getByRole('alert')).toHaveCount(0);
  await expect(attached.getByText('big-archive.pdf')).toHaveAttribute('title', /^\d+ passages, 4 pages$/);

  const big = await page.evaluate(() => (window as unknown as { __big: { start: number; end: number; maxGap: number; seen: { text: string; t: number }[] } }).__big);
  const shown = big.seen.map((s) => s.text);
  const parsed = big.seen.find((s) => /^(Indexing|Saving)/.test(s.text));
  const figures = `${bytes.length} bytes: read and parsed in ${parsed ? Math.round(parsed.t - big.start) : '?'} ms, listed as indexed after ${Math.round(big.end - big.start)} ms, longest frame gap ${Math.round(big.maxGap)} ms`;
  testInfo.annotations.push({ type: 'big PDF', description: figures });
  console.log(`big PDF, ${figures}; progress: ${shown.join(' | ')}`);
  expect(big.end).toBeGreaterThan(0);
  expect(shown.some((s) => /^Reading big-archive\.pdf: page [1-4] of 4/.test(s)), shown.join(' | ')).toBe(true);
  expect(big.maxGap).toBeLessThan(500);

  // Indexed: the stored index (IndexedDB `brix-docs`) has the page-3 word as a search term, in a passage of this file.
  const stored = await page.evaluate(
    () =>
      new Promise<{ terms: boolean; passages: string[] }>((resolve, reject) => {
        const open = indexedDB.open('brix-docs');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const get = open.result.transaction('indexes').objectStore('indexes').getAll();
          get.onerror = () => reject(get.error);
          get.onsuccess = () => {
            const records = get.result as { chunks: Record<string, { file: string; text: string }>; index: { index: [string, unknown][] } }[];
            resolve({
              terms: records.some((r) => r.index.index.some(([term]) => term === 'quokkavelvet')),
              passages: records.flatMap((r) => Object.values(r.chunks).filter((c) => c.text.includes('QUOKKAVELVET')).map((c) => c.file)),
            });
          };
        };
      }),
  );
  expect(stored.terms).toBe(true);
  expect([...new Set(stored.passages)]).toEqual(['big-archive.pdf']);
});
