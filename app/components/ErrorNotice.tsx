/** @file An error as a readable notice: what happened, the engine's message, and what to do next (app/lib/errorHelp.ts). */
import type { ReactNode } from 'react';
import type { SerializedError } from '../../workers/errors.ts';
import { explainError } from '../lib/errorHelp.ts';

export function ErrorNotice({ error, children, className = '' }: { error: SerializedError; children?: ReactNode; className?: string }) {
  const help = explainError(error);
  return (
    <div
      role="alert"
      data-error-name={error.name}
      className={`rounded-lg border border-red-300 bg-red-50 p-3 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100 ${className}`}
    >
      <p className="font-semibold">{help.title}</p>
      <p className="mt-1 break-words">{help.message}</p>
      {help.advice.length > 0 && (
        <ul className="mt-2 list-disc space-y-0.5 pl-5">
          {help.advice.map((a) => (
            <li key={a}>{a}</li>
          ))}
        </ul>
      )}
      {children && <div className="mt-2 flex flex-wrap gap-2">{children}</div>}
    </div>
  );
}
