/**
 * @file Settings → Benchmark: the engine worker's `bench` on the loaded model (the measurement of the CLI `bench`
 * and `npm run bench:browser`): prefill and decode tok/s over runs, first token, GPU memory, % of the bandwidth
 * roofline; the result can be copied.
 */
import { useRef, useState } from 'react';
import { CopyButton } from '../../components/CopyButton.tsx';
import { ErrorNotice } from '../../components/ErrorNotice.tsx';
import { appStore, useApp } from '../../appStore.ts';
import { toSerialized } from '../../lib/errorHelp.ts';
import { formatTokPerSec } from '../../lib/format.ts';
import { hrefOf } from '../../router.ts';
import type { SerializedError } from '../../../workers/errors.ts';
import {
  BENCHMARK_DEFAULTS,
  BENCHMARK_MAX_RUNS,
  benchmarkText,
  describeAdapter,
  formatRoofline,
  formatSpread,
  runBenchmark,
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

export function Benchmark() {
  const ready = useApp((s) => (s.load.kind === 'ready' ? s.load : null));
  const streaming = useApp((s) => s.streaming !== null);
  const [promptTokens, setPromptTokens] = useState(BENCHMARK_DEFAULTS.promptTokens);
  const [tokens, setTokens] = useState(BENCHMARK_DEFAULTS.genTokens);
  const [runs, setRuns] = useState(BENCHMARK_DEFAULTS.runs);
  const [state, setState] = useState<
    | { kind: 'idle' }
    | { kind: 'running'; step: string }
    | { kind: 'done'; result: BenchmarkResult }
    | { kind: 'error'; error: SerializedError }
  >({ kind: 'idle' });
  const abort = useRef<AbortController | null>(null);

  const run = async (): Promise<void> => {
    const engine = appStore.getState().engine;
    if (!ready || !engine) return;
    const ac = new AbortController();
    abort.current = ac;
    setState({ kind: 'running', step: 'warm-up run' });
    try {
      const measurement = await runBenchmark(
        engine,
        { promptTokens, genTokens: tokens, runs },
        (r) => setState({ kind: 'running', step: r.run < r.runs ? `run ${r.run + 1} of ${r.runs}` : 'measuring read bandwidth' }),
        ac.signal,
      );
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

  return (
    <section aria-labelledby="benchmark-heading" className="space-y-3">
      <h2 id="benchmark-heading" className="text-lg font-semibold">
        Benchmark
      </h2>
      {!ready ? (
        <p className="text-sm text-slate-600 dark:text-slate-400">
          Load a model first (on the{' '}
          <a href={hrefOf('chat')} className="underline">
            Chat
          </a>{' '}
          or{' '}
          <a href={hrefOf('models')} className="underline">
            Models
          </a>{' '}
          page) to measure its speed here.
        </p>
      ) : (
        <div className="space-y-3">
          <p className="text-sm text-slate-600 dark:text-slate-400">
            Runs {ready.modelName} on a fixed prompt with greedy decoding, one warm-up run and then the measured runs, and
            reports prefill and decode speed (median and range), and decode against the GPU&apos;s read bandwidth. The same
            measurement as <code>npm run -s cli -- bench</code>.
          </p>
          <div className="flex flex-wrap items-center gap-2">
            <CountInput id="bench-prompt" label="Prompt tokens" value={promptTokens} max={Math.max(1, ready.info.contextSize - 1)} onChange={setPromptTokens} />
            <CountInput id="bench-tokens" label="Tokens to generate" value={tokens} max={1024} onChange={setTokens} />
            <CountInput id="bench-runs" label="Runs" value={runs} max={BENCHMARK_MAX_RUNS} onChange={setRuns} />
            {state.kind === 'running' ? (
              <button type="button" onClick={() => abort.current?.abort()} className="rounded-md border border-slate-300 px-3 py-1 text-sm dark:border-slate-700">
                Stop benchmark
              </button>
            ) : (
              <button
                type="button"
                disabled={streaming}
                onClick={() => void run()}
                className="rounded-md bg-teal-700 px-3 py-1 text-sm font-medium text-white hover:bg-teal-600 disabled:opacity-50"
              >
                Run benchmark
              </button>
            )}
          </div>
        </div>
      )}
      <div role="status" aria-label="Benchmark result" data-testid="benchmark" data-state={state.kind}>
        {state.kind === 'running' && <p className="text-sm">Running… ({state.step})</p>}
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
