/**
 * @file The chat page: conversation sidebar (a drawer on phones), the model picker and load status, the
 * messages with the streaming answer, and the message box. On first visit it loads the default model (the
 * bundled demo, or the selected model when it is fully cached) so the first message needs no extra step.
 */
import { useEffect, useState } from 'react';
import { NoWebGpu, hasWebGpu } from '../../components/NoWebGpu.tsx';
import { appStore, useApp } from '../../appStore.ts';
import { LoadStatus } from '../models/LoadStatus.tsx';
import { ModelPicker } from '../models/ModelPicker.tsx';
import { Composer } from './Composer.tsx';
import { MessageList } from './MessageList.tsx';
import { Sidebar } from './Sidebar.tsx';
import { SystemPrompt } from './SystemPrompt.tsx';
import { ChatSettings } from './ChatSettings.tsx';
import { ContextMeter } from './ContextMeter.tsx';
import { externalKindOf, initialOptionKinds } from '../models/engineSlice.ts';
import { WllamaOfferNotice } from '../models/WllamaOfferNotice.tsx';

let autoLoadTried = false;

/** Once per page load: the bundled model loads right away; another selected model only if it needs no download. */
async function autoLoad(): Promise<void> {
  if (autoLoadTried || !hasWebGpu()) return;
  autoLoadTried = true;
  // No adapter (WebGPU present but unusable): nothing to run it on, so download nothing.
  await appStore.getState().probeGpu();
  const s = appStore.getState();
  if (s.gpu.kind === 'none') return;
  if (s.load.kind !== 'idle') return;
  if (externalKindOf(s.selectedModelId) === 'wllama') {
    // wllama chosen for a bundled model (the software-adapter offer): it loads from this origin, like Brix's.
    const ref = s.selectedModelId.slice('wllama:'.length);
    if (s.models.find((m) => m.id === ref)?.origin !== 'bundled') return;
    await s.refreshOptions(['wllama']);
    if (appStore.getState().load.kind === 'idle' && appStore.getState().optionOf(s.selectedModelId)) await appStore.getState().loadModel(s.selectedModelId);
    return;
  }
  const entry = s.models.find((m) => m.id === s.selectedModelId);
  if (!entry || entry.origin === 'file') return;
  if (entry.origin !== 'bundled') {
    await s.refreshStorage();
    const url = await s.resolveCacheUrl(entry.id);
    if (appStore.getState().cached.find((c) => c.url === url)?.state !== 'complete') return;
  }
  if (appStore.getState().load.kind === 'idle') await appStore.getState().loadModel(entry.id);
}

const SUGGESTIONS = ['Hello!', 'Tell me a short story about a whale.', 'What does "serendipity" mean?'];

function EmptyState({ onSuggest }: { onSuggest: (text: string) => void }) {
  const model = useApp((s) => s.optionOf(s.selectedModelId)?.name ?? 'a model');
  const remote = useApp((s) => s.selectedModelId.startsWith('openai:'));
  return (
    <div className="mx-auto mt-10 max-w-md space-y-4 text-center text-slate-600 dark:text-slate-400">
      <p className="text-lg font-medium text-slate-800 dark:text-slate-200">Chat with {model}{remote ? '' : ', entirely in this tab'}.</p>
      <p className="text-sm">{remote ? 'Messages go to the endpoint you set up in Settings → Endpoints.' : 'Nothing you type leaves this device.'} Try:</p>
      <div className="flex flex-wrap justify-center gap-2">
        {SUGGESTIONS.map((t) => (
          <button
            key={t}
            type="button"
            onClick={() => onSuggest(t)}
            className="rounded-full border border-slate-300 px-3 py-1 text-sm hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800"
          >
            {t}
          </button>
        ))}
      </div>
    </div>
  );
}

export function ChatPage() {
  const activeId = useApp((s) => s.activeId);
  const title = useApp((s) => (s.activeId ? (s.conversations[s.activeId]?.title ?? '') : ''));
  const saving = useApp((s) => s.saving > 0);
  const hydrated = useApp((s) => s.hydrated);
  const [drawer, setDrawer] = useState(false);
  const [draft, setDraft] = useState<{ text: string; n: number } | undefined>(undefined);
  const gpuState = useApp((s) => s.gpu);
  const gpu = hasWebGpu() && gpuState.kind !== 'none';

  const ready = useApp((s) => s.load.kind === 'ready');

  useEffect(() => {
    void appStore.getState().hydrate();
    void autoLoad();
    // Endpoints and wllama are listed at once; WebLLM's list (its library) only when the picker opens or it is selected.
    void appStore.getState().refreshOptions(initialOptionKinds(appStore.getState().selectedModelId));
  }, []);

  // The fit verdicts need the adapter: ask the loaded model's worker (no extra worker while loading).
  useEffect(() => {
    if (ready) void appStore.getState().probeGpu();
  }, [ready]);

  // Esc stops the answer in progress, wherever the focus is on this page.
  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      if (e.key !== 'Escape') return;
      if (appStore.getState().streaming) {
        e.preventDefault();
        appStore.getState().stop();
      } else if (drawer) setDrawer(false);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [drawer]);

  return (
    <div className="relative flex h-full min-h-0" data-testid="chat" data-saving={saving ? 'true' : 'false'} data-hydrated={hydrated ? 'true' : 'false'}>
      <h1 className="sr-only">Chat</h1>
      {drawer && <div className="fixed inset-0 z-10 bg-black/30 md:hidden" aria-hidden="true" onClick={() => setDrawer(false)} />}
      <Sidebar className={drawer ? 'fixed inset-y-0 left-0 z-20 flex shadow-xl md:static md:shadow-none' : 'hidden md:flex'} onPicked={() => setDrawer(false)} />
      <section aria-label="Conversation" className="flex min-w-0 flex-1 flex-col">
        <div className="space-y-2 border-b border-slate-200 px-3 py-2 dark:border-slate-800 md:px-6">
          <div className="flex flex-wrap items-center gap-2">
            <button
              type="button"
              aria-expanded={drawer}
              onClick={() => setDrawer((d) => !d)}
              className="rounded-md border border-slate-300 px-2 py-1 text-sm md:hidden dark:border-slate-700"
            >
              Conversations
            </button>
            <h2 className="min-w-[6rem] flex-1 basis-0 truncate font-semibold" title={title}>
              {title || 'New chat'}
            </h2>
            <ModelPicker disabled={!gpu} />
          </div>
          {gpu && <LoadStatus />}
          {gpu && <WllamaOfferNotice />}
          <ContextMeter conversationId={activeId} />
          <div className="space-y-1">
            <SystemPrompt conversationId={activeId} />
            <ChatSettings conversationId={activeId} />
          </div>
        </div>
        {!gpu && (
          <div className="px-3 pt-3 md:px-6">
            <NoWebGpu detail={gpuState.kind === 'none' ? gpuState.message : undefined} />
          </div>
        )}
        <MessageList conversationId={activeId} empty={<EmptyState onSuggest={(text) => setDraft((d) => ({ text, n: (d?.n ?? 0) + 1 }))} />} />
        <Composer disabled={!gpu} draft={draft} />
      </section>
    </div>
  );
}
