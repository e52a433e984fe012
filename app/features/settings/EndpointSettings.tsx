/**
 * @file Settings → Endpoints: the app's one list of OpenAI-compatible endpoints (Chat and Compare offer each as a
 * model): name, base URL, API key, model (with "List models" from the server), and whether to send
 * llama.cpp/vLLM's extra sampling fields. Fields are committed on blur, so a
 * half-typed URL never reconnects a pane. The API key goes straight to this browser's storage: the field
 * never shows it back, only whether one is saved. A key is sent only to the origin it was saved for (List models
 * on another, just-typed URL goes without it), and plain http:// to another machine is warned about.
 */
import { useState } from 'react';
import type { EndpointConfig } from '../../engines/openai.ts';
import { useStore } from 'zustand';
import { endpointsStore } from '../../appStore.ts';
import { EngineErrorNotice } from '../compare/EngineErrorNotice.tsx';
import { toSerialized } from '../../lib/errorHelp.ts';
import type { SerializedError } from '../../../workers/errors.ts';
import { btn, input } from '../compare/ui.ts';
import { isInsecureRemote, originOf } from '../compare/endpointSettings.ts';

function EndpointForm({ e }: { e: EndpointConfig }) {
  const [name, setName] = useState(e.name);
  const [baseUrl, setBaseUrl] = useState(e.baseUrl);
  const [model, setModel] = useState(e.model);
  const [key, setKey] = useState('');
  const [hasKey, setHasKey] = useState(() => endpointsStore.getState().hasKey(e.id));
  // Read each render: saving a key or committing a base URL (which binds a key not bound yet) re-renders this form.
  useStore(endpointsStore, (s) => s.keysVersion);
  const keyOrigin = endpointsStore.getState().keyOrigin(e.id);
  const typedOrigin = originOf(baseUrl);
  const keyElsewhere = hasKey && typeof keyOrigin === 'string' && typedOrigin !== undefined && typedOrigin !== keyOrigin;
  const [listed, setListed] = useState<readonly string[]>([]);
  const [listing, setListing] = useState(false);
  const [error, setError] = useState<SerializedError | null>(null);
  const update = (patch: Partial<Omit<EndpointConfig, 'id'>>): void => endpointsStore.getState().update(e.id, patch);
  const listId = `endpoint-models-${e.id}`;

  const list = async (): Promise<void> => {
    setListing(true);
    setError(null);
    try {
      const ids = await endpointsStore.getState().listModels(e.id, baseUrl);
      setListed(ids);
      if (model === '' && ids.length > 0) {
        setModel(ids[0]);
        update({ model: ids[0] });
      }
    } catch (x) {
      setError(toSerialized(x));
    } finally {
      setListing(false);
    }
  };

  return (
    <li className="rounded-lg border border-slate-200 p-3 dark:border-slate-800">
      <fieldset aria-label={`Endpoint ${e.name}`} className="space-y-2">
      <div className="grid gap-2 sm:grid-cols-2">
        <label className="flex flex-col gap-0.5 text-sm">
          <span>Name</span>
          <input className={input} value={name} onChange={(x) => setName(x.target.value)} onBlur={() => name.trim() !== e.name && update({ name: name.trim() || e.name })} />
        </label>
        <label className="flex flex-col gap-0.5 text-sm">
          <span>Base URL</span>
          <input
            className={input}
            value={baseUrl}
            placeholder="http://127.0.0.1:8080/v1"
            inputMode="url"
            spellCheck={false}
            onChange={(x) => setBaseUrl(x.target.value)}
            onBlur={() => baseUrl.trim() !== e.baseUrl && update({ baseUrl: baseUrl.trim() })}
          />
        </label>
        <label className="flex flex-col gap-0.5 text-sm">
          <span>API key {hasKey ? '(saved in this browser)' : '(optional)'}</span>
          <input
            className={input}
            type="password"
            autoComplete="off"
            value={key}
            placeholder={hasKey ? '•••••••• (type to replace)' : 'kept in this browser only'}
            onChange={(x) => setKey(x.target.value)}
            onBlur={() => {
              if (key.trim() === '') return;
              endpointsStore.getState().setKey(e.id, key);
              setKey('');
              setHasKey(true);
            }}
          />
        </label>
        <label className="flex flex-col gap-0.5 text-sm">
          <span>Model name</span>
          <input
            className={input}
            value={model}
            list={listId}
            placeholder="e.g. databricks-dbrx-instruct"
            spellCheck={false}
            onChange={(x) => setModel(x.target.value)}
            onBlur={() => model.trim() !== e.model && update({ model: model.trim() })}
          />
          <datalist id={listId}>
            {listed.map((m) => (
              <option key={m} value={m} />
            ))}
          </datalist>
        </label>
      </div>
      <label className="flex items-center gap-2 text-sm">
        <input type="checkbox" checked={e.extendedSampling} onChange={(x) => update({ extendedSampling: x.target.checked })} />
        Also send top_k and repetition_penalty (llama.cpp, vLLM and brix serve take them; OpenAI's API does not)
      </label>
      <div className="flex flex-wrap gap-2">
        <button type="button" className={btn} disabled={listing} onClick={() => void list()}>
          {listing ? 'Listing…' : 'List models'}
        </button>
        {hasKey && (
          <button
            type="button"
            className={btn}
            onClick={() => {
              endpointsStore.getState().setKey(e.id, '');
              setHasKey(false);
            }}
          >
            Forget API key
          </button>
        )}
        <button type="button" className={btn} onClick={() => endpointsStore.getState().remove(e.id)}>
          Remove endpoint
        </button>
      </div>
      {keyElsewhere && (
        <p role="note" data-testid="endpoint-key-elsewhere" className="text-xs text-amber-800 dark:text-amber-300">
          The saved API key is for {keyOrigin}: it is not sent to {typedOrigin}. Enter the key again to use it with this URL.
        </p>
      )}
      {isInsecureRemote(baseUrl) && (
        <p role="note" data-testid="endpoint-http-warning" className="text-xs text-amber-800 dark:text-amber-300">
          Plain http:// to another machine: the API key and the conversation travel unencrypted and can be read or changed on the
          way. Use https:// unless the network is yours.
        </p>
      )}
      {listed.length > 0 && <p className="text-xs text-slate-600 dark:text-slate-400">Models on the server: {listed.join(', ')}</p>}
      {error && <EngineErrorNotice error={error} />}
      </fieldset>
    </li>
  );
}

export function EndpointSettings() {
  const endpoints = useStore(endpointsStore, (s) => s.endpoints);
  return (
    <section aria-labelledby="endpoints-heading" className="space-y-2">
      <h2 id="endpoints-heading" className="text-lg font-semibold">
        Endpoints
      </h2>
      <p className="text-sm text-slate-600 dark:text-slate-400">
        Chat with or compare against models too big for a tab — DBRX itself on vLLM with tensor parallelism, a Databricks serving endpoint — or a
        llama.cpp server, through any OpenAI-compatible API. The base URL is what OpenAI clients call <code>base_url</code> (it ends in
        <code> /v1</code> for vLLM, llama.cpp and <code>npm run -s cli -- serve</code>, which needs <code>--cors {location.origin}</code> to
        answer this page). Keys stay in this browser, are sent only to the base URL they were saved for, and are never exported.
      </p>
      {endpoints.length > 0 && (
        <ul className="space-y-2">
          {endpoints.map((e) => (
            <EndpointForm key={e.id} e={e} />
          ))}
        </ul>
      )}
      <button type="button" className={btn} onClick={() => endpointsStore.getState().add()}>
        Add endpoint
      </button>
    </section>
  );
}
