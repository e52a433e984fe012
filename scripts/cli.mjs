#!/usr/bin/env node
// Builds the CLI (scripts/cli.ts) with esbuild into node_modules/.cache and runs it: one bundle, WGSL
// inlined, so the CLI and the GPU-machine runs execute exactly the same code.
import { bundle } from './bundle.mjs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'node_modules/.cache/brix/cli.mjs');
await bundle(path.join(root, 'scripts/cli.ts'), out);
await import(pathToFileURL(out).href);
