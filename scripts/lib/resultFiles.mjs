// Plain-Node helpers of the GPU-run assemblers (gpu-browser-bench-assemble.mjs, gpu-peer-assemble.mjs): no
// dependencies, so they run on the GPU machine's bare node.
import fs from 'node:fs';
import path from 'node:path';

/** A file's text under `dir`, or null when it is missing or unreadable. */
export function readText(dir, f) {
  try {
    return fs.readFileSync(path.join(dir, f), 'utf8');
  } catch {
    return null;
  }
}

export function median(xs) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const k = s.length >> 1;
  return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2;
}
