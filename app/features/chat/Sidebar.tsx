/**
 * @file The conversation list: new, search (titles and message text), open, rename, delete (asks first),
 * export one or all as JSON or Markdown, and import a Brix JSON export. On a phone it is a drawer.
 */
import { memo, useEffect, useMemo, useState } from 'react';
import { ErrorNotice } from '../../components/ErrorNotice.tsx';
import { appStore, useApp } from '../../appStore.ts';
import { downloadText } from '../../lib/download.ts';
import { toSerialized } from '../../lib/errorHelp.ts';
import type { SerializedError } from '../../../workers/errors.ts';
import { ImportError, exportFileName, exportJson, exportMarkdown, parseImport } from './exportImport.ts';
import type { Conversation } from './types.ts';

const small = 'rounded px-1.5 py-0.5 text-xs text-slate-600 hover:bg-slate-200 dark:text-slate-300 dark:hover:bg-slate-700';
const IMPORT_MAX_BYTES = 50e6;

function exportOne(c: Conversation, kind: 'json' | 'md'): void {
  if (kind === 'json') downloadText(exportFileName(c.title, 'json'), exportJson([c]), 'application/json');
  else downloadText(exportFileName(c.title, 'md'), exportMarkdown([c]), 'text/markdown');
}

function allConversations(): Conversation[] {
  const { order, conversations } = appStore.getState();
  return order.map((id) => conversations[id]).filter((c): c is Conversation => c !== undefined);
}

const Item = memo(function Item({ id, active, onPicked }: { id: string; active: boolean; onPicked: () => void }) {
  const title = useApp((s) => s.conversations[id]?.title ?? '');
  const streaming = useApp((s) => s.streaming?.conversationId === id);
  const [mode, setMode] = useState<'view' | 'rename' | 'confirm-delete' | 'menu'>('view');
  const [draft, setDraft] = useState(title);
  // The menu (or a pending delete) belongs to the open chat: opening another one closes it.
  useEffect(() => {
    if (!active) setMode((m) => (m === 'menu' || m === 'confirm-delete' ? 'view' : m));
  }, [active]);

  if (mode === 'rename') {
    const done = (save: boolean): void => {
      if (save) appStore.getState().renameConversation(id, draft);
      setMode('view');
    };
    return (
      <li className="px-2 py-1">
        <input
          aria-label="Conversation title"
          value={draft}
          autoFocus
          onChange={(e) => setDraft(e.target.value)}
          onBlur={() => done(true)}
          onKeyDown={(e) => {
            if (e.key === 'Enter') done(true);
            if (e.key === 'Escape') {
              e.stopPropagation();
              done(false);
            }
          }}
          className="w-full rounded border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900"
        />
      </li>
    );
  }

  return (
    <li className={`group rounded-md ${active ? 'bg-slate-200 dark:bg-slate-800' : 'hover:bg-slate-100 dark:hover:bg-slate-900'}`}>
      <button
        type="button"
        aria-current={active ? 'true' : undefined}
        onClick={() => {
          appStore.getState().selectConversation(id);
          onPicked();
        }}
        className="block w-full truncate px-2 py-1.5 text-left text-sm"
        title={title}
      >
        {streaming && <span aria-label="answering" className="mr-1 inline-block h-2 w-2 animate-pulse rounded-full bg-teal-600" />}
        {title}
      </button>
      {mode === 'confirm-delete' ? (
        <div className="flex items-center gap-1 px-2 pb-1.5 text-xs" role="group" aria-label="Confirm delete">
          <span>Delete this chat?</span>
          <button type="button" className={`${small} text-red-700 dark:text-red-400`} onClick={() => appStore.getState().deleteConversation(id)}>
            Delete
          </button>
          <button type="button" className={small} onClick={() => setMode('view')}>
            Keep
          </button>
        </div>
      ) : mode === 'menu' ? (
        <div className="flex flex-wrap gap-1 px-2 pb-1.5" role="group" aria-label={`Actions for ${title}`}>
          <button
            type="button"
            className={small}
            onClick={() => {
              setDraft(title);
              setMode('rename');
            }}
          >
            Rename
          </button>
          <button type="button" className={small} onClick={() => appStore.getState().conversations[id] && exportOne(appStore.getState().conversations[id], 'json')}>
            JSON
          </button>
          <button type="button" className={small} onClick={() => appStore.getState().conversations[id] && exportOne(appStore.getState().conversations[id], 'md')}>
            Markdown
          </button>
          <button type="button" className={`${small} text-red-700 dark:text-red-400`} onClick={() => setMode('confirm-delete')}>
            Delete
          </button>
          <button type="button" className={small} onClick={() => setMode('view')}>
            Close
          </button>
        </div>
      ) : (
        active && (
          <div className="px-2 pb-1">
            <button type="button" className={small} aria-label={`Rename, export, delete: more actions for ${title}`} onClick={() => setMode('menu')}>
              ⋯ Rename, export, delete
            </button>
          </div>
        )
      )}
    </li>
  );
});

function matches(c: Conversation, q: string): boolean {
  if (c.title.toLowerCase().includes(q)) return true;
  return c.messages.some((m) => m.content.toLowerCase().includes(q));
}

export function Sidebar({ className, onPicked }: { className: string; onPicked: () => void }) {
  const order = useApp((s) => s.order);
  const conversations = useApp((s) => s.conversations);
  const activeId = useApp((s) => s.activeId);
  const storageError = useApp((s) => s.storageError);
  const [query, setQuery] = useState('');
  const [importResult, setImportResult] = useState<{ ok: string } | { error: SerializedError } | null>(null);

  const q = query.trim().toLowerCase();
  const visible = useMemo(() => (q === '' ? order : order.filter((id) => conversations[id] && matches(conversations[id], q))), [order, conversations, q]);

  const onImport = async (file: File | undefined): Promise<void> => {
    if (!file) return;
    try {
      if (file.size > IMPORT_MAX_BYTES) throw new ImportError(`the file is ${Math.round(file.size / 1e6)} MB; the limit is 50 MB`);
      const list = parseImport(await file.text());
      const n = appStore.getState().importConversations(list);
      setImportResult({ ok: `Imported ${n} conversation${n === 1 ? '' : 's'}.` });
    } catch (e) {
      setImportResult({ error: toSerialized(e) });
    }
  };

  return (
    <aside aria-label="Conversations" className={`w-72 shrink-0 flex-col border-r border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-950 ${className}`}>
      <div className="space-y-2 p-3">
        <button
          type="button"
          onClick={() => {
            appStore.getState().newConversation();
            onPicked();
          }}
          className="w-full rounded-md bg-teal-700 px-3 py-2 text-sm font-medium text-white hover:bg-teal-600"
        >
          New chat
        </button>
        <input
          type="search"
          aria-label="Search conversations"
          placeholder="Search"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          className="w-full rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900"
        />
      </div>
      <nav aria-label="Conversation list" className="min-h-0 flex-1 overflow-y-auto px-2">
        {visible.length === 0 ? (
          <p className="px-2 py-4 text-sm text-slate-600 dark:text-slate-400">{q === '' ? 'No conversations yet.' : 'No conversation matches.'}</p>
        ) : (
          <ul className="space-y-0.5">
            {visible.map((id) => (
              <Item key={id} id={id} active={id === activeId} onPicked={onPicked} />
            ))}
          </ul>
        )}
      </nav>
      <div className="space-y-2 border-t border-slate-200 p-3 text-xs dark:border-slate-800">
        {storageError && <ErrorNotice error={storageError} />}
        <div className="flex flex-wrap items-center gap-1">
          <span className="text-slate-600 dark:text-slate-400">Export all:</span>
          <button type="button" className={small} disabled={order.length === 0} onClick={() => downloadText(exportFileName('all chats', 'json'), exportJson(allConversations()), 'application/json')}>
            JSON
          </button>
          <button type="button" className={small} disabled={order.length === 0} onClick={() => downloadText(exportFileName('all chats', 'md'), exportMarkdown(allConversations()), 'text/markdown')}>
            Markdown
          </button>
          <label className={`${small} cursor-pointer`}>
            Import…
            <input
              type="file"
              accept="application/json,.json"
              aria-label="Import conversations"
              className="sr-only"
              onChange={(e) => {
                void onImport(e.target.files?.[0]);
                e.target.value = '';
              }}
            />
          </label>
        </div>
        {importResult &&
          ('ok' in importResult ? (
            <p role="status" className="text-teal-700 dark:text-teal-400">
              {importResult.ok}
            </p>
          ) : (
            <ErrorNotice error={importResult.error} />
          ))}
      </div>
    </aside>
  );
}
