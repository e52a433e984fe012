/** @file The statistics line under an answer (time to first token, prefill and decode tok/s, token counts) and its expert heat-map. */
import { memo } from 'react';
import type { GenerationStats } from '../../../workers/protocol.ts';
import { formatStatsLine } from '../../lib/format.ts';
import { ExpertHeatmap } from './ExpertHeatmap.tsx';

export const MessageStats = memo(function MessageStats({ stats }: { stats: GenerationStats }) {
  return (
    <div className="mt-1">
      <p data-testid="message-stats" className="text-xs text-slate-600 dark:text-slate-400">
        {formatStatsLine(stats)}
      </p>
      {stats.expertUsage.length > 0 && <ExpertHeatmap usage={stats.expertUsage} />}
    </div>
  );
});
