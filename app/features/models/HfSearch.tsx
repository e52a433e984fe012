/**
 * @file Models → "Search Hugging Face": GGUF repositories on the Hub by name, each repository's GGUF models
 * (quant type, size, split sets as one entry) with this device's fit verdict, and "Add" to put one in the app's
 * list (then it downloads and loads like any model added by URL). The Hub URL is a setting (tests use a fake Hub).
 */
import { useMemo, useRef, useState } from 'react';
import type { SerializedError } from '../../../workers/errors.ts';
import { ErrorNotice } from '../../components/ErrorNotice.tsx';
import { appStore, useApp } from '../../appStore.ts';
import { toSerialized } from '../../lib/errorHelp.ts';
import { formatBytes } from '../../lib/format.ts';
import { assessFit, deviceMemoryGb, type FitVerdict } from './fit.ts';
import { HF_BASE_KEY, HF_DEFAULT_BASE, listGgufFiles, searchGgufRepos, type HubModelFile, type HubRepo } from './hfHub.ts';

const btn = 'rounded-md border border-slate-300 px-2 py-1 text-sm hover:bg-slate-100 disabled:opacity-50 dark:border-slate-700 dark:hover:bg-slate-800';
const input = 'rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900';

const VERDICT_TONE: Record<FitVerdict, string> = {
  runs: 'text-emerald-800 dark:text-emerald-300',
  slow: 'text-amber-800 dark:text-amber-300',
  risky: 'text-amber-800 dark:text-amber-300',
  no: 'text-red-700 dark:text-red-400',
  unknown: 'text-slate-600 dark:text-slate-400',
};

function storedBase(): string {
  try {
    const v = localStorage.getItem(HF_BASE_KEY);
    const parsed: unknown = v === null ? undefined : JSON.parse(v);
    return typeof parsed === 'string' && parsed !== '' ? parsed : HF_DEFAULT_BASE;
  } catch {
    return HF_DEFAULT_BASE;
  }
}

function RepoFiles({ base, repo }: { base: string; repo: string }) {
  const [files, setFiles] = useState<readonly HubModelFile[] | null>(null);
  const [error, setError] = useState<SerializedError | null>(null);
  const [added, setAdded] = useState<Readonly<Record<string, string>>>({});
  const gpu = useApp((s) => s.gpu);
  const storage = useApp((s) => s.storage);
  const started = useRef(false);
  if (!started.current) {
    started.current = true;
    listGgufFiles(base, repo, (u, i) => fetch(u, i)).then(setFiles, (e: unknown) => setError(toSerialized(e)));
  }
  const facts = useMemo(() => ({ gpu, ...(storage ? { storage } : {}), deviceMemoryGb: deviceMemoryGb() }), [gpu, storage]);
  if (error) return <ErrorNotice error={error} />;
  if (!files) return <p className="text-sm text-slate-600 dark:text-slate-400">Listing files…</p>;
  if (files.length === 0) return <p className="text-sm text-slate-600 dark:text-slate-400">No GGUF model files in this repository.</p>;
  return (
    <table className="w-full text-left text-sm" aria-label={`GGUF files of ${repo}`}>
      <thead className="text-xs text-slate-600 dark:text-slate-400">
        <tr>
          <th className="py-1 pr-2 font-medium">File</th>
          <th className="py-1 pr-2 font-medium">Quant</th>
          <th className="py-1 pr-2 font-medium">Size</th>
          <th className="py-1 pr-2 font-medium">This device</th>
          <th className="py-1 font-medium">
            <span className="sr-only">Add</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {files.map((f) => {
          const fit = assessFit({ sizeBytes: f.totalBytes }, facts);
          const name = `${repo.split('/')[1] ?? repo} ${f.quant || f.name}`;
          return (
            <tr key={f.url} className="border-t border-slate-200 dark:border-slate-800" data-testid="hub-file">
              <td className="break-all py-1 pr-2">
                {f.name}
                {f.parts.length > 1 && <span className="text-xs text-slate-600 dark:text-slate-400"> ({f.parts.length} parts)</span>}
              </td>
              <td className="py-1 pr-2">{f.quant || '—'}</td>
              <td className="py-1 pr-2 tabular-nums">{formatBytes(f.totalBytes)}</td>
              <td className={`py-1 pr-2 ${VERDICT_TONE[fit.verdict]}`} title={fit.checks.map((c) => `${c.label}: ${c.detail}`).join('\n')}>
                {fit.summary}
              </td>
              <td className="py-1">
                {added[f.url] ? (
                  <span className="text-xs">Added as {added[f.url]}</span>
                ) : (
                  <button
                    type="button"
                    className={btn}
                    aria-label={`Add ${f.name}`}
                    onClick={() => {
                      try {
                        const entry = appStore.getState().addModelUrl(f.url, { name, sizeBytes: f.totalBytes });
                        setAdded((a) => ({ ...a, [f.url]: entry.name }));
                      } catch (e) {
                        setError(toSerialized(e));
                      }
                    }}
                  >
                    Add
                  </button>
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export function HfSearch() {
  const [query, setQuery] = useState('');
  const [base, setBase] = useState(storedBase);
  const [repos, setRepos] = useState<readonly HubRepo[] | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<SerializedError | null>(null);
  const abort = useRef<AbortController | null>(null);

  const search = async (): Promise<void> => {
    abort.current?.abort();
    const ac = new AbortController();
    abort.current = ac;
    setBusy(true);
    setError(null);
    setOpen(null);
    try {
      setRepos(await searchGgufRepos(base, query, (u, i) => fetch(u, i), ac.signal));
    } catch (e) {
      if (!ac.signal.aborted) setError(toSerialized(e));
    } finally {
      if (abort.current === ac) setBusy(false);
    }
  };

  return (
    <section aria-labelledby="hf-heading" className="space-y-3">
      <h2 id="hf-heading" className="text-lg font-semibold">
        Find models on Hugging Face
      </h2>
      <form
        role="search"
        className="flex flex-wrap gap-2"
        onSubmit={(e) => {
          e.preventDefault();
          void search();
        }}
      >
        <input
          type="search"
          aria-label="Search Hugging Face"
          placeholder="e.g. OLMoE GGUF, granite moe"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          className={`${input} min-w-0 flex-1`}
        />
        <button type="submit" className={btn} disabled={busy || query.trim() === ''}>
          {busy ? 'Searching…' : 'Search'}
        </button>
      </form>
      <details className="text-xs text-slate-600 dark:text-slate-400">
        <summary className="cursor-pointer">Hub URL</summary>
        <label className="mt-1 flex flex-wrap items-center gap-2">
          <span>Hugging Face Hub (or a mirror)</span>
          <input
            className={input}
            value={base}
            spellCheck={false}
            onChange={(e) => setBase(e.target.value)}
            onBlur={() => {
              try {
                localStorage.setItem(HF_BASE_KEY, JSON.stringify(base.trim() || HF_DEFAULT_BASE));
              } catch {
                // storage off: this session only
              }
            }}
          />
        </label>
      </details>
      {error && <ErrorNotice error={error} />}
      {repos && repos.length === 0 && <p className="text-sm">No GGUF repositories match “{query}”.</p>}
      {repos && repos.length > 0 && (
        <ul className="space-y-2" aria-label="Hugging Face results">
          {repos.map((r) => (
            <li key={r.id} className="rounded-lg border border-slate-200 p-2 dark:border-slate-800">
              <button type="button" aria-expanded={open === r.id} className="w-full text-left text-sm font-medium" onClick={() => setOpen(open === r.id ? null : r.id)}>
                {r.id}
                {r.downloads !== undefined && <span className="ml-2 text-xs font-normal text-slate-600 dark:text-slate-400">{r.downloads.toLocaleString('en-US')} downloads</span>}
              </button>
              {open === r.id && (
                <div className="mt-2">
                  <RepoFiles base={base} repo={r.id} />
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
