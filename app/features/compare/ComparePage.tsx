/** @file The compare page (placeholder): one prompt, two models side by side, each in its own engine worker. */
export function ComparePage() {
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-bold">Compare</h1>
      <p className="text-slate-600 dark:text-slate-400">
        Send one prompt to two models and read the answers side by side, with their speed and expert usage.
      </p>
    </div>
  );
}
