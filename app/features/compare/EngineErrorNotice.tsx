/**
 * @file An engine error in a pane: the compare engines' own errors (endpoint, WebLLM, offline) with their
 * title and advice from app/engines/errors.ts; everything else through the app's ErrorNotice.
 */
import type { ReactNode } from 'react';
import type { SerializedError } from '../../../workers/errors.ts';
import { ErrorNotice } from '../../components/ErrorNotice.tsx';
import { ENGINE_ERROR_ADVICE, ENGINE_ERROR_TITLE } from '../../engines/errors.ts';

export function EngineErrorNotice({ error, children }: { error: SerializedError; children?: ReactNode }) {
  const title = ENGINE_ERROR_TITLE[error.name];
  if (title === undefined) return <ErrorNotice error={error}>{children}</ErrorNotice>;
  const advice = ENGINE_ERROR_ADVICE[error.name] ?? [];
  return (
    <div
      role="alert"
      data-error-name={error.name}
      className="rounded-lg border border-red-300 bg-red-50 p-3 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100"
    >
      <p className="font-semibold">{title}</p>
      <p className="mt-1 break-words">{error.message}</p>
      {advice.length > 0 && (
        <ul className="mt-2 list-disc space-y-0.5 pl-5">
          {advice.map((a) => (
            <li key={a}>{a}</li>
          ))}
        </ul>
      )}
      {children && <div className="mt-2 flex flex-wrap gap-2">{children}</div>}
    </div>
  );
}
