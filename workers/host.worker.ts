/**
 * @file Dedicated-worker entry of the engine host, where shared workers have no WebGPU. The worker's name says
 * its mode: 'leader-tab' (started by the tab holding the leader lock; serves every tab over the BroadcastChannel
 * the name gives) or 'private-worker' (no Web Locks/BroadcastChannel: serves only the tab that started it).
 */
import { createEngineHost } from './host/engineHost.ts';
import { tabLockName, type HostMessage } from './host/messages.ts';
import { BrixEngine } from './engine/engine.ts';
import { browserEngineDeps } from './engine/browserDeps.ts';

declare const self: DedicatedWorkerGlobalScope;

/** `brix-engine-host|<mode>|<leader tab id>|<channel>` */
const [, mode, leaderTab, channelName] = self.name.split('|');
const hostId = crypto.randomUUID();
const createEngine = (): BrixEngine => new BrixEngine(browserEngineDeps);

if (mode === 'leader-tab') {
  const channel = new BroadcastChannel(channelName);
  const post = (m: HostMessage): void => channel.postMessage(m);
  const host = createEngineHost({
    hostId,
    mode: 'leader-tab',
    leaderTab,
    createEngine,
    broadcast: post,
    watchTab: (tab, gone) => {
      void navigator.locks.request(tabLockName(tab), () => gone());
    },
  });
  channel.onmessage = (e: MessageEvent<unknown>) => host.receive(e.data, post);
  // Tabs that were talking to a previous leader say hello again and resend what was in flight.
  post({ kind: 'hostUp', hostId });
} else {
  const post = (m: HostMessage): void => self.postMessage(m);
  const host = createEngineHost({ hostId, mode: 'private-worker', createEngine, broadcast: post });
  self.onmessage = (e: MessageEvent<unknown>) => host.receive(e.data, post);
}
