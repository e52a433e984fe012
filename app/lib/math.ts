/**
 * @file Math in answers: `$…$` and `$$…$$` through remark-math, typeset by KaTeX (rehype-katex) after the tree is
 * sanitized, with KaTeX's `trust` off (no \href, \url, \includegraphics or HTML extensions from model output).
 * KaTeX and its CSS are a separate chunk, loaded the first time a text looks like it has math; its fonts are
 * woff2 files in the precache, so math also renders offline.
 */
import type { PluggableList } from 'unified';

export interface MathPlugins {
  readonly remark: PluggableList;
  readonly rehype: PluggableList;
}

let plugins: MathPlugins | null = null;
let loading: Promise<MathPlugins> | null = null;

/** `$x$`, `$$`, `\(`, `\[`: worth loading KaTeX for. */
export function mayHaveMath(text: string): boolean {
  return /\$[^$\s]|\$\$|\\\(|\\\[/.test(text);
}

export function loadMath(): Promise<MathPlugins> {
  loading ??= import('./mathPlugins.ts').then((m) => (plugins = m.mathPlugins())).catch((e: unknown) => {
    loading = null;
    throw e;
  });
  return loading;
}

export function mathIfLoaded(): MathPlugins | null {
  return plugins;
}
