/** @file The code highlighter (lowlight with highlight.js's common grammars), in its own chunk: loaded on the first code block. */
import { common, createLowlight } from 'lowlight';
import type { Lowlight } from './markdown.ts';

export function createHighlighter(): Lowlight {
  return createLowlight(common);
}
