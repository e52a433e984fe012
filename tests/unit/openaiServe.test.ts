/**
 * @file `brix serve` for real: the CLI started from Node on a tiny generated model (our engine on Node WebGPU,
 * lavapipe unless VK_ICD_FILENAMES says otherwise), then the compare view's endpoint engine streams a chat
 * completion from it over HTTP. Checks the listening line, /v1/models, the streamed answer against the
 * non-streamed one for the same greedy request, server-side speeds and usage arriving in the stats, the doors
 * (--cors origin allowed, a foreign one and a foreign Host refused, the key from BRIX_API_KEY required), and a
 * clean exit on SIGTERM. Needs the engine and a Vulkan driver; it fails (never skips) without them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeModelBytes, resolveConfig } from '../../scripts/lib/makeModel.ts';
import { OpenAIChatEngine } from '../../app/engines/openai.ts';
import type { GenerateRequest } from '../../workers/protocol.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LAVAPIPE = '/usr/share/vulkan/icd.d/lvp_icd.json';
const START_MS = 240_000;
const KEY = 'sk-serve-test';
const APP = 'http://localhost:4173';
const auth = { authorization: `Bearer ${KEY}` };

let dir: string;
let child: ChildProcess | undefined;
let base = '';
let stderr = '';

/** Resolves with the first stdout line matching `re`, or rejects when the process exits first. */
function waitForLine(p: ChildProcess, re: RegExp, ms: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${re} in ${ms} ms; stderr: ${stderr.slice(-2000)}`)), ms);
    p.stdout?.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      const m = re.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    p.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before listening; stdout: ${buf}; stderr: ${stderr.slice(-2000)}`));
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'brix-serve-'));
  const cfg = resolveConfig({ arch: 'dbrx', name: 'tiny-serve', layers: 1, embd: 128, heads: 4, kvHeads: 2, ff: 128, experts: 4, expertsUsed: 2, vocab: 1024, ctx: 256 });
  const file = path.join(dir, 'tiny-serve.gguf');
  writeFileSync(file, await makeModelBytes(cfg, 'q8_0', 11));
  const env: NodeJS.ProcessEnv = { ...process.env, BRIX_API_KEY: KEY };
  if (env.VK_ICD_FILENAMES === undefined && existsSync(LAVAPIPE)) env.VK_ICD_FILENAMES = LAVAPIPE;
  child = spawn(process.execPath, [path.join(repoRoot, 'scripts/cli.mjs'), 'serve', '--model', file, '--port', '0', '--context-size', '128', '--max-tokens', '6', '--cors', APP, '--quiet'], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const m = await waitForLine(child, /listening on (http:\/\/127\.0\.0\.1:\d+\/v1) \(model (\S+),/, START_MS);
  base = m[1];
  expect(m[2]).toBe('tiny-serve');
}, START_MS + 30_000);

afterAll(async () => {
  const p = child;
  if (p && p.exitCode === null) {
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    p.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 30_000))]);
    if (code === 'timeout') p.kill('SIGKILL');
    expect(code, `serve's exit on SIGTERM; stderr: ${stderr.slice(-1000)}`).toBe(0);
  }
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

const REQUEST: GenerateRequest = {
  messages: [{ role: 'user', content: 'Hello there' }],
  sampling: { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 1, maxTokens: 6, stop: [] },
};

describe('brix serve (real engine)', () => {
  it('lists its model at /v1/models, to the key and the --cors origin only', async () => {
    const res = await fetch(`${base}/models`, { headers: { ...auth, origin: APP } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(await res.json()).toMatchObject({ object: 'list', data: [{ id: 'tiny-serve', object: 'model' }] });
    expect((await fetch(`${base}/models`)).status).toBe(401);
    const evil = await fetch(`${base}/models`, { headers: { ...auth, origin: 'https://evil.example' } });
    expect(evil.status).toBe(403);
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('streams a completion into the endpoint engine, the same text as the non-streamed answer', async () => {
    const engine = new OpenAIChatEngine(
      { id: 'openai:serve', kind: 'openai', ref: 'serve', name: 'serve' },
      { id: 'serve', name: 'serve', baseUrl: base, model: 'tiny-serve', extendedSampling: true },
      { fetch: (u, i) => fetch(u, i), now: () => performance.now(), apiKey: () => KEY },
    );
    expect((await engine.load()).name).toBe('tiny-serve');
    const deltas: string[] = [];
    const r = await engine.generate(REQUEST, (d) => deltas.push(d.text));
    expect(deltas.join('')).toBe(r.text);
    expect(['eog', 'length']).toContain(r.stats.finishReason);
    expect(r.stats.promptTokens).toBeGreaterThan(0);
    expect(r.stats.generatedTokens).toBeGreaterThanOrEqual(0);
    expect(r.stats.generatedTokens).toBeLessThanOrEqual(6);
    // Server-side speeds (llama.cpp-style timings) reach the stats.
    expect(r.stats.prefillTokensPerSecond).toBeGreaterThan(0);

    const res = await fetch(`${base}/chat/completions`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ model: 'tiny-serve', messages: REQUEST.messages, temperature: 0, max_tokens: 6, seed: 1 }),
    });
    expect(res.status).toBe(200);
    const j = (await res.json()) as { choices: { message: { content: string } }[]; usage: { prompt_tokens: number; completion_tokens: number } };
    expect(j.choices[0].message.content).toBe(r.text);
    expect(j.usage.prompt_tokens).toBe(r.stats.promptTokens);
    expect(j.usage.completion_tokens).toBe(r.stats.generatedTokens);
  });
});
