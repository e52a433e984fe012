/**
 * @file Applies the theme to <html>: Tailwind's `dark:` variant keys on the `.dark` class (see app.css), which
 * we set from the user's choice or, for 'system', from `prefers-color-scheme`, following its changes live.
 */
import { useEffect, useSyncExternalStore } from 'react';
import { useSettingsStore, type ThemeChoice } from './features/settings/store.ts';

const QUERY = '(prefers-color-scheme: dark)';

function subscribeSystem(onChange: () => void): () => void {
  const mq = window.matchMedia(QUERY);
  mq.addEventListener('change', onChange);
  return () => mq.removeEventListener('change', onChange);
}

function systemIsDark(): boolean {
  return window.matchMedia(QUERY).matches;
}

export function effectiveTheme(choice: ThemeChoice, systemDark: boolean): 'light' | 'dark' {
  if (choice === 'system') return systemDark ? 'dark' : 'light';
  return choice;
}

/** Sets <html class="dark"> and `color-scheme` (native controls, scrollbars). */
export function applyTheme(theme: 'light' | 'dark'): void {
  const root = document.documentElement;
  root.classList.toggle('dark', theme === 'dark');
  root.style.colorScheme = theme;
}

/** Before the first render, so a dark-theme user never sees a white flash (the store reads localStorage synchronously). */
export function applyStoredTheme(): void {
  applyTheme(effectiveTheme(useSettingsStore.getState().theme, systemIsDark()));
}

/** Keeps the page's theme in step with the setting and, for 'system', with the OS. */
export function useApplyTheme(): 'light' | 'dark' {
  const choice = useSettingsStore((s) => s.theme);
  const systemDark = useSyncExternalStore(subscribeSystem, systemIsDark);
  const theme = effectiveTheme(choice, systemDark);
  useEffect(() => applyTheme(theme), [theme]);
  return theme;
}
