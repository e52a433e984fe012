/**
 * @file Progress of loading a model or downloading one: phase, bytes, rate and time left, as an accessible
 * progressbar (indeterminate until the first report). The caller names it ("Loading model", "Downloading …").
 */
import type { LoadPhase } from '../../workers/protocol.ts';
import { formatBytes, formatDuration, formatRate } from '../lib/format.ts';

export interface ProgressLike {
  readonly phase: LoadPhase;
  readonly loaded: number;
  readonly total: number;
  readonly rate?: number;
  readonly etaSeconds?: number;
}

const PHASE: Record<LoadPhase, string> = {
  download: 'Downloading',
  verify: 'Verifying',
  upload: 'Uploading to the GPU',
  compile: 'Preparing GPU kernels',
};

/** "Downloading · 12.3 MB of 28.6 MB · 4.10 MB/s · 4 s left". */
export function progressText(p: ProgressLike | null, starting = 'Starting…'): string {
  if (!p) return starting;
  const parts = [PHASE[p.phase]];
  if (p.total > 0) parts.push(p.phase === 'compile' ? `${p.loaded} of ${p.total}` : `${formatBytes(p.loaded)} of ${formatBytes(p.total)}`);
  if (p.rate !== undefined && p.rate > 0 && p.phase !== 'compile') parts.push(formatRate(p.rate));
  if (p.etaSeconds !== undefined && Number.isFinite(p.etaSeconds) && p.loaded < p.total) parts.push(`${formatDuration(p.etaSeconds)} left`);
  return parts.join(' · ');
}

export function LoadProgress({ label, progress, starting }: { label: string; progress: ProgressLike | null; starting?: string }) {
  const pct = progress && progress.total > 0 ? Math.min(100, Math.round((progress.loaded / progress.total) * 100)) : undefined;
  const text = progressText(progress, starting);
  return (
    <div className="space-y-1">
      <div
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct}
        aria-valuetext={pct === undefined ? text : `${pct}%: ${text}`}
        data-phase={progress?.phase ?? 'starting'}
        className="h-2 w-full overflow-hidden rounded-full bg-slate-200 dark:bg-slate-800"
      >
        <div
          className={`h-full bg-teal-600 transition-[width] duration-200 ${pct === undefined ? 'w-1/3 animate-pulse' : ''}`}
          style={pct === undefined ? undefined : { width: `${pct}%` }}
        />
      </div>
      <p className="text-xs text-slate-600 dark:text-slate-400">{text}</p>
    </div>
  );
}
