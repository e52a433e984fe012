/** @file The conversation's system prompt: collapsed behind a toggle, saved when the user pauses typing or leaves the box. */
import { useEffect, useRef, useState } from 'react';
import { appStore, useApp } from '../../appStore.ts';

export function SystemPrompt({ conversationId }: { conversationId: string | null }) {
  const stored = useApp((s) => (conversationId ? (s.conversations[conversationId]?.systemPrompt ?? '') : ''));
  const [open, setOpen] = useState(false);
  const [text, setText] = useState(stored);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  useEffect(() => setText(stored), [stored, conversationId]);

  const save = (value: string): void => {
    clearTimeout(timer.current);
    let id = conversationId;
    if (id === null) {
      if (value.trim() === '') return;
      id = appStore.getState().newConversation();
    }
    appStore.getState().setSystemPrompt(id, value);
  };

  return (
    <div>
      <button
        type="button"
        aria-expanded={open}
        onClick={() => setOpen((o) => !o)}
        className="rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800"
      >
        System prompt{stored.trim() !== '' ? ' •' : ''}
      </button>
      {open && (
        <textarea
          aria-label="System prompt"
          value={text}
          rows={3}
          placeholder="Instructions for this conversation, e.g. “Answer briefly.”"
          onChange={(e) => {
            const v = e.target.value;
            setText(v);
            clearTimeout(timer.current);
            timer.current = setTimeout(() => save(v), 500);
          }}
          onBlur={() => save(text)}
          className="mt-2 w-full rounded-md border border-slate-300 bg-white p-2 text-sm dark:border-slate-700 dark:bg-slate-900"
        />
      )}
    </div>
  );
}
