/**
 * @file The notice a GPU reset shows in every tab: "GPU was reset; reloading…" while the engine host reloads
 * the model on a new device (workers/host/engineSlot.ts), a short "reloaded" after, or why it gave up.
 */
import { useEffect, useRef, useState } from 'react';
import { useEngineHost } from '../lib/useEngineHost.ts';

const RELOADED_MS = 6000;

export function GpuResetNotice() {
  const host = useEngineHost();
  const recovering = host?.engines.find((e) => e.state === 'recovering');
  const failed = host?.engines.find((e) => e.state === 'failed');
  const [reloaded, setReloaded] = useState(false);
  const was = useRef(false);
  useEffect(() => {
    if (recovering) {
      was.current = true;
      setReloaded(false);
      return;
    }
    if (!was.current) return;
    was.current = false;
    if (failed) return;
    setReloaded(true);
    const t = setTimeout(() => setReloaded(false), RELOADED_MS);
    return () => clearTimeout(t);
  }, [recovering, failed]);

  if (failed) {
    return (
      <div role="alert" data-testid="gpu-reset" data-state="failed" className="bg-red-100 px-4 py-2 text-sm text-red-900 dark:bg-red-950 dark:text-red-200">
        {`GPU was reset and ${failed.name} could not be reloaded: ${failed.error ?? 'unknown error'}`}
      </div>
    );
  }
  if (!recovering && !reloaded) return null;
  return (
    <div
      role="status"
      data-testid="gpu-reset"
      data-state={recovering ? 'recovering' : 'reloaded'}
      className="bg-amber-100 px-4 py-2 text-sm text-amber-900 dark:bg-amber-950 dark:text-amber-200"
    >
      {recovering
        ? `GPU was reset; reloading… (attempt ${recovering.attempt ?? 1} of ${recovering.maxAttempts ?? 1})`
        : 'GPU was reset; the model was reloaded.'}
    </div>
  );
}
