/**
 * @file `npm run bench:browser -- --peer wllama`, a short run on the bundled demo model in headless Chromium
 * (SwiftShader here): Brix's measurement and wllama's on the same file in the same page, both reported, with
 * Brix's ratios to wllama. On a software adapter wllama runs its wasm CPU path (auto backend).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('bench:browser --peer wllama', () => {
  it('measures Brix and wllama on the demo model and prints both', { timeout: 300_000 }, async () => {
    const { stdout } = await run('node', ['scripts/cli.mjs', 'bench-browser', '--peer', 'wllama', '--prompt-tokens', '4', '--gen-tokens', '2', '--runs', '1', '--json'], {
      maxBuffer: 16 << 20,
      timeout: 290_000,
    });
    const r: unknown = JSON.parse(stdout);
    expect(r).toMatchObject({ architecture: 'dbrx', promptTokens: 4, genTokens: 2, peer: { ok: true, engine: 'wllama 3.8.1', backend: 'wasm', runs: 1, genTokens: 2 } });
    const get = (o: unknown, ...keys: string[]): unknown => keys.reduce<unknown>((x, k) => (typeof x === 'object' && x !== null ? Reflect.get(x, k) : undefined), o);
    expect(get(r, 'decodeTokensPerSecond', 'median')).toBeGreaterThan(0);
    expect(get(r, 'peer', 'decodeTokensPerSecond', 'median')).toBeGreaterThan(0);
    expect(get(r, 'peer', 'prefillTokensPerSecond', 'median')).toBeGreaterThan(0);
    expect(get(r, 'peer', 'ratioDecode')).toBeGreaterThan(0);
  });
});
