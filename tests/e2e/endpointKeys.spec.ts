/**
 * @file Settings → Endpoints in the browser: a saved API key goes only to the origin it was saved for. Two local
 * fake OpenAI-compatible servers record the Authorization header of every request; "List models" sends the key
 * to the first, and after the base URL is changed to the second (typed, not saved again) the key is not sent
 * there and the form says so. Plain http:// to another machine shows a warning; 127.0.0.1 does not. No engine.
 */
import http from 'node:http';
import { expect, test } from '@playwright/test';

interface FakeServer {
  readonly base: string;
  readonly seen: (string | null)[];
  readonly server: http.Server;
}

/** `GET /v1/models` answering one model, CORS for any origin (the Authorization header included). */
async function fakeOpenAI(model: string): Promise<FakeServer> {
  const seen: (string | null)[] = [];
  const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'authorization, content-type, accept' };
  const server = http.createServer((req, res) => {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...cors, 'access-control-allow-methods': 'GET, POST' });
      res.end();
      return;
    }
    seen.push(req.headers.authorization ?? null);
    res.writeHead(200, { ...cors, 'content-type': 'application/json' });
    res.end(JSON.stringify({ object: 'list', data: [{ id: model, object: 'model' }] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no TCP address');
  return { base: `http://127.0.0.1:${addr.port}/v1`, seen, server };
}

async function close(s: FakeServer): Promise<void> {
  s.server.closeAllConnections();
  await new Promise((r) => s.server.close(r));
}

test('a saved API key is not sent to a just-typed other origin; plain http:// to another machine is warned about', async ({ page }) => {
  const saved = await fakeOpenAI('saved-model');
  const other = await fakeOpenAI('other-model');
  try {
    await page.goto('/#/settings');
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    const form = page.getByRole('group', { name: /^Endpoint / }).first();
    const baseUrl = form.getByRole('textbox', { name: 'Base URL' });
    await baseUrl.fill(saved.base);
    await baseUrl.blur();
    await form.getByLabel(/^API key/).fill('sk-e2e-bound');
    await form.getByLabel(/^API key/).blur();
    await expect(form.getByText('API key (saved in this browser)')).toBeVisible();
    await expect(form.getByTestId('endpoint-http-warning')).toHaveCount(0);

    await form.getByRole('button', { name: 'List models' }).click();
    await expect(form.getByText('Models on the server: saved-model')).toBeVisible();
    expect(saved.seen).toEqual(['Bearer sk-e2e-bound']);

    // A different origin, just typed: the key stays with the first one.
    await baseUrl.fill(other.base);
    await expect(form.getByTestId('endpoint-key-elsewhere')).toContainText(`it is not sent to ${new URL(other.base).origin}`);
    await form.getByRole('button', { name: 'List models' }).click();
    await expect(form.getByText('Models on the server: other-model')).toBeVisible();
    expect(other.seen).toEqual([null]);

    // Plain http:// to another machine is warned about (nothing is requested for it here).
    await baseUrl.fill('http://gpu.example:8000/v1');
    await expect(form.getByTestId('endpoint-http-warning')).toContainText('Plain http:// to another machine');
    await baseUrl.fill('https://gpu.example/v1');
    await expect(form.getByTestId('endpoint-http-warning')).toHaveCount(0);
    expect(saved.seen).toEqual(['Bearer sk-e2e-bound']);
  } finally {
    await close(saved);
    await close(other);
  }
});
