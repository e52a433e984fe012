/** @file Settings → Appearance: system / light / dark, stored by the settings store. */
import { useSettingsStore, type ThemeChoice } from './store.ts';

const CHOICES: readonly { value: ThemeChoice; label: string }[] = [
  { value: 'system', label: 'Follow the system' },
  { value: 'light', label: 'Light' },
  { value: 'dark', label: 'Dark' },
];

export function ThemeSetting() {
  const theme = useSettingsStore((s) => s.theme);
  const setTheme = useSettingsStore((s) => s.setTheme);
  return (
    <fieldset className="space-y-2">
      <legend className="text-lg font-semibold">Appearance</legend>
      {CHOICES.map((c) => (
        <label key={c.value} className="flex items-center gap-2">
          <input type="radio" name="theme" value={c.value} checked={theme === c.value} onChange={() => setTheme(c.value)} />
          {c.label}
        </label>
      ))}
    </fieldset>
  );
}
