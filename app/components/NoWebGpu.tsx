/**
 * @file The page shown where this browser has no WebGPU: which browsers and flags work. (Chats can still be
 * read, exported and imported; only running a model needs WebGPU.)
 */
import { WEBGPU_BROWSERS } from '../lib/errorHelp.ts';

/** False where `navigator.gpu` is missing altogether (an adapter can still be missing where it exists). */
export function hasWebGpu(): boolean {
  return typeof navigator !== 'undefined' && 'gpu' in navigator && navigator.gpu !== undefined;
}

export function NoWebGpu({ detail }: { detail?: string }) {
  return (
    <section
      aria-labelledby="no-webgpu-heading"
      data-testid="no-webgpu"
      className="rounded-lg border border-amber-300 bg-amber-50 p-4 text-amber-950 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-50"
    >
      <h2 id="no-webgpu-heading" className="text-lg font-semibold">
        WebGPU is not available in this browser
      </h2>
      <p className="mt-1 text-sm">
        Brix runs models on your GPU through WebGPU, so it needs a browser that has it.{detail ? ` (${detail})` : ''} Your
        conversations are still here: you can read, export and import them.
      </p>
      <ul className="mt-2 list-disc space-y-1 pl-5 text-sm">
        {WEBGPU_BROWSERS.map((b) => (
          <li key={b}>{b}</li>
        ))}
      </ul>
    </section>
  );
}
