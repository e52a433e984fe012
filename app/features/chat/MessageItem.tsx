/**
 * @file One finished message. Memoised on its record (records are immutable, so an unchanged message never
 * re-renders while another streams). User messages can be edited and resent; the last answer can be
 * regenerated; every message can be copied.
 */
import { memo, useState } from 'react';
import { CopyButton } from '../../components/CopyButton.tsx';
import { ErrorNotice } from '../../components/ErrorNotice.tsx';
import { Markdown } from '../../components/Markdown.tsx';
import { appStore } from '../../appStore.ts';
import { finishText } from '../../lib/format.ts';
import { MessageStats } from './MessageStats.tsx';
import { Sources } from '../docs/Sources.tsx';
import type { ChatMessageRecord } from './types.ts';
import { versionCount, versionIndex } from './versions.ts';

/** "Previous version" · "2 / 2" · "Next version", on a message with more than one version. */
function VersionNav({ message, busy }: { message: ChatMessageRecord; busy: boolean }) {
  const n = versionCount(message);
  if (n < 2) return null;
  const i = versionIndex(message);
  const show = (j: number): void => appStore.getState().showVersion(message.id, j);
  return (
    <span className="inline-flex items-center gap-0.5" role="group" aria-label="Versions">
      <button type="button" className={action} aria-label="Previous version" disabled={busy || i === 0} onClick={() => show(i - 1)}>
        ‹
      </button>
      <span className="text-xs tabular-nums" data-testid="version-label">
        {i + 1} / {n}
      </span>
      <button type="button" className={action} aria-label="Next version" disabled={busy || i === n - 1} onClick={() => show(i + 1)}>
        ›
      </button>
    </span>
  );
}

const action =
  'rounded px-2 py-0.5 text-xs text-slate-600 hover:bg-slate-200 disabled:opacity-40 dark:text-slate-300 dark:hover:bg-slate-700';

function UserEditor({ message, onDone }: { message: ChatMessageRecord; onDone: () => void }) {
  const [text, setText] = useState(message.content);
  const save = (): void => {
    onDone();
    void appStore.getState().editAndResend(message.id, text);
  };
  return (
    <div className="space-y-2">
      <textarea
        aria-label="Edit message"
        value={text}
        autoFocus
        rows={Math.min(10, Math.max(2, text.split('\n').length))}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            save();
          } else if (e.key === 'Escape') {
            e.stopPropagation();
            onDone();
          }
        }}
        className="w-full rounded-md border border-slate-400 bg-white p-2 text-sm text-slate-900 focus:outline-2 focus:outline-offset-1 focus:outline-teal-600 dark:border-slate-600 dark:bg-slate-950 dark:text-slate-100"
      />
      <div className="flex gap-2">
        <button type="button" onClick={save} disabled={text.trim() === ''} className="rounded-md bg-teal-700 px-3 py-1 text-xs text-white disabled:opacity-50">
          Save and send
        </button>
        <button type="button" onClick={onDone} className={action}>
          Cancel
        </button>
      </div>
    </div>
  );
}

export const MessageItem = memo(function MessageItem({
  message,
  canRegenerate,
  busy,
}: {
  message: ChatMessageRecord;
  /** The last answer of the conversation (or a failed one): Regenerate, and Continue when it was cut off. */
  canRegenerate: boolean;
  /** An answer is streaming: no edits or regeneration now. */
  busy: boolean;
}) {
  const [editing, setEditing] = useState(false);
  const isUser = message.role === 'user';
  return (
    <article
      aria-label={isUser ? 'User message' : `Assistant message${message.model ? ` from ${message.model}` : ''}`}
      data-role={message.role}
      data-finish={message.finishReason}
      className={`group flex ${isUser ? 'justify-end' : 'justify-start'}`}
    >
      <div
        className={`min-w-0 max-w-[min(100%,48rem)] rounded-2xl px-4 py-2 ${
          isUser && !editing ? 'bg-teal-700 text-white dark:bg-teal-800' : 'w-full bg-slate-100 text-slate-900 dark:bg-slate-900 dark:text-slate-100'
        }`}
      >
        {isUser ? (
          editing ? (
            <UserEditor message={message} onDone={() => setEditing(false)} />
          ) : (
            <p className="whitespace-pre-wrap break-words">{message.content}</p>
          )
        ) : (
          <>
            {message.content !== '' ? <Markdown text={message.content} /> : !message.error && <p className="italic text-slate-600 dark:text-slate-400">(no text)</p>}
            {message.finishReason === 'abort' && <p className="mt-1 text-xs italic text-slate-600 dark:text-slate-400">Stopped.</p>}
            {message.stats && message.stats.truncatedTokens > 0 && (
              <p className="mt-1 text-xs text-amber-800 dark:text-amber-300" data-testid="truncated-note">
                Older messages were left out to fit the context ({message.stats.truncatedTokens} tokens dropped).
              </p>
            )}
            {message.error && <ErrorNotice error={message.error} className="mt-2" />}
            {message.sources && message.sources.length > 0 && <Sources sources={message.sources} messageId={message.id} />}
            {message.stats && <MessageStats stats={message.stats} />}
            {message.finishReason && message.finishReason !== 'abort' && message.finishReason !== 'eog' && !message.stats && (
              <p className="text-xs text-slate-600 dark:text-slate-400">{finishText(message.finishReason)}</p>
            )}
          </>
        )}
        {!editing && (
          <div className={`mt-1 flex flex-wrap gap-1 ${isUser ? 'justify-end [&_button]:text-teal-50 [&_button:hover]:bg-teal-600' : ''}`}>
            <VersionNav message={message} busy={busy} />
            <CopyButton text={message.content} label={isUser ? 'Copy message' : 'Copy answer'} />
            {isUser && (
              <button type="button" className={action} disabled={busy} onClick={() => setEditing(true)}>
                Edit
              </button>
            )}
            {!isUser && canRegenerate && (
              <button type="button" className={action} disabled={busy} onClick={() => void appStore.getState().regenerate()}>
                Regenerate
              </button>
            )}
            {!isUser && canRegenerate && message.finishReason === 'length' && (
              <button
                type="button"
                className={action}
                disabled={busy}
                title="The answer hit the token limit: go on from where it stopped"
                onClick={() => void appStore.getState().continueAnswer(message.id)}
              >
                Continue
              </button>
            )}
          </div>
        )}
      </div>
    </article>
  );
});
