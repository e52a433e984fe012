/**
 * @file Settings → Benchmark: the engine worker's `bench` on the loaded model (the measurement of the CLI `bench`
 * and `npm run bench:browser`): prefill and decode tok/s over runs, first token, GPU memory, % of the bandwidth
 * roofline; the result can be copied. With no model loaded it offers the load (the chat's own, through the
 * store's loadModel); the default run is sized to the adapter (short on a software one) and shows its progress
 * and time left from the worker's `benchStep` events.
 */
import { useEffect, useRef, useState } from 'react';
import { CopyButton } from '../../components/CopyButton.tsx';
import { ErrorNotice } from '../../components/ErrorNotice.tsx';
import { hasWebGpu } from '../../components/NoWebGpu.tsx';
import { appStore, useApp } from '../../appStore.ts';
import { toSerialized } from '../../lib/errorHelp.ts';
import { formatTokPerSec } from '../../lib/format.ts';
import { DEMO_MODEL_ID } from '../models/catalog.ts';
import { LoadStatus } from '../models/LoadStatus.tsx';
import type { SerializedError } from '../../../workers/errors.ts';
import type { BenchParams } from '../../../workers/protocol.ts';
import { isSoftwareAdapter } from '../../../workers/gpu/software.ts';
import {
  BENCHMARK_DEFAULTS,
  BENCHMARK_MAX_RUNS,
  benchFraction,
  benchmarkDefaults,
  benchmarkText,
  benchProgressText,
  describeAdapter,
  formatRoofline,
  formatSpread,
  runBenchmark,
  startTrack,
  trackStep,
  type BenchTrack,
  type BenchmarkResult,
} from './benchmark.ts';

/** A labelled whole-number input clamped to [1, max]. */
function CountInput(props: { id: string; label: string; value: number; max: number; onChange: (n: number) => void }) {
  return (
    <>
      <label htmlFor={props.id} className="text-sm">
        {props.label}
      </label>
      <input
        id={props.id}
        type="number"
        min={1}
        max={props.max}
        value={props.value}
        onChange={(e) => props.onChange(Math.max(1, Math.min(props.max, Math.round(Number(e.target.value) || 1))))}
        className="w-24 rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900"
      />
    </>
  );
}

/** Re-renders every `ms` while `active` (the time left counts down between the worker's steps). */
function useNow(active: boolean, ms = 500): number {
  const [now, setNow] = useState(() => performance.now());
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setNow(performance.now()), ms);
    return () => clearInterval(t);
  }, [active, ms]);
  return now;
}

const primary = 'rounded-md bg-teal-700 px-3 py-1 text-sm font-medium text-white hover:bg-teal-600 disabled:opacity-50';

/** No Brix model loaded: the load, right here (the selected model when it is a Brix one, else the bundled demo). */
function LoadOffer() {
  const load = useApp((s) => s.load);
  const gpu = useApp((s) => s.gpu);
  const target = useApp((s) => s.models.find((m) => m.id === s.selectedModelId) ?? s.models.find((m) => m.id === DEMO_MODEL_ID));
  if (load.kind === 'loading' || load.kind === 'error') return <LoadStatus />;
  if (!hasWebGpu() || gpu.kind === 'none') {
    return (
      <p className="text-sm text-slate-600 dark:text-slate-400">
        The benchmark runs a model on this browser&apos;s WebGPU adapter, and there is none here{gpu.kind === 'none' ? ` (${gpu.message})` : ''}.
      </p>
    );
  }
  return (
    <div className="space-y-2">
      <p className="text-sm text-slate-600 dark:text-slate-400">
        {load.kind === 'ready'
          ? `${load.modelName} runs on another engine; the benchmark measures Brix's own.`
          : 'No model is loaded.'}{' '}
        {target ? `Load ${target.name} to measure its speed here (it is then the chat's model too).` : 'Add a model on the Models page first.'}
      </p>
      {target && (
        <button type="button" className={primary} disabled={gpu.kind === 'unknown'} onClick={() => void appStore.getState().loadModel(target.id)}>
          Load {target.name}
        </button>
      )}
    </div>
  );
}

export function Benchmark() {
  const ready = useApp((s) => (s.load.kind === 'ready' && s.engine !== null ? s.load : null));
  const streaming = useApp((s) => s.streaming !== null);
  const gpu = useApp((s) => s.gpu);
  useEffect(() => {
    void appStore.getState().probeGpu();
  }, []);
  const adapter = gpu.kind === 'ok' ? gpu.info : undefined;
  const software = adapter !== undefined && isSoftwareAdapter(adapter);
  // Unedited fields follow the adapter's default (known once the probe answers).
  const [edited, setEdited] = useState<Partial<BenchParams>>({});
  const sized = benchmarkDefaults(adapter);
  const promptTokens = edited.promptTokens ?? sized.promptTokens;
  const tokens = edited.genTokens ?? sized.genTokens;
  const runs = edited.runs ?? sized.runs;
  const [state, setState] = useState<
    | { kind: 'idle' }
    | { kind: 'running'; track: BenchTrack }
    | { kind: 'done'; result: BenchmarkResult }
    | { kind: 'error'; error: SerializedError }
  >({ kind: 'idle' });
  const abort = useRef<AbortController | null>(null);
  const now = useNow(state.kind === 'running');

  const run = async (): Promise<void> => {
    const engine = appStore.getState().engine;
    if (!ready || !engine) return;
    const ac = new AbortController();
    abort.current = ac;
    const params: BenchParams = { promptTokens, genTokens: tokens, runs };
    let track = startTrack(params, performance.now());
    setState({ kind: 'running', track });
    try {
      const measurement = await runBenchmark(engine, params, undefined, ac.signal, (step) => {
        track = trackStep(track, step, performance.now());
        setState({ kind: 'running', track });
      });
      setState({
        kind: 'done',
        result: { model: ready.modelName, architecture: ready.info.architecture, adapter: describeAdapter(measurement.gpu), measurement, at: new Date().toISOString() },
      });
    } catch (e) {
      setState({ kind: 'error', error: toSerialized(e) });
    } finally {
      abort.current = null;
    }
  };

  const progressText = state.kind === 'running' ? benchProgressText(state.track, now) : '';
  const pct = state.kind === 'running' ? Math.round(benchFraction(state.track, now) * 100) : 0;

  return (
    <section aria-labelledby="benchmark-heading" className="space-y-3">
      <h2 id="benchmark-heading" className="text-lg font-semibold">
        Benchmark
      </h2>
      {!ready ? (
        <LoadOffer />
      ) : (
        <div className="space-y-3">
          <p className="text-sm text-slate-600 dark:text-slate-400">
            Runs {ready.modelName} on a fixed prompt with greedy decoding, one warm-up run and then the measured runs, and
            reports prefill and decode speed (median and range), and decode against the GPU&apos;s read bandwidth. The same
            measurement as <code>npm run -s cli -- bench</code>.
          </p>
          {software && (
            <p className="text-sm text-slate-600 dark:text-slate-400" data-testid="bench-sizing">
              This is a software adapter ({describeAdapter(adapter ?? null)}), so the default run is short; on a GPU it is{' '}
              {BENCHMARK_DEFAULTS.promptTokens} prompt tokens, {BENCHMARK_DEFAULTS.genTokens} generated, {BENCHMARK_DEFAULTS.runs} runs.
            </p>
          )}
          <div className="flex flex-wrap items-center gap-2">
            <CountInput
              id="bench-prompt"
              label="Prompt tokens"
              value={promptTokens}
              max={Math.max(1, ready.info.contextSize - 1)}
              onChange={(n) => setEdited((e) => ({ ...e, promptTokens: n }))}
            />
            <CountInput id="bench-tokens" label="Tokens to generate" value={tokens} max={1024} onChange={(n) => setEdited((e) => ({ ...e, genTokens: n }))} />
            <CountInput id="bench-runs" label="Runs" value={runs} max={BENCHMARK_MAX_RUNS} onChange={(n) => setEdited((e) => ({ ...e, runs: n }))} />
            {state.kind === 'running' ? (
              <button type="button" onClick={() => abort.current?.abort()} className="rounded-md border border-slate-300 px-3 py-1 text-sm dark:border-slate-700">
                Stop benchmark
              </button>
            ) : (
              <button type="button" disabled={streaming || gpu.kind === 'unknown'} onClick={() => void run()} className={primary}>
                Run benchmark
              </button>
            )}
          </div>
        </div>
      )}
      <div role="status" aria-label="Benchmark result" data-testid="benchmark" data-state={state.kind}>
        {state.kind === 'running' && (
          // Not announced on every tick of the countdown; the result is.
          <div className="space-y-1" aria-live="off">
            <div
              role="progressbar"
              aria-label="Benchmark progress"
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={pct}
              aria-valuetext={`${pct}%: ${progressText}`}
              className="h-2 w-full overflow-hidden rounded-full bg-slate-200 dark:bg-slate-800"
            >
              <div className="h-full bg-teal-600 transition-[width] duration-200" style={{ width: `${pct}%` }} />
            </div>
            <p className="text-sm" data-testid="bench-progress">
              Running… {progressText}
            </p>
          </div>
        )}
        {state.kind === 'error' && <ErrorNotice error={state.error} />}
        {state.kind === 'done' && (
          <div className="space-y-2 rounded-lg border border-slate-200 p-3 dark:border-slate-800">
            <dl className="grid grid-cols-[10rem_1fr] gap-1 text-sm">
              <dt className="text-slate-600">Prefill</dt>
              <dd data-testid="bench-prefill">
                {formatTokPerSec(state.result.measurement.prefillTokensPerSecond.median)} tok/s ({state.result.measurement.promptTokens} tokens)
              </dd>
              <dt className="text-slate-600">Decode</dt>
              <dd data-testid="bench-decode">
                {formatTokPerSec(state.result.measurement.decodeTokensPerSecond.median)} tok/s ({state.result.measurement.genTokens} tokens)
              </dd>
              <dt className="text-slate-600">Over {state.result.measurement.runs === 1 ? '1 run' : `${state.result.measurement.runs} runs`}</dt>
              <dd data-testid="bench-spread">
                prefill {formatSpread(state.result.measurement.prefillTokensPerSecond)}, decode {formatSpread(state.result.measurement.decodeTokensPerSecond)} tok/s
              </dd>
              <dt className="text-slate-600">First token</dt>
              <dd>{Math.round(state.result.measurement.timeToFirstTokenMs.median)} ms</dd>
              <dt className="text-slate-600">Per token</dt>
              <dd>{state.result.measurement.decodeMsPerToken.median.toFixed(2)} ms</dd>
              <dt className="text-slate-600">Roofline</dt>
              <dd data-testid="bench-roofline">{formatRoofline(state.result.measurement)}</dd>
              <dt className="text-slate-600">GPU memory</dt>
              <dd>{(state.result.measurement.gpuMemoryBytes / 2 ** 20).toFixed(0)} MiB</dd>
              <dt className="text-slate-600">Adapter</dt>
              <dd>{state.result.adapter}</dd>
            </dl>
            <CopyButton text={benchmarkText(state.result, ready?.info)} label="Copy result" className="border border-slate-300 dark:border-slate-700" />
          </div>
        )}
      </div>
    </section>
  );
}
