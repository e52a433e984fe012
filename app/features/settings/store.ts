/**
 * @file User settings that outlive the tab (theme for now), kept in localStorage through zustand's
 * `persist`. The effective theme follows the system unless the user picked one.
 */
import { create } from 'zustand';
import { persist } from 'zustand/middleware';

export type ThemeChoice = 'system' | 'light' | 'dark';

export interface SettingsState {
  readonly theme: ThemeChoice;
  setTheme(theme: ThemeChoice): void;
}

export const useSettingsStore = create<SettingsState>()(
  persist(
    (set) => ({
      theme: 'system',
      setTheme: (theme) => set({ theme }),
    }),
    { name: 'brix.settings', version: 1 },
  ),
);
