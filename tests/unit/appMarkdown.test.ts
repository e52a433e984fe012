/**
 * @file The Markdown renderer on hostile input, rendered to static HTML in Node: raw HTML (script, onerror image,
 * iframe) comes out as escaped text, javascript:/data: links and images lose their URLs, safe links open in a new
 * tab without referrer; code highlighting builds React elements from lowlight's tree, never HTML strings.
 */
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { createLowlight, common } from 'lowlight';
import { describe, expect, it } from 'vitest';
import { Markdown } from '../../app/components/Markdown.tsx';
import { highlight, safeUrl } from '../../app/lib/markdown.ts';

const render = (text: string): string => renderToStaticMarkup(createElement(Markdown, { text }));

describe('safeUrl', () => {
  it('keeps http(s) and mailto, drops every other scheme and relative URLs', () => {
    expect(safeUrl('https://example.com/a?b#c')).toBe('https://example.com/a?b#c');
    expect(safeUrl(' http://example.com ')).toBe('http://example.com/');
    expect(safeUrl('mailto:a@b.c')).toBe('mailto:a@b.c');
    for (const bad of ['javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'java\tscript:alert(1)', ' javascript:alert(1)', 'data:text/html,<script>alert(1)</script>', 'vbscript:x', '/relative', '#/settings', 'file:///etc/passwd']) {
      expect(safeUrl(bad), bad).toBe('');
    }
  });
});

describe('Markdown rendering of hostile input', () => {
  it('shows raw HTML as text: no script, img, iframe or event handler elements', () => {
    const html = render('Hi <script>alert(1)</script>\n\n<img src=x onerror="alert(2)">\n\n<iframe src="https://evil.example"></iframe>\n\n<a href="javascript:alert(3)">x</a>');
    expect(html).not.toMatch(/<(script|img|iframe)\b/i);
    expect(html).not.toMatch(/\son\w+="/i); // an event-handler attribute (the escaped text has &quot;)
    expect(html).not.toMatch(/href="javascript/i);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('&lt;img src=x onerror=&quot;alert(2)&quot;&gt;');
  });

  it('strips javascript: and data: URLs from links and images, keeps safe links in a new tab', () => {
    const html = render('[bad](javascript:alert(1)) [data](data:text/html,hi) [good](https://example.com) ![pic](javascript:alert(2)) ![ok](https://example.com/p.png)');
    expect(html).not.toMatch(/javascript:|data:text/);
    expect(html).toContain('<span class="underline decoration-dotted">bad</span>');
    expect(html).toContain('<a href="https://example.com/" target="_blank" rel="noopener noreferrer nofollow"');
    expect(html).toContain('<span>[image: pic]</span>');
    expect(html).toMatch(/<a href="https:\/\/example.com\/p.png"[^>]*>\[image: ok\]<\/a>/);
    expect(html).not.toContain('<img');
  });

  it('renders GitHub Markdown: emphasis, lists, tables, code blocks with a copy button', () => {
    const html = render('**bold** _it_\n\n- a\n- b\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n```python\nprint("<b>")\n```');
    expect(html).toContain('<strong>bold</strong>');
    expect(html).toContain('<li>a</li>');
    expect(html).toContain('<table>');
    expect(html).toContain('aria-label="Copy code"');
    expect(html).toContain('<span>python</span>');
    expect(html).toContain('print(&quot;&lt;b&gt;&quot;)');
  });

  it('highlights code into spans without HTML strings', () => {
    const hl = createLowlight(common);
    const nodes = highlight(hl, 'js', 'const a = "<img onerror=x>";');
    expect(nodes).not.toBeNull();
    const html = renderToStaticMarkup(createElement('code', null, nodes));
    expect(html).toContain('<span class="hljs-keyword">const</span>');
    expect(html).toContain('&lt;img onerror=x&gt;');
    expect(html).not.toContain('<img');
    expect(highlight(hl, 'no-such-language', 'x')).toBeNull();
  });
});
