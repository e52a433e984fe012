/**
 * @file `serve`: our engine behind an OpenAI-compatible HTTP API (scripts/lib/openaiServer.ts), for the
 * compare view's endpoint engine, OpenAI clients and curl — on a laptop or a GPU server. One generation at a
 * time; up to --queue requests wait, more get 429. Runs until SIGINT/SIGTERM. With --port 0 the system picks a
 * free port; the first stdout line says where it listens either way:
 *   brix serve: listening on http://127.0.0.1:8080/v1 (model brix-demo-30m)
 * Only the loopback names (and the --host address) are answered; web pages of other origins only with --cors;
 * --api-key (or BRIX_API_KEY) requires a bearer key.
 */
import os from 'node:os';
import path from 'node:path';
import { UsageError, flagNumber, flagString, requireString, type CliCommand } from '../cliTypes.ts';
import { KV_CACHE_FLAG, kvCacheFlag, loadNodeEngine } from '../lib/nodeEngine.ts';
import { createOpenAIServer } from '../lib/openaiServer.ts';

const DEFAULT_PORT = 8080;

/** `--cors a,b`: each an origin (`scheme://host[:port]`, no path) or `*`. */
export function parseCors(v: string | undefined): string[] {
  if (v === undefined) return [];
  const out: string[] = [];
  for (const raw of v.split(',')) {
    const o = raw.trim().replace(/\/+$/, '');
    if (o === '') continue;
    if (o !== '*') {
      let u: URL;
      try {
        u = new URL(o);
      } catch {
        throw new UsageError(`--cors: '${o}' is not an origin (like http://localhost:4173)`);
      }
      if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.origin !== o.toLowerCase()) throw new UsageError(`--cors: '${o}' is not an origin (scheme://host[:port], no path)`);
    }
    out.push(o);
  }
  return out;
}

/** Host names answered besides loopback: the --host address, or every interface's address for a wildcard. */
function hostNamesFor(host: string): string[] {
  if (host !== '0.0.0.0' && host !== '::') return [host];
  return Object.values(os.networkInterfaces())
    .flatMap((a) => a ?? [])
    .map((a) => a.address.replace(/%.*$/, ''));
}

export const command: CliCommand = {
  name: 'serve',
  summary: 'serve a model over an OpenAI-compatible HTTP API (GET /v1/models, POST /v1/chat/completions, streaming; --cors, --api-key)',
  flags: {
    model: { kind: 'string', help: 'GGUF file (first file of a split set) or http(s) URL', required: true },
    port: { kind: 'number', help: `TCP port (default ${DEFAULT_PORT}; 0 picks a free one)` },
    host: { kind: 'string', help: 'address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)' },
    name: { kind: 'string', help: 'model id reported by /v1/models (default: the file name)' },
    'context-size': { kind: 'number', help: 'KV cache length in tokens' },
    'max-tokens': { kind: 'number', help: 'max_tokens when a request gives none (default 512)' },
    queue: { kind: 'number', help: 'requests that may wait while one runs; more get 429 (default 8)' },
    cors: { kind: 'string', help: 'browser origins allowed to call it, comma-separated (e.g. http://localhost:4173; default none)' },
    'api-key': { kind: 'string', help: "require 'Authorization: Bearer <key>' (default: env BRIX_API_KEY; none when unset)" },
    quiet: { kind: 'boolean', help: 'no per-request log lines on stderr' },
    'kv-cache': KV_CACHE_FLAG,
  },
  async run(flags, io) {
    const port = flagNumber(flags, 'port') ?? DEFAULT_PORT;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port ${port} is not a TCP port`);
    const host = flagString(flags, 'host') ?? '127.0.0.1';
    const queue = flagNumber(flags, 'queue') ?? 8;
    if (!Number.isInteger(queue) || queue < 0) throw new UsageError(`--queue ${queue} must be an integer ≥ 0`);
    const maxTokens = flagNumber(flags, 'max-tokens');
    if (maxTokens !== undefined && (!Number.isInteger(maxTokens) || maxTokens < 1)) throw new UsageError(`--max-tokens ${maxTokens} must be a positive integer`);
    const ctx = flagNumber(flags, 'context-size');
    if (ctx !== undefined && (!Number.isInteger(ctx) || ctx < 1)) throw new UsageError(`--context-size ${ctx} must be a positive integer`);
    const kvCache = kvCacheFlag(flags);
    const cors = parseCors(flagString(flags, 'cors'));
    const apiKey = flagString(flags, 'api-key') ?? (process.env.BRIX_API_KEY || undefined);
    if (apiKey !== undefined && apiKey.trim() === '') throw new UsageError('--api-key must not be empty');
    const modelPath = requireString(flags, 'model');
    const modelId =
      flagString(flags, 'name') ??
      path
        .basename(modelPath)
        .replace(/-\d{5}-of-\d{5}(?=\.gguf$)/i, '')
        .replace(/\.gguf$/i, '');

    const { engine, info } = await loadNodeEngine(modelPath, ctx, { kvCache });
    const server = createOpenAIServer({
      engine,
      modelId,
      maxQueue: queue,
      defaultMaxTokens: maxTokens ?? 512,
      maxTokensLimit: info.contextSize,
      cors,
      apiKey: apiKey?.trim(),
      hosts: hostNamesFor(host),
      log: flags.quiet ? undefined : (line) => io.err(`${new Date().toISOString()} ${line}\n`),
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      await engine.unload();
      const code = e instanceof Error ? Reflect.get(e, 'code') : undefined;
      if (code === 'EADDRINUSE') throw new UsageError(`port ${port} on ${host} is in use: pick another --port (or 0 for a free one)`);
      throw e;
    }
    const addr = server.address();
    const actual = addr !== null && typeof addr === 'object' ? addr.port : port;
    const shownHost = host.includes(':') ? `[${host}]` : host;
    io.out(`brix serve: listening on http://${shownHost}:${actual}/v1 (model ${modelId}, ${info.architecture}, context ${info.contextSize})\n`);

    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    io.err('brix serve: shutting down\n');
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await engine.unload();
    return 0;
  },
};
