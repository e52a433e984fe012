/** @file The top navigation: one link per route, the current one marked with aria-current for screen readers and styling. */
import { ROUTES, hrefOf, type Route } from '../router.ts';

const LABELS: Record<Route, string> = { chat: 'Chat', compare: 'Compare', models: 'Models', settings: 'Settings' };

export function Nav({ current }: { current: Route | null }) {
  return (
    <nav aria-label="Main">
      <ul className="flex gap-1">
        {ROUTES.map((r) => (
          <li key={r}>
            <a
              href={hrefOf(r)}
              aria-current={r === current ? 'page' : undefined}
              className="rounded-md px-3 py-1.5 text-sm font-medium text-slate-600 hover:bg-slate-100 aria-[current=page]:bg-teal-700 aria-[current=page]:text-white dark:text-slate-300 dark:hover:bg-slate-800"
            >
              {LABELS[r]}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}
