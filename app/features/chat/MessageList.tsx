/**
 * @file The open conversation's messages plus the streaming answer, kept scrolled to the bottom while the user
 * is there (scrolling up to read stops the follow; coming back resumes it).
 */
import { useCallback, useEffect, useLayoutEffect, useRef, type ReactNode } from 'react';
import { useApp } from '../../appStore.ts';
import { MessageItem } from './MessageItem.tsx';
import { StreamingMessage } from './StreamingMessage.tsx';
import type { ChatMessageRecord } from './types.ts';

const EMPTY: readonly ChatMessageRecord[] = [];

export function MessageList({ conversationId, empty }: { conversationId: string | null; empty: ReactNode }) {
  const messages = useApp((s) => (conversationId ? (s.conversations[conversationId]?.messages ?? EMPTY) : EMPTY));
  const streamingHere = useApp((s) => s.streaming !== null && s.streaming.conversationId === conversationId);
  const busy = useApp((s) => s.streaming !== null);
  // Regenerate / Continue: the message being redone is hidden while its new text streams.
  const hidden = useApp((s) => (s.streaming?.conversationId === conversationId ? s.streaming.replaces : undefined));
  const box = useRef<HTMLDivElement>(null);
  const follow = useRef(true);

  useEffect(() => {
    follow.current = true;
  }, [conversationId]);

  // Called by the streaming answer as it grows, so this list does not re-render per token.
  const stickToBottom = useCallback(() => {
    const el = box.current;
    if (el && follow.current) el.scrollTop = el.scrollHeight;
  }, []);

  useLayoutEffect(stickToBottom, [messages, streamingHere, stickToBottom]);

  const lastAssistant = messages.at(-1)?.role === 'assistant' ? messages.length - 1 : -1;
  return (
    <div
      ref={box}
      onScroll={(e) => {
        const el = e.currentTarget;
        follow.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
      }}
      className="min-h-0 flex-1 overflow-y-auto px-3 py-4 md:px-6"
      data-testid="message-list"
    >
      {messages.length === 0 && !streamingHere ? (
        empty
      ) : (
        <div className="mx-auto flex max-w-3xl flex-col gap-4">
          {messages.map((m, i) => (m.id === hidden ? null : <MessageItem key={m.id} message={m} canRegenerate={i === lastAssistant} busy={busy} />))}
          {conversationId && <StreamingMessage conversationId={conversationId} onGrow={stickToBottom} />}
        </div>
      )}
    </div>
  );
}
