/**
 * @file "Chat settings": this conversation's own sampling. An empty field follows the global setting (shown as
 * its placeholder), so a chat only pins what the user changed. Values are clamped to the global bounds. The
 * conversation's system prompt is the "System prompt" box beside it.
 */
import { useEffect, useState } from 'react';
import { appStore, useApp } from '../../appStore.ts';
import { SAMPLING_BOUNDS, useSettingsStore } from '../settings/store.ts';
import type { ChatSettings as Settings } from './types.ts';

type Key = keyof Settings;

const FIELDS: readonly { key: Key; label: string }[] = [
  { key: 'temperature', label: 'Temperature' },
  { key: 'topP', label: 'Top-p' },
  { key: 'topK', label: 'Top-k' },
  { key: 'repetitionPenalty', label: 'Repetition penalty' },
  { key: 'maxTokens', label: 'Max tokens' },
];

const INTEGER: ReadonlySet<Key> = new Set(['topK', 'maxTokens']);
const EMPTY: Settings = {};

function Field({ conversationId, k, label, value, global }: { conversationId: string; k: Key; label: string; value: number | undefined; global: number }) {
  const [text, setText] = useState(value === undefined ? '' : String(value));
  useEffect(() => setText(value === undefined ? '' : String(value)), [value]);
  const b = SAMPLING_BOUNDS[k];
  const commit = (): void => {
    const cur = appStore.getState().conversations[conversationId]?.settings ?? EMPTY;
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n)) {
      const { [k]: _gone, ...rest } = cur;
      appStore.getState().setChatSettings(conversationId, rest);
      setText('');
      return;
    }
    const v = Math.min(b.max, Math.max(b.min, INTEGER.has(k) ? Math.round(n) : n));
    appStore.getState().setChatSettings(conversationId, { ...cur, [k]: v });
    setText(String(v));
  };
  const id = `chat-${k}`;
  return (
    <label htmlFor={id} className="flex flex-col gap-0.5 text-xs">
      <span>{label}</span>
      <input
        id={id}
        type="number"
        inputMode="decimal"
        min={b.min}
        max={b.max}
        step={b.step}
        value={text}
        placeholder={`${global} (global)`}
        onChange={(e) => setText(e.target.value)}
        onBlur={commit}
        onKeyDown={(e) => {
          if (e.key === 'Enter') commit();
        }}
        className="w-28 rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900"
      />
    </label>
  );
}

export function ChatSettings({ conversationId }: { conversationId: string | null }) {
  const [open, setOpen] = useState(false);
  const settings = useApp((s) => (conversationId ? (s.conversations[conversationId]?.settings ?? EMPTY) : EMPTY));
  const global = useSettingsStore((s) => s.sampling);
  const pinned = Object.keys(settings).length;
  return (
    <div>
      <button
        type="button"
        aria-expanded={open}
        onClick={() => {
          // Settings belong to a conversation: open one if there is none yet.
          if (!open && conversationId === null) appStore.getState().newConversation();
          setOpen((o) => !o);
        }}
        className="rounded-md border border-slate-300 px-2 py-1 text-xs hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800"
      >
        Chat settings{pinned > 0 ? ` (${pinned})` : ''}
      </button>
      {open && conversationId && (
        <div role="group" aria-label="Chat settings" className="mt-2 space-y-2 rounded-md border border-slate-200 p-2 dark:border-slate-800">
          <p className="text-xs text-slate-600 dark:text-slate-400">Sampling for this conversation only. Empty fields follow the global settings.</p>
          <div className="flex flex-wrap gap-3">
            {FIELDS.map((f) => (
              <Field key={f.key} conversationId={conversationId} k={f.key} label={f.label} value={settings[f.key]} global={global[f.key]} />
            ))}
          </div>
          {pinned > 0 && (
            <button
              type="button"
              className="rounded-md border border-slate-300 px-2 py-0.5 text-xs hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800"
              onClick={() => appStore.getState().setChatSettings(conversationId, {})}
            >
              Use the global settings
            </button>
          )}
        </div>
      )}
    </div>
  );
}
