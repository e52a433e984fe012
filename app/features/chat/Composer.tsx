/**
 * @file The message box: Enter sends, Shift+Enter adds a line (IME composition is left alone), and while an
 * answer streams the Send button becomes Stop (Esc also stops, see ChatPage).
 */
import { useRef, useState } from 'react';
import { appStore, useApp } from '../../appStore.ts';
import { AttachButton, AttachedFiles, DocsDropZone } from '../docs/AttachFiles.tsx';

export function Composer({ disabled, draft }: { disabled: boolean; draft?: { text: string; n: number } }) {
  const [text, setText] = useState('');
  const [lastDraft, setLastDraft] = useState(0);
  const streaming = useApp((s) => s.streaming !== null);
  const area = useRef<HTMLTextAreaElement>(null);
  if (draft && draft.n !== lastDraft) {
    setLastDraft(draft.n);
    setText(draft.text);
  }

  const send = (): void => {
    if (disabled || streaming || text.trim() === '') return;
    void appStore.getState().send(text);
    setText('');
    area.current?.focus();
  };

  const rows = Math.min(8, Math.max(1, text.split('\n').length));
  return (
    <DocsDropZone disabled={disabled}>
    <form
      className="border-t border-slate-200 px-3 py-3 dark:border-slate-800 md:px-6"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <AttachedFiles />
      <div className="mx-auto flex max-w-3xl items-end gap-2">
        <AttachButton disabled={disabled} />
        <textarea
          ref={area}
          aria-label="Message"
          data-skip-target
          value={text}
          rows={rows}
          disabled={disabled}
          placeholder={disabled ? 'WebGPU is needed to chat' : 'Message Brix…'}
          title="Enter sends, Shift+Enter adds a line, Esc stops the answer"
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              send();
            }
          }}
          className="min-h-[2.5rem] flex-1 resize-none rounded-xl border border-slate-300 bg-white px-3 py-2 text-base focus:border-teal-600 focus:outline-2 focus:outline-offset-1 focus:outline-teal-600 disabled:opacity-60 dark:border-slate-700 dark:bg-slate-900"
        />
        {streaming ? (
          <button
            type="button"
            onClick={() => appStore.getState().stop()}
            title="Stop (Esc)"
            className="rounded-xl bg-slate-800 px-4 py-2 font-medium text-white hover:bg-slate-700 dark:bg-slate-200 dark:text-slate-900"
          >
            Stop
          </button>
        ) : (
          <button
            type="submit"
            disabled={disabled || text.trim() === ''}
            className="rounded-xl bg-teal-700 px-4 py-2 font-medium text-white hover:bg-teal-600 disabled:opacity-50"
          >
            Send
          </button>
        )}
      </div>
    </form>
    </DocsDropZone>
  );
}
