/**
 * @file An in-memory engine worker for unit tests: EngineClient on one side, the real worker handler on the
 * other, messages copied with structuredClone and delivered on a later task as postMessage does, so
 * anything that would not survive a real worker boundary (class instances, functions) fails here too.
 */
import { createWorkerHandler, type HandlerDeps } from '../../workers/handler.ts';
import type { WorkerEvent, WorkerRequest } from '../../workers/protocol.ts';
import type { WorkerLike } from '../../app/lib/engineClient.ts';

/** The event a real Worker fires when its script fails to load or throws at top level (Node has no ErrorEvent). */
class FakeErrorEvent extends Event implements ErrorEvent {
  readonly colno = 0;
  readonly lineno = 0;
  readonly filename = 'engine.worker.ts';
  readonly error = null;
  constructor(readonly message: string) {
    super('error');
  }
}

type Listener = ['message', (e: MessageEvent<unknown>) => void] | ['error', (e: ErrorEvent) => void];

export class FakeWorker implements WorkerLike {
  /** Every request the client sent, in order. */
  readonly sent: WorkerRequest[] = [];
  /** Every event the handler posted, in order. */
  readonly received: WorkerEvent[] = [];
  terminated = false;
  private readonly handle: (data: unknown) => void;
  private readonly messageListeners: ((e: MessageEvent<unknown>) => void)[] = [];
  private readonly errorListeners: ((e: ErrorEvent) => void)[] = [];

  constructor(deps: HandlerDeps) {
    this.handle = createWorkerHandler(deps, (ev) => {
      const copy = structuredClone(ev);
      setTimeout(() => {
        if (this.terminated) return;
        this.received.push(copy);
        const ev = new MessageEvent('message', { data: copy });
        for (const fn of this.messageListeners) fn(ev);
      }, 0);
    });
  }

  addEventListener(type: 'message', fn: (e: MessageEvent<unknown>) => void): void;
  addEventListener(type: 'error', fn: (e: ErrorEvent) => void): void;
  addEventListener(...args: Listener): void {
    if (args[0] === 'message') this.messageListeners.push(args[1]);
    else this.errorListeners.push(args[1]);
  }

  postMessage(msg: WorkerRequest): void {
    this.sent.push(msg);
    const copy = structuredClone(msg);
    setTimeout(() => {
      if (!this.terminated) this.handle(copy);
    }, 0);
  }

  /** Sends raw data to the handler, bypassing the client's types (malformed-request tests). */
  postRaw(data: unknown): void {
    setTimeout(() => this.handle(structuredClone(data)), 0);
  }

  /** Simulates the worker dying (script failed to load, uncaught error at top level). */
  fail(message: string): void {
    const ev = new FakeErrorEvent(message);
    for (const fn of this.errorListeners) fn(ev);
  }

  terminate(): void {
    this.terminated = true;
  }
}
