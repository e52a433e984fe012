/**
 * @file How much of the loaded model's context the open conversation takes (a `meter` "Context used"), from the
 * last answer's token counts, and a note when the engine had to leave old turns out (`stats.truncatedTokens`).
 */
import { useApp } from '../../appStore.ts';

export function ContextMeter({ conversationId }: { conversationId: string | null }) {
  const ctx = useApp((s) => (s.load.kind === 'ready' ? s.load.info.contextSize : 0));
  const last = useApp((s) => {
    const c = conversationId ? s.conversations[conversationId] : undefined;
    if (!c) return undefined;
    for (let i = c.messages.length - 1; i >= 0; i--) if (c.messages[i].stats) return c.messages[i].stats;
    return undefined;
  });
  if (ctx <= 0) return null;
  const used = last ? Math.min(ctx, last.promptTokens + last.generatedTokens) : 0;
  const pct = Math.round((used / ctx) * 100);
  const dropped = last?.truncatedTokens ?? 0;
  return (
    <div className="flex flex-wrap items-center gap-2 text-xs text-slate-600 dark:text-slate-400" data-testid="context">
      <label htmlFor="context-meter">Context</label>
      <meter
        id="context-meter"
        aria-label="Context used"
        min={0}
        max={ctx}
        low={ctx * 0.7}
        high={ctx * 0.9}
        optimum={0}
        value={used}
        title={`${used} of ${ctx} tokens`}
        className="h-2 w-28"
      />
      <span>
        {used.toLocaleString('en-US')} / {ctx.toLocaleString('en-US')} tokens ({pct} %)
      </span>
      {dropped > 0 && (
        <span role="status" className="text-amber-800 dark:text-amber-300" data-testid="context-dropped">
          Old turns were dropped to fit: {dropped} tokens left out of the last prompt.
        </span>
      )}
    </div>
  );
}
