/**
 * @file Hostile chat templates in the Node hosts: `generate --chat` on a GGUF whose template runs away exits 1
 * with ChatTemplateError (the real CLI, the template refused at load, before any GPU is touched), and the OpenAI
 * server answers a request whose rendering runs away with a 500 naming ChatTemplateError while /health still
 * answers and the next request is served.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createOpenAIServer } from '../../scripts/lib/openaiServer.ts';
import { CHATML_TEMPLATE } from '../../workers/tokenizer/chatTemplate.ts';
import { tinyEngine, tinyGguf } from '../helpers/tinyEngine.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'brix-template-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('generate --chat', () => {
  it.each([
    ['one huge range', '{% for i in range(100000000) %}x{% endfor %}', /limit of items/],
    ['two nested ranges', '{% for i in range(50000) %}{% for j in range(50000) %}x{% endfor %}{% endfor %}', /limit of (steps|time)/],
  ])('%s: exits 1 with ChatTemplateError', async (name, template, limit) => {
    const file = path.join(dir, `${name.replaceAll(' ', '-')}.gguf`);
    writeFileSync(file, await tinyGguf(template));
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/cli.mjs'), 'generate', '--model', file, '--chat', '--prompt', 'hi'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 120_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^brix generate: ChatTemplateError: chat template stopped at its limit of /m);
    expect(r.stderr).toMatch(limit);
  });
});

describe('serve', () => {
  it('a runaway render is a 500 naming ChatTemplateError; /health answers and the next request is served', async () => {
    const boom =
      "{% if messages[-1]['content'] == 'boom' %}{% for i in range(50000) %}{% for j in range(50000) %}x{% endfor %}{% endfor %}{% endif %}" +
      CHATML_TEMPLATE;
    const { engine } = await tinyEngine(boom);
    await engine.load({ kind: 'path', path: 'tiny.gguf' }, {});
    const server = createOpenAIServer({ engine, modelId: 'tiny', maxQueue: 4, defaultMaxTokens: 4, maxTokensLimit: 256, log: () => undefined });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const addr = server.address();
      if (addr === null || typeof addr === 'string') throw new Error('no TCP address');
      const base = `http://127.0.0.1:${addr.port}`;
      const post = (content: string) =>
        fetch(`${base}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content }], temperature: 0 }),
        });
      const [bad, health] = await Promise.all([post('boom'), new Promise((r) => setTimeout(r, 50)).then(() => fetch(`${base}/health`))]);
      expect(bad.status).toBe(500);
      expect(JSON.stringify(await bad.json())).toMatch(/ChatTemplateError: chat template stopped at its limit of (steps|time)/);
      expect(health.status).toBe(200);
      const good = await post('hello');
      expect(good.status).toBe(200);
      const body: unknown = await good.json();
      expect(JSON.stringify(body)).toContain('"content":"ok"');
      expect((await fetch(`${base}/health`)).status).toBe(200);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
