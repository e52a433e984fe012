/** @file The settings page: appearance now, engine diagnostics always (what the worker's GPU is). */
import { Diagnostics } from './Diagnostics.tsx';
import { ThemeSetting } from './ThemeSetting.tsx';

export function SettingsPage() {
  return (
    <div className="space-y-8">
      <h1 className="text-2xl font-bold">Settings</h1>
      <ThemeSetting />
      <Diagnostics />
    </div>
  );
}
