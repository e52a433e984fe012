/**
 * @file Settings → Diagnostics: shows what the engine worker sees (adapter, fallback, features, limits) or why
 * WebGPU is unavailable. The e2e test reads this panel, so its states are exposed as `data-state`.
 */
import { useState, type ReactNode } from 'react';
import type { HostMode } from '../../../workers/host/messages.ts';
import { simulateDeviceLoss, thisTab, useEngineHost } from '../../lib/useEngineHost.ts';
import type { GpuInfo } from '../../../kernels/lib/gpuInfo.ts';
import { WEBGPU_BROWSERS } from '../../lib/errorHelp.ts';
import { PING_PAYLOAD, useDiagnostics, type DiagnosticsState } from './useDiagnostics.ts';

const mib = (n: number): string => `${Math.round(n / 2 ** 20).toLocaleString('en-US')} MiB`;

function Row({ label, children, testId }: { label: string; children: ReactNode; testId?: string }) {
  return (
    <div className="grid grid-cols-[12rem_1fr] gap-2 py-1">
      <dt className="text-slate-600 dark:text-slate-400">{label}</dt>
      <dd data-testid={testId} className="font-mono text-sm break-words">
        {children}
      </dd>
    </div>
  );
}

function AdapterDetails({ gpu }: { gpu: GpuInfo }) {
  const features = Object.entries(gpu.features).map(([name, on]) => `${name} ${on ? 'yes' : 'no'}`);
  return (
    <dl>
      <Row label="Adapter" testId="diag-adapter">
        {[gpu.vendor, gpu.architecture, gpu.device].filter((s) => s !== '').join(' / ') || 'unknown'}
      </Row>
      <Row label="Description">{gpu.description || '—'}</Row>
      <Row label="Fallback (software) adapter" testId="diag-fallback">
        {gpu.isFallbackAdapter ? 'yes' : 'no'}
      </Row>
      <Row label="Features" testId="diag-features">
        {features.join(', ')}
      </Row>
      <Row label="Subgroup size">
        {gpu.subgroupMinSize === 0 ? 'unknown' : `${gpu.subgroupMinSize}–${gpu.subgroupMaxSize}`}
      </Row>
      <Row label="Max storage binding">{mib(gpu.limits.maxStorageBufferBindingSize)}</Row>
      <Row label="Max buffer">{mib(gpu.limits.maxBufferSize)}</Row>
      <Row label="Workgroup storage">{`${gpu.limits.maxComputeWorkgroupStorageSize} bytes`}</Row>
      <Row label="Invocations / workgroup">{String(gpu.limits.maxComputeInvocationsPerWorkgroup)}</Row>
    </dl>
  );
}

function Body({ state }: { state: DiagnosticsState }) {
  switch (state.kind) {
    case 'running':
      return <p>Starting the engine worker…</p>;
    case 'ok':
    case 'no-gpu':
      return (
        <>
          <dl>
            <Row label="Worker round trip" testId="diag-ping">
              {`sent '${PING_PAYLOAD}', got '${state.payload}' back in ${state.ms} ms`}
            </Row>
          </dl>
          {state.kind === 'ok' ? (
            <AdapterDetails gpu={state.gpu} />
          ) : (
            <>
              <p data-testid="diag-error" className="mt-2 text-red-700 dark:text-red-400">
                {`${state.error.name}: ${state.error.message}`}
              </p>
              <ul className="mt-2 list-disc space-y-1 pl-5 text-sm">
                {WEBGPU_BROWSERS.map((b) => (
                  <li key={b}>{b}</li>
                ))}
              </ul>
            </>
          )}
        </>
      );
    case 'error':
      return (
        <p data-testid="diag-error" className="text-red-700 dark:text-red-400">
          {`${state.error.name}: ${state.error.message}`}
        </p>
      );
  }
}

function modeText(mode: HostMode, leaderTab: string | undefined): string {
  switch (mode) {
    case 'shared-worker':
      return 'shared worker';
    case 'leader-tab':
      return leaderTab === thisTab() ? 'this tab (leader)' : 'another tab (leader)';
    case 'private-worker':
      return 'this tab only';
  }
}

/** The engine host every tab shares: how many tabs, which models are on the GPU, and the device-loss drill. */
function EngineHost() {
  const host = useEngineHost();
  const [simulated, setSimulated] = useState<string | null>(null);
  const gpuBytes = host?.engines.reduce((a, e) => a + e.gpuBytes, 0) ?? 0;
  const simulate = (): void => {
    setSimulated('…');
    simulateDeviceLoss().then(
      (n) => setSimulated(n === 0 ? 'no model is loaded' : `destroyed the GPU device of ${n} model${n === 1 ? '' : 's'}`),
      (e: unknown) => setSimulated(String(e)),
    );
  };
  return (
    <div data-testid="engine-host" className="rounded-lg border border-slate-200 p-4 dark:border-slate-800">
      {host === null ? (
        <p>Connecting to the engine…</p>
      ) : (
        <dl>
          <Row label="Engine runs in" testId="diag-host-mode">
            {modeText(host.mode, host.leaderTab)}
          </Row>
          <Row label="Tabs" testId="diag-tabs">
            {`Tabs sharing this engine: ${host.tabs}`}
          </Row>
          <Row label="Models on the GPU" testId="diag-engines">
            {host.engines.length === 0
              ? 'none'
              : host.engines.map((e) => `${e.name} (${mib(e.gpuBytes)}, ${e.state}, ${e.sessions} session${e.sessions === 1 ? '' : 's'})`).join('; ')}
          </Row>
          <Row label="GPU memory (models)" testId="diag-gpu-memory">
            {mib(gpuBytes)}
          </Row>
        </dl>
      )}
      <div className="mt-2 flex items-center gap-3">
        <button
          type="button"
          onClick={simulate}
          className="rounded-md border border-slate-300 px-3 py-1 text-sm hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800"
        >
          Simulate GPU device loss
        </button>
        {simulated !== null && (
          <span data-testid="diag-simulated" className="text-sm">
            {simulated}
          </span>
        )}
      </div>
    </div>
  );
}

export function Diagnostics() {
  const { state, run, rerun } = useDiagnostics();
  return (
    <section aria-labelledby="diagnostics-heading" className="space-y-3">
      <div className="flex items-center justify-between gap-4">
        <h2 id="diagnostics-heading" className="text-lg font-semibold">
          Diagnostics
        </h2>
        <button
          type="button"
          onClick={rerun}
          disabled={state.kind === 'running'}
          className="rounded-md border border-slate-300 px-3 py-1 text-sm hover:bg-slate-100 disabled:opacity-50 dark:border-slate-700 dark:hover:bg-slate-800"
        >
          Run again
        </button>
      </div>
      <div
        role="status"
        aria-live="polite"
        aria-label="Engine diagnostics"
        data-testid="diagnostics"
        data-state={state.kind}
        data-run={run}
        className="rounded-lg border border-slate-200 p-4 dark:border-slate-800"
      >
        <Body state={state} />
      </div>
      <EngineHost />
    </section>
  );
}
