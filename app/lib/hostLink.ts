/**
 * @file The tab's side of the shared engine host (workers/host/): one link per tab, over a transport (a
 * SharedWorker's port, the BroadcastChannel to the leader tab's worker, or a private worker). Each EngineClient
 * gets a session (`openSession()`: a WorkerLike), so EngineClient and the app above it are unchanged. The link
 * keeps every request in flight until its result; when the host changes (the leader tab closed and another
 * took over: a new host id in its welcome), it loads each session's model again on the new host (from the
 * weight cache) and resends what was in flight, an answer with the tokens it already delivered
 * (`continueFrom`), so the answer goes on instead of starting over. Pure logic, tested with fakes.
 */
import type { WorkerEvent, WorkerRequest } from '../../workers/protocol.ts';
import type { HostMessage, HostState, TabMessage } from '../../workers/host/messages.ts';
import type { WorkerLike } from './engineClient.ts';

export interface HostTransport {
  post(m: TabMessage): void;
  listen(fn: (m: HostMessage) => void): void;
}

/** Buffers what the link sends until the real transport is chosen (choosing one is asynchronous). */
export class DeferredTransport implements HostTransport {
  private real: HostTransport | undefined;
  private queue: TabMessage[] = [];
  private readonly fns: ((m: HostMessage) => void)[] = [];

  post(m: TabMessage): void {
    if (this.real) this.real.post(m);
    else this.queue.push(m);
  }

  listen(fn: (m: HostMessage) => void): void {
    this.fns.push(fn);
  }

  attach(real: HostTransport): void {
    this.real = real;
    real.listen((m) => {
      for (const fn of this.fns) fn(m);
    });
    const queued = this.queue;
    this.queue = [];
    for (const m of queued) real.post(m);
  }
}

interface InFlight {
  req: WorkerRequest;
  /** Token ids delivered for a generate (resent as `continueFrom` after a hand-over). */
  delivered: number[];
  aborted: boolean;
}

type MessageFn = (e: MessageEvent<unknown>) => void;
type ErrorFn = (e: ErrorEvent) => void;

export class HostLink {
  /** The host that welcomed this tab; undefined until then (requests wait in the outbox). */
  private host: string | undefined;
  private outbox: { session: number; req: WorkerRequest }[] = [];
  private readonly sessions = new Map<number, SessionPort>();
  private nextSession = 1;
  private readonly listeners = new Set<(s: HostState | null) => void>();
  private simulateWaiters: ((engines: number) => void)[] = [];
  private current: HostState | null = null;
  /** How many times the host changed under this tab (Diagnostics, tests). */
  handOvers = 0;

  constructor(
    readonly tab: string,
    private readonly transport: HostTransport,
  ) {
    transport.listen((m) => this.onHost(m));
    transport.post({ kind: 'hello', tab });
  }

  get state(): HostState | null {
    return this.current;
  }

  /** A new engine session: what `new Worker(...)` was for one EngineClient. */
  openSession(): SessionPort {
    const s = new SessionPort(this, this.nextSession++);
    this.sessions.set(s.id, s);
    return s;
  }

  subscribe(fn: (s: HostState | null) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Destroys the GPU device of every model the host holds (Diagnostics); resolves with how many. */
  simulateDeviceLoss(): Promise<number> {
    return new Promise((resolve) => {
      this.simulateWaiters.push(resolve);
      this.transport.post({ kind: 'simulateDeviceLoss', tab: this.tab });
    });
  }

  /** The tab is closing: the host releases its requests at once (the tab lock tells it later anyway). */
  close(): void {
    this.transport.post({ kind: 'bye', tab: this.tab });
  }

  /** @internal */
  send(session: number, req: WorkerRequest): void {
    if (this.host === undefined) this.outbox.push({ session, req });
    else this.transport.post({ kind: 'request', tab: this.tab, host: this.host, session, req });
  }

  /** @internal */
  closeSession(s: SessionPort): void {
    this.sessions.delete(s.id);
    this.transport.post({ kind: 'closeSession', tab: this.tab, session: s.id });
  }

  private onHost(m: HostMessage): void {
    switch (m.kind) {
      case 'hostUp':
        if (m.hostId !== this.host) this.transport.post({ kind: 'hello', tab: this.tab });
        return;
      case 'welcome': {
        if (m.tab !== this.tab || m.hostId === this.host) return;
        const previous = this.host;
        this.host = m.hostId;
        if (previous !== undefined) {
          this.handOvers++;
          for (const s of this.sessions.values()) s.handOver();
        }
        const queued = this.outbox;
        this.outbox = [];
        for (const q of queued) this.send(q.session, q.req);
        return;
      }
      case 'event':
        if (m.tab === this.tab && m.host === this.host) this.sessions.get(m.session)?.deliver(m.ev);
        return;
      case 'state':
        if (this.host !== undefined && m.state.hostId !== this.host) return;
        this.current = m.state;
        for (const fn of this.listeners) fn(m.state);
        return;
      case 'simulated': {
        if (m.tab !== this.tab) return;
        const waiters = this.simulateWaiters;
        this.simulateWaiters = [];
        for (const w of waiters) w(m.engines);
        return;
      }
    }
  }
}

/** One EngineClient's session on the host, shaped like the Worker it replaces. */
export class SessionPort implements WorkerLike {
  private readonly inflight = new Map<number, InFlight>();
  /** The session's model (the last load that succeeded): loaded again on a new host. */
  private bound: WorkerRequest | undefined;
  private internalId = -1;
  private readonly messageFns: MessageFn[] = [];
  private readonly errorFns: ErrorFn[] = [];
  private closed = false;

  constructor(
    private readonly link: HostLink,
    readonly id: number,
  ) {}

  addEventListener(type: 'message', fn: MessageFn): void;
  addEventListener(type: 'error', fn: ErrorFn): void;
  addEventListener(...args: ['message', MessageFn] | ['error', ErrorFn]): void {
    if (args[0] === 'message') this.messageFns.push(args[1]);
    else this.errorFns.push(args[1]);
  }

  postMessage(msg: WorkerRequest): void {
    if (this.closed) return;
    if (msg.type === 'abort') {
      const target = this.inflight.get(msg.target);
      if (target) target.aborted = true;
    } else {
      this.inflight.set(msg.id, { req: msg, delivered: [], aborted: false });
    }
    this.link.send(this.id, msg);
  }

  terminate(): void {
    if (this.closed) return;
    this.closed = true;
    this.inflight.clear();
    this.link.closeSession(this);
  }

  /** @internal An event of this session from the current host. */
  deliver(ev: WorkerEvent): void {
    const f = this.inflight.get(ev.id);
    if (f && ev.type === 'token') f.delivered.push(...ev.delta.tokenIds);
    if (f && (ev.type === 'result' || ev.type === 'error')) {
      this.inflight.delete(ev.id);
      if (ev.type === 'result' && f.req.type === 'load') this.bound = f.req;
      if (ev.type === 'result' && f.req.type === 'unload') this.bound = undefined;
    }
    if (ev.id < 0) return; // the link's own re-load after a hand-over
    this.emit(ev);
  }

  /** @internal The host changed: bind the model again there and resend what was in flight. */
  handOver(): void {
    const pending = [...this.inflight.values()];
    if (this.bound && !pending.some((f) => f.req.type === 'load' || f.req.type === 'unload')) {
      this.link.send(this.id, { ...this.bound, id: this.internalId-- });
    }
    for (const f of pending) {
      const req = f.req;
      if (req.type === 'bench') {
        // A benchmark's runs cannot be resumed on another engine: it fails and can be run again.
        this.inflight.delete(req.id);
        const message = 'the tab running the engine closed during the benchmark; run it again';
        this.emit({ type: 'error', id: req.id, error: { name: 'WorkerDiedError', message } });
        continue;
      }
      if (req.type === 'generate' && f.delivered.length > 0) {
        const continueFrom = [...(req.request.continueFrom ?? []), ...f.delivered];
        f.req = { ...req, request: { ...req.request, continueFrom } };
        f.delivered = [];
      }
      this.link.send(this.id, f.req);
      if (f.aborted) this.link.send(this.id, { type: 'abort', id: this.internalId--, target: req.id });
    }
  }

  private emit(ev: WorkerEvent): void {
    const me = new MessageEvent('message', { data: ev });
    for (const fn of this.messageFns) fn(me);
  }
}
