/**
 * @file Settings → Generation: sampling defaults for every answer and the context size for the next load.
 * Inputs keep what the user types until they leave the field (so "0." can become "0.5"), then the store clamps it.
 */
import { useEffect, useState, type ReactNode } from 'react';
import { appStore, useApp } from '../../appStore.ts';
import { ARITHMETIC_SETTINGS, CONTEXT_BOUNDS, SAMPLING_BOUNDS, useSettingsStore, type SamplingSettings } from './store.ts';

type NumKey = keyof typeof SAMPLING_BOUNDS;

function NumberField({ id, label, value, min, max, step, onCommit, hint }: {
  id: string;
  label: string;
  value: number;
  min: number;
  max: number;
  step: number;
  onCommit: (n: number) => void;
  hint: ReactNode;
}) {
  const [text, setText] = useState(String(value));
  useEffect(() => setText(String(value)), [value]);
  const commit = (): void => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n)) setText(String(value));
    else onCommit(n);
  };
  return (
    <div className="grid grid-cols-1 gap-1 sm:grid-cols-[12rem_8rem_1fr] sm:items-center">
      <label htmlFor={id} className="font-medium">
        {label}
      </label>
      <input
        id={id}
        type="number"
        inputMode="decimal"
        min={min}
        max={max}
        step={step}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onBlur={commit}
        onKeyDown={(e) => {
          if (e.key === 'Enter') commit();
        }}
        className="rounded-md border border-slate-300 bg-white px-2 py-1 dark:border-slate-700 dark:bg-slate-900"
      />
      <span className="text-xs text-slate-600 dark:text-slate-400">{hint}</span>
    </div>
  );
}

const FIELDS: readonly { key: NumKey; label: string; hint: string }[] = [
  { key: 'temperature', label: 'Temperature', hint: '0 = always the most likely token (greedy); higher = more varied.' },
  { key: 'topK', label: 'Top-k', hint: 'Sample among the k most likely tokens; 0 = off.' },
  { key: 'topP', label: 'Top-p', hint: 'Sample among the most likely tokens covering this probability; 1 = off.' },
  { key: 'repetitionPenalty', label: 'Repetition penalty', hint: 'Discourages repeating recent tokens; 1 = off.' },
  { key: 'maxTokens', label: 'Max tokens', hint: 'Longest answer, in tokens.' },
  { key: 'seed', label: 'Seed', hint: 'Same seed and settings, same answer (when not drawn per answer).' },
];

export function SamplingSettings() {
  const sampling = useSettingsStore((s) => s.sampling);
  const setSampling = useSettingsStore((s) => s.setSampling);
  const contextSize = useSettingsStore((s) => s.contextSize);
  const setContextSize = useSettingsStore((s) => s.setContextSize);
  const activations = useSettingsStore((s) => s.activations);
  const resolved = useApp((s) => (s.load.kind === 'ready' ? s.load.info.activations : undefined));
  const setActivations = useSettingsStore((s) => s.setActivations);
  // Atomic selectors: a selector returning a fresh object would re-render forever.
  const loadedId = useApp((s) => (s.load.kind === 'ready' ? s.load.modelId : null));
  const loadedCtx = useApp((s) => (s.load.kind === 'ready' ? s.load.info.contextSize : 0));
  const loaded = loadedId === null ? null : { id: loadedId, ctx: loadedCtx };
  const patch = (p: Partial<SamplingSettings>): void => setSampling(p);

  return (
    <section aria-labelledby="generation-heading" className="space-y-4">
      <div className="flex items-center justify-between gap-4">
        <h2 id="generation-heading" className="text-lg font-semibold">
          Generation
        </h2>
        <button
          type="button"
          onClick={() => useSettingsStore.getState().resetSampling()}
          className="rounded-md border border-slate-300 px-3 py-1 text-sm hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800"
        >
          Reset to defaults
        </button>
      </div>
      <div className="space-y-3">
        {FIELDS.map((f) => (
          <NumberField
            key={f.key}
            id={`sampling-${f.key}`}
            label={f.label}
            value={sampling[f.key]}
            {...SAMPLING_BOUNDS[f.key]}
            hint={f.hint}
            onCommit={(n) => patch({ [f.key]: n })}
          />
        ))}
        <label className="flex items-center gap-2">
          <input type="checkbox" checked={sampling.randomSeed} onChange={(e) => patch({ randomSeed: e.target.checked })} />
          New random seed for each answer (the seed used is kept with the answer)
        </label>
        <NumberField
          id="context-size"
          label="Context size"
          value={contextSize}
          min={0}
          max={CONTEXT_BOUNDS.max}
          step={128}
          onCommit={setContextSize}
          hint={
            <>
              Tokens of conversation the model sees (its KV cache); 0 = automatic. Applies to the next load.
              {loaded && (
                <>
                  {' '}
                  Loaded now: {loaded.ctx.toLocaleString('en-US')}.{' '}
                  <button type="button" className="underline" onClick={() => void appStore.getState().loadModel(loaded.id)}>
                    Reload the model
                  </button>
                </>
              )}
            </>
          }
        />
        <div className="space-y-1">
          <label htmlFor="activations" className="block text-sm font-medium">
            Arithmetic
          </label>
          <select
            id="activations"
            value={activations}
            onChange={(e) => setActivations(ARITHMETIC_SETTINGS.find((a) => a === e.target.value) ?? 'auto')}
            aria-describedby="activations-hint"
            className="rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900"
          >
            <option value="auto">Auto</option>
            <option value="f32">Exact (f32)</option>
            <option value="int8">8-bit</option>
          </select>
          <p id="activations-hint" className="text-xs text-slate-600 dark:text-slate-400">
            Auto picks 8-bit activations (integer dot products for Q4_K and Q8_0 weights, as llama.cpp) on a hardware
            GPU for models made mostly of those types, and exact f32 otherwise: on a software adapter 8-bit is slower.
            8-bit answers can differ slightly from exact ones. Applies to the next load.
            {resolved && <> The loaded model uses {resolved === 'int8' ? '8-bit' : 'exact f32'} arithmetic.</>}
          </p>
        </div>
      </div>
    </section>
  );
}
