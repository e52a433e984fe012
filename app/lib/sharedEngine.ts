/**
 * @file Where this tab's engine sessions go (browser only): one HostLink per tab, over the best transport
 * there is. 1) A SharedWorker host (workers/host.shared.ts) when its welcome says it has a WebGPU adapter
 * (Chromium exposes WebGPU in shared workers only in some versions: we ask, not assume). 2) Else a leader tab:
 * every tab queues for one Web Lock per origin and build; the tab holding it runs the host in a dedicated
 * worker (workers/host.worker.ts) that all tabs reach over a BroadcastChannel; when it closes, the next tab
 * in line gets the lock, starts its own host, and the others move to it (HostLink resends what was in flight).
 * 3) Without Web Locks or BroadcastChannel, a private worker for this tab alone. localStorage
 * 'brix.engineHost' = 'shared-worker' | 'leader-tab' | 'private-worker' forces one (tests, debugging).
 */
import { HOST_CHANNEL, isHostMessage, leaderLockName, tabLockName, type HostMessage, type HostMode } from '../../workers/host/messages.ts';
import { DeferredTransport, HostLink, type HostTransport } from './hostLink.ts';

const FORCE_KEY = 'brix.engineHost';
/** A shared worker that has not answered by then is taken as unusable. */
const SHARED_WORKER_TIMEOUT_MS = 10_000;
/** Channel and leader lock per build (this chunk's hashed URL), so tabs of two app versions never mix. */
const CHANNEL = `${HOST_CHANNEL}@${new URL(import.meta.url).pathname}`;

let link: HostLink | undefined;

/** This tab's link to the engine host (started on first use). */
export function engineHostLink(): HostLink {
  if (link) return link;
  const tab = crypto.randomUUID();
  const deferred = new DeferredTransport();
  const l = new HostLink(tab, deferred);
  link = l;
  void chooseTransport(tab).then((t) => deferred.attach(t));
  // A tab that closes mid-answer releases its request at once (its lock tells the host too, a moment later).
  window.addEventListener('pagehide', (e: PageTransitionEvent) => {
    if (!e.persisted) l.close();
  });
  return l;
}

function forcedMode(): HostMode | undefined {
  try {
    const v = localStorage.getItem(FORCE_KEY);
    return v === 'shared-worker' || v === 'leader-tab' || v === 'private-worker' ? v : undefined;
  } catch {
    return undefined;
  }
}

async function chooseTransport(tab: string): Promise<HostTransport> {
  const forced = forcedMode();
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (locks && forced !== 'private-worker') {
    await holdTabLock(locks, tab);
    if ((forced === undefined || forced === 'shared-worker') && typeof SharedWorker !== 'undefined') {
      const t = await trySharedWorker(tab);
      if (t) return t;
    }
    if (typeof BroadcastChannel !== 'undefined') return leaderTransport(tab, locks);
  }
  return privateTransport();
}

/** Held until the tab closes; resolves once granted (the host watches it from then on). */
function holdTabLock(locks: LockManager, tab: string): Promise<void> {
  return new Promise((resolve) => {
    void locks.request(tabLockName(tab), () => {
      resolve();
      return new Promise<void>(() => undefined);
    });
  });
}

function trySharedWorker(tab: string): Promise<HostTransport | undefined> {
  return new Promise((resolve) => {
    let worker: SharedWorker;
    try {
      worker = new SharedWorker(new URL('../../workers/host.shared.ts', import.meta.url), { type: 'module', name: CHANNEL });
    } catch {
      resolve(undefined);
      return;
    }
    const port = worker.port;
    const fns: ((m: HostMessage) => void)[] = [];
    let decided = false;
    const decide = (ok: boolean): void => {
      if (decided) return;
      decided = true;
      clearTimeout(timer);
      if (ok) {
        resolve({ post: (m) => port.postMessage(m), listen: (fn) => fns.push(fn) });
      } else {
        port.postMessage({ kind: 'bye', tab });
        port.close();
        resolve(undefined);
      }
    };
    const timer = setTimeout(() => decide(false), SHARED_WORKER_TIMEOUT_MS);
    port.onmessage = (e: MessageEvent<unknown>) => {
      const m = e.data;
      if (!isHostMessage(m)) return;
      if (m.kind === 'welcome' && m.tab === tab) decide(m.gpu);
      for (const fn of fns) fn(m);
    };
    worker.onerror = () => decide(false);
    port.start();
    port.postMessage({ kind: 'hello', tab });
  });
}

function leaderTransport(tab: string, locks: LockManager): HostTransport {
  // Queued behind the current leader; granted when it closes (or at once for the first tab).
  void locks.request(leaderLockName(CHANNEL), () => {
    new Worker(new URL('../../workers/host.worker.ts', import.meta.url), { type: 'module', name: `brix-engine-host|leader-tab|${tab}|${CHANNEL}` });
    return new Promise<void>(() => undefined);
  });
  const channel = new BroadcastChannel(CHANNEL);
  return {
    post: (m) => channel.postMessage(m),
    listen: (fn) =>
      channel.addEventListener('message', (e: MessageEvent<unknown>) => {
        if (isHostMessage(e.data)) fn(e.data);
      }),
  };
}

function privateTransport(): HostTransport {
  const worker = new Worker(new URL('../../workers/host.worker.ts', import.meta.url), { type: 'module', name: 'brix-engine-host|private-worker' });
  return {
    post: (m) => worker.postMessage(m),
    listen: (fn) =>
      worker.addEventListener('message', (e: MessageEvent<unknown>) => {
        if (isHostMessage(e.data)) fn(e.data);
      }),
  };
}
