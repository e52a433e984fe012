/** @file Add a GGUF model by URL (textbox "Model URL" + "Add") or from a file on this device. */
import { useState } from 'react';
import { ErrorNotice } from '../../components/ErrorNotice.tsx';
import { appStore } from '../../appStore.ts';
import { toSerialized } from '../../lib/errorHelp.ts';
import type { SerializedError } from '../../../workers/errors.ts';
import { button } from './ModelCard.tsx';

export function AddModel() {
  const [url, setUrl] = useState('');
  const [error, setError] = useState<SerializedError | null>(null);
  const [added, setAdded] = useState<string | null>(null);

  return (
    <section aria-labelledby="add-model-heading" className="space-y-3 rounded-lg border border-slate-200 p-4 dark:border-slate-800">
      <h2 id="add-model-heading" className="text-lg font-semibold">
        Add a model
      </h2>
      <form
        className="flex flex-wrap gap-2"
        onSubmit={(e) => {
          e.preventDefault();
          try {
            const entry = appStore.getState().addModelUrl(url);
            setError(null);
            setAdded(entry.name);
            setUrl('');
          } catch (err) {
            setAdded(null);
            setError(toSerialized(err));
          }
        }}
      >
        <label className="sr-only" htmlFor="model-url">
          Model URL
        </label>
        <input
          id="model-url"
          type="url"
          value={url}
          onChange={(e) => setUrl(e.target.value)}
          placeholder="https://…/resolve/main/model.gguf"
          className="min-w-0 flex-1 rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-900"
        />
        <button type="submit" className={button} disabled={url.trim() === ''}>
          Add
        </button>
      </form>
      <p className="text-xs text-slate-600 dark:text-slate-400">
        A .gguf file (or the first part of a split set, <code>…-00001-of-0000N.gguf</code>); on Hugging Face use the file's
        “resolve” link. Nothing downloads until you press Download or Load.
      </p>
      <div className="flex flex-wrap items-center gap-2 text-sm">
        <label className={`${button} cursor-pointer`}>
          Open a GGUF file…
          <input
            type="file"
            accept=".gguf"
            aria-label="Open a GGUF file"
            className="sr-only"
            onChange={(e) => {
              const f = e.target.files?.[0];
              e.target.value = '';
              if (!f) return;
              const entry = appStore.getState().addModelFile(f, f.name);
              setError(null);
              setAdded(entry.name);
            }}
          />
        </label>
        <span className="text-xs text-slate-600 dark:text-slate-400">Read straight from disk; nothing is copied.</span>
      </div>
      {added && (
        <p role="status" className="text-sm text-teal-700 dark:text-teal-400">
          Added {added}.
        </p>
      )}
      {error && <ErrorNotice error={error} />}
    </section>
  );
}
