/**
 * @file Which experts fired for one answer: a layers × experts grid, each cell shaded by how many tokens that
 * expert served relative to the busiest expert of its layer (so every layer's routing pattern shows, whatever
 * its scale). Collapsed by default; the summary says how concentrated routing was.
 */
import { memo } from 'react';

/** Per layer: share of the tokens that went to its most used expert, and how many experts were never used. */
export function usageSummary(usage: readonly (readonly number[])[]): { layers: number; experts: number; unused: number; topShare: number } {
  let unused = 0;
  let shareSum = 0;
  for (const row of usage) {
    const total = row.reduce((a, b) => a + b, 0);
    unused += row.filter((n) => n === 0).length;
    shareSum += total > 0 ? Math.max(...row) / total : 0;
  }
  return { layers: usage.length, experts: usage[0]?.length ?? 0, unused, topShare: usage.length > 0 ? shareSum / usage.length : 0 };
}

export const ExpertHeatmap = memo(function ExpertHeatmap({ usage }: { usage: readonly (readonly number[])[] }) {
  const sum = usageSummary(usage);
  if (sum.layers === 0 || sum.experts === 0) return null;
  const label = `Expert usage: ${sum.layers} layers × ${sum.experts} experts; the busiest expert of a layer took ${Math.round(sum.topShare * 100)}% of its tokens on average; ${sum.unused} layer-expert pairs unused`;
  return (
    <details className="mt-1 text-xs text-slate-600 dark:text-slate-400">
      <summary className="cursor-pointer select-none">
        Experts: {sum.layers} layers × {sum.experts}
      </summary>
      <div role="img" aria-label={label} className="mt-2 max-w-md overflow-x-auto">
        <div className="inline-grid gap-px" style={{ gridTemplateColumns: `auto repeat(${sum.experts}, minmax(6px, 14px))` }}>
          {usage.map((row, l) => {
            const max = Math.max(1, ...row);
            return [
              <span key={`l${l}`} className="pr-1 text-right font-mono text-[10px] leading-[14px]">
                {l}
              </span>,
              ...row.map((n, e) => (
                <span
                  key={`${l}.${e}`}
                  title={`layer ${l}, expert ${e}: ${n} token${n === 1 ? '' : 's'}`}
                  className="h-[14px] rounded-[2px] bg-teal-600"
                  style={{ opacity: n === 0 ? 0.06 : 0.15 + 0.85 * (n / max) }}
                />
              )),
            ];
          })}
        </div>
        <p className="mt-1">Rows: layers; columns: experts; darker = more tokens routed there.</p>
      </div>
    </details>
  );
});
