/**
 * @file The engine host: one set of loaded models serving every Brix tab of the origin (from a SharedWorker or
 * from the leader tab's worker; the entries in workers/host.*.ts wire it to a transport). Each tab has engine
 * sessions (one per EngineClient); sessions that load the same model with the same options share one engine
 * (EngineSlot), so a second tab reaches a ready model without a second upload. A model's requests are queued
 * round-robin per tab (FairQueue); every event goes only to the session that asked; an abort reaches only its
 * own request; a tab that closes releases its sessions (queued requests dropped, running ones aborted), and a
 * model no session uses any more is unloaded. Pure logic: transports, GPU and engines are injected.
 */
import { browserGpu } from '../gpu/device.ts';
import { AbortError, EngineStateError, ProtocolError, serializeError } from '../errors.ts';
import {
  assertNever,
  dispatchRequest,
  isWorkerRequest,
  requestProblem,
  type GenerationResult,
  type LoadOptions,
  type LoadProgress,
  type ModelInfo,
  type ModelSource,
  type RequestHandlers,
  type WorkerEvent,
} from '../protocol.ts';
import { EngineSlot, type HostedEngine, type RecoveryPolicy } from './engineSlot.ts';
import { FairQueue } from './fairQueue.ts';
import { answerPing, checkProtocolVersion } from '../handler.ts';
import { isTabMessage, type HostEngineState, type HostMessage, type HostMode, type HostState } from './messages.ts';

export interface EngineHostDeps {
  readonly hostId: string;
  readonly mode: HostMode;
  readonly leaderTab?: string;
  readonly createEngine: () => HostedEngine;
  /** For `ping`: the GPU the host itself sees. */
  readonly gpu?: () => GPU | undefined;
  /** For the welcome: whether this host can run models at all (a shared worker may lack WebGPU). */
  readonly gpuAvailable?: () => Promise<boolean>;
  readonly policy?: RecoveryPolicy;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Reaches every tab (state pushes). */
  readonly broadcast: (m: HostMessage) => void;
  /** Calls `gone` once the tab has closed (its Web Lock is released); absent where the transport cannot tell. */
  readonly watchTab?: (tab: string, gone: () => void) => void;
}

export interface EngineHost {
  /** A message from a tab; `reply` reaches that tab (its port, or the shared channel). */
  receive(data: unknown, reply: (m: HostMessage) => void): void;
  /** The tab is gone: its requests are released. */
  closeTab(tab: string): void;
  state(): HostState;
}

interface Tab {
  readonly id: string;
  send: (m: HostMessage) => void;
  readonly sessions: Map<number, Session>;
}

interface Session {
  readonly tab: Tab;
  readonly id: number;
  slot: SlotRec | undefined;
  /** Running and queued requests by id, for abort and release. */
  readonly running: Map<number, AbortController>;
  closed: boolean;
}

interface Job {
  readonly session: Session;
  readonly start: () => Promise<void>;
  /** Answers a request aborted (or released) while still queued. */
  readonly cancel: () => void;
}

interface SlotRec {
  readonly slot: EngineSlot;
  readonly sessions: Set<Session>;
  readonly ready: Promise<ModelInfo>;
  readonly loadAbort: AbortController;
  readonly progress: Set<(p: LoadProgress) => void>;
  readonly queue: FairQueue<Job>;
  busy: boolean;
  retired: boolean;
}

/** Sessions share an engine when they ask for the same model with the same options. */
export function modelKey(source: ModelSource, options: LoadOptions): string {
  let src: string;
  switch (source.kind) {
    case 'url':
      src = `url:${source.url}`;
      break;
    case 'path':
      src = `path:${source.path}`;
      break;
    case 'file':
      src = `file:${source.name}:${source.file.size}:${source.file instanceof File ? source.file.lastModified : ''}`;
      break;
  }
  return `${src}|ctx=${options.contextSize ?? 'auto'}|act=${options.activations ?? 'f32'}`;
}

function abortedResult(): GenerationResult {
  return {
    text: '',
    tokenIds: [],
    stats: {
      promptTokens: 0,
      generatedTokens: 0,
      timeToFirstTokenMs: 0,
      prefillTokensPerSecond: 0,
      decodeTokensPerSecond: 0,
      totalMs: 0,
      finishReason: 'abort',
      expertUsage: [],
      truncatedTokens: 0,
    },
  };
}

/** Resolves like `p`, or rejects with AbortError when `signal` aborts first. */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new AbortError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortError());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function createEngineHost(deps: EngineHostDeps): EngineHost {
  const tabs = new Map<string, Tab>();
  const slots = new Map<string, SlotRec>();
  /** Every slot that still holds an engine (a retired one until its last request ends). */
  const live = new Set<SlotRec>();
  let statePending = false;

  function state(): HostState {
    const engines: HostEngineState[] = [...live]
      .filter((r) => !r.retired)
      .map((r) => ({
        name: r.slot.info?.name ?? 'loading…',
        gpuBytes: r.slot.info?.gpuBytes ?? 0,
        sessions: r.sessions.size,
        state: r.slot.state,
        ...(r.slot.state === 'recovering' ? { attempt: r.slot.attempt, maxAttempts: r.slot.policy.maxAttempts } : {}),
        ...(r.slot.failed ? { error: r.slot.failed.message } : {}),
      }));
    return { hostId: deps.hostId, mode: deps.mode, ...(deps.leaderTab ? { leaderTab: deps.leaderTab } : {}), tabs: tabs.size, engines };
  }

  /** Coalesced: one push per turn of the event loop however many things changed. */
  function pushState(): void {
    if (statePending) return;
    statePending = true;
    queueMicrotask(() => {
      statePending = false;
      deps.broadcast({ kind: 'state', state: state() });
    });
  }

  function newSlot(key: string, source: ModelSource, options: LoadOptions): SlotRec {
    const loadAbort = new AbortController();
    const progress = new Set<(p: LoadProgress) => void>();
    const slot = new EngineSlot(key, source, options, { create: deps.createEngine, policy: deps.policy, sleep: deps.sleep, onChange: pushState });
    const ready = slot.load((p) => {
      for (const fn of progress) fn(p);
    }, loadAbort.signal);
    const rec: SlotRec = { slot, sessions: new Set(), ready, loadAbort, progress, queue: new FairQueue(), busy: false, retired: false };
    ready.catch(() => {
      // A failed load leaves nothing to share: the next load of this model starts afresh.
      if (slots.get(key) === rec) slots.delete(key);
      live.delete(rec);
      for (const s of rec.sessions) if (s.slot === rec) s.slot = undefined;
      rec.sessions.clear();
      pushState();
    });
    slots.set(key, rec);
    live.add(rec);
    pushState();
    return rec;
  }

  /** Runs the next queued request of the model (one at a time per engine); unloads a model nobody uses. */
  function pump(rec: SlotRec): void {
    if (rec.busy) return;
    const job = rec.queue.shift();
    if (job) {
      rec.busy = true;
      void job.start().finally(() => {
        rec.busy = false;
        pump(rec);
      });
      return;
    }
    if (rec.retired && live.has(rec)) {
      live.delete(rec);
      void rec.ready.then(() => rec.slot.unload()).catch(() => undefined);
      pushState();
    }
  }

  /** Unbinds a session from its model: its queued requests are answered as aborted, running ones aborted. */
  function release(s: Session): void {
    const rec = s.slot;
    if (!rec) return;
    s.slot = undefined;
    rec.sessions.delete(s);
    for (const job of rec.queue.remove((j) => j.session === s)) job.cancel();
    if (![...rec.sessions].some((x) => x.tab === s.tab)) rec.queue.dropLane(s.tab.id);
    for (const ac of s.running.values()) ac.abort(new AbortError('the engine session was released'));
    if (rec.sessions.size === 0) {
      rec.retired = true;
      if (slots.get(rec.slot.key) === rec) slots.delete(rec.slot.key);
      rec.loadAbort.abort(new AbortError('no tab needs this model any more'));
      pump(rec);
    }
    pushState();
  }

  function closeSession(s: Session): void {
    s.closed = true;
    release(s);
    for (const ac of s.running.values()) ac.abort(new AbortError('the engine session was closed'));
    s.tab.sessions.delete(s.id);
  }

  /** Queues `run` on the session's model and resolves when it has run (or was cancelled while queued). */
  function enqueue(rec: SlotRec, s: Session, ac: AbortController, run: () => Promise<void>, cancel: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const job: Job = {
        session: s,
        start: () => run().then(resolve, reject),
        cancel: () => {
          try {
            cancel();
            resolve();
          } catch (e) {
            reject(e);
          }
        },
      };
      ac.signal.addEventListener(
        'abort',
        () => {
          for (const j of rec.queue.remove((x) => x === job)) j.cancel();
        },
        { once: true },
      );
      rec.queue.push(s.tab.id, job);
      pump(rec);
    });
  }

  async function boundSlot(s: Session): Promise<SlotRec> {
    const rec = s.slot;
    if (!rec) throw new EngineStateError('no model is loaded');
    await rec.ready;
    if (s.slot !== rec) throw new AbortError('the model was unloaded');
    return rec;
  }

  /** The method table for one session's request. */
  function handlersFor(s: Session, post: (ev: WorkerEvent) => void): RequestHandlers {
    return {
      ping: (req) => answerPing(deps.gpu, req, post),
      async load(req) {
        checkProtocolVersion(req.protocolVersion);
        // Bound synchronously, so a request sent right after this one finds the model it waits for.
        const key = modelKey(req.source, req.options);
        if (s.slot && s.slot.slot.key !== key) release(s);
        const rec = s.slot ?? slots.get(key) ?? newSlot(key, req.source, req.options);
        s.slot = rec;
        rec.sessions.add(s);
        pushState();
        const ac = new AbortController();
        s.running.set(req.id, ac);
        const onProgress = (progress: LoadProgress): void => post({ type: 'progress', id: req.id, progress });
        rec.progress.add(onProgress);
        try {
          const info = await raceAbort(rec.ready, ac.signal);
          post({ type: 'result', id: req.id, method: 'load', result: info });
        } catch (e) {
          if (ac.signal.aborted && s.slot === rec) release(s);
          throw e;
        } finally {
          rec.progress.delete(onProgress);
        }
      },
      async generate(req) {
        const ac = new AbortController();
        s.running.set(req.id, ac);
        const rec = await boundSlot(s);
        await enqueue(
          rec,
          s,
          ac,
          async () => {
            const result = await rec.slot.generate(req.request, (delta) => post({ type: 'token', id: req.id, delta }), ac.signal);
            post({ type: 'result', id: req.id, method: 'generate', result });
          },
          () => post({ type: 'result', id: req.id, method: 'generate', result: abortedResult() }),
        );
      },
      async bench(req) {
        const ac = new AbortController();
        s.running.set(req.id, ac);
        const rec = await boundSlot(s);
        await enqueue(
          rec,
          s,
          ac,
          async () => {
            const result = await rec.slot.bench(
              req.params,
              (run) => post({ type: 'benchRun', id: req.id, run }),
              ac.signal,
              (step) => post({ type: 'benchStep', id: req.id, step }),
            );
            post({ type: 'result', id: req.id, method: 'bench', result });
          },
          () => {
            throw new AbortError('benchmark aborted');
          },
        );
      },
      async countPromptTokens(req) {
        const rec = await boundSlot(s);
        const counts = await rec.slot.countPromptTokens(req.prompts);
        post({ type: 'result', id: req.id, method: 'countPromptTokens', result: { counts } });
      },
      async abort(req) {
        const ac = s.running.get(req.target);
        ac?.abort(new AbortError());
        post({ type: 'result', id: req.id, method: 'abort', result: { aborted: ac !== undefined } });
      },
      async unload(req) {
        const had = s.slot !== undefined;
        release(s);
        post({ type: 'result', id: req.id, method: 'unload', result: { unloaded: had } });
      },
    };
  }

  function tabOf(id: string, reply: (m: HostMessage) => void): Tab {
    let tab = tabs.get(id);
    if (!tab) {
      tab = { id, send: reply, sessions: new Map() };
      tabs.set(id, tab);
      deps.watchTab?.(id, () => closeTab(id));
      pushState();
    }
    tab.send = reply;
    return tab;
  }

  function closeTab(id: string): void {
    const tab = tabs.get(id);
    if (!tab) return;
    tabs.delete(id);
    for (const s of [...tab.sessions.values()]) closeSession(s);
    pushState();
  }

  function receive(data: unknown, reply: (m: HostMessage) => void): void {
    if (!isTabMessage(data)) return;
    switch (data.kind) {
      case 'hello': {
        tabOf(data.tab, reply);
        const available = deps.gpuAvailable ?? (() => Promise.resolve((deps.gpu ?? browserGpu)() !== undefined));
        void available()
          .catch(() => false)
          .then((gpu) => reply({ kind: 'welcome', tab: data.tab, hostId: deps.hostId, gpu }));
        pushState();
        return;
      }
      case 'bye':
        closeTab(data.tab);
        return;
      case 'simulateDeviceLoss': {
        let engines = 0;
        for (const rec of live) if (rec.slot.simulateDeviceLoss()) engines++;
        reply({ kind: 'simulated', tab: data.tab, engines });
        return;
      }
      case 'closeSession': {
        const s = tabs.get(data.tab)?.sessions.get(data.session);
        if (s) closeSession(s);
        return;
      }
      case 'request': {
        if (data.host !== deps.hostId) return;
        const tab = tabOf(data.tab, reply);
        let s = tab.sessions.get(data.session);
        if (!s) {
          s = { tab, id: data.session, slot: undefined, running: new Map(), closed: false };
          tab.sessions.set(data.session, s);
        }
        const session = s;
        const post = (ev: WorkerEvent): void => {
          if (!session.closed && tabs.get(tab.id) === tab) tab.send({ kind: 'event', tab: tab.id, host: deps.hostId, session: session.id, ev });
        };
        const req = data.req;
        if (!isWorkerRequest(req)) {
          post({ type: 'error', id: idOf(req), error: serializeError(new ProtocolError(`malformed request: ${requestProblem(req)}`)) });
          return;
        }
        dispatchRequest(handlersFor(session, post), req)
          .catch((e: unknown) => post({ type: 'error', id: req.id, error: serializeError(e) }))
          .finally(() => session.running.delete(req.id));
        return;
      }
      default:
        assertNever(data);
    }
  }

  return { receive, closeTab, state };
}

function idOf(x: unknown): number {
  if (typeof x !== 'object' || x === null || !('id' in x)) return -1;
  return typeof x.id === 'number' ? x.id : -1;
}
