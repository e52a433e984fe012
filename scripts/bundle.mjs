/**
 * @file Bundles a Node entry (the CLI, a benchmark) into one ES module with esbuild: TypeScript, `?raw`
 * WGSL imports as text, and `webgpu`/`node-llama-cpp` (and vite/Playwright) left external. The same bundle runs here and on the
 * GPU machine (DEVELOPERS.md: `.gpu/run.sh`).
 */
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

const rawPlugin = {
  name: 'raw',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({
      path: path.resolve(args.resolveDir, args.path.replace(/\?raw$/, '')),
      namespace: 'raw',
    }));
    b.onLoad({ filter: /.*/, namespace: 'raw' }, async (args) => ({
      contents: await readFile(args.path, 'utf8'),
      loader: 'text',
    }));
  },
};

/** Bundles `entry` to `outfile`; returns the output path. `small`: minified, no source map (the GPU machine's 64 MiB carry). */
export async function bundle(entry, outfile, small = false) {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: small ? false : 'inline',
    minify: small,
    logLevel: 'error',
    // vite and Playwright: loaded by `bench-browser` only, from node_modules. pdfjs-dist (`retrieve`,
    // `generate --docs`): its Node build loads optional native pieces itself, so it runs as published.
    external: ['webgpu', 'pdfjs-dist', 'node-llama-cpp', '@node-llama-cpp/*', 'koffi', 'vite', '@playwright/test', 'playwright', 'playwright-core'],
    plugins: [rawPlugin],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return outfile;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const small = args.includes('--small');
  const [entry, out] = args.filter((a) => a !== '--small');
  if (!entry || !out) {
    console.error('usage: node scripts/bundle.mjs [--small] <entry.ts> <out.mjs>');
    process.exit(2);
  }
  await bundle(entry, out, small);
  console.log(out);
}
