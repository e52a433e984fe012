/**
 * @file The loaded model's status line: progress while loading (with Cancel), what is loaded, or the load error
 * with what to do and a retry. Shown in the chat header and on the Models page.
 */
import { ErrorNotice } from '../../components/ErrorNotice.tsx';
import { LoadProgress } from '../../components/LoadProgress.tsx';
import { formatBytes, formatDuration, formatParams } from '../../lib/format.ts';
import { appStore, useApp } from '../../appStore.ts';

const btn =
  'rounded-md border border-slate-300 px-2 py-0.5 text-xs hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800';

export function LoadStatus() {
  const load = useApp((s) => s.load);
  const selectedName = useApp((s) => s.models.find((m) => m.id === s.selectedModelId)?.name);
  const selectedId = useApp((s) => s.selectedModelId);
  switch (load.kind) {
    case 'idle':
      return (
        <div className="flex items-center gap-2 text-xs text-slate-600 dark:text-slate-400" data-testid="load-status" data-state="idle">
          <span>No model loaded.</span>
          {selectedName && (
            <button type="button" className={btn} onClick={() => void appStore.getState().loadModel(selectedId)}>
              Load {selectedName}
            </button>
          )}
        </div>
      );
    case 'loading':
      return (
        <div className="space-y-1" data-testid="load-status" data-state="loading">
          <div className="flex items-center justify-between gap-2 text-xs">
            <span>Loading {load.modelName}…</span>
            <button type="button" className={btn} onClick={() => appStore.getState().cancelLoad()}>
              Cancel
            </button>
          </div>
          <LoadProgress label="Loading model" progress={load.progress} />
        </div>
      );
    case 'ready': {
      const i = load.info;
      // Engines that do not describe their model (wllama, WebLLM, endpoints) report 0 for what they do not know.
      const parts = [
        i.architecture,
        ...(i.nParams > 0 ? [formatParams(i.nParams)] : []),
        ...(i.nLayer > 0 ? [i.nExpert > 0 ? `${i.nExpert} experts (top ${i.nExpertUsed})` : 'dense'] : []),
        `context ${i.contextSize.toLocaleString('en-US')}`,
        ...(i.gpuBytes > 0 ? [`${formatBytes(i.gpuBytes)} on the GPU`] : []),
        `loaded in ${load.loadMs < 1000 ? `${load.loadMs} ms` : formatDuration(load.loadMs / 1000)}`,
      ];
      return (
        <p className="truncate text-xs text-slate-600 dark:text-slate-400" data-testid="load-status" data-state="ready" title={parts.join(' · ')}>
          <span className="font-medium text-slate-800 dark:text-slate-200">{load.modelName}</span> · {parts.join(' · ')}
        </p>
      );
    }
    case 'error':
      return (
        <div data-testid="load-status" data-state="error">
          <ErrorNotice error={load.error}>
            <button type="button" className={btn} onClick={() => void appStore.getState().loadModel(load.modelId)}>
              Try again
            </button>
          </ErrorNotice>
        </div>
      );
  }
}
