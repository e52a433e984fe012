/** @file The lazily loaded half of math.ts: remark-math, rehype-katex and KaTeX's stylesheet. */
import 'katex/dist/katex.min.css';
import rehypeKatex from 'rehype-katex';
import remarkMath from 'remark-math';
import type { MathPlugins } from './math.ts';

export function mathPlugins(): MathPlugins {
  return {
    remark: [remarkMath],
    // trust: false (KaTeX's default, spelled out): commands that make links or HTML render as errors.
    rehype: [[rehypeKatex, { trust: false, strict: 'ignore', throwOnError: false, maxExpand: 200, maxSize: 20 }]],
  };
}
