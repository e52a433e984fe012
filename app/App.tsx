/**
 * @file The app shell: header with the nav, the page for the current hash route (pages live in
 * app/features/<feature>/), and the PWA update prompt. The chat page fills the viewport below the header (its
 * message list scrolls itself); the others are a centred column that scrolls with the window (no inner
 * scroller: wheel, keys, find-in-page and phones' address bar behave as on any page). A skip link (first Tab stop) jumps to the page's main control.
 */
import { Nav } from './components/Nav.tsx';
import { UpdatePrompt } from './components/UpdatePrompt.tsx';
import { GpuResetNotice } from './components/GpuResetNotice.tsx';
import { NoWebGpu, hasWebGpu } from './components/NoWebGpu.tsx';
import { ChatPage } from './features/chat/ChatPage.tsx';
import { ComparePage } from './features/compare/ComparePage.tsx';
import { ModelsPage } from './features/models/ModelsPage.tsx';
import { SettingsPage } from './features/settings/SettingsPage.tsx';
import { hrefOf, useRoute, type Route } from './router.ts';
import { useApplyTheme } from './theme.ts';

function Page({ route }: { route: Route | null }) {
  switch (route) {
    case 'chat':
      return <ChatPage />;
    case 'compare':
      return <ComparePage />;
    case 'models':
      return <ModelsPage />;
    case 'settings':
      return <SettingsPage />;
    case null:
      return (
        <div className="space-y-4">
          <h1 className="text-2xl font-bold">Page not found</h1>
          <a className="underline" href={hrefOf('chat')}>
            Go to Chat
          </a>
        </div>
      );
  }
}

export function App() {
  useApplyTheme();
  const route = useRoute();
  return (
    <div className={`flex flex-col ${route === 'chat' ? 'h-dvh' : 'min-h-dvh'}`}>
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded-md focus:bg-teal-700 focus:px-3 focus:py-1 focus:text-white"
        onClick={(e) => {
          // Hash routes: move focus without touching the URL. Chat's target is the message box.
          e.preventDefault();
          const target = document.querySelector<HTMLElement>('[data-skip-target]') ?? document.getElementById('main');
          target?.focus();
        }}
      >
        Skip to content
      </a>
      <header className="flex shrink-0 items-center justify-between gap-2 border-b border-slate-200 px-3 py-2 dark:border-slate-800 md:px-4">
        <a href={hrefOf('chat')} className="flex items-center gap-2 text-lg font-bold tracking-tight">
          <img src={`${import.meta.env.BASE_URL}favicon.svg`} alt="" width={24} height={24} />
          Brix
        </a>
        <Nav current={route} />
      </header>
      <GpuResetNotice />
      <UpdatePrompt />
      {route === 'chat' ? (
        <main id="main" tabIndex={-1} className="min-h-0 flex-1 outline-none">
          <ChatPage />
        </main>
      ) : (
        <main id="main" tabIndex={-1} className="flex-1 outline-none">
          <div className="mx-auto max-w-4xl space-y-4 px-4 py-6">
            {!hasWebGpu() && route !== null && <NoWebGpu />}
            <Page route={route} />
          </div>
        </main>
      )}
    </div>
  );
}
