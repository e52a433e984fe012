/**
 * @file SharedWorker entry of the engine host: every Brix tab of the origin connects a port, and one set of
 * engines (workers/host/engineHost.ts) serves them all. Used where WebGPU is exposed in shared workers (the tab
 * checks the welcome's `gpu`); otherwise tabs fall back to a leader tab (host.worker.ts).
 */
import { createEngineHost } from './host/engineHost.ts';
import { isTabMessage, tabLockName, type HostMessage } from './host/messages.ts';
import { BrixEngine } from './engine/engine.ts';
import { browserEngineDeps } from './engine/browserDeps.ts';

declare const self: SharedWorkerGlobalScope;

const ports = new Map<string, MessagePort>();
// Chromium exposes WebGPU in shared workers only in some versions: tell the tabs whether an adapter is there.
let adapter: Promise<boolean> | undefined;
const gpuAvailable = (): Promise<boolean> =>
  (adapter ??= navigator.gpu ? navigator.gpu.requestAdapter().then((a) => a !== null, () => false) : Promise.resolve(false));
const host = createEngineHost({
  hostId: crypto.randomUUID(),
  mode: 'shared-worker',
  gpuAvailable,
  createEngine: () => new BrixEngine(browserEngineDeps),
  broadcast: (m: HostMessage) => {
    for (const p of new Set(ports.values())) p.postMessage(m);
  },
  // The tab holds its lock for its lifetime: getting it means the tab closed (a port has no close event).
  watchTab: (tab, gone) => {
    void navigator.locks?.request(tabLockName(tab), () => {
      ports.delete(tab);
      gone();
    });
  },
});

self.onconnect = (e: MessageEvent) => {
  const port = e.ports[0];
  port.onmessage = (ev: MessageEvent<unknown>) => {
    const m = ev.data;
    if (isTabMessage(m)) {
      if (m.kind === 'bye') ports.delete(m.tab);
      else if (m.kind === 'hello') ports.set(m.tab, port);
    }
    host.receive(m, (out) => port.postMessage(out));
  };
  port.start();
};
