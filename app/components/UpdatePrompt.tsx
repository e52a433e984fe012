/**
 * @file Service worker registration and the "new version" prompt: the worker precaches the app shell (so Brix
 * opens offline); when a new version is deployed it waits, and this toast lets the user reload into it when
 * they choose (never mid-answer by surprise).
 */
import { useEffect } from 'react';
import { useRegisterSW } from 'virtual:pwa-register/react';

const btn = 'rounded-md px-3 py-1 text-sm font-medium';

export function UpdatePrompt() {
  const {
    needRefresh: [needRefresh, setNeedRefresh],
    offlineReady: [offlineReady, setOfflineReady],
    updateServiceWorker,
  } = useRegisterSW({
    onRegisterError(e: unknown) {
      console.warn('Brix: service worker registration failed; the app works, but not offline', e);
    },
  });
  // "Ready offline" is news, not a question: it goes away by itself.
  useEffect(() => {
    if (!offlineReady) return;
    const t = setTimeout(() => setOfflineReady(false), 8000);
    return () => clearTimeout(t);
  }, [offlineReady, setOfflineReady]);
  if (!needRefresh && !offlineReady) return null;
  return (
    <div
      role="status"
      aria-live="polite"
      data-testid="pwa-toast"
      // In the page's flow under the header (not floating): it pushes the page down and covers nothing.
      className="shrink-0 border-b border-teal-200 bg-teal-50 px-4 py-2 text-sm text-slate-900 dark:border-teal-900 dark:bg-slate-900 dark:text-slate-100"
    >
      {needRefresh ? (
        <>
          <p>A new version of Brix is available.</p>
          <div className="mt-1 flex gap-2">
            <button type="button" className={`${btn} bg-teal-700 text-white`} onClick={() => void updateServiceWorker(true)}>
              Reload
            </button>
            <button type="button" className={`${btn} border border-slate-300 dark:border-slate-700`} onClick={() => setNeedRefresh(false)}>
              Later
            </button>
          </div>
        </>
      ) : (
        <div className="flex items-center gap-3">
          <p>Brix is ready to work offline.</p>
          <button type="button" className={`${btn} border border-slate-300 dark:border-slate-700`} onClick={() => setOfflineReady(false)}>
            OK
          </button>
        </div>
      )}
    </div>
  );
}
