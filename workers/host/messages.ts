/**
 * @file Messages between a tab and the engine host (workers/host/engineHost.ts), which serves every Brix tab of
 * the origin from one SharedWorker or from the leader tab's worker. A tab wraps the worker protocol
 * (protocol.ts) of each of its engine sessions (one per EngineClient) in these envelopes; the host answers
 * the tab that asked and pushes its state (tabs, models, GPU recovery) to every tab.
 */
import { PROTOCOL_VERSION, isWorkerEvent, type WorkerEvent } from '../protocol.ts';

/** Bumped with any change to these envelopes; part of every channel and lock name, so builds never mix. */
export const HOST_VERSION = 1;
/** The channel's base name; tabs add their build (see app/lib/sharedEngine.ts), so two builds never share a host. */
export const HOST_CHANNEL = `brix-engine-host-v${PROTOCOL_VERSION}.${HOST_VERSION}`;
/** Held by the leader tab for as long as it lives (Web Locks); the next tab in line takes over. */
export const leaderLockName = (channel: string): string => `${channel}-leader`;
/** Held by each tab for its lifetime: the host learns that a tab closed when it gets this lock. */
export const tabLockName = (tab: string): string => `brix-engine-tab-${tab}`;

/** Where the engine runs: a SharedWorker, the worker of one tab (the leader), or a worker of this tab only. */
export type HostMode = 'shared-worker' | 'leader-tab' | 'private-worker';

export type SlotState = 'loading' | 'ready' | 'recovering' | 'failed';

export interface HostEngineState {
  readonly name: string;
  readonly gpuBytes: number;
  /** Engine sessions (EngineClients) bound to it, over all tabs. */
  readonly sessions: number;
  readonly state: SlotState;
  /** While recovering: which reload attempt, of how many. */
  readonly attempt?: number;
  readonly maxAttempts?: number;
  /** Why recovery gave up (state 'failed'). */
  readonly error?: string;
}

export interface HostState {
  readonly hostId: string;
  readonly mode: HostMode;
  /** The tab whose worker hosts the engine (leader-tab mode). */
  readonly leaderTab?: string;
  readonly tabs: number;
  readonly engines: readonly HostEngineState[];
}

export type TabMessage =
  | { readonly kind: 'hello'; readonly tab: string }
  /** `host`: the host the tab means; another host drops it (the tab resends its requests after a hand-over). */
  | { readonly kind: 'request'; readonly tab: string; readonly host: string; readonly session: number; readonly req: unknown }
  | { readonly kind: 'closeSession'; readonly tab: string; readonly session: number }
  | { readonly kind: 'simulateDeviceLoss'; readonly tab: string }
  | { readonly kind: 'bye'; readonly tab: string };

export type HostMessage =
  /** A new host started: every tab says hello (again). */
  | { readonly kind: 'hostUp'; readonly hostId: string }
  | { readonly kind: 'welcome'; readonly tab: string; readonly hostId: string; readonly gpu: boolean }
  | { readonly kind: 'event'; readonly tab: string; readonly host: string; readonly session: number; readonly ev: WorkerEvent }
  | { readonly kind: 'state'; readonly state: HostState }
  | { readonly kind: 'simulated'; readonly tab: string; readonly engines: number };

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;

export function isTabMessage(x: unknown): x is TabMessage {
  if (!isObject(x) || typeof x.tab !== 'string') return false;
  switch (x.kind) {
    case 'hello':
    case 'simulateDeviceLoss':
    case 'bye':
      return true;
    case 'request':
      return typeof x.session === 'number' && typeof x.host === 'string' && 'req' in x;
    case 'closeSession':
      return typeof x.session === 'number';
    default:
      return false;
  }
}

export function isHostMessage(x: unknown): x is HostMessage {
  if (!isObject(x)) return false;
  switch (x.kind) {
    case 'hostUp':
      return typeof x.hostId === 'string';
    case 'welcome':
      return typeof x.tab === 'string' && typeof x.hostId === 'string' && typeof x.gpu === 'boolean';
    case 'event':
      return typeof x.tab === 'string' && typeof x.host === 'string' && typeof x.session === 'number' && isWorkerEvent(x.ev);
    case 'state':
      return isObject(x.state) && typeof x.state.hostId === 'string' && typeof x.state.tabs === 'number' && Array.isArray(x.state.engines);
    case 'simulated':
      return typeof x.tab === 'string' && typeof x.engines === 'number';
    default:
      return false;
  }
}
