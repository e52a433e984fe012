/**
 * @file The compare page (#/compare): two to four panes side by side, each with its own engine and model
 * (Brix, WebLLM or an OpenAI-compatible endpoint); one message box sends the same conversation to every pane
 * at once and the answers stream in parallel; Stop all; blind mode with votes; shared sampling with a seed;
 * export as JSON or Markdown; endpoint settings. The page takes the full window width (panes need it).
 */
import { useEffect, useRef, useState } from 'react';
import { downloadText } from '../../lib/download.ts';
import { useSettingsStore } from '../settings/store.ts';
import { compareStore, useCompare } from './compareApp.ts';
import { MAX_PANES } from './compareStore.ts';
import { comparisonFileName, comparisonJson, comparisonMarkdown } from './exportCompare.ts';
import { Pane } from './Pane.tsx';
import { BlindVote, Tally } from './BlindVote.tsx';
import { hrefOf } from '../../router.ts';
import { btn, btnPrimary, input } from './ui.ts';

const GRID: Record<number, string> = { 2: 'lg:grid-cols-2', 3: 'lg:grid-cols-3', 4: 'lg:grid-cols-2 2xl:grid-cols-4' };

function Composer() {
  const [text, setText] = useState('');
  const running = useCompare((s) => s.running);
  const ready = useCompare((s) => s.panes.some((p) => p.modelId !== null));
  const area = useRef<HTMLTextAreaElement>(null);
  const send = (): void => {
    if (running || !ready || text.trim() === '') return;
    void compareStore.getState().send(text);
    setText('');
    area.current?.focus();
  };
  return (
    <form
      // Phones: the box takes its own row (its placeholder fits) and the buttons go below it.
      className="flex flex-wrap items-end gap-2 sm:flex-nowrap"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <textarea
        ref={area}
        aria-label="Message"
        value={text}
        rows={Math.min(6, Math.max(1, text.split('\n').length))}
        placeholder={ready ? 'One message to every pane…' : 'Pick a model in a pane first'}
        title="Enter sends to every pane, Shift+Enter adds a line, Esc stops all"
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            send();
          } else if (e.key === 'Escape') compareStore.getState().stopAll();
        }}
        className="min-h-[2.5rem] w-full resize-none sm:w-auto sm:flex-1 rounded-xl border border-slate-300 bg-white px-3 py-2 text-base focus:border-teal-600 focus:outline-none dark:border-slate-700 dark:bg-slate-900"
      />
      <button type="submit" className={`${btnPrimary} py-2`} disabled={running || !ready || text.trim() === ''}>
        Send
      </button>
      <button type="button" className={`${btn} py-2`} disabled={!running} onClick={() => compareStore.getState().stopAll()} title="Stop every pane (Esc)">
        Stop all
      </button>
    </form>
  );
}

function SharedSampling() {
  const s = useSettingsStore((x) => x.sampling);
  const seed = useCompare((x) => x.seed);
  const system = useCompare((x) => x.systemPrompt);
  const running = useCompare((x) => x.running);
  return (
    <div className="space-y-2 rounded-lg border border-slate-200 p-3 text-sm dark:border-slate-800">
      <div className="flex flex-wrap items-center gap-x-4 gap-y-2">
        <span className="text-slate-600 dark:text-slate-400" data-testid="shared-sampling">
          Every pane: temperature {s.temperature} · top-p {s.topP} · top-k {s.topK} · repetition {s.repetitionPenalty} · up to {s.maxTokens} tokens (
          <a className="underline" href={hrefOf('settings')}>
            Settings
          </a>
          )
        </span>
        <label className="flex items-center gap-1">
          Seed
          <input
            type="number"
            min={0}
            max={2 ** 32 - 1}
            step={1}
            value={seed}
            disabled={running}
            onChange={(e) => compareStore.getState().setSeed(Number(e.target.value))}
            className={`${input} w-32`}
          />
        </label>
        <button type="button" className={btn} disabled={running} onClick={() => compareStore.getState().newSeed()}>
          New seed
        </button>
      </div>
      <label className="flex flex-col gap-0.5">
        <span>System prompt (every pane)</span>
        <textarea
          value={system}
          rows={1}
          disabled={running}
          onChange={(e) => compareStore.getState().setSystemPrompt(e.target.value)}
          className={`${input} resize-y`}
          placeholder="optional"
        />
      </label>
    </div>
  );
}

function Toolbar() {
  const count = useCompare((s) => s.panes.length);
  const blind = useCompare((s) => s.blind);
  const running = useCompare((s) => s.running);
  const hasTurns = useCompare((s) => s.turns.length > 0);
  const exportAs = (ext: 'json' | 'md'): void => {
    const s = compareStore.getState();
    const now = new Date();
    if (ext === 'json') downloadText(comparisonFileName('json', now), comparisonJson(s, now), 'application/json');
    else downloadText(comparisonFileName('md', now), comparisonMarkdown(s, now), 'text/markdown');
  };
  return (
    <div className="flex flex-wrap items-center gap-2">
      <button type="button" className={btn} disabled={count >= MAX_PANES || running} onClick={() => compareStore.getState().addPane()}>
        Add pane
      </button>
      <label className="flex items-center gap-1.5 text-sm" title="Hide which model is in which pane, then vote; names are revealed after the vote">
        <input type="checkbox" checked={blind} disabled={running} onChange={(e) => compareStore.getState().setBlind(e.target.checked)} />
        Blind mode
      </label>
      <button type="button" className={btn} disabled={running || !hasTurns} onClick={() => compareStore.getState().newComparison()}>
        {blind ? 'New blind round' : 'New comparison'}
      </button>
      <span className="flex-1" />
      <button type="button" className={btn} disabled={!hasTurns} onClick={() => exportAs('json')}>
        Export JSON
      </button>
      <button type="button" className={btn} disabled={!hasTurns} onClick={() => exportAs('md')}>
        Export Markdown
      </button>
    </div>
  );
}

function OptionErrors() {
  const errors = useCompare((s) => s.optionErrors);
  if (errors.length === 0) return null;
  return (
    <div role="status">
      <ul className="list-disc pl-5 text-sm text-amber-800 dark:text-amber-400">
        {errors.map((e) => (
          <li key={e}>{e}</li>
        ))}
      </ul>
    </div>
  );
}

export function ComparePage() {
  const order = useCompare((s) => s.order);
  useEffect(() => {
    const s = compareStore.getState();
    void s.refreshOptions();
    void s.probeGpu();
    void s.loadTally();
  }, []);
  return (
    <div className="relative left-1/2 w-[calc(100vw-2rem)] max-w-[120rem] -translate-x-1/2 space-y-4">
      <h1 className="text-2xl font-bold">Compare</h1>
      <p className="text-slate-600 dark:text-slate-400">
        Send one message to several models at once and read the answers side by side, with their speed: Brix models and WebLLM models run in this
        tab, each in its own worker; endpoints run on a server.
      </p>
      <OptionErrors />
      <Toolbar />
      <SharedSampling />
      <div className={`grid grid-cols-1 gap-3 ${GRID[order.length] ?? ''}`}>
        {order.map((id, i) => (
          <Pane key={id} paneId={id} index={i} />
        ))}
      </div>
      <BlindVote />
      <Composer />
      <Tally />
      <p className="text-sm text-slate-600 dark:text-slate-400">
        OpenAI-compatible endpoints (vLLM, Databricks, llama.cpp&apos;s server, <code>brix serve</code>) are set up in{' '}
        <a href={hrefOf('settings')} className="text-teal-700 underline dark:text-teal-400">
          Settings → Endpoints
        </a>
        .
      </p>
    </div>
  );
}
