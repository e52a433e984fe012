/**
 * @file Blind mode's vote and tally: under the latest blind turn, once every answer is in, "A is better" /
 * "B is better" / "Tie" (with three or four panes: "A is best"…); after the vote the names are revealed and
 * the vote joins the tally of all blind votes (kept in IndexedDB).
 */
import { useMemo } from 'react';
import { ENGINE_LABEL } from '../../engines/types.ts';
import { compareStore, useCompare } from './compareApp.ts';
import { tallyRows, type Turn } from './compareStore.ts';
import { btn } from './ui.ts';

function byLabel(t: Turn): string[] {
  return Object.keys(t.labels).sort((a, b) => t.labels[a].localeCompare(t.labels[b]));
}

export function BlindVote() {
  const turn = useCompare((s) => s.turns.at(-1));
  if (!turn || Object.keys(turn.labels).length < 2) return null;
  const ids = byLabel(turn).filter((id) => turn.answers[id]);
  const pending = ids.some((id) => turn.answers[id].status === 'loading' || turn.answers[id].status === 'streaming');
  if (turn.vote) {
    const w = turn.vote.winner;
    const verdict = w === 'tie' ? 'Tie' : `${turn.labels[w]} is better`;
    return (
      <div role="status" aria-label="Vote result" className="rounded-lg border border-teal-300 bg-teal-50 p-3 text-sm dark:border-teal-800 dark:bg-teal-950">
        <p className="font-semibold">You voted: {verdict}.</p>
        <ul className="mt-1">
          {ids.map((id) => (
            <li key={id}>
              Model {turn.labels[id]} was <strong>{turn.answers[id].modelName}</strong> ({ENGINE_LABEL[turn.answers[id].engine]})
            </li>
          ))}
        </ul>
      </div>
    );
  }
  if (pending) return null;
  const word = ids.length === 2 ? 'better' : 'best';
  return (
    <div role="group" aria-label="Vote" className="flex flex-wrap items-center gap-2 rounded-lg border border-slate-200 p-3 dark:border-slate-800">
      <span className="text-sm font-medium">Which answer is better?</span>
      {ids.map((id) => (
        <button key={id} type="button" className={btn} onClick={() => void compareStore.getState().vote(turn.id, id)}>
          {turn.labels[id]} is {word}
        </button>
      ))}
      <button type="button" className={btn} onClick={() => void compareStore.getState().vote(turn.id, 'tie')}>
        Tie
      </button>
    </div>
  );
}

export function Tally() {
  const votes = useCompare((s) => s.votes);
  const rows = useMemo(() => tallyRows(votes), [votes]);
  if (rows.length === 0) return null;
  return (
    <section aria-labelledby="tally-heading" className="space-y-2">
      <div className="flex items-center justify-between gap-2">
        <h2 id="tally-heading" className="text-lg font-semibold">
          Blind vote tally
        </h2>
        <button type="button" className={btn} onClick={() => void compareStore.getState().clearTally()}>
          Clear tally
        </button>
      </div>
      <table className="w-full text-left text-sm" data-testid="tally">
        <caption className="sr-only">Blind votes per model, across turns and sessions ({votes.length} votes)</caption>
        <thead>
          <tr className="border-b border-slate-200 dark:border-slate-800">
            <th className="py-1 font-medium">Model</th>
            <th className="py-1 font-medium">Wins</th>
            <th className="py-1 font-medium">Losses</th>
            <th className="py-1 font-medium">Ties</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.model} className="border-b border-slate-100 dark:border-slate-900">
              <td className="py-1">{r.model}</td>
              <td className="py-1">{r.wins}</td>
              <td className="py-1">{r.losses}</td>
              <td className="py-1">{r.ties}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
