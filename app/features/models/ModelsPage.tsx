/**
 * @file The Models page: storage, adding a model (URL or file), the catalog with what each model needs and
 * whether this device can run it (checked before any download), models that need an endpoint (DBRX), and any
 * other downloaded models.
 */
import { useEffect, useMemo } from 'react';
import { appStore, useApp } from '../../appStore.ts';
import { LoadStatus } from './LoadStatus.tsx';
import { HfSearch } from './HfSearch.tsx';
import { AddModel } from './AddModel.tsx';
import { ENDPOINT_MODELS, type EndpointModel } from './catalog.ts';
import { DeleteDownload, DetailsList, ModelCard, refetchNote } from './ModelCard.tsx';
import { StoragePanel } from './StoragePanel.tsx';
import { assessFit, deviceMemoryGb, fitsUnifiedMemoryGb, type DeviceFacts, type FitVerdict } from './fit.ts';
import { formatBytes } from '../../lib/format.ts';
import { hrefOf } from '../../router.ts';

const HERE: Record<FitVerdict, string> = {
  runs: 'it fits',
  slow: 'software adapter, far too slow',
  risky: 'it may not fit',
  no: 'it cannot run here',
  unknown: 'checking…',
};

function EndpointCard({ m, facts }: { m: EndpointModel; facts: DeviceFacts }) {
  return (
    <li data-testid="endpoint-model" className="space-y-2 rounded-lg border border-dashed border-slate-300 p-4 dark:border-slate-700">
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h3 className="font-semibold">{m.name}</h3>
        <span className="rounded bg-slate-100 px-2 py-0.5 text-xs dark:bg-slate-800">needs an endpoint</span>
      </div>
      <p className="text-sm text-slate-600 dark:text-slate-400">{m.details.note}</p>
      <DetailsList d={m.details} size={m.sizeBytes} approx />
      {m.tabQuants && (
        <ul aria-label={`${m.name} in a tab`} className="space-y-1 text-sm text-slate-600 dark:text-slate-400">
          {m.tabQuants.map((q) => {
            const fits = fitsUnifiedMemoryGb(q.gpuBytes);
            const fit = assessFit({ sizeBytes: q.bytes, gpuBytes: q.gpuBytes, largestTensorBytes: q.largestTensorBytes }, facts);
            return (
              <li key={q.quant} data-testid="tab-quant" data-verdict={fit.verdict}>
                {q.quant}: {formatBytes(q.bytes)} of storage, {formatBytes(q.gpuBytes)} of GPU memory at a 4,096-token context (largest
                tensor {formatBytes(q.largestTensorBytes)}); {fits !== undefined ? `fits a ${fits} GB unified-memory machine` : 'fits no single machine'}.{' '}
                <span className="text-slate-700 dark:text-slate-300">This device: {HERE[fit.verdict]}</span>
                {fit.checks
                  .filter((c) => c.verdict === 'fail' || c.verdict === 'warn')
                  .map((c) => (
                    <span key={c.label}>
                      {' '}
                      ({c.label}: {c.detail})
                    </span>
                  ))}
              </li>
            );
          })}
        </ul>
      )}
      <a href={hrefOf('compare')} className="inline-block text-sm text-teal-700 underline dark:text-teal-400">
        Compare a Brix model with it through an endpoint
      </a>
    </li>
  );
}

export function ModelsPage() {
  const models = useApp((s) => s.models);
  const gpu = useApp((s) => s.gpu);
  const storage = useApp((s) => s.storage);
  const cached = useApp((s) => s.cached);
  const cacheUrls = useApp((s) => s.cacheUrls);

  useEffect(() => {
    const s = appStore.getState();
    void s.refreshStorage();
    void s.probeGpu();
    for (const m of s.models) if (m.origin === 'bundled') void s.resolveCacheUrl(m.id);
    // Models added by URL in an earlier visit: their headers are read again (a few ranged requests).
    for (const m of s.models) if (m.origin === 'url') void s.describeModel(m.id);
  }, []);

  const facts: DeviceFacts = useMemo(() => ({ gpu, ...(storage ? { storage } : {}), deviceMemoryGb: deviceMemoryGb() }), [gpu, storage]);
  const known = new Set(Object.values(cacheUrls));
  const others = cached.filter((c) => !known.has(c.url));

  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-bold">Models</h1>
      <p className="text-slate-600 dark:text-slate-400">
        GGUF models (llama.cpp's format) run entirely in this tab. Mixture-of-Experts models run only a few experts per
        token, so a model bigger than a dense one of the same speed fits here.
      </p>
      <LoadStatus />
      <StoragePanel />
      <AddModel />
      <HfSearch />
      <section aria-labelledby="catalog-heading" className="space-y-3">
        <h2 id="catalog-heading" className="text-lg font-semibold">
          Models you can run here
        </h2>
        <ul className="space-y-3">
          {models.map((m) => {
            const url = cacheUrls[m.id];
            const c = url ? cached.find((x) => x.url === url) : undefined;
            const size = c?.totalBytes || m.sizeBytes;
            const fit = assessFit(
              {
                ...(size !== undefined ? { sizeBytes: size } : {}),
                cachedBytes: m.origin === 'file' ? (size ?? 0) : (c?.storedBytes ?? 0),
                ...(m.details?.largestTensorBytes !== undefined ? { largestTensorBytes: m.details.largestTensorBytes } : {}),
              },
              facts,
            );
            return <ModelCard key={m.id} entry={m} fit={fit} />;
          })}
        </ul>
      </section>
      <section aria-labelledby="endpoint-heading" className="space-y-3">
        <h2 id="endpoint-heading" className="text-lg font-semibold">
          Too big for a tab
        </h2>
        <ul className="space-y-3">
          {ENDPOINT_MODELS.map((m) => (
            <EndpointCard key={m.id} m={m} facts={facts} />
          ))}
        </ul>
      </section>
      {others.length > 0 && (
        <section aria-labelledby="other-heading" className="space-y-2">
          <h2 id="other-heading" className="text-lg font-semibold">
            Other downloaded models
          </h2>
          <ul className="space-y-2">
            {others.map((c) => (
              <li key={c.url} className="flex flex-wrap items-center justify-between gap-2 rounded-lg border border-slate-200 p-3 text-sm dark:border-slate-800">
                <span className="min-w-0 break-all">
                  <span className="font-medium">{c.name}</span> · {formatBytes(c.storedBytes)}
                  {c.state === 'partial' ? ` of ${formatBytes(c.totalBytes)}` : ''}
                </span>
                <DeleteDownload
                  question={`Delete ${c.name} (${formatBytes(c.storedBytes)})? ${refetchNote(undefined, c.url)}`}
                  onDelete={() => void appStore.getState().deleteCached(c.url)}
                />
              </li>
            ))}
          </ul>
        </section>
      )}
    </div>
  );
}
