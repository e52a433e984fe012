/**
 * @file One model on the Models page: what it is (size, architecture, experts, context, license), whether this
 * device can run it (before downloading), its cache state and download progress, and its actions: load,
 * download / pause / resume, delete the download (after a confirm step), remove (models the user added).
 */
import { memo, useEffect, useRef, useState, type ReactNode } from 'react';
import { ErrorNotice } from '../../components/ErrorNotice.tsx';
import { LoadProgress } from '../../components/LoadProgress.tsx';
import { appStore, useApp } from '../../appStore.ts';
import { formatBytes, formatModelSize, formatParams } from '../../lib/format.ts';
import type { ModelDetails, ModelEntry } from './catalog.ts';
import type { Fit } from './fit.ts';

export const button =
  'rounded-md border border-slate-300 px-3 py-1 text-sm hover:bg-slate-100 disabled:opacity-50 dark:border-slate-700 dark:hover:bg-slate-800';
const primary = 'rounded-md bg-teal-700 px-3 py-1 text-sm font-medium text-white hover:bg-teal-600 disabled:opacity-50';

const VERDICT_STYLE: Record<Fit['verdict'], string> = {
  runs: 'bg-emerald-100 text-emerald-900 dark:bg-emerald-900 dark:text-emerald-100',
  slow: 'bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100',
  risky: 'bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100',
  no: 'bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100',
  unknown: 'bg-slate-100 text-slate-700 dark:bg-slate-800 dark:text-slate-300',
};
const CHECK_MARK = { ok: '✓', warn: '!', fail: '✗', unknown: '?' } as const;

/**
 * "Delete download" with an inline confirm step (as the chat list's delete): the question says what comes back
 * and from where; Keep is focused first, so Enter or a second click on the same spot deletes nothing.
 */
export function DeleteDownload({ question, disabled, onDelete }: { question: ReactNode; disabled?: boolean; onDelete: () => void }) {
  const [asking, setAsking] = useState(false);
  const keep = useRef<HTMLButtonElement>(null);
  const ask = useRef<HTMLButtonElement>(null);
  const returnFocus = useRef(false);
  useEffect(() => {
    if (asking) keep.current?.focus();
    else if (returnFocus.current) ask.current?.focus();
    returnFocus.current = false;
  }, [asking]);
  if (!asking)
    return (
      <button ref={ask} type="button" className={button} disabled={disabled} onClick={() => setAsking(true)}>
        Delete download
      </button>
    );
  return (
    <div role="group" aria-label="Confirm delete" className="flex basis-full flex-wrap items-center gap-2 rounded-md border border-red-200 bg-red-50 p-2 text-sm dark:border-red-900 dark:bg-red-950">
      <span className="min-w-0 basis-full">{question}</span>
      <button
        type="button"
        className={`${button} text-red-700 dark:text-red-300`}
        onClick={() => {
          setAsking(false);
          onDelete();
        }}
      >
        Delete
      </button>
      <button
        ref={keep}
        type="button"
        className={button}
        onClick={() => {
          returnFocus.current = true;
          setAsking(false);
        }}
      >
        Keep
      </button>
    </div>
  );
}

/** Where a deleted download would come from again: the app's own origin for the bundled model, else the host. */
export function refetchNote(origin: ModelEntry['origin'] | undefined, url: string): string {
  if (origin === 'bundled') return 'It ships with Brix, so it can be downloaded again from this site at any time (until then it needs a connection).';
  try {
    return `Using it again downloads it again from ${new URL(url, location.href).host}.`;
  } catch {
    return 'Using it again downloads it again.';
  }
}

export function DetailsList({ d, size, approx }: { d: ModelDetails | undefined; size: number | undefined; approx?: boolean }) {
  const rows: [string, string][] = [];
  if (size !== undefined) rows.push(['Size', formatModelSize(size, approx)]);
  if (d) {
    rows.push(['Architecture', d.architecture]);
    rows.push(['Parameters', d.activeParams < d.params ? `${formatParams(d.params)} total, ${formatParams(d.activeParams)} active per token` : formatParams(d.params)]);
    rows.push(['Experts', d.experts ? `${d.experts.total}, ${d.experts.used} per token` : 'dense (no experts)']);
    rows.push(['Context', `${d.context.toLocaleString('en-US')} tokens`]);
    rows.push(['Quantization', d.quant]);
  }
  return (
    <dl className="grid grid-cols-[8rem_1fr] gap-x-3 gap-y-0.5 text-sm">
      {rows.map(([k, v]) => (
        <div key={k} className="contents">
          <dt className="text-slate-600 dark:text-slate-400">{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
      {d && (
        <div className="contents">
          <dt className="text-slate-600 dark:text-slate-400">License</dt>
          <dd>
            {d.licenseUrl ? (
              <a href={d.licenseUrl} target="_blank" rel="noopener noreferrer" className="underline">
                {d.license}
              </a>
            ) : (
              d.license
            )}
            {d.pageUrl && (
              <>
                {' · '}
                <a href={d.pageUrl} target="_blank" rel="noopener noreferrer" className="underline">
                  model card
                </a>
              </>
            )}
          </dd>
        </div>
      )}
    </dl>
  );
}

export function FitView({ fit }: { fit: Fit }) {
  return (
    <details className="text-sm" data-testid="fit" data-verdict={fit.verdict}>
      <summary className="cursor-pointer">
        <span className={`rounded px-2 py-0.5 text-xs font-medium ${VERDICT_STYLE[fit.verdict]}`}>{fit.summary}</span>
      </summary>
      <ul className="mt-1 space-y-0.5 pl-1">
        {fit.checks.map((c) => (
          <li key={c.label} data-check={c.verdict}>
            <span aria-hidden="true" className="inline-block w-4 font-mono">
              {CHECK_MARK[c.verdict]}
            </span>
            <span className="font-medium">{c.label}:</span> {c.detail}
          </li>
        ))}
      </ul>
    </details>
  );
}

export const ModelCard = memo(function ModelCard({ entry, fit }: { entry: ModelEntry; fit: Fit }) {
  const cacheUrl = useApp((s) => s.cacheUrls[entry.id]);
  const cached = useApp((s) => (cacheUrl ? s.cached.find((c) => c.url === cacheUrl) : undefined));
  const download = useApp((s) => s.downloads[entry.id]);
  const describing = useApp((s) => s.describing[entry.id]);
  const loadKind = useApp((s) => (s.load.kind !== 'idle' && s.load.modelId === entry.id ? s.load.kind : 'idle'));
  const busyLoading = loadKind === 'loading';
  const downloading = download?.status === 'downloading';
  const complete = cached?.state === 'complete';
  const size = cached?.totalBytes || entry.sizeBytes;
  const approx = !cached?.totalBytes && entry.sizeApprox;
  const canDownload = entry.origin !== 'file';
  const store = appStore.getState;

  return (
    <li aria-labelledby={`model-${entry.id}`} data-testid="model-card" data-model-id={entry.id} className="space-y-2 rounded-lg border border-slate-200 p-4 dark:border-slate-800">
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h3 id={`model-${entry.id}`} className="font-semibold">
          {entry.name}
        </h3>
        <div className="flex gap-1 text-xs">
          {entry.origin === 'bundled' && <span className="rounded bg-teal-100 px-2 py-0.5 text-teal-900 dark:bg-teal-900 dark:text-teal-100">bundled, works offline</span>}
          {entry.origin === 'url' && <span className="rounded bg-slate-100 px-2 py-0.5 dark:bg-slate-800">added by URL</span>}
          {entry.origin === 'file' && <span className="rounded bg-slate-100 px-2 py-0.5 dark:bg-slate-800">local file (this session)</span>}
          {loadKind === 'ready' && <span className="rounded bg-emerald-100 px-2 py-0.5 text-emerald-900 dark:bg-emerald-900 dark:text-emerald-100">loaded</span>}
        </div>
      </div>
      {entry.details?.note && <p className="text-sm text-slate-600 dark:text-slate-400">{entry.details.note}</p>}
      {entry.url && entry.origin === 'url' && <p className="break-all font-mono text-xs text-slate-600 dark:text-slate-400">{entry.url}</p>}
      <DetailsList d={entry.details} size={size} approx={approx} />
      {describing && (
        <p className="text-xs text-slate-600 dark:text-slate-400" data-testid="model-describing" data-status={describing.status}>
          {describing.status === 'reading' ? 'Reading the model’s header…' : `Could not read the model’s header: ${describing.message}`}
        </p>
      )}
      <FitView fit={fit} />
      <p className="text-sm" data-testid="cache-state">
        {entry.origin === 'file'
          ? 'Read from the file on this device (not copied into the cache).'
          : complete
            ? `Downloaded (${formatBytes(cached.storedBytes)}).`
            : cached
              ? `Partly downloaded: ${formatBytes(cached.storedBytes)} of ${formatBytes(cached.totalBytes)}.`
              : 'Not downloaded.'}
      </p>
      {download && download.status !== 'error' && (
        <LoadProgress label={`Downloading ${entry.name}`} progress={download.progress} starting={download.status === 'paused' ? 'Paused' : 'Starting…'} />
      )}
      {download?.status === 'paused' && <p className="text-xs text-slate-600 dark:text-slate-400">Paused: what was downloaded is kept.</p>}
      {download?.error && <ErrorNotice error={download.error} />}
      <div className="flex flex-wrap gap-2">
        <button type="button" className={primary} disabled={busyLoading || downloading || loadKind === 'ready'} onClick={() => void store().loadModel(entry.id)}>
          {loadKind === 'ready' ? 'Loaded' : busyLoading ? 'Loading…' : complete || entry.origin === 'file' ? 'Load' : 'Download and load'}
        </button>
        {canDownload && !complete && (
          downloading ? (
            <button type="button" className={button} onClick={() => store().pauseDownload(entry.id)}>
              Pause
            </button>
          ) : (
            <button type="button" className={button} disabled={busyLoading} onClick={() => void store().startDownload(entry.id)}>
              {cached || download ? 'Resume download' : 'Download'}
            </button>
          )
        )}
        {cached && cacheUrl && (
          <DeleteDownload
            disabled={busyLoading || loadKind === 'ready'}
            question={`Delete the downloaded copy of ${entry.name} (${formatBytes(cached.storedBytes)})? ${refetchNote(entry.origin, cacheUrl)}`}
            onDelete={() => void store().deleteCached(cacheUrl)}
          />
        )}
        {(entry.origin === 'url' || entry.origin === 'file') && (
          <button type="button" className={button} onClick={() => store().removeModel(entry.id)}>
            Remove from list
          </button>
        )}
      </div>
    </li>
  );
});
