/**
 * @file `pack-demo`: regenerates the bundled demo model, public/models/brix-demo-30m/: the GGUF split into
 * llama.cpp `gguf-split` parts of at most 16 MiB *per file* (header included, so each part is exactly one cache
 * shard), plus manifest.json (names, sizes, sha256 of each file and of each 16 MiB shard) that the weight cache
 * verifies against. Deterministic: the same input gives byte-identical output, so re-running it shows no diff.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { flagNumber, flagString, UsageError, type CliCommand } from '../cliTypes.ts';
import { DEFAULT_SHARD_SIZE, type ManifestFile, type ModelManifest } from '../../workers/storage/plan.ts';
import { openModelFile } from '../lib/nodeSource.ts';
import { splitModel } from './split.ts';

/** The repository root: the nearest directory above this module (or the CLI bundle) holding workers/ and package.json. */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!(existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'workers')))) {
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}
const MiB = 1024 * 1024;

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Manifest entry of one file, with per-shard digests at the cache's shard size. */
async function describeFile(file: string, shardSize: number): Promise<ManifestFile> {
  const bytes = new Uint8Array(await readFile(file));
  const shardSha256: string[] = [];
  for (let o = 0; o < bytes.length; o += shardSize) shardSha256.push(sha256(bytes.subarray(o, o + shardSize)));
  return { name: path.basename(file), size: bytes.length, sha256: sha256(bytes), shardSize, shardSha256 };
}

export const command: CliCommand = {
  name: 'pack-demo',
  summary: 'regenerate public/models/brix-demo-30m/ (split parts of at most 16 MiB + manifest.json) from the demo GGUF',
  flags: {
    model: { kind: 'string', help: 'input GGUF (default ../shared/models/brix-demo-30m-q8_0.gguf)' },
    'out-dir': { kind: 'string', help: 'output directory (default public/models/brix-demo-30m)' },
    'max-file-mib': { kind: 'number', help: 'largest part file in MiB, header included (default 16)' },
  },
  async run(flags, io) {
    const input = flagString(flags, 'model') ?? path.resolve(repoRoot(), '../shared/models/brix-demo-30m-q8_0.gguf');
    const outDir = flagString(flags, 'out-dir') ?? path.join(repoRoot(), 'public/models/brix-demo-30m');
    const maxFile = Math.floor((flagNumber(flags, 'max-file-mib') ?? 16) * MiB);
    if (!(maxFile > MiB)) throw new UsageError(`--max-file-mib must be more than 1, got ${maxFile / MiB}`);
    const name = path.basename(input).replace(/(-\d{5}-of-\d{5})?\.gguf$/i, '');
    const modelName = name.replace(/-q\d.*$/i, '');

    const { model, close } = await openModelFile(input);
    let files: string[] = [];
    try {
      // Remove earlier parts first: a different part count would leave stale files behind.
      for (const f of await readdir(outDir).catch(() => [])) if (f.endsWith('.gguf')) await rm(path.join(outDir, f));
      // `split` bounds tensor data per part; part 1 also carries the metadata (the tokenizer), so shrink the
      // data budget by the largest overshoot until every file fits.
      let budget = maxFile;
      for (let attempt = 0; attempt < 4; attempt++) {
        files = await splitModel(model, budget, outDir, name);
        const sizes = await Promise.all(files.map(async (f) => (await stat(f)).size));
        const over = Math.max(...sizes) - maxFile;
        if (over <= 0) break;
        for (const f of files) await rm(f);
        files = [];
        budget -= over + 64 * 1024;
      }
      if (files.length === 0) throw new Error(`could not split ${input} into files of at most ${maxFile} bytes`);
    } finally {
      await close();
    }

    // Check the parts before publishing them: they must open as one model with every tensor intact.
    const parts = await openModelFile(files[0]);
    const orig = await openModelFile(input);
    try {
      if (parts.model.tensors.length !== orig.model.tensors.length) throw new Error('split lost tensors');
      for (const t of orig.model.tensors) {
        const a = sha256(await orig.model.readTensor(t));
        const b = sha256(await parts.model.readTensor(parts.model.requireTensor(t.name)));
        if (a !== b) throw new Error(`tensor ${t.name} differs after splitting`);
      }
    } finally {
      await parts.close();
      await orig.close();
    }

    const manifest: ModelManifest & { source: { file: string; size: number; sha256: string } } = {
      format: 'brix-model-manifest',
      version: 1,
      name: modelName,
      files: await Promise.all(files.map((f) => describeFile(f, DEFAULT_SHARD_SIZE))),
      source: { file: path.basename(input), size: (await stat(input)).size, sha256: sha256(new Uint8Array(await readFile(input))) },
    };
    await writeFile(path.join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    io.out(
      `${modelName}: ${files.length} parts in ${outDir}\n` +
        manifest.files.map((f) => `  ${f.name}  ${f.size} bytes  sha256 ${f.sha256}\n`).join(''),
    );
    return 0;
  },
};
