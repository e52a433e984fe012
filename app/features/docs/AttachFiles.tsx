/**
 * @file Attached files in the message box: the "Attach files" button, the files of the open conversation (each
 * removable), reading/indexing progress, and read failures. Files are read and indexed by the docs worker, so a
 * large PDF never blocks the page. `DocsDropZone` makes the message box accept dropped files too.
 */
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { appStore, useApp } from '../../appStore.ts';
import { SUPPORTED_HINT } from '../../../workers/retrieval/extract.ts';
import type { DocsProgress, IndexedFile } from '../../../workers/retrieval/protocol.ts';
import { docsStore } from './docs.ts';
import { useDocs } from './docsStore.ts';

const ACCEPT = '.txt,.md,.markdown,.html,.htm,.pdf,.json,.jsonl,.csv,.tsv,.xml,.yaml,.yml,.toml,.log,.js,.mjs,.ts,.tsx,.jsx,.py,.rb,.go,.rs,.java,.kt,.c,.h,.cc,.cpp,.hpp,.cs,.swift,.php,.sh,.sql,.css,.scss,.wgsl,text/*';
const NONE: readonly IndexedFile[] = [];

/** The open conversation, created if there is none (files need one to belong to). */
function targetConversation(): string {
  const s = appStore.getState();
  return s.activeId !== null && s.conversations[s.activeId] ? s.activeId : s.newConversation();
}

export function attachFiles(files: readonly File[]): void {
  if (files.length === 0) return;
  void docsStore.getState().attach(targetConversation(), files);
}

function progressText(p: DocsProgress): string {
  if (p.phase === 'save') return 'Saving the index…';
  if (p.phase === 'parse' && p.total > 1) return `Reading ${p.file}: page ${p.done} of ${p.total}`;
  return `${p.phase === 'index' ? 'Indexing' : 'Reading'} ${p.file}…`;
}

export function AttachButton({ disabled }: { disabled?: boolean }) {
  const input = useRef<HTMLInputElement>(null);
  return (
    <>
      <button
        type="button"
        disabled={disabled}
        onClick={() => input.current?.click()}
        title={`Attach files to this chat (${SUPPORTED_HINT}); answers then use their passages`}
        className="rounded-xl border border-slate-300 px-3 py-2 text-sm hover:bg-slate-100 disabled:opacity-50 dark:border-slate-700 dark:hover:bg-slate-800"
      >
        Attach files
      </button>
      <input
        ref={input}
        type="file"
        multiple
        accept={ACCEPT}
        hidden
        aria-hidden="true"
        tabIndex={-1}
        onChange={(e) => {
          attachFiles([...(e.currentTarget.files ?? [])]);
          e.currentTarget.value = '';
        }}
      />
    </>
  );
}

/** The open conversation's files, progress and errors (nothing when there are none). */
export function AttachedFiles() {
  const id = useApp((s) => s.activeId);
  const files = useDocs(docsStore, (s) => (id ? (s.files[id] ?? NONE) : NONE));
  const progress = useDocs(docsStore, (s) => (id ? (s.progress[id] ?? null) : null));
  const errors = useDocs(docsStore, (s) => (id ? s.errors[id] : undefined));
  useEffect(() => {
    if (id) void docsStore.getState().refresh(id);
  }, [id]);
  if (!id || (files.length === 0 && !progress && !errors?.length)) return null;
  return (
    <div className="mx-auto mb-2 max-w-3xl space-y-1 text-sm" data-testid="attached-files">
      {files.length > 0 && (
        <ul aria-label="Attached files" className="flex flex-wrap gap-2">
          {files.map((f) => (
            <li key={f.name} className="flex items-center gap-1 rounded-full border border-slate-300 py-0.5 pl-3 pr-1 dark:border-slate-700">
              <span title={`${f.chunks} passages${f.pages !== undefined ? `, ${f.pages} pages` : ''}`}>{f.name}</span>
              <button
                type="button"
                aria-label={`Remove ${f.name}`}
                onClick={() => void docsStore.getState().remove(id, f.name)}
                className="rounded-full px-1.5 text-slate-600 hover:bg-slate-200 dark:text-slate-300 dark:hover:bg-slate-700"
              >
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      {progress && (
        <p role="status" aria-label="Reading files" className="text-slate-600 dark:text-slate-300">
          {progressText(progress)}
          {progress.total > 1 && <progress className="ml-2 align-middle" max={progress.total} value={progress.done} />}
        </p>
      )}
      {errors && errors.length > 0 && (
        <div role="alert" className="rounded-md border border-red-300 bg-red-50 px-2 py-1 text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100">
          {errors.map((e, i) => (
            <p key={i}>{e.message}</p>
          ))}
          <button type="button" className="text-xs underline" onClick={() => docsStore.getState().dismissErrors(id)}>
            Dismiss
          </button>
        </div>
      )}
    </div>
  );
}

/** Files dropped anywhere on the children are attached to the open conversation. */
export function DocsDropZone({ children, disabled }: { children: ReactNode; disabled?: boolean }) {
  const [over, setOver] = useState(false);
  const hasFiles = (e: React.DragEvent): boolean => !disabled && e.dataTransfer.types.includes('Files');
  return (
    <div
      data-testid="docs-drop-zone"
      data-drag-over={over ? 'true' : 'false'}
      onDragOver={(e) => {
        if (!hasFiles(e)) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        if (!hasFiles(e)) return;
        e.preventDefault();
        setOver(false);
        attachFiles([...e.dataTransfer.files]);
      }}
      className={over ? 'outline-2 outline-dashed outline-teal-600' : undefined}
    >
      {children}
    </div>
  );
}
