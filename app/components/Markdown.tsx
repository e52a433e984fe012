/**
 * @file Renders untrusted Markdown (model answers, imported chats) safely: GitHub-flavoured Markdown, raw HTML
 * shown as text, sanitized tree, http(s)/mailto links only (opening in a new tab without referrer), images
 * shown as links (no remote fetches from model output), code blocks highlighted with a copy button. Memoised
 * on the text, so finished messages never re-render while another one streams.
 */
import { memo, useEffect, useMemo, useState, type ComponentProps } from 'react';
import ReactMarkdown, { type Components, type ExtraProps } from 'react-markdown';
import rehypeSanitize, { defaultSchema, type Options as SanitizeSchema } from 'rehype-sanitize';
import remarkGfm from 'remark-gfm';
import type { Element } from 'hast';
import type { PluggableList } from 'unified';
import { CopyButton } from './CopyButton.tsx';
import { loadMath, mathIfLoaded, mayHaveMath, type MathPlugins } from '../lib/math.ts';
import { highlight, highlighterIfLoaded, htmlAsText, languageOf, loadHighlighter, safeUrl, textOf, type Lowlight } from '../lib/markdown.ts';

function useHighlighter(): Lowlight | null {
  const [hl, setHl] = useState<Lowlight | null>(highlighterIfLoaded);
  useEffect(() => {
    if (hl) return;
    let live = true;
    loadHighlighter().then(
      (h) => live && setHl(h),
      () => undefined, // offline without the chunk: plain code is fine
    );
    return () => {
      live = false;
    };
  }, [hl]);
  return hl;
}

function CodeBlock({ node }: ComponentProps<'pre'> & ExtraProps) {
  const code = node?.children.find((c): c is Element => c.type === 'element' && c.tagName === 'code');
  const text = code ? textOf(code).replace(/\n$/, '') : '';
  const lang = languageOf(code);
  const hl = useHighlighter();
  const highlighted = useMemo(() => (hl ? highlight(hl, lang, text) : null), [hl, lang, text]);
  return (
    <div className="code-block my-3 overflow-hidden rounded-lg border border-slate-200 dark:border-slate-700">
      <div className="flex items-center justify-between bg-slate-100 px-3 py-1 text-xs text-slate-600 dark:bg-slate-800 dark:text-slate-400">
        <span>{lang || 'text'}</span>
        <CopyButton text={text} label="Copy code" />
      </div>
      <pre className="overflow-x-auto bg-slate-50 p-3 text-sm leading-relaxed dark:bg-slate-900">
        <code className={`hljs${lang ? ` language-${lang}` : ''}`}>{highlighted ?? text}</code>
      </pre>
    </div>
  );
}

function SafeLink({ href, children }: ComponentProps<'a'> & ExtraProps) {
  const url = href ? safeUrl(href) : '';
  if (url === '') return <span className="underline decoration-dotted">{children}</span>;
  return (
    <a href={url} target="_blank" rel="noopener noreferrer nofollow" className="text-teal-700 underline dark:text-teal-400">
      {children}
    </a>
  );
}

function ImageAsLink({ src, alt }: ComponentProps<'img'> & ExtraProps) {
  const url = typeof src === 'string' ? safeUrl(src) : '';
  const label = `[image${alt ? `: ${alt}` : ''}]`;
  if (url === '') return <span>{label}</span>;
  return (
    <a href={url} target="_blank" rel="noopener noreferrer nofollow" className="text-teal-700 underline dark:text-teal-400">
      {label}
    </a>
  );
}

function useMath(wanted: boolean): MathPlugins | null {
  const [math, setMath] = useState<MathPlugins | null>(mathIfLoaded);
  useEffect(() => {
    if (math || !wanted) return;
    let live = true;
    loadMath().then(
      (m) => live && setMath(m),
      () => undefined, // offline without the chunk: the TeX source is shown as typed
    );
    return () => {
      live = false;
    };
  }, [math, wanted]);
  return math;
}

/** GitHub's schema, plus the classes remark-math gives math (KaTeX typesets those after sanitizing). */
const SCHEMA: SanitizeSchema = {
  ...defaultSchema,
  attributes: { ...defaultSchema.attributes, code: [['className', /^language-./, 'math-inline', 'math-display']] },
};

const COMPONENTS: Components = { pre: CodeBlock, a: SafeLink, img: ImageAsLink };
const REMARK = [remarkGfm];
const REHYPE: PluggableList = [[rehypeSanitize, SCHEMA]];
const REMARK_REHYPE = { handlers: { html: htmlAsText } };

function urlTransform(url: string): string {
  return safeUrl(url);
}

export const Markdown = memo(function Markdown({ text }: { text: string }) {
  const math = useMath(mayHaveMath(text));
  const remark = useMemo(() => (math ? [...REMARK, ...math.remark] : REMARK), [math]);
  const rehype = useMemo(() => (math ? [...REHYPE, ...math.rehype] : REHYPE), [math]);
  return (
    <div className="markdown">
      <ReactMarkdown
        remarkPlugins={remark}
        rehypePlugins={rehype}
        remarkRehypeOptions={REMARK_REHYPE}
        components={COMPONENTS}
        urlTransform={urlTransform}
      >
        {text}
      </ReactMarkdown>
    </div>
  );
});
