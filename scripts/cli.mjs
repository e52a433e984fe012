#!/usr/bin/env node
// Builds the CLI (scripts/cli.ts) with esbuild into node_modules/.cache and runs it: one bundle, WGSL
// inlined, so the CLI and the GPU-machine runs execute exactly the same code. Each process bundles to its
// own file (removed at exit), so concurrent CLI runs (tests) never read a half-written bundle.
import { bundle } from './bundle.mjs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { unlinkSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, `node_modules/.cache/brix/cli-${process.pid}.mjs`);
process.on('exit', () => {
  try {
    unlinkSync(out);
  } catch {
    // already gone
  }
});
await bundle(path.join(root, 'scripts/cli.ts'), out);
await import(pathToFileURL(out).href);
