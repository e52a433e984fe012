/**
 * @file The Markdown pipeline's safety rules, kept apart from the component so they are unit-testable:
 * model output and imported files are untrusted, so raw HTML is shown as text (never parsed), the tree is
 * sanitized (GitHub's schema) and every URL must be http(s) or mailto. Code highlighting (lowlight) loads
 * lazily and produces a hast tree that we turn into React elements ourselves: no HTML strings anywhere.
 */
import { createElement, type ReactNode } from 'react';
import type { Element, ElementContent, RootContent } from 'hast';
import type { Html } from 'mdast';
import type { createLowlight } from 'lowlight';

export type Lowlight = ReturnType<typeof createLowlight>;

const SAFE_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);

/** An absolute http(s)/mailto URL, normalized; anything else (javascript:, data:, relative…) becomes ''. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url.trim());
    return SAFE_PROTOCOLS.has(u.protocol) ? u.href : '';
  } catch {
    return '';
  }
}

/** mdast → hast handler: raw HTML becomes a text node, so `<script>` is shown, never run or parsed. */
export function htmlAsText(_state: unknown, node: Html): ElementContent {
  return { type: 'text', value: node.value };
}

/** Concatenated text of a hast subtree (a code block's source). */
export function textOf(node: Element | ElementContent | RootContent): string {
  if (node.type === 'text') return node.value;
  if (node.type === 'element') return node.children.map(textOf).join('');
  return '';
}

/** The language of a `<code class="language-xyz">` element, lower-cased, or ''. */
export function languageOf(code: Element | undefined): string {
  const cls = code?.properties.className;
  const list: readonly unknown[] = Array.isArray(cls) ? cls : [cls];
  for (const item of list) {
    if (typeof item !== 'string') continue;
    for (const c of item.split(/\s+/)) if (c.startsWith('language-')) return c.slice('language-'.length).toLowerCase();
  }
  return '';
}

function classNameOf(el: Element): string | undefined {
  const cls = el.properties.className;
  if (Array.isArray(cls)) return cls.filter((c): c is string => typeof c === 'string').join(' ');
  return typeof cls === 'string' ? cls : undefined;
}

/** lowlight's output (spans with hljs-* classes and text) as React nodes; any other element is flattened to its text. */
export function hastToReact(nodes: readonly RootContent[] | readonly ElementContent[], key = 'h'): ReactNode[] {
  return nodes.map((n, i) => {
    if (n.type === 'text') return n.value;
    if (n.type === 'element') {
      const children = hastToReact(n.children, `${key}.${i}`);
      return n.tagName === 'span' ? createElement('span', { key: `${key}.${i}`, className: classNameOf(n) }, ...children) : children;
    }
    return null;
  });
}

let highlighter: Lowlight | null = null;
let loading: Promise<Lowlight> | null = null;

/** The highlighter, loaded on first use (its grammars are a separate chunk, precached for offline use). */
export function loadHighlighter(): Promise<Lowlight> {
  loading ??= import('./highlight.ts').then((m) => (highlighter = m.createHighlighter()));
  return loading;
}

export function highlighterIfLoaded(): Lowlight | null {
  return highlighter;
}

/** Highlighted React nodes for `code` in `lang`, or null when the language is unknown. */
export function highlight(hl: Lowlight, lang: string, code: string): ReactNode[] | null {
  if (lang === '' || !hl.registered(lang)) return null;
  return hastToReact(hl.highlight(lang, code).children);
}
