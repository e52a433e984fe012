/**
 * @file A minimal WGSL preprocessor, so one `.wgsl` file holds a kernel family and its variants (quant types,
 * subgroup or workgroup reductions) the way ggml-webgpu does: `#include "name"`, `#ifdef NAME`, `#ifndef NAME`,
 * `#else`, `#endif`, and defines with values substituted as whole identifiers. Numeric tunables that WGSL
 * `override` constants can express stay overrides; defines are for what overrides cannot do (types, array sizes,
 * enabling extensions).
 */

export class WgslPreprocessError extends Error {
  override name = 'WgslPreprocessError';
}

export type Defines = Readonly<Record<string, string | number | boolean>>;

/** `includes` maps include names to sources (kernels/lib/*.wgsl, bundled with ?raw). */
export function preprocess(source: string, defines: Defines, includes: Readonly<Record<string, string>> = {}, depth = 0): string {
  if (depth > 8) throw new WgslPreprocessError('#include nested too deeply');
  const active = (name: string): boolean => defines[name] !== undefined && defines[name] !== false;
  const out: string[] = [];
  // Each frame: is this branch emitting, did any branch of this #if already emit, was the parent emitting.
  const stack: { on: boolean; parent: boolean }[] = [];
  const emitting = (): boolean => stack.every((f) => f.on);
  const lines = source.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const t = line.trim();
    if (t.startsWith('#')) {
      const m = /^#(\w+)\s*(.*)$/.exec(t);
      const dir = m?.[1];
      const arg = (m?.[2] ?? '').trim();
      if (dir === 'ifdef' || dir === 'ifndef') {
        const parent = emitting();
        const cond = dir === 'ifdef' ? active(arg) : !active(arg);
        stack.push({ on: cond, parent });
        continue;
      }
      if (dir === 'else') {
        const f = stack.at(-1);
        if (!f) throw new WgslPreprocessError(`line ${i + 1}: #else without #ifdef`);
        f.on = !f.on;
        continue;
      }
      if (dir === 'endif') {
        if (!stack.pop()) throw new WgslPreprocessError(`line ${i + 1}: #endif without #ifdef`);
        continue;
      }
      if (dir === 'include') {
        if (!emitting()) continue;
        const name = arg.replace(/^"|"$/g, '');
        const inc = includes[name];
        if (inc === undefined) throw new WgslPreprocessError(`line ${i + 1}: unknown include "${name}"`);
        out.push(preprocess(inc, defines, includes, depth + 1));
        continue;
      }
      throw new WgslPreprocessError(`line ${i + 1}: unknown directive ${t}`);
    }
    if (emitting()) out.push(line);
  }
  if (stack.length) throw new WgslPreprocessError('unterminated #ifdef');
  let text = out.join('\n');
  for (const [k, v] of Object.entries(defines)) {
    if (typeof v === 'boolean') continue;
    text = text.replace(new RegExp(`\\b${k}\\b`, 'g'), String(v));
  }
  return text;
}

/** A stable key for a define set, for pipeline caches and labels. */
export function definesKey(defines: Defines): string {
  return Object.keys(defines)
    .sort()
    .filter((k) => defines[k] !== false)
    .map((k) => (defines[k] === true ? k : `${k}=${String(defines[k])}`))
    .join(',');
}
