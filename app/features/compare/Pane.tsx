/**
 * @file One pane of the compare view (a region "Pane N"): its model picker (every engine's models), the memory
 * check before loading, load progress and errors, per-pane sampling overrides, and its side of the
 * conversation — the shared prompts and this pane's answers, rendered with the app's sanitized Markdown, each
 * with its statistics. In blind mode the model is hidden ("Model A") until a vote reveals it.
 */
import { memo, useMemo, useState } from 'react';
import { ModelSelect, type ModelSelectItem } from '../../components/ModelSelect.tsx';
import { matchesQuery, shortFit } from '../../engines/groups.ts';
import { LoadProgress } from '../../components/LoadProgress.tsx';
import { Markdown } from '../../components/Markdown.tsx';
import { ENGINE_LABEL, type ModelOption } from '../../engines/types.ts';
import { formatBytes, formatModelSize } from '../../lib/format.ts';
import { ExpertHeatmap } from '../chat/ExpertHeatmap.tsx';
import { compareStore, useCompare } from './compareApp.ts';
import { MIN_PANES, labelOf, type PaneAnswer, type PaneState, type SamplingOverrides } from './compareStore.ts';
import { EngineErrorNotice } from './EngineErrorNotice.tsx';
import { statsLine } from './statsLine.ts';
import { btn, input } from './ui.ts';

/**
 * The pane's picker: the shared grouped select (combobox "Model"), each entry with its download size (the one
 * formatter the Models page uses) and the memory check's verdict next to what the other panes hold, and a
 * search box that narrows WebLLM's long catalog. The picked model stays listed whatever the search.
 */
function ModelPick({ pane, label }: { pane: PaneState; label: string }) {
  const options = useCompare((s) => s.options);
  const running = useCompare((s) => s.running);
  const panes = useCompare((s) => s.panes);
  const gpu = useCompare((s) => s.gpu);
  const [query, setQuery] = useState('');
  const items = useMemo((): ModelSelectItem[] => {
    const st = compareStore.getState();
    return options
      .filter((o) => o.id === pane.modelId || matchesQuery(o, query))
      .map((o) => {
        const f = st.fitFor(pane.id, o.id);
        const fit = f ? shortFit(o, gpu, f) : { verdict: 'checking' as const, short: '', text: '' };
        // Endpoints take no memory here: their group says so, the entry stays just its name.
        return { value: o.id, option: o, fit: fit.verdict === 'remote' ? { ...fit, short: '' } : fit, ...(o.downloadBytes ? { detail: formatModelSize(o.downloadBytes, o.downloadApprox) } : {}) };
      });
    // panes: the verdicts depend on what the other panes hold.
  }, [options, query, pane.id, pane.modelId, panes, gpu]);
  const shown = items.length - (items.some((i) => i.value === pane.modelId && !matchesQuery(i.option, query)) ? 1 : 0);
  const countId = `model-count-${pane.id}`;
  return (
    <div className="flex min-w-0 flex-1 flex-col gap-1">
      <input
        type="search"
        aria-label="Search models"
        placeholder="Search models…"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
        className={`${input} min-w-0`}
      />
      <ModelSelect
        items={items}
        value={pane.modelId ?? ''}
        disabled={running}
        title={`Model of ${label}`}
        placeholder={query === '' ? 'Pick a model…' : `Pick a model… (${shown} match${shown === 1 ? '' : 'es'})`}
        ariaDescribedBy={countId}
        className="max-w-full flex-1"
        onChange={(v) => compareStore.getState().pickModel(pane.id, v === '' ? null : v)}
      />
      <span id={countId} className="sr-only" data-testid="model-count">
        {query === '' ? `${options.length} models` : `${shown} of ${options.length} models match`}
      </span>
    </div>
  );
}

function FitLine({ paneId, modelId }: { paneId: string; modelId: string }) {
  // Re-evaluated when any pane's load state or the adapter changes.
  const panes = useCompare((s) => s.panes);
  const gpu = useCompare((s) => s.gpu);
  const options = useCompare((s) => s.options);
  const fit = useMemo(() => compareStore.getState().fitFor(paneId, modelId), [paneId, modelId, panes, gpu, options]);
  if (!fit) return null;
  const tone =
    fit.verdict === 'no'
      ? 'text-red-700 dark:text-red-400'
      : fit.verdict === 'tight'
        ? 'text-amber-700 dark:text-amber-400'
        : 'text-slate-600 dark:text-slate-400';
  return (
    <p data-testid="pane-fit" data-verdict={fit.verdict} className={`text-xs ${tone}`}>
      Memory: {fit.text}
    </p>
  );
}

const OVERRIDE_FIELDS: readonly { key: keyof SamplingOverrides; label: string; step: number; min: number; max: number }[] = [
  { key: 'temperature', label: 'Temperature', step: 0.05, min: 0, max: 2 },
  { key: 'topP', label: 'Top-p', step: 0.01, min: 0.01, max: 1 },
  { key: 'topK', label: 'Top-k', step: 1, min: 0, max: 1000 },
  { key: 'maxTokens', label: 'Max tokens', step: 1, min: 1, max: 32768 },
  { key: 'seed', label: 'Seed', step: 1, min: 0, max: 2 ** 32 - 1 },
];

function Overrides({ pane }: { pane: PaneState }) {
  const n = Object.keys(pane.overrides).length;
  return (
    <details className="text-xs">
      <summary className="cursor-pointer select-none text-slate-600 dark:text-slate-400">
        Sampling for this pane{n > 0 ? ` (${n} override${n === 1 ? '' : 's'})` : ': shared'}
      </summary>
      <div className="mt-2 grid grid-cols-2 gap-2">
        {OVERRIDE_FIELDS.map((f) => (
          <label key={f.key} className="flex flex-col gap-0.5">
            <span>{f.label}</span>
            <input
              type="number"
              step={f.step}
              min={f.min}
              max={f.max}
              placeholder="shared"
              value={pane.overrides[f.key] ?? ''}
              onChange={(e) => {
                const v = e.target.value === '' ? undefined : Number(e.target.value);
                const ok = v === undefined || (Number.isFinite(v) && v >= f.min && v <= f.max);
                if (!ok) return;
                const { [f.key]: _old, ...rest } = pane.overrides;
                compareStore.getState().clearOverrides(pane.id);
                compareStore.getState().setOverride(pane.id, v === undefined ? rest : { ...rest, [f.key]: f.step === 1 ? Math.round(v) : v });
              }}
              className={input}
            />
          </label>
        ))}
      </div>
      {n > 0 && (
        <button type="button" className={`${btn} mt-2`} onClick={() => compareStore.getState().clearOverrides(pane.id)}>
          Use shared settings
        </button>
      )}
    </details>
  );
}

function Stats({ a }: { a: PaneAnswer }) {
  if (!a.stats) return null;
  return (
    <div className="mt-1">
      <p data-testid="pane-stats" className="text-xs text-slate-600 dark:text-slate-400">
        {statsLine(a.stats)}
      </p>
      {a.stats.expertUsage.length > 0 && <ExpertHeatmap usage={a.stats.expertUsage} />}
    </div>
  );
}

const LiveText = memo(function LiveText({ paneId, status }: { paneId: string; status: PaneAnswer['status'] }) {
  const text = useCompare((s) => s.live[paneId] ?? '');
  if (status === 'loading') {
    return (
      <p data-testid="pane-answer" data-status="loading" aria-busy="true" className="text-sm italic text-slate-600 dark:text-slate-400">
        Loading the model…
      </p>
    );
  }
  return (
    <div data-testid="pane-answer" data-status="streaming" aria-busy="true">
      {text === '' ? <p className="text-sm italic text-slate-600 dark:text-slate-400">Thinking…</p> : <Markdown text={text} />}
    </div>
  );
});

const Answer = memo(function Answer({ paneId, a }: { paneId: string; a: PaneAnswer }) {
  if (a.status === 'loading' || a.status === 'streaming') return <LiveText paneId={paneId} status={a.status} />;
  return (
    <div data-testid="pane-answer" data-status={a.status}>
      {a.text !== '' && <Markdown text={a.text} />}
      {a.status === 'stopped' && <p className="text-xs italic text-slate-600 dark:text-slate-400">Stopped.</p>}
      {a.error && <EngineErrorNotice error={a.error} />}
      <Stats a={a} />
    </div>
  );
});

function Conversation({ paneId }: { paneId: string }) {
  const turns = useCompare((s) => s.turns);
  const shown = turns.filter((t) => t.answers[paneId]);
  if (shown.length === 0) return null;
  return (
    <ol className="space-y-3">
      {shown.map((t) => (
        <li key={t.id} className="space-y-1">
          <p className="rounded-md bg-slate-100 px-2 py-1 text-sm dark:bg-slate-800">
            <span className="sr-only">You: </span>
            {t.prompt}
          </p>
          <Answer paneId={paneId} a={t.answers[paneId]} />
        </li>
      ))}
    </ol>
  );
}

function modelOf(options: readonly ModelOption[], id: string | null): ModelOption | undefined {
  return id === null ? undefined : options.find((o) => o.id === id);
}

export function Pane({ paneId, index }: { paneId: string; index: number }) {
  const pane = useCompare((s) => s.panes.find((p) => p.id === paneId));
  const options = useCompare((s) => s.options);
  const blind = useCompare((s) => s.blind);
  const revealed = useCompare((s) => s.revealed);
  const count = useCompare((s) => s.panes.length);
  const running = useCompare((s) => s.running);
  // A load that failed while answering shows its error in the answer already.
  const lastError = useCompare((s) => s.turns.at(-1)?.answers[paneId]?.error?.message);
  if (!pane) return null;
  const name = `Pane ${index + 1}`;
  const model = modelOf(options, pane.modelId);
  const hidden = blind && !revealed;
  const heading = blind ? `Model ${labelOf(index)}` : name;
  const load = pane.load;
  return (
    <section
      role="region"
      aria-label={name}
      data-pane-id={pane.id}
      data-load={load.kind}
      className="flex min-w-0 flex-col gap-2 rounded-lg border border-slate-200 p-3 dark:border-slate-800"
    >
      <div className="flex items-center justify-between gap-2">
        <h2 className="truncate font-semibold">
          {heading}
          {blind && revealed && model ? <span className="font-normal text-slate-600 dark:text-slate-400"> — {model.name}</span> : null}
        </h2>
        {count > MIN_PANES && (
          <button type="button" className={btn} aria-label={`Close ${name}`} title="Close this pane (unloads its model)" disabled={running} onClick={() => compareStore.getState().closePane(pane.id)}>
            ✕
          </button>
        )}
      </div>
      {hidden ? (
        <p className="text-sm text-slate-600 dark:text-slate-400">{model ? 'Model hidden until you vote.' : 'No model: turn blind mode off to pick one.'}</p>
      ) : (
        <>
          <div className="flex items-end gap-2">
            <ModelPick pane={pane} label={name} />
            {model && (load.kind === 'none' || load.kind === 'error') && (
              <button type="button" className={btn} disabled={running} onClick={() => void compareStore.getState().loadPane(pane.id)}>
                Load
              </button>
            )}
            {load.kind === 'ready' && (
              <button type="button" className={btn} disabled={running} onClick={() => compareStore.getState().unloadPane(pane.id)}>
                Unload
              </button>
            )}
          </div>
          {model && (
            <p className="text-xs text-slate-600 dark:text-slate-400">
              {ENGINE_LABEL[model.kind]}
              {model.note ? ` · ${model.note}` : ''}
            </p>
          )}
          {model && load.kind !== 'ready' && pane.modelId && <FitLine paneId={pane.id} modelId={pane.modelId} />}
        </>
      )}
      {load.kind === 'loading' && (
        <div>
          <LoadProgress label={`Loading model in ${name}`} progress={load.progress} />
          {load.text && !hidden && <p className="mt-1 truncate text-xs text-slate-600 dark:text-slate-400" title={load.text}>{load.text}</p>}
        </div>
      )}
      {load.kind === 'ready' && !hidden && (
        <p data-testid="pane-ready" className="text-xs text-slate-600 dark:text-slate-400">
          Loaded in {(load.loadMs / 1000).toFixed(1)} s{load.shared ? ' (already loaded in this tab: shared, not loaded again)' : ''}{load.info.gpuBytes > 0 ? ` · ${formatBytes(load.info.gpuBytes)} on the GPU` : ''}
        </p>
      )}
      {load.kind === 'error' && load.error.message !== lastError && <EngineErrorNotice error={load.error} />}
      {!hidden && <Overrides pane={pane} />}
      <Conversation paneId={pane.id} />
    </section>
  );
}
