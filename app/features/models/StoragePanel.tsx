/** @file Storage on the Models page: used and available (the origin's estimate), persistence, and "delete all". */
import { useState } from 'react';
import { ErrorNotice } from '../../components/ErrorNotice.tsx';
import { appStore, useApp } from '../../appStore.ts';
import { formatBytes } from '../../lib/format.ts';
import { button } from './ModelCard.tsx';

export function StoragePanel() {
  const storage = useApp((s) => s.storage);
  const persisted = useApp((s) => s.persisted);
  const cached = useApp((s) => s.cached);
  const error = useApp((s) => s.modelsError);
  const [confirm, setConfirm] = useState(false);
  const [asked, setAsked] = useState<boolean | null>(null);
  const cachedBytes = cached.reduce((n, c) => n + c.storedBytes, 0);

  return (
    <section aria-labelledby="storage-heading" className="space-y-2 rounded-lg border border-slate-200 p-4 dark:border-slate-800">
      <h2 id="storage-heading" className="text-lg font-semibold">
        Storage
      </h2>
      <p className="text-sm" data-testid="storage-usage">
        {storage
          ? `${formatBytes(storage.usage)} used, ${formatBytes(Math.max(0, storage.quota - storage.usage))} available to Brix in this browser.`
          : 'This browser does not report its storage.'}{' '}
        {cached.length > 0 && `${cached.length} downloaded model${cached.length === 1 ? '' : 's'}: ${formatBytes(cachedBytes)}.`}
      </p>
      {storage && storage.quota > 0 && (
        <div className="h-2 w-full overflow-hidden rounded-full bg-slate-200 dark:bg-slate-800" aria-hidden="true">
          <div className="h-full bg-teal-600" style={{ width: `${Math.min(100, (storage.usage / storage.quota) * 100)}%` }} />
        </div>
      )}
      <div className="flex flex-wrap items-center gap-2 text-sm">
        <span data-testid="persisted">{persisted ? 'Storage is persistent: the browser will not evict downloaded models.' : 'Storage is not persistent: the browser may evict downloaded models when space runs low.'}</span>
        {!persisted && (
          <button type="button" className={button} onClick={() => void appStore.getState().requestPersist().then(setAsked)}>
            Request persistent storage
          </button>
        )}
        {asked === false && <span role="status">The browser declined (it decides from how you use the site; installing the app helps).</span>}
      </div>
      {cached.length > 0 &&
        (confirm ? (
          <div className="flex items-center gap-2 text-sm" role="group" aria-label="Confirm delete all">
            <span>Delete every downloaded model?</span>
            <button
              type="button"
              className={`${button} text-red-700 dark:text-red-400`}
              onClick={() => {
                setConfirm(false);
                void appStore.getState().clearCache();
              }}
            >
              Delete all
            </button>
            <button type="button" className={button} onClick={() => setConfirm(false)}>
              Keep
            </button>
          </div>
        ) : (
          <button type="button" className={button} onClick={() => setConfirm(true)}>
            Delete all downloaded models
          </button>
        ))}
      {error && <ErrorNotice error={error} />}
    </section>
  );
}
