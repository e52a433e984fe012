/**
 * @file The answer being generated: the only component that re-renders per token. The Markdown re-parse is
 * deferred (useDeferredValue), so on a long answer React skips intermediate frames instead of falling behind.
 */
import { useDeferredValue, useLayoutEffect } from 'react';
import { Markdown } from '../../components/Markdown.tsx';
import { useApp } from '../../appStore.ts';

export function StreamingMessage({ conversationId, onGrow }: { conversationId: string; onGrow: () => void }) {
  const streaming = useApp((s) => (s.streaming?.conversationId === conversationId ? s.streaming : null));
  const text = useDeferredValue((streaming?.prefix ?? '') + (streaming?.text ?? ''));
  useLayoutEffect(onGrow, [text, onGrow]);
  if (!streaming) return null;
  return (
    <article aria-label="Assistant message (generating)" aria-busy="true" data-role="assistant" data-streaming="true" className="flex justify-start">
      <div className="w-full min-w-0 max-w-[min(100%,48rem)] rounded-2xl bg-slate-100 px-4 py-2 dark:bg-slate-900">
        {streaming.phase === 'loading' ? (
          <p className="text-sm italic text-slate-600 dark:text-slate-400">Waiting for the model to load…</p>
        ) : text === '' ? (
          <p className="text-sm italic text-slate-600 dark:text-slate-400" aria-live="polite">
            Thinking…
          </p>
        ) : (
          <Markdown text={text} />
        )}
        <span className="ml-0.5 inline-block h-4 w-1.5 animate-pulse bg-slate-400 align-middle" aria-hidden="true" />
      </div>
    </article>
  );
}
