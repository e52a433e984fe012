/**
 * @file A comparison out of the app: JSON (everything: prompts, each pane's model and engine, answers, sampling,
 * statistics, errors, blind labels and votes) and Markdown (for reading and sharing). API keys are not part of
 * the state and so cannot be in an export; endpoints appear by name, base URL and model only.
 */
import { ENGINE_LABEL } from '../../engines/types.ts';
import { statsLine } from './statsLine.ts';
import type { CompareState, PaneAnswer, Turn } from './compareStore.ts';

export const COMPARE_FORMAT = 'brix-comparison';
export const COMPARE_VERSION = 1;

export type ExportableState = Pick<CompareState, 'turns' | 'order' | 'systemPrompt' | 'seed' | 'blind' | 'endpoints' | 'options'>;

function paneName(order: readonly string[], paneId: string): string {
  const i = order.indexOf(paneId);
  return i >= 0 ? `Pane ${i + 1}` : 'Closed pane';
}

/** Answers of a turn in label order (blind) or pane order. */
function orderedAnswers(t: Turn, order: readonly string[]): [string, PaneAnswer][] {
  const entries = Object.entries(t.answers);
  const rank = (id: string): number => {
    const l = t.labels[id];
    if (l !== undefined) return l.charCodeAt(0);
    const i = order.indexOf(id);
    return i >= 0 ? 1000 + i : 2000;
  };
  return entries.sort((a, b) => rank(a[0]) - rank(b[0]));
}

function winnerName(t: Turn): string | undefined {
  if (!t.vote) return undefined;
  if (t.vote.winner === 'tie') return 'tie';
  return t.answers[t.vote.winner]?.modelName;
}

export function comparisonJson(s: ExportableState, now: Date = new Date()): string {
  const endpointIds = new Set(s.turns.flatMap((t) => Object.values(t.answers).filter((a) => a.engine === 'openai').map((a) => a.modelId)));
  const file = {
    format: COMPARE_FORMAT,
    version: COMPARE_VERSION,
    exportedAt: now.toISOString(),
    systemPrompt: s.systemPrompt,
    seed: s.seed,
    blind: s.blind,
    endpoints: s.endpoints
      .filter((e) => endpointIds.has(`openai:${e.id}`))
      .map((e) => ({ name: e.name, baseUrl: e.baseUrl, model: e.model })),
    turns: s.turns.map((t) => ({
      prompt: t.prompt,
      createdAt: new Date(t.createdAt).toISOString(),
      answers: orderedAnswers(t, s.order).map(([id, a]) => ({
        pane: paneName(s.order, id),
        ...(t.labels[id] !== undefined ? { label: `Model ${t.labels[id]}` } : {}),
        model: a.modelName,
        modelId: a.modelId,
        engine: a.engine,
        status: a.status,
        text: a.text,
        sampling: a.sampling,
        ...(a.stats ? { stats: a.stats } : {}),
        ...(a.error ? { error: a.error } : {}),
      })),
      ...(t.vote ? { vote: { winner: winnerName(t), at: new Date(t.vote.at).toISOString() } } : {}),
    })),
  };
  return JSON.stringify(file, null, 2);
}

function answerMarkdown(t: Turn, id: string, a: PaneAnswer, order: readonly string[]): string {
  const label = t.labels[id] !== undefined ? `Model ${t.labels[id]}: ` : '';
  const head = `### ${paneName(order, id)} — ${label}${a.modelName} (${ENGINE_LABEL[a.engine]})`;
  const parts = [head, a.text.trim() === '' ? '_(empty)_' : a.text.trim()];
  if (a.error) parts.push(`_Error: ${a.error.name}: ${a.error.message}_`);
  if (a.status === 'stopped') parts.push('_Stopped._');
  if (a.stats) parts.push(`_${statsLine(a.stats)}_`);
  return parts.join('\n\n');
}

export function comparisonMarkdown(s: ExportableState, now: Date = new Date()): string {
  const parts = [`# Brix comparison`, `_Exported ${now.toISOString()}; seed ${s.seed}${s.blind ? '; blind' : ''}_`];
  if (s.systemPrompt.trim() !== '') parts.push(`**System prompt:**\n\n${s.systemPrompt.trim().replace(/^/gm, '> ')}`);
  s.turns.forEach((t, i) => {
    parts.push(`## Turn ${i + 1}`, `**User:** ${t.prompt}`);
    for (const [id, a] of orderedAnswers(t, s.order)) parts.push(answerMarkdown(t, id, a, s.order));
    const w = winnerName(t);
    if (w !== undefined) parts.push(`**Vote:** ${w === 'tie' ? 'tie' : `${w} is better`}`);
  });
  return parts.join('\n\n') + '\n';
}

export function comparisonFileName(ext: 'json' | 'md', now: Date = new Date()): string {
  return `brix-comparison-${now.toISOString().slice(0, 19).replace(/[:T]/g, '-')}.${ext}`;
}
