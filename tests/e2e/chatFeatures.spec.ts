/**
 * @file Chat features users expect (issue #18), end to end. Fast, against a local OpenAI-compatible server
 * (`brix serve`'s HTTP layer with a scripted engine): Settings → Endpoints shared by Chat and Compare, the chat
 * on an endpoint, Continue of a cut-off answer, versions of answers and edits ("2 / 2", exported), Chat settings
 * and the system prompt reaching the request; math rendered by KaTeX, still sanitized. On the Brix demo: the real
 * `brix serve` (the CLI, our engine in Node) as an endpoint in the chat, answering and continuing; and in the tab
 * (SwiftShader, a few tokens) a model found through "Search Hugging Face" (a local fake Hub serving the demo's
 * split files), loaded in the chat, answering, Continue, a second version, Chat settings, the context meter and
 * the note when old turns are dropped, math in an answer the engine continued, and Compare reusing the chat's
 * loaded model (no second engine worker).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import { createOpenAIServer } from '../../scripts/lib/openaiServer.ts';
import type { GenerateRequest, GenerationResult, TokenDelta } from '../../workers/protocol.ts';
import { startFakeHub } from './server/fakeHub.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DEMO_DIR = path.join(repoRoot, 'public/models/brix-demo-30m');
const LOAD_MS = 300_000;
const ANSWER_MS = 300_000;

async function seedSettings(page: Page, maxTokens: number, contextSize: number): Promise<void> {
  await page.addInitScript(
    ([n, ctx]) => {
      if (localStorage.getItem('brix.settings') !== null) return;
      localStorage.setItem(
        'brix.settings',
        JSON.stringify({ state: { theme: 'system', sampling: { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, maxTokens: n, seed: 1, randomSeed: false }, contextSize: ctx }, version: 1 }),
      );
    },
    [maxTokens, contextSize],
  );
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no TCP address');
  return `http://127.0.0.1:${addr.port}`;
}

/** Continues when asked to (the last message is the answer so far), is cut off on "long", else numbers its answers. */
function storyEngine(requests: GenerateRequest[]) {
  let n = 0;
  return {
    async generate(r: GenerateRequest, onToken?: (d: TokenDelta) => void, signal?: AbortSignal): Promise<GenerationResult> {
      requests.push(r);
      const last = r.messages.at(-1);
      const cont = r.continueFinal === true && last?.role === 'assistant';
      const long = !cont && /long/.test(last?.content ?? '');
      const pieces = cont ? [' and they', ' lived happily.'] : long ? ['Once', ' upon', ' a time'] : [`Answer ${++n}.`];
      let text = '';
      for (const p of pieces) {
        await new Promise((res) => setTimeout(res, 10));
        if (signal?.aborted) break;
        text += p;
        onToken?.({ text: p, tokenIds: [] });
      }
      const stats = { promptTokens: 9, generatedTokens: pieces.length, timeToFirstTokenMs: 10, prefillTokensPerSecond: 100, decodeTokensPerSecond: 50, totalMs: 30, expertUsage: [], truncatedTokens: 0 };
      return { text, tokenIds: [], stats: { ...stats, finishReason: long ? 'length' : 'eog' } };
    },
  };
}

const answers = (page: Page) => page.getByRole('article', { name: /^Assistant message from/ });
const users = (page: Page) => page.getByRole('article', { name: /^User/ });

async function send(page: Page, text: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Message' }).fill(text);
  await page.getByRole('textbox', { name: 'Message' }).press('Enter');
}

async function settled(page: Page, timeout = 30_000): Promise<void> {
  await expect(page.locator('[data-streaming="true"]')).toHaveCount(0, { timeout });
  await expect(page.getByTestId('chat')).toHaveAttribute('data-saving', 'false');
}

/** Settings → Endpoints → "Add endpoint", filled in and switched on. */
async function addEndpoint(page: Page, name: string, baseUrl: string, model: string): Promise<void> {
  await page.goto('/#/settings');
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  const form = page.getByRole('group', { name: /^Endpoint / });
  await form.getByRole('textbox', { name: 'Name' }).fill(name);
  await form.getByRole('textbox', { name: 'Name' }).blur();
  await form.getByRole('textbox', { name: 'Base URL' }).fill(baseUrl);
  await form.getByRole('textbox', { name: 'Base URL' }).blur();
  await expect(form.getByLabel(/^API key/)).toBeVisible();
  await form.getByRole('combobox', { name: 'Model name' }).fill(model);
  await form.getByRole('combobox', { name: 'Model name' }).blur();
  await form.getByRole('checkbox').check();
}

/** Chat's picker: the endpoint's entry (in the "Endpoints" group), selected and ready. */
async function pickEndpoint(page: Page, label: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Chat', exact: true }).click();
  const option = page.getByRole('combobox', { name: 'Model' }).locator('optgroup[label="Endpoints"] option');
  await expect(option).toHaveText([label]);
  await page.getByRole('combobox', { name: 'Model' }).selectOption((await option.getAttribute('value')) ?? '');
  await expect(page.getByTestId('load-status')).toHaveAttribute('data-state', 'ready');
}

test('an endpoint from Settings → Endpoints in the chat: Continue, versions of answers and edits, Chat settings, export; Compare lists it too', async ({ page, baseURL }) => {
  // Many steps, each quick; a busy 2-core runner needs more than the default minute.
  test.setTimeout(180_000);
  const requests: GenerateRequest[] = [];
  // Like `brix serve --cors <the app's origin>`: without it the server refuses the page (403, a CORS failure).
  const server = createOpenAIServer({ engine: storyEngine(requests), modelId: 'tiny', cors: [new URL(baseURL ?? '').origin] });
  const origin = await listen(server);
  try {
    await seedSettings(page, 4, 256);
    await addEndpoint(page, 'Story server', origin, 'tiny');

    // The chat's picker: every engine grouped, each model with its fit verdict.
    await pickEndpoint(page, 'Story server (tiny) · runs on the server');
    await expect(page.getByRole('combobox', { name: 'Model' }).locator('optgroup[label^="Brix"] option', { hasText: /^Brix Demo 30M · / })).toHaveCount(1);

    // Cut off (finish reason length): Continue extends the same message.
    await send(page, 'Tell me a long story');
    await settled(page);
    await expect(answers(page)).toHaveCount(1);
    await expect(answers(page).first()).toHaveAttribute('data-finish', 'length');
    await expect(answers(page).first().locator('.markdown')).toHaveText('Once upon a time');
    await answers(page).first().getByRole('button', { name: 'Continue' }).click();
    await settled(page);
    await expect(answers(page)).toHaveCount(1);
    await expect(answers(page).first().locator('.markdown')).toHaveText('Once upon a time and they lived happily.');
    await expect(answers(page).first()).toHaveAttribute('data-finish', 'eog');
    await expect(answers(page).first().getByRole('button', { name: 'Continue' })).toHaveCount(0);
    expect(requests.at(-1)?.continueFinal).toBe(true);
    expect(requests.at(-1)?.messages.at(-1)).toEqual({ role: 'assistant', content: 'Once upon a time' });

    // Regenerate keeps the old answer as version 1.
    await answers(page).first().getByRole('button', { name: 'Regenerate' }).click();
    await settled(page);
    const a = answers(page).first();
    await expect(a.getByTestId('version-label')).toHaveText('2 / 2');
    await expect(a.locator('.markdown')).toHaveText('Once upon a time');
    await a.getByRole('button', { name: 'Previous version' }).click();
    await expect(a.getByTestId('version-label')).toHaveText('1 / 2');
    await expect(a.locator('.markdown')).toHaveText('Once upon a time and they lived happily.');
    await expect(a.getByRole('button', { name: 'Previous version' })).toBeDisabled();
    await a.getByRole('button', { name: 'Next version' }).click();
    await expect(a.getByTestId('version-label')).toHaveText('2 / 2');

    // Edit: a new version of the user message, its own answer; the old branch comes back with "Previous version".
    await users(page).first().getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('textbox', { name: 'Edit message' }).fill('Say something');
    await page.getByRole('button', { name: 'Save and send' }).click();
    await settled(page);
    await expect(users(page).first().getByTestId('version-label')).toHaveText('2 / 2');
    await expect(answers(page).first().locator('.markdown')).toHaveText('Answer 1.');
    await users(page).first().getByRole('button', { name: 'Previous version' }).click();
    await expect(users(page).first()).toContainText('Tell me a long story');
    await expect(answers(page).first().getByTestId('version-label')).toHaveText('2 / 2');
    await users(page).first().getByRole('button', { name: 'Next version' }).click();
    await expect(answers(page).first().locator('.markdown')).toHaveText('Answer 1.');

    // Chat settings: this conversation's sampling reaches the request; the placeholders show the global values.
    await page.getByRole('button', { name: 'Chat settings' }).click();
    const settings = page.getByRole('group', { name: 'Chat settings' });
    await expect(settings.getByRole('spinbutton', { name: 'Max tokens' })).toHaveAttribute('placeholder', '4 (global)');
    await settings.getByRole('spinbutton', { name: 'Temperature' }).fill('0.3');
    await settings.getByRole('spinbutton', { name: 'Temperature' }).press('Enter');
    await settings.getByRole('spinbutton', { name: 'Max tokens' }).fill('7');
    await settings.getByRole('spinbutton', { name: 'Max tokens' }).press('Enter');
    await expect(page.getByRole('button', { name: 'Chat settings (2)' })).toBeVisible();
    // ...and so does its system prompt, first in the request.
    await page.getByRole('button', { name: 'System prompt', exact: true }).click();
    await page.getByRole('textbox', { name: 'System prompt' }).fill('Answer briefly.');
    await page.getByRole('textbox', { name: 'System prompt' }).blur();
    await expect(page.getByRole('button', { name: 'System prompt •' })).toBeVisible();
    await send(page, 'Again');
    await settled(page);
    expect(requests.at(-1)?.sampling).toMatchObject({ temperature: 0.3, maxTokens: 7 });
    expect(requests.at(-1)?.messages[0]).toEqual({ role: 'system', content: 'Answer briefly.' });

    // The export keeps every version (with the old branch of the edited message).
    const list = page.getByRole('navigation', { name: 'Conversation list' });
    await list.getByRole('button', { name: /more actions for / }).first().click();
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('group', { name: /^Actions for/ }).getByRole('button', { name: 'JSON' }).click()]);
    const file = JSON.parse(readFileSync(await dl.path(), 'utf8')) as { conversations: { settings?: unknown; systemPrompt: string; messages: { content: string; versions?: { content: string; tail?: { content: string }[] }[] }[] }[] };
    const conv = file.conversations[0];
    expect(conv.settings).toEqual({ temperature: 0.3, maxTokens: 7 });
    expect(conv.systemPrompt).toBe('Answer briefly.');
    expect(conv.messages[0].versions?.map((v) => v.content)).toEqual(['Tell me a long story', 'Say something']);
    expect(conv.messages[0].versions?.[0].tail?.[0].content).toBe('Once upon a time');

    // Compare offers the same endpoint (one list).
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Compare', exact: true }).click();
    await expect(page.getByRole('region', { name: 'Pane 1' }).getByRole('combobox', { name: 'Model', exact: true }).locator('optgroup[label="Endpoints"] option')).toHaveText([
      'Story server (tiny)',
    ]);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

/** `brix serve` (the CLI: our engine in Node, here on the machine's Vulkan driver) with the demo; resolves with its origin. */
async function startBrixServe(cors: string): Promise<{ origin: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['scripts/cli.mjs', 'serve', '--model', path.join(DEMO_DIR, 'brix-demo-30m-q8_0-00001-of-00002.gguf'), '--port', '0', '--context-size', '256', '--cors', cors, '--quiet'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  };
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  try {
    const origin = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/[^/\s]+)\/v1/.exec(out);
        if (m) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`brix serve exited (${code}) before listening:\n${err}`)));
    });
    return { origin, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

test('on the Brix demo behind `brix serve`: an endpoint in the chat answers, and Continue extends the answer', async ({ page, baseURL }) => {
  test.setTimeout(LOAD_MS + 2 * ANSWER_MS);
  const serve = await startBrixServe(new URL(baseURL ?? '').origin);
  try {
    await seedSettings(page, 3, 256);
    await addEndpoint(page, 'Brix serve', serve.origin, 'brix-demo-30m-q8_0');
    await pickEndpoint(page, 'Brix serve (brix-demo-30m-q8_0) · runs on the server');
    await send(page, 'Hello!');
    await settled(page, ANSWER_MS);
    const a = answers(page).first();
    await expect(a).toHaveAccessibleName('Assistant message from Brix serve (brix-demo-30m-q8_0)');
    await expect(a).toHaveAttribute('data-finish', 'length');
    const before = (await a.locator('.markdown').innerText()).trim();
    expect(before.length).toBeGreaterThan(0);
    await a.getByRole('button', { name: 'Continue' }).click();
    await settled(page, ANSWER_MS);
    await expect(answers(page)).toHaveCount(1);
    const after = (await a.locator('.markdown').innerText()).trim();
    expect(after.length).toBeGreaterThan(before.length);
    expect(after.startsWith(before.slice(0, Math.max(1, before.length - 2)))).toBe(true);
  } finally {
    await serve.stop();
  }
});

const MATH = ['Energy: $E = mc^2$ and a sum:', '', '$$', '\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}', '$$', '', 'Hostile: $\\href{javascript:window.__pwned=1}{click}$ <script>window.__pwned=2</script>'].join('\n');

test('math renders with KaTeX, inline and display, and stays sanitized', async ({ page }) => {
  const t = 1_700_000_000_000;
  const file = JSON.stringify({
    format: 'brix-conversations',
    version: 1,
    exportedAt: new Date(t).toISOString(),
    conversations: [
      {
        id: 'math-1',
        title: 'Math',
        titleEdited: true,
        systemPrompt: '',
        createdAt: t,
        updatedAt: t,
        messages: [
          { id: 'u1', role: 'user', content: 'Math please', createdAt: t },
          { id: 'a1', role: 'assistant', content: MATH, createdAt: t + 1, model: 'Test model' },
        ],
      },
    ],
  });
  await page.goto('/#/chat');
  await page.getByLabel('Import conversations').setInputFiles({ name: 'math.json', mimeType: 'application/json', buffer: Buffer.from(file) });
  await page.getByRole('button', { name: 'Math', exact: true }).click();
  const answer = page.getByRole('article', { name: /^Assistant/ });
  await expect(answer.locator('.katex')).toHaveCount(3);
  await expect(answer.locator('.katex-display')).toHaveCount(1);
  await expect(answer.locator('.katex math annotation').first()).toHaveText('E = mc^2');
  await expect(answer.locator('.katex-display annotation')).toContainText('\\frac{n(n+1)}{2}');
  // KaTeX's fonts came with the app (precached woff2).
  expect(await page.evaluate(() => document.fonts.check('16px KaTeX_Main'))).toBe(true);
  // \href is not trusted: no link, nothing ran; raw HTML stays text.
  await expect(answer.locator('a')).toHaveCount(0);
  await expect(answer).toContainText('<script>window.__pwned=2</script>');
  await expect(page.getByTestId('message-list').locator('script, [onerror], [onclick]')).toHaveCount(0);
  expect(await page.evaluate(() => Reflect.get(window, '__pwned'))).toBeUndefined();
});

test('on the Brix demo: found on (a fake) Hugging Face, loaded, Continue, versions, Chat settings, the context meter, and Compare reusing it', async ({ page }) => {
  test.setTimeout(LOAD_MS + 6 * ANSWER_MS);
  const part = (n: number) => `brix-demo-30m-q8_0-0000${n}-of-00002.gguf`;
  const hub = await startFakeHub([
    {
      id: 'brix-test/Brix-Demo-30M-GGUF',
      downloads: 1234,
      files: {
        [part(1)]: new Uint8Array(readFileSync(path.join(DEMO_DIR, part(1)))),
        [part(2)]: new Uint8Array(readFileSync(path.join(DEMO_DIR, part(2)))),
        'brix-demo-30m-f16.gguf': 58_000_000,
        'README.md': 10,
      },
    },
    { id: 'someone/unrelated-model', downloads: 5, files: { 'model.safetensors': 100 } },
  ]);
  const workers: string[] = [];
  page.on('worker', (w) => workers.push(w.url()));
  try {
    await seedSettings(page, 4, 128);
    await page.addInitScript((base) => localStorage.setItem('brix.hfBase', JSON.stringify(base)), hub.origin);
    await page.goto('/#/models');
    await page.getByRole('searchbox', { name: 'Search Hugging Face' }).fill('brix demo');
    await page.getByRole('searchbox', { name: 'Search Hugging Face' }).press('Enter');
    const results = page.getByRole('list', { name: 'Hugging Face results' });
    await expect(results.getByRole('listitem')).toHaveCount(1);
    expect(hub.requests.some((r) => /^GET \/api\/models\?search=brix(%20|\+)demo&filter=gguf/.test(r))).toBe(true);
    await results.getByRole('button', { name: /^brix-test\/Brix-Demo-30M-GGUF/ }).click();
    const rows = page.getByRole('table', { name: 'GGUF files of brix-test/Brix-Demo-30M-GGUF' }).getByTestId('hub-file');
    await expect(rows).toHaveCount(2);
    await expect(rows.nth(0)).toContainText('brix-demo-30m-q8_0 (2 parts)');
    await expect(rows.nth(0).getByRole('cell').nth(1)).toHaveText('Q8_0');
    await expect(rows.nth(0).getByRole('cell').nth(2)).toHaveText('28.6 MB');
    await expect(rows.nth(0).getByRole('cell').nth(3)).toHaveText(/^(Runs on this device|Runs, slowly \(software adapter\)|Checking this device…)$/);
    await expect(rows.nth(1).getByRole('cell').nth(1)).toHaveText('F16');
    await rows.nth(0).getByRole('button', { name: 'Add brix-demo-30m-q8_0' }).click();
    await expect(rows.nth(0)).toContainText('Added as Brix-Demo-30M-GGUF Q8_0');

    // Load it from its card, then chat with it.
    const card = page.getByTestId('model-card').filter({ hasText: 'Brix-Demo-30M-GGUF Q8_0' });
    await card.getByRole('button', { name: 'Download and load' }).click();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Chat', exact: true }).click();
    const status = page.getByTestId('load-status');
    await expect(status).toHaveAttribute('data-state', /^(ready|error)$/, { timeout: LOAD_MS });
    expect(await status.getAttribute('data-state'), await status.innerText()).toBe('ready');
    await expect(status).toContainText('Brix-Demo-30M-GGUF Q8_0');
    expect(hub.requests.some((r) => r.includes(`/resolve/main/${part(2)}`))).toBe(true);

    await send(page, 'Hello!');
    await settled(page, ANSWER_MS);
    const a = answers(page).first();
    await expect(a).toHaveAccessibleName(/from Brix-Demo-30M-GGUF Q8_0/);
    await expect(a).toHaveAttribute('data-finish', 'length');
    await expect(a.getByTestId('message-stats')).toContainText('+ 4 generated tokens');
    const meter = page.getByRole('meter', { name: 'Context used' });
    await expect(meter).toHaveAttribute('max', '128');
    expect(Number(await meter.getAttribute('value'))).toBeGreaterThan(4);
    const before = (await a.locator('.markdown').innerText()).trim();

    // Continue: the same message, longer, 4 + 4 tokens.
    await a.getByRole('button', { name: 'Continue' }).click();
    await settled(page, ANSWER_MS);
    await expect(answers(page)).toHaveCount(1);
    await expect(a.getByTestId('message-stats')).toContainText('+ 8 generated tokens');
    const after = (await a.locator('.markdown').innerText()).trim();
    expect(after.length).toBeGreaterThan(before.length);
    expect(after.startsWith(before.slice(0, Math.max(1, before.length - 2)))).toBe(true);

    // Regenerate: version 2 / 2 (greedy, so the same first text again).
    await a.getByRole('button', { name: 'Regenerate' }).click();
    await settled(page, ANSWER_MS);
    await expect(a.getByTestId('version-label')).toHaveText('2 / 2');

    // Chat settings: 2 tokens per answer here; a long message makes the engine drop the old turns (context 128).
    await page.getByRole('button', { name: 'Chat settings' }).click();
    await page.getByRole('group', { name: 'Chat settings' }).getByRole('spinbutton', { name: 'Max tokens' }).fill('2');
    await page.getByRole('group', { name: 'Chat settings' }).getByRole('spinbutton', { name: 'Max tokens' }).press('Enter');
    await send(page, `Please remember these words: ${'apple banana cherry '.repeat(25)}`);
    await settled(page, ANSWER_MS);
    const last = answers(page).last();
    await expect(last.getByTestId('message-stats')).toContainText('+ 2 generated tokens');
    await expect(last.getByTestId('truncated-note')).toContainText(/tokens dropped/);
    await expect(page.getByTestId('context-dropped')).toContainText('Old turns were dropped to fit');

    // Math in a Brix answer: the demo model writes no LaTeX of its own, so a cut-off answer that holds math comes
    // in through import; Continue has the Brix engine read it and extend it, and the stored result renders KaTeX.
    const t = Date.now();
    const mathChat = {
      format: 'brix-conversations',
      version: 1,
      exportedAt: new Date(t).toISOString(),
      conversations: [
        {
          id: 'math-brix',
          title: 'Math on Brix',
          titleEdited: true,
          systemPrompt: '',
          createdAt: t,
          updatedAt: t,
          messages: [
            { id: 'mu', role: 'user', content: 'What is the energy?', createdAt: t },
            { id: 'ma', role: 'assistant', content: 'It is $E = mc^2$ and', createdAt: t + 1, finishReason: 'length' },
          ],
        },
      ],
    };
    await page.getByLabel('Import conversations').setInputFiles({ name: 'math.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(mathChat)) });
    await page.getByRole('navigation', { name: 'Conversation list' }).getByRole('button', { name: 'Math on Brix', exact: true }).click();
    // Imported without a model name: the name says who wrote it only after the Brix engine has extended it.
    const m = page.getByRole('article', { name: /^Assistant message/ }).last();
    await expect(m.locator('.katex')).toHaveCount(1);
    await m.getByRole('button', { name: 'Continue' }).click();
    await settled(page, ANSWER_MS);
    await expect(answers(page)).toHaveCount(1);
    await expect(m).toHaveAccessibleName(/from Brix-Demo-30M-GGUF Q8_0/);
    await expect(m.getByTestId('message-stats')).toContainText(/\+ [1-4] generated tokens?/);
    await expect(m.locator('.katex annotation')).toHaveText('E = mc^2');
    const extended = (await m.locator('.markdown').innerText()).trim();
    expect(extended.length).toBeGreaterThan('It is E = mc^2 and'.length);

    // Compare reuses the chat's loaded model: ready at once, no second engine worker.
    const engineWorkers = (): number => workers.filter((u) => u.includes('engine.worker')).length;
    const n = engineWorkers();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Compare', exact: true }).click();
    const pane = page.getByRole('region', { name: 'Pane 1' });
    const box = pane.getByRole('combobox', { name: 'Model', exact: true });
    // In the Brix group (the wllama group lists the same file).
    const brixOption = box.locator('optgroup[label^="Brix"] option', { hasText: 'Brix-Demo-30M-GGUF Q8_0' });
    await expect(brixOption).toHaveCount(1);
    await box.selectOption((await brixOption.getAttribute('value')) ?? '');
    await pane.getByRole('button', { name: 'Load' }).click();
    await expect(pane.getByTestId('pane-ready')).toContainText('already loaded in this tab', { timeout: 10_000 });
    expect(engineWorkers()).toBe(n);
  } finally {
    await hub.close();
  }
});
