/**
 * @file The Models page without the engine: the catalog (bundled demo, Granite-MoE, OLMoE, a dense Llama) with
 * sizes, what each needs and a fit verdict before any download; DBRX listed as needing an endpoint; adding a
 * model by URL (validated) and from a file, both showing up in the chat's model picker; the storage panel; and
 * the bundled demo model downloaded into the weight cache from this page, then deleted; and a URL model paused
 * at about half and resumed, against a throttled local Range server that counts the bytes it sends.
 */
import { randomBytes } from 'node:crypto';
import { expect, test } from '@playwright/test';
import { startShardServer } from './server/shardServer.ts';

test('catalog: models, sizes, requirements and a verdict before downloading; DBRX needs an endpoint', async ({ page }) => {
  await page.goto('/#/models');
  await expect(page.getByRole('heading', { level: 1, name: 'Models' })).toBeVisible();
  const cards = page.getByTestId('model-card');
  for (const name of ['Brix Demo 30M', 'Granite 3.1 1B A400M Instruct', 'Granite 3.1 3B A800M Instruct', 'OLMoE 1B-7B 0125 Instruct (Q4_K_M)', 'OLMoE 1B-7B 0125 Instruct (IQ4_XS)', 'Llama 3.2 1B Instruct (dense)']) {
    await expect(cards.filter({ has: page.getByRole('heading', { name, exact: true }) })).toHaveCount(1);
  }
  const demo = cards.filter({ has: page.getByRole('heading', { name: 'Brix Demo 30M', exact: true }) });
  await expect(demo).toContainText('28.6 MB');
  await expect(demo).toContainText('dbrx');
  await expect(demo).toContainText('16, 4 per token');
  // The worker ping answers: every card gets a verdict other than "checking".
  await expect(demo.getByTestId('fit')).not.toHaveAttribute('data-verdict', 'unknown');
  const olmoe = cards.filter({ has: page.getByRole('heading', { name: 'OLMoE 1B-7B 0125 Instruct (Q4_K_M)', exact: true }) });
  await expect(olmoe).toContainText('about 4.20 GB');
  await expect(olmoe).toContainText('Apache-2.0');
  const verdict = await olmoe.getByTestId('fit').getAttribute('data-verdict');
  expect(['runs', 'slow', 'risky', 'no']).toContain(verdict);
  await olmoe.getByTestId('fit').locator('summary').click();
  await expect(olmoe.getByTestId('fit')).toContainText('Storage:');
  await expect(olmoe.getByTestId('fit')).toContainText('WebGPU:');

  const dbrx = page.getByTestId('endpoint-model');
  await expect(dbrx).toContainText('DBRX Instruct');
  await expect(dbrx).toContainText('needs an endpoint');
  await expect(dbrx).toContainText('132B total, 36B active per token');
  await expect(dbrx).toContainText('OpenAI-compatible endpoint');
  const inTab = dbrx.getByRole('list', { name: 'DBRX Instruct in a tab' });
  await expect(inTab.getByRole('listitem').first()).toContainText('Q2_K');
  await expect(inTab.getByRole('listitem').first()).toContainText('fits a 64 GB unified-memory machine');
  await expect(inTab.getByRole('listitem').nth(1)).toContainText('fits a 96 GB unified-memory machine');
  // The engine's GPU memory per quant (upload plan + KV cache + scratch), and this device's verdict on it.
  await expect(inTab.getByRole('listitem').first()).toContainText('49.7 GB of GPU memory at a 4,096-token context');
  await expect(inTab.getByRole('listitem').nth(2)).toContainText('fits a 128 GB unified-memory machine');
  await expect(inTab.getByTestId('tab-quant').first()).toHaveAttribute('data-verdict', /^(slow|risky|no)$/);
  await expect(inTab.getByRole('listitem').first()).toContainText('This device:');
});

test('add a model by URL (validated) and from a file; both appear in the model picker', async ({ page }) => {
  await page.goto('/#/models');
  const url = page.getByRole('textbox', { name: 'Model URL' });
  await url.fill('https://example.com/not-a-model.html');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await expect(page.getByRole('alert')).toContainText('should point at a .gguf file');

  await url.fill('https://huggingface.co/someone/Some-MoE-GGUF/blob/main/Some-MoE-Q4_K_M.gguf');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Added Some-MoE-Q4_K_M.' })).toBeVisible();
  const card = page.getByTestId('model-card').filter({ has: page.getByRole('heading', { name: 'Some-MoE-Q4_K_M', exact: true }) });
  await expect(card).toContainText('https://huggingface.co/someone/Some-MoE-GGUF/resolve/main/Some-MoE-Q4_K_M.gguf');
  await expect(card).toContainText('Not downloaded.');

  await page.getByLabel('Open a GGUF file').setInputFiles({ name: 'tiny-test.gguf', mimeType: 'application/octet-stream', buffer: Buffer.from('GGUF') });
  await expect(page.getByTestId('model-card').filter({ has: page.getByRole('heading', { name: 'tiny-test (local file)', exact: true }) })).toBeVisible();

  // The picker offers every model by its display name (Brix's group; wllama's lists the same files); the added
  // URL survives a reload, the file does not.
  await page.goto('/#/chat');
  const picker = page.getByRole('combobox', { name: 'Model' }).locator('optgroup[label^="Brix"]');
  const wllama = page.getByRole('combobox', { name: 'Model' }).locator('optgroup[label^="wllama"]');
  await expect(picker.getByRole('option', { name: 'Brix Demo 30M' })).toHaveCount(1);
  await expect(picker.getByRole('option', { name: 'Some-MoE-Q4_K_M' })).toHaveCount(1);
  await expect(picker.getByRole('option', { name: 'tiny-test (local file)' })).toHaveCount(1);
  await expect(wllama.getByRole('option', { name: 'Some-MoE-Q4_K_M' })).toHaveCount(1);
  await expect(wllama.getByRole('option', { name: 'tiny-test (local file)' })).toHaveCount(1);
  await page.reload();
  await expect(picker.getByRole('option', { name: 'Some-MoE-Q4_K_M' })).toHaveCount(1);
  await expect(picker.getByRole('option', { name: 'tiny-test (local file)' })).toHaveCount(0);
  await expect(wllama.getByRole('option', { name: 'tiny-test (local file)' })).toHaveCount(0);

  await page.goto('/#/models');
  await card.getByRole('button', { name: 'Remove from list' }).click();
  await expect(card).toHaveCount(0);
});

test('storage panel, and the demo model downloaded into the cache from this page, then deleted', async ({ page }) => {
  test.setTimeout(120_000);
  await page.goto('/#/models');
  await expect(page.getByTestId('storage-usage')).toContainText(/available to Brix in this browser/);
  await expect(page.getByTestId('persisted')).toContainText(/Storage is (not )?persistent/);
  const demo = page.getByTestId('model-card').filter({ has: page.getByRole('heading', { name: 'Brix Demo 30M', exact: true }) });
  await expect(demo.getByTestId('cache-state')).toHaveText('Not downloaded.');
  await demo.getByRole('button', { name: 'Download', exact: true }).click();
  await expect(demo.getByTestId('cache-state')).toHaveText('Downloaded (28.6 MB).', { timeout: 90_000 });
  await expect(page.getByTestId('storage-usage')).toContainText('1 downloaded model: 28.6 MB');
  await demo.getByRole('button', { name: 'Delete download' }).click();
  await demo.getByRole('group', { name: 'Confirm delete' }).getByRole('button', { name: 'Delete', exact: true }).click();
  await expect(demo.getByTestId('cache-state')).toHaveText('Not downloaded.');
});

test('pause at about half keeps what was downloaded; resume fetches only the rest (at most 1.1x the file)', async ({ page }) => {
  test.setTimeout(120_000);
  const MiB = 1024 * 1024;
  // 40 MiB: three 16 MiB shards, all in flight at once, so at half none is complete.
  const size = 40 * MiB;
  const srv = await startShardServer();
  try {
    srv.addFile('pause-test.gguf', new Uint8Array(randomBytes(size)));
    srv.throttle = 3 * MiB; // per response: ~9 MiB/s with three at once
    const sent = (): number => srv.bytesSent('pause-test.gguf');
    await page.goto('/#/models');
    await page.getByRole('textbox', { name: 'Model URL' }).fill(`${srv.origin}/files/pause-test.gguf`);
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    const card = page.getByTestId('model-card').filter({ has: page.getByRole('heading', { name: 'pause-test', exact: true }) });
    await card.getByRole('button', { name: 'Download', exact: true }).click();
    await expect.poll(sent, { timeout: 60_000, intervals: [50] }).toBeGreaterThanOrEqual(0.45 * size);
    await card.getByRole('button', { name: 'Pause' }).click();
    await expect(card.getByText('Paused: what was downloaded is kept.')).toBeVisible();
    const state = card.getByTestId('cache-state');
    await expect(state).toHaveText(/^Partly downloaded: [\d.]+ MB of 41\.9 MB\.$/);
    const kept = Number(/Partly downloaded: ([\d.]+) MB/.exec((await state.textContent()) ?? '')?.[1]) * 1e6;
    const atPause = sent();
    console.log(`paused with ${atPause} bytes sent, ${kept} shown as kept, of ${size}`);
    // The card tells the truth: what the server sent, less what was still in socket buffers at the pause.
    expect(kept).toBeGreaterThanOrEqual(0.4 * size);
    expect(kept).toBeLessThanOrEqual(atPause + 1e5);

    srv.throttle = 0;
    await card.getByRole('button', { name: 'Resume download' }).click();
    await expect(state).toHaveText('Downloaded (41.9 MB).', { timeout: 60_000 });
    const total = sent();
    console.log(`pause/resume: ${total} bytes sent for a ${size}-byte file (${(total / size).toFixed(3)}x)`);
    expect(total).toBeLessThanOrEqual(1.1 * size);
    // Resumed shards continued from their kept bytes instead of their first byte.
    expect(srv.log.some((e) => e.file === 'pause-test.gguf' && e.start % (16 * MiB) !== 0)).toBe(true);
  } finally {
    await srv.close();
  }
});
