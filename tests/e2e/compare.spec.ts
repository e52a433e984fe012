/**
 * @file The compare view end to end in headless Chromium. Without a GPU engine: panes and the model lists of
 * every engine, endpoints against a local OpenAI-compatible server (`brix serve`'s HTTP layer with a scripted
 * engine: real CORS, SSE and errors in the browser), and WebLLM failing with a clear message both offline and
 * when its real worker cannot reach the model hosts (blocked by the test, so nothing is downloaded). With the
 * real engine (SwiftShader: slow, so a few tokens): the bundled 30M demo next to the 65M demo served by a local
 * Range + CORS server (both 30M when the 65M file is absent, with a notice), one prompt streaming into both
 * panes (blind, as Model A and B) with tok/s stats, the vote recorded in the tally (kept over a reload), the
 * export holding both answers and the vote, and Stop all mid-answer.
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import { createOpenAIServer } from '../../scripts/lib/openaiServer.ts';
import { RangeFiles } from './server/rangeFaults.ts';
import type { GenerationResult, GenerateRequest, TokenDelta } from '../../workers/protocol.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MODEL_65M = path.resolve(repoRoot, '../shared/models/brix-cl100k-65m-q8_0.gguf');
const MAX_TOKENS = 4;
/** Loading and answering with two models at once on SwiftShader (CPU) takes minutes. */
const SLOW = 900_000;

/** Greedy, few tokens, small context: fast and repeatable on a software GPU. */
async function seedSettings(page: Page): Promise<void> {
  await page.addInitScript((n) => {
    if (localStorage.getItem('brix.settings') !== null) return;
    localStorage.setItem(
      'brix.settings',
      JSON.stringify({ state: { theme: 'system', sampling: { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, maxTokens: n, seed: 1, randomSeed: false }, contextSize: 256 }, version: 1 }),
    );
  }, MAX_TOKENS);
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no TCP address');
  return `http://127.0.0.1:${addr.port}`;
}

async function close(server: http.Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

/** Model files over HTTP Range (the weight cache's logic from rangeFaults.ts), with CORS for the app's origin. */
async function startCorsFileServer(files: Record<string, Uint8Array>): Promise<{ origin: string; server: http.Server }> {
  const range = new RangeFiles();
  for (const [name, bytes] of Object.entries(files)) range.files.set(name, { bytes, etag: `"${name}-${bytes.length}"` });
  const cors = {
    'access-control-allow-origin': '*',
    'access-control-allow-headers': 'range, if-range, if-match',
    'access-control-expose-headers': 'content-range, content-length, accept-ranges, etag, last-modified, x-linked-etag',
  };
  const server = http.createServer((req, res) => {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...cors, 'access-control-allow-methods': 'GET, HEAD' });
      res.end();
      return;
    }
    const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.slice(1));
    const plan = range.plan(name, req.headers.range, req.method ?? 'GET');
    res.writeHead(plan.status, { ...plan.headers, ...cors, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : Buffer.from(plan.body));
  });
  return { origin: await listen(server), server };
}

/** A scripted engine behind the real OpenAI server code: deterministic text, a little delay per piece. */
function scriptedEngine(pieces: readonly string[]): { generate(r: GenerateRequest, onToken?: (d: TokenDelta) => void, signal?: AbortSignal): Promise<GenerationResult> } {
  return {
    async generate(_r, onToken, signal) {
      let text = '';
      for (const p of pieces) {
        await new Promise((r) => setTimeout(r, 20));
        if (signal?.aborted) break;
        text += p;
        onToken?.({ text: p, tokenIds: [] });
      }
      return {
        text,
        tokenIds: [],
        stats: {
          promptTokens: 9,
          generatedTokens: pieces.length,
          timeToFirstTokenMs: 20,
          prefillTokensPerSecond: 450,
          decodeTokensPerSecond: 50,
          totalMs: 20 * pieces.length,
          finishReason: signal?.aborted ? 'abort' : 'eog',
          expertUsage: [],
          truncatedTokens: 0,
        },
      };
    },
  };
}

const pane = (page: Page, n: number) => page.getByRole('region', { name: `Pane ${n}` });
const modelBox = (page: Page, n: number) => pane(page, n).getByRole('combobox', { name: 'Model', exact: true });

/** Waits for the model lists (Brix and WebLLM's catalog) to be in the pickers. */
async function openCompare(page: Page): Promise<void> {
  await page.goto('/#/compare');
  await expect(page.getByRole('heading', { level: 1, name: 'Compare' })).toBeVisible();
  // wllama lists the same files in its own group.
  await expect(modelBox(page, 1).locator('optgroup[label^="Brix"] option', { hasText: 'Brix Demo 30M' })).toHaveCount(1);
  await expect(modelBox(page, 1).locator('optgroup[label^="WebLLM"] option').first()).toBeAttached({ timeout: 30_000 });
}

/** Endpoints are set up in Settings → Endpoints (one list for Chat and Compare); back to Compare after. */
async function addEndpoint(page: Page, i: number, baseUrl: string, model: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings', exact: true }).click();
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  const form = page.getByRole('group', { name: /^Endpoint / }).nth(i);
  await form.getByRole('textbox', { name: 'Base URL' }).fill(baseUrl);
  // An input with suggestions (datalist) is a combobox.
  await form.getByRole('combobox', { name: 'Model name' }).fill(model);
  await form.getByRole('combobox', { name: 'Model name' }).blur();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Compare', exact: true }).click();
}

async function send(page: Page, text: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Message' }).fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
}

/** Every answer of the last turn has ended (done, stopped or error). */
async function settled(page: Page, timeout = 240_000): Promise<void> {
  await expect(page.locator('[data-testid="pane-answer"][data-status="streaming"], [data-testid="pane-answer"][data-status="loading"]')).toHaveCount(0, { timeout });
  await expect(page.getByRole('button', { name: 'Stop all' })).toBeDisabled({ timeout });
}

test('panes list the models of every engine; panes can be added and closed', async ({ page }) => {
  await openCompare(page);
  await expect(page.getByRole('region', { name: /^Pane \d$/ })).toHaveCount(2);
  const groups = await modelBox(page, 1).locator('optgroup').evaluateAll((gs) => gs.map((g) => g.getAttribute('label')));
  expect(groups).toEqual(['Brix (this tab, our engine)', 'wllama (llama.cpp in this tab)', 'WebLLM (this tab, downloads from the internet)']);
  expect(await modelBox(page, 1).locator('optgroup[label^="WebLLM"] option').count()).toBeGreaterThan(10);

  await addEndpoint(page, 0, 'http://127.0.0.1:9/v1', 'dbrx-instruct');
  await expect(modelBox(page, 2).locator('optgroup[label="Endpoints"] option')).toHaveText(['Endpoint 1 (dbrx-instruct)']);

  await page.getByRole('button', { name: 'Add pane' }).click();
  await page.getByRole('button', { name: 'Add pane' }).click();
  await expect(page.getByRole('region', { name: /^Pane \d$/ })).toHaveCount(4);
  await expect(page.getByRole('button', { name: 'Add pane' })).toBeDisabled();
  await pane(page, 4).getByRole('button', { name: 'Close Pane 4' }).click();
  await pane(page, 3).getByRole('button', { name: 'Close Pane 3' }).click();
  await expect(page.getByRole('region', { name: /^Pane \d$/ })).toHaveCount(2);
  await expect(pane(page, 1).getByRole('button', { name: /^Close/ })).toHaveCount(0);

  // Picking a model shows the memory check before anything loads.
  await modelBox(page, 1).selectOption('brix:brix-demo-30m');
  await expect(pane(page, 1).getByTestId('pane-fit')).toContainText(/^Memory: (Fits|Tight|Probably does not fit|No WebGPU adapter)/);
  await modelBox(page, 2).selectOption({ label: 'Endpoint 1 (dbrx-instruct)' });
  await expect(pane(page, 2).getByTestId('pane-fit')).toHaveText('Memory: Runs on the server: takes no memory on this device.');
});

test('endpoints in the browser: brix serve with --cors for the app streams with stats; one without --cors says CORS/unreachable', async ({ page, baseURL }) => {
  // `brix serve --cors <the app's origin>`; the second server, without --cors, refuses the app's origin.
  const server = createOpenAIServer({ engine: scriptedEngine(['Once', ' upon', ' a', ' time', '.']), modelId: 'tiny', cors: [new URL(baseURL ?? '').origin] });
  const closed = createOpenAIServer({ engine: scriptedEngine(['never']), modelId: 'nothing-here' });
  const origin = await listen(server);
  const closedOrigin = await listen(closed);
  try {
    await seedSettings(page);
    await openCompare(page);
    await addEndpoint(page, 0, origin, 'tiny');
    await addEndpoint(page, 1, `${closedOrigin}/v1`, 'nothing-here');
    await modelBox(page, 1).selectOption({ label: 'Endpoint 1 (tiny)' });
    await modelBox(page, 2).selectOption({ label: 'Endpoint 2 (nothing-here)' });
    await send(page, 'Tell me a story');
    await settled(page, 30_000);
    const ok = pane(page, 1).getByTestId('pane-answer');
    await expect(ok).toHaveAttribute('data-status', 'done');
    await expect(ok.locator('.markdown')).toHaveText('Once upon a time.');
    await expect(ok.getByTestId('pane-stats')).toContainText('prefill 450 tok/s · decode 50.0 tok/s · 9 prompt + 5 generated tokens');
    const bad = pane(page, 2).getByTestId('pane-answer').getByRole('alert');
    await expect(pane(page, 2).getByRole('alert')).toHaveCount(1);
    await expect(bad).toHaveAttribute('data-error-name', 'EndpointUnreachableError');
    await expect(bad).toContainText('the endpoint is unreachable or blocks cross-origin requests (CORS)');
    // The key field never shows a saved key back.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings', exact: true }).click();
    const form = page.getByRole('group', { name: /^Endpoint / }).first();
    const key = form.getByLabel(/^API key/);
    await key.fill('sk-e2e-secret');
    await key.blur();
    await expect(form.getByText('API key (saved in this browser)')).toBeVisible();
    await expect(key).toHaveValue('');
    const exported = await page.evaluate(() => localStorage.getItem('brix.compare.endpoints') ?? '');
    expect(exported).not.toContain('sk-e2e-secret');
  } finally {
    await close(server);
    await close(closed);
  }
});

test('WebLLM offline: loading says clearly that the network is needed', async ({ page, context }) => {
  await openCompare(page);
  const first = await modelBox(page, 1).locator('optgroup[label^="WebLLM"] option').first().getAttribute('value');
  expect(first).toMatch(/^webllm:/);
  await context.setOffline(true);
  try {
    await modelBox(page, 1).selectOption(first ?? '');
    await pane(page, 1).getByRole('button', { name: 'Load' }).click();
    const alert = pane(page, 1).getByRole('alert');
    await expect(alert).toHaveAttribute('data-error-name', 'OfflineError');
    await expect(alert).toContainText('Offline: WebLLM needs the network');
    await expect(alert).toContainText(/offline/);
  } finally {
    await context.setOffline(false);
  }
});

test('WebLLM in its worker: a download that cannot reach the model hosts fails with the same clear message', async ({ page, context }) => {
  // Blocked here whether or not this machine has internet, so the test never downloads a real model.
  const blocked: string[] = [];
  await context.route(/^https:\/\/(huggingface\.co|[^/]*\.huggingface\.co|[^/]*\.hf\.co|raw\.githubusercontent\.com)\//, (route) => {
    blocked.push(route.request().url());
    return route.abort('internetdisconnected');
  });
  await openCompare(page);
  const first = await modelBox(page, 1).locator('optgroup[label^="WebLLM"] option').first().getAttribute('value');
  await modelBox(page, 1).selectOption(first ?? '');
  await pane(page, 1).getByRole('button', { name: 'Load' }).click();
  const alert = pane(page, 1).getByRole('alert');
  await expect(alert).toHaveAttribute('data-error-name', 'OfflineError', { timeout: 60_000 });
  await expect(alert).toContainText('the network request failed');
  expect(blocked.length, 'the WebLLM worker asked for its model files').toBeGreaterThan(0);
  // The pane can try again.
  await expect(pane(page, 1).getByRole('button', { name: 'Load' })).toBeEnabled();
});

test('two Brix demo models side by side: blind, both stream with tok/s, vote, export, Stop all', async ({ page }) => {
  // SwiftShader runs both models on the CPU at once: minutes per turn.
  test.setTimeout(1_800_000);
  let files: { origin: string; server: http.Server } | undefined;
  let second = 'Brix Demo 30M';
  if (existsSync(MODEL_65M)) {
    files = await startCorsFileServer({ 'brix-cl100k-65m-q8_0.gguf': new Uint8Array(readFileSync(MODEL_65M)) });
  } else {
    console.warn(`compare e2e: ${MODEL_65M} is absent; both panes use the bundled 30M demo instead`);
  }
  try {
    await seedSettings(page);
    if (files) {
      // Added the way a user adds any GGUF: by URL on the Models page.
      await page.goto('/#/models');
      await page.getByRole('textbox', { name: 'Model URL' }).fill(`${files.origin}/brix-cl100k-65m-q8_0.gguf`);
      await page.getByRole('button', { name: 'Add', exact: true }).click();
      second = 'brix-cl100k-65m-q8_0';
    }
    await openCompare(page);
    await modelBox(page, 1).selectOption('brix:brix-demo-30m');
    // By value: wllama's group has an option of the same name.
    const value2 = await modelBox(page, 2).locator('optgroup[label^="Brix"] option', { hasText: second }).first().getAttribute('value');
    await modelBox(page, 2).selectOption(value2 ?? '');

    // 1. Blind: labels hide the models; one prompt, both panes load and stream, each with its stats.
    await page.getByRole('checkbox', { name: 'Blind mode' }).check();
    await expect(pane(page, 1).getByRole('heading', { name: 'Model A' })).toBeVisible();
    await expect(pane(page, 2).getByRole('heading', { name: 'Model B' })).toBeVisible();
    await expect(page.getByRole('combobox', { name: 'Model', exact: true })).toHaveCount(0);
    await send(page, 'Hello!');
    for (const n of [1, 2]) await expect(pane(page, n).getByTestId('pane-answer')).toHaveAttribute('data-status', /^(loading|streaming)$/);
    await settled(page, SLOW);
    for (const n of [1, 2]) {
      const a = pane(page, n).getByTestId('pane-answer');
      await expect(a, `pane ${n}: ${await pane(page, n).innerText()}`).toHaveAttribute('data-status', 'done');
      expect((await a.locator('.markdown').innerText()).trim().length).toBeGreaterThan(0);
      await expect(a.getByTestId('pane-stats')).toContainText(/decode [\d.]+ tok\/s/);
    }
    const answers = await Promise.all([1, 2].map(async (n) => (await pane(page, n).getByTestId('pane-answer').locator('.markdown').innerText()).trim()));

    // 2. The vote reveals the names and lands in the tally.
    const vote = page.getByRole('group', { name: 'Vote' });
    await expect(vote.getByRole('button')).toHaveText(['A is better', 'B is better', 'Tie']);
    await vote.getByRole('button', { name: 'A is better' }).click();
    const result = page.getByRole('status', { name: 'Vote result' });
    await expect(result).toContainText('You voted: A is better.');
    await expect(result).toContainText(/Model A was .+\(Brix\)/);
    await expect(pane(page, 1).getByRole('heading', { name: /^Model A — / })).toBeVisible();
    const tally = page.getByTestId('tally');
    await expect(tally.locator('tbody tr')).toHaveCount(second === 'Brix Demo 30M' ? 1 : 2);
    await expect(tally.locator('tbody tr').first().locator('td').nth(1)).toHaveText('1');

    // 3. Export: the JSON and the Markdown hold the prompt, both answers and the vote.
    const [json] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export JSON' }).click()]);
    const j = JSON.parse(readFileSync(await json.path(), 'utf8')) as { turns: { prompt: string; answers: { text: string; model: string }[]; vote?: { winner: string } }[] };
    expect(j.turns[0].prompt).toBe('Hello!');
    expect(j.turns[0].answers.map((a) => a.text.trim())).toEqual(answers);
    expect(j.turns[0].vote?.winner).toBe(j.turns[0].answers[0].model);
    const [md] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export Markdown' }).click()]);
    const mdText = readFileSync(await md.path(), 'utf8');
    for (const a of answers) expect(mdText).toContain(a.split('\n')[0]);
    expect(mdText).toContain('is better');

    // 4. Stop all mid-answer: longer answers for this turn, stopped once both panes stream.
    for (const n of [1, 2]) await pane(page, n).getByText(/^Sampling for this pane/).click();
    for (const n of [1, 2]) await pane(page, n).getByRole('spinbutton', { name: 'Max tokens' }).fill('200');
    await send(page, 'Tell me a long story.');
    for (const n of [1, 2]) await expect(pane(page, n).locator('[data-status="streaming"] .markdown')).toBeVisible({ timeout: SLOW });
    await page.getByRole('button', { name: 'Stop all' }).click();
    await settled(page, 120_000);
    for (const n of [1, 2]) await expect(pane(page, n).getByTestId('pane-answer').last()).toHaveAttribute('data-status', 'stopped');

    // 5. The tally survives a reload (IndexedDB).
    await page.reload();
    await expect(page.getByTestId('tally').locator('tbody tr').first()).toBeVisible();
  } finally {
    await close(files?.server);
  }
});
