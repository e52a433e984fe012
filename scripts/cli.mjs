#!/usr/bin/env node
// Builds the CLI (scripts/cli.ts) with esbuild into node_modules/.cache and runs it: one bundle, WGSL
// inlined, so the CLI and the GPU-machine runs execute exactly the same code. The bundle is keyed by the
// sources' sizes and mtimes, so repeated runs (tests spawn the CLI often) skip the rebuild; it is written to a
// temporary name and renamed, so concurrent runs never read a half-written file.
import { bundle } from './bundle.mjs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function sourceKey() {
  const h = createHash('sha256');
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|wgsl|mjs|json)$/.test(e.name)) {
        const s = statSync(p);
        h.update(`${p}:${s.size}:${s.mtimeMs}\n`);
      }
    }
  };
  for (const d of ['scripts', 'workers', 'kernels']) walk(path.join(root, d));
  h.update(statSync(path.join(root, 'package-lock.json')).mtimeMs.toString());
  return h.digest('hex').slice(0, 16);
}

const out = path.join(root, `node_modules/.cache/brix/cli-${sourceKey()}.mjs`);
if (!existsSync(out)) {
  const tmp = `${out}.${process.pid}.tmp.mjs`;
  await bundle(path.join(root, 'scripts/cli.ts'), tmp);
  renameSync(tmp, out);
  // Old bundles: drop those not used for ten minutes (a concurrent run may still be importing a newer one).
  const dir = path.dirname(out);
  for (const f of readdirSync(dir)) {
    const p = path.join(dir, f);
    if (/^cli-.*\.mjs$/.test(f) && p !== out && Date.now() - statSync(p).mtimeMs > 600_000) rmSync(p, { force: true });
  }
}
await import(pathToFileURL(out).href);
