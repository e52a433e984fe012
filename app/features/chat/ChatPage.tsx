/** @file The chat page (placeholder until the chat issue): where a loaded model answers, streamed token by token. */
import { hrefOf } from '../../router.ts';

export function ChatPage() {
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-bold">Chat</h1>
      <p className="text-slate-600 dark:text-slate-400">
        No model loaded yet. Pick one on the{' '}
        <a className="underline" href={hrefOf('models')}>
          Models
        </a>{' '}
        page; it runs entirely in this tab on WebGPU.
      </p>
    </div>
  );
}
