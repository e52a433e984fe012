/**
 * @file The app shell: header with the nav, a banner when this browser has no WebGPU at all, and the page
 * for the current hash route. Pages live in app/features/<feature>/.
 */
import { Nav } from './components/Nav.tsx';
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

function NoWebGpuBanner() {
  if ('gpu' in navigator) return null;
  return (
    <div role="alert" className="bg-amber-100 px-4 py-2 text-sm text-amber-900 dark:bg-amber-900 dark:text-amber-100">
      This browser has no WebGPU, so models cannot run here. Use Chrome or Edge 113+ on desktop (on Linux, Chromium
      with --enable-unsafe-webgpu).
    </div>
  );
}

export function App() {
  useApplyTheme();
  const route = useRoute();
  return (
    <div className="min-h-screen">
      <NoWebGpuBanner />
      <header className="flex items-center justify-between gap-4 border-b border-slate-200 px-4 py-3 dark:border-slate-800">
        <a href={hrefOf('chat')} className="text-lg font-bold tracking-tight">
          Brix
        </a>
        <Nav current={route} />
      </header>
      <main className="mx-auto max-w-4xl px-4 py-6">
        <Page route={route} />
      </main>
    </div>
  );
}
