/** @file The settings page: appearance, generation defaults, engine diagnostics (what the worker's GPU is) and the benchmark. */
import { Benchmark } from './Benchmark.tsx';
import { Diagnostics } from './Diagnostics.tsx';
import { EndpointSettings } from './EndpointSettings.tsx';
import { SamplingSettings } from './SamplingSettings.tsx';
import { ThemeSetting } from './ThemeSetting.tsx';

export function SettingsPage() {
  return (
    <div className="space-y-8">
      <h1 className="text-2xl font-bold">Settings</h1>
      <ThemeSetting />
      <SamplingSettings />
      <EndpointSettings />
      <Diagnostics />
      <Benchmark />
    </div>
  );
}
