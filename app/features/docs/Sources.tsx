/**
 * @file The "Sources" region under an answer that used attached files: one entry per number the prompt gave a
 * passage ([1], [2] …), naming its file and passage; a click opens that passage's text.
 */
import { useState } from 'react';
import type { SourceRef } from '../../../workers/retrieval/context.ts';

export function Sources({ sources, messageId }: { sources: readonly SourceRef[]; messageId: string }) {
  const [open, setOpen] = useState<number | null>(null);
  const passageId = (n: number): string => `passage-${messageId}-${n}`;
  return (
    <section aria-label="Sources" className="mt-2 border-t border-slate-200 pt-2 text-sm dark:border-slate-700">
      <h3 className="text-xs font-semibold uppercase tracking-wide text-slate-600 dark:text-slate-300">Sources</h3>
      <ol className="mt-1 space-y-1">
        {sources.map((s) => (
          <li key={s.n}>
            <button
              type="button"
              aria-expanded={open === s.n}
              aria-controls={passageId(s.n)}
              onClick={() => setOpen((o) => (o === s.n ? null : s.n))}
              className="text-left text-teal-800 underline-offset-2 hover:underline dark:text-teal-300"
            >
              [{s.n}] {s.file} · passage {s.chunk + 1}
            </button>
            {open === s.n && (
              <blockquote
                id={passageId(s.n)}
                aria-label={`Passage ${s.chunk + 1} of ${s.file}`}
                tabIndex={-1}
                ref={(el) => el?.focus()}
                className="mt-1 max-h-64 overflow-y-auto whitespace-pre-wrap rounded-md border-l-4 border-teal-600 bg-white px-3 py-2 text-slate-800 dark:bg-slate-950 dark:text-slate-200"
              >
                {s.text}
              </blockquote>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}
