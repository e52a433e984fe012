/** @file Settings → Benchmark: measures the loaded model's prefill and decode speed with a fixed prompt; the result can be copied. */
import { useRef, useState } from 'react';
import { CopyButton } from '../../components/CopyButton.tsx';
import { ErrorNotice } from '../../components/ErrorNotice.tsx';
import { appStore, useApp } from '../../appStore.ts';
import { toSerialized } from '../../lib/errorHelp.ts';
import { formatTokPerSec } from '../../lib/format.ts';
import { hrefOf } from '../../router.ts';
import type { SerializedError } from '../../../workers/errors.ts';
import { benchmarkText, describeAdapter, runBenchmark, type BenchmarkResult } from './benchmark.ts';

export function Benchmark() {
  const ready = useApp((s) => (s.load.kind === 'ready' ? s.load : null));
  const streaming = useApp((s) => s.streaming !== null);
  const gpu = useApp((s) => (s.gpu.kind === 'ok' ? s.gpu.info : null));
  const [tokens, setTokens] = useState(32);
  const [state, setState] = useState<{ kind: 'idle' } | { kind: 'running' } | { kind: 'done'; result: BenchmarkResult } | { kind: 'error'; error: SerializedError }>({ kind: 'idle' });
  const abort = useRef<AbortController | null>(null);

  const run = async (): Promise<void> => {
    const engine = appStore.getState().engine;
    if (!ready || !engine) return;
    const ac = new AbortController();
    abort.current = ac;
    setState({ kind: 'running' });
    try {
      await appStore.getState().probeGpu();
      const stats = await runBenchmark(engine, tokens, ac.signal);
      const g = appStore.getState().gpu;
      setState({
        kind: 'done',
        result: { model: ready.modelName, architecture: ready.info.architecture, adapter: describeAdapter(g.kind === 'ok' ? g.info : gpu), stats, at: new Date().toISOString() },
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
            Runs {ready.modelName} on a fixed prompt with greedy decoding and reports prefill and decode speed.
          </p>
          <div className="flex flex-wrap items-center gap-2">
            <label htmlFor="bench-tokens" className="text-sm">
              Tokens to generate
            </label>
            <input
              id="bench-tokens"
              type="number"
              min={1}
              max={1024}
              value={tokens}
              onChange={(e) => setTokens(Math.max(1, Math.min(1024, Math.round(Number(e.target.value) || 1))))}
              className="w-24 rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900"
            />
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
        {state.kind === 'running' && <p className="text-sm">Running…</p>}
        {state.kind === 'error' && <ErrorNotice error={state.error} />}
        {state.kind === 'done' && (
          <div className="space-y-2 rounded-lg border border-slate-200 p-3 dark:border-slate-800">
            <dl className="grid grid-cols-[10rem_1fr] gap-1 text-sm">
              <dt className="text-slate-500">Prefill</dt>
              <dd data-testid="bench-prefill">
                {formatTokPerSec(state.result.stats.prefillTokensPerSecond)} tok/s ({state.result.stats.promptTokens} tokens)
              </dd>
              <dt className="text-slate-500">Decode</dt>
              <dd data-testid="bench-decode">
                {formatTokPerSec(state.result.stats.decodeTokensPerSecond)} tok/s ({state.result.stats.generatedTokens} tokens)
              </dd>
              <dt className="text-slate-500">First token</dt>
              <dd>{Math.round(state.result.stats.timeToFirstTokenMs)} ms</dd>
              <dt className="text-slate-500">Adapter</dt>
              <dd>{state.result.adapter}</dd>
            </dl>
            <CopyButton text={benchmarkText(state.result, ready?.info)} label="Copy result" className="border border-slate-300 dark:border-slate-700" />
          </div>
        )}
      </div>
    </section>
  );
}
