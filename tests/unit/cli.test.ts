/**
 * @file The CLI entry's contract, through the real `node scripts/cli.mjs` (bundle + run): --help lists the
 * commands and exits 0; unknown commands and unknown flags exit 2 with a message saying what was wrong.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/cli.mjs'), ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 60_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('cli', () => {
  it('--help exits 0 and lists the commands with their summaries', () => {
    const r = cli('--help');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: npm run -s cli -- <command> \[flags\]/);
    expect(r.stdout).toMatch(/^ {2}gpu-info +print the WebGPU adapter/m);
  });

  it('no command prints the usage and exits 2', () => {
    const r = cli();
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^usage:/);
  });

  it('an unknown command exits 2 naming it', () => {
    const r = cli('frobnicate');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^brix: unknown command 'frobnicate'/);
    expect(r.stdout).toBe('');
  });

  it('an unknown flag exits 2 naming the flag, before the command runs', () => {
    const r = cli('gpu-info', '--bogus');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('brix: gpu-info: unknown flag --bogus (see --help)\n');
    expect(r.stdout).toBe('');
  });

  it('<command> --help prints its flags and exits 0', () => {
    const r = cli('gpu-info', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: npm run -s cli -- gpu-info \[flags\]/);
    expect(r.stdout).toMatch(/--json +print one JSON object/);
  });

  it('--activations takes f32, ggml-cpu or int8 (bench, generate, logits, profile); anything else exits 2 before loading', () => {
    for (const [cmd, ...rest] of [['bench'], ['generate', '--prompt', 'hi'], ['logits', '--tokens', '1'], ['profile']]) {
      const r = cli(cmd, '--model', 'no-such.gguf', ...rest, '--activations', 'int4');
      expect(r.code, cmd).toBe(2);
      expect(r.stderr, cmd).toContain("--activations must be one of f32, ggml-cpu, int8, got 'int4'");
    }
  });

  it('--kv-cache takes f32, f16 or auto (generate, logits, bench, serve); anything else exits 2 before loading', () => {
    for (const [cmd, ...rest] of [['generate', '--prompt', 'hi'], ['logits', '--tokens', '1'], ['bench'], ['serve']]) {
      const r = cli(cmd, '--model', 'no-such.gguf', ...rest, '--kv-cache', 'q8');
      expect(r.code, cmd).toBe(2);
      expect(r.stderr, cmd).toContain("--kv-cache must be one of f32, f16, auto, got 'q8'");
      const help = cli(cmd, '--help');
      expect(help.stdout, cmd).toMatch(/--kv-cache <string> +K\/V cache type: auto/);
    }
  });

  it('the sampling defaults are llama.cpp\'s: no repetition penalty, so --temperature 0 is plain greedy', () => {
    const help = cli('generate', '--help');
    expect(help.stdout).toMatch(/--repeat-penalty <number> +repetition penalty, 1 = off \(default 1\)/);
    expect(help.stdout).toMatch(/--temperature <number> +sampling temperature, 0 = greedy/);
  });
});
