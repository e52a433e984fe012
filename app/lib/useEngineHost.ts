/** @file The engine host's state (tabs, models, GPU recovery) as React state, pushed by the host. */
import { useSyncExternalStore } from 'react';
import type { HostState } from '../../workers/host/messages.ts';
import { engineHostLink } from './sharedEngine.ts';

const subscribe = (fn: () => void): (() => void) => engineHostLink().subscribe(fn);
const snapshot = (): HostState | null => engineHostLink().state;

export function useEngineHost(): HostState | null {
  return useSyncExternalStore(subscribe, snapshot);
}

/** The tab this page runs in, to tell "this tab" from "another tab" as the leader. */
export const thisTab = (): string => engineHostLink().tab;

export const simulateDeviceLoss = (): Promise<number> => engineHostLink().simulateDeviceLoss();
