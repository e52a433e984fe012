/**
 * @file The app's pure helpers: the fit verdict from adapter, storage and memory facts; number formatting and
 * the stats line; sampling settings clamping and per-request seeds; model URL checks and names; error advice.
 */
import { describe, expect, it } from 'vitest';
import type { GpuInfo } from '../../kernels/lib/gpuInfo.ts';
import { testGpuInfo } from '../helpers/gpuInfo.ts';
import { assessFit, type DeviceFacts } from '../../app/features/models/fit.ts';
import { CATALOG, ENDPOINT_MODELS, ModelUrlError, checkModelUrl, nameFromUrl, uniqueName } from '../../app/features/models/catalog.ts';
import { formatBytes, formatDuration, formatParams, formatStatsLine } from '../../app/lib/format.ts';
import { explainError } from '../../app/lib/errorHelp.ts';
import { DEFAULT_SAMPLING_SETTINGS, cleanContextSize, cleanSampling, samplingFor, mergeSettings, useSettingsStore } from '../../app/features/settings/store.ts';
import { usageSummary } from '../../app/features/chat/ExpertHeatmap.tsx';
import { progressText } from '../../app/components/LoadProgress.tsx';

const GPU: GpuInfo = testGpuInfo({ limits: { maxStorageBufferBindingSize: 2 ** 31, maxBufferSize: 2 ** 31 } });
const GB = 1e9;

describe('assessFit', () => {
  const facts = (over: Partial<DeviceFacts> = {}): DeviceFacts => ({ gpu: { kind: 'ok', info: GPU }, storage: { usage: 1 * GB, quota: 11 * GB }, deviceMemoryGb: 8, ...over });

  it('runs: hardware adapter, room to store it, memory to spare', () => {
    const fit = assessFit({ sizeBytes: 0.8 * GB, largestTensorBytes: 200e6 }, facts());
    expect(fit.verdict).toBe('runs');
    expect(fit.checks.map((c) => c.verdict)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(fit.checks[1].detail).toBe('needs 800 MB of 10.0 GB available');
  });

  it('no: not enough storage (already cached bytes count as present)', () => {
    expect(assessFit({ sizeBytes: 12 * GB }, facts()).verdict).toBe('no');
    const partly = assessFit({ sizeBytes: 4.2 * GB, cachedBytes: 4.2 * GB }, facts({ storage: { usage: 10.9 * GB, quota: 11 * GB } }));
    expect(partly.checks[1]).toMatchObject({ verdict: 'ok', detail: 'already downloaded' });
  });

  it('slow on a software adapter unless the model is tiny; no adapter means no', () => {
    const sw = facts({ gpu: { kind: 'ok', info: { ...GPU, isFallbackAdapter: true } } });
    expect(assessFit({ sizeBytes: 0.8 * GB }, sw).verdict).toBe('slow');
    expect(assessFit({ sizeBytes: 28.6e6 }, sw).verdict).toBe('runs');
    const none = assessFit({ sizeBytes: 28.6e6 }, facts({ gpu: { kind: 'none', message: 'no adapter' } }));
    expect(none.verdict).toBe('no');
    expect(none.checks[0].detail).toBe('no adapter');
    expect(assessFit({ sizeBytes: 28.6e6 }, facts({ gpu: { kind: 'unknown' } })).verdict).toBe('unknown');
  });

  it('risky when memory is tight; no when a tensor exceeds the buffer limit', () => {
    expect(assessFit({ sizeBytes: 4.2 * GB }, facts()).verdict).toBe('risky');
    expect(assessFit({ sizeBytes: 4.2 * GB }, facts({ deviceMemoryGb: 4 })).verdict).toBe('no');
    const small = { ...GPU, limits: { ...GPU.limits, maxBufferSize: 256 * 2 ** 20 } };
    const fit = assessFit({ sizeBytes: 0.8 * GB, largestTensorBytes: 300e6 }, facts({ gpu: { kind: 'ok', info: small } }));
    expect(fit.verdict).toBe('no');
    expect(fit.checks[3].detail).toMatch(/over this adapter's 268 MB buffer limit/);
  });

  it('unknown storage and memory leave the verdict to the GPU', () => {
    const fit = assessFit({ sizeBytes: 0.8 * GB }, { gpu: { kind: 'ok', info: GPU } });
    expect(fit.verdict).toBe('runs');
    expect(fit.checks.filter((c) => c.verdict === 'unknown').map((c) => c.label)).toEqual(['Storage', 'Memory', 'GPU limits']);
  });
});

describe('catalog', () => {
  it('lists the bundled demo first, the MoE models and a dense reference; DBRX only as an endpoint', () => {
    expect(CATALOG[0]).toMatchObject({ id: 'brix-demo-30m', name: 'Brix Demo 30M', origin: 'bundled', url: 'models/brix-demo-30m/manifest.json' });
    const archs = CATALOG.map((m) => m.details?.architecture);
    expect(archs).toEqual(['dbrx', 'granitemoe', 'granitemoe', 'olmoe', 'olmoe', 'llama']);
    for (const m of CATALOG.slice(1)) expect(m.url).toMatch(/^https:\/\/huggingface\.co\/[^/]+\/[^/]+\/resolve\/main\/[^/]+\.gguf$/);
    expect(new Set(CATALOG.map((m) => m.name)).size).toBe(CATALOG.length);
    expect(ENDPOINT_MODELS.map((m) => m.id)).toEqual(['dbrx-instruct']);
    expect(ENDPOINT_MODELS[0].sizeBytes).toBe(80e9);
  });

  it('checks user URLs and names models from them', () => {
    expect(checkModelUrl(' https://huggingface.co/a/b/blob/main/x.gguf ')).toBe('https://huggingface.co/a/b/resolve/main/x.gguf');
    expect(() => checkModelUrl('ftp://x/y.gguf')).toThrow(ModelUrlError);
    expect(() => checkModelUrl('not a url')).toThrow(/is not a URL/);
    expect(() => checkModelUrl('https://x.test/model')).toThrow(/\.gguf/);
    expect(nameFromUrl('https://x.test/dir/My%20Model-00001-of-00003.gguf?download=true')).toBe('My Model');
    expect(nameFromUrl('local.gguf')).toBe('local');
    expect(uniqueName('A', ['A', 'A (2)'])).toBe('A (3)');
  });
});

describe('formatting', () => {
  it('bytes, durations, params', () => {
    expect(formatBytes(28_554_880)).toBe('28.6 MB');
    expect(formatBytes(0.82e9)).toBe('820 MB');
    expect(formatBytes(4.2e9)).toBe('4.20 GB');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatDuration(4.2)).toBe('4 s');
    expect(formatDuration(75)).toBe('1 min 15 s');
    expect(formatDuration(3725)).toBe('1 h 2 min');
    expect(formatParams(29.7e6)).toBe('29.7M');
    expect(formatParams(400e6)).toBe('400M');
    expect(formatParams(132e9)).toBe('132B');
    expect(formatParams(1.3e9)).toBe('1.3B');
  });

  it('the stats line has tok/s, counts and why it stopped', () => {
    const line = formatStatsLine({
      promptTokens: 14,
      generatedTokens: 16,
      timeToFirstTokenMs: 312.4,
      prefillTokensPerSecond: 95.12,
      decodeTokensPerSecond: 150.2,
      totalMs: 900,
      finishReason: 'length',
      expertUsage: [],
      truncatedTokens: 3,
    });
    expect(line).toBe('312 ms to first token · prefill 95.1 tok/s · decode 150 tok/s · 14 prompt + 16 generated tokens · hit the token limit · 3 early tokens dropped to fit the context');
  });

  it('progress text names the phase, bytes, rate and time left', () => {
    expect(progressText(null)).toBe('Starting…');
    expect(progressText({ phase: 'download', loaded: 12.3e6, total: 28.6e6, rate: 4.1e6, etaSeconds: 4 })).toBe('Downloading · 12.3 MB of 28.6 MB · 4.10 MB/s · 4 s left');
    expect(progressText({ phase: 'compile', loaded: 3, total: 10 })).toBe('Preparing GPU kernels · 3 of 10');
  });

  it('expert usage summary: concentration and unused experts', () => {
    expect(usageSummary([
      [3, 1, 0, 0],
      [2, 2, 0, 0],
    ])).toEqual({ layers: 2, experts: 4, unused: 4, topShare: (0.75 + 0.5) / 2 });
    expect(usageSummary([])).toEqual({ layers: 0, experts: 0, unused: 0, topShare: 0 });
  });
});

describe('sampling settings', () => {
  it('clamps, rounds integers and ignores non-numbers', () => {
    const s = cleanSampling(DEFAULT_SAMPLING_SETTINGS, { temperature: 5, topK: 12.6, topP: 0, maxTokens: -3, seed: 2 ** 40, repetitionPenalty: Number.NaN });
    expect(s).toMatchObject({ temperature: 2, topK: 13, topP: 0.01, maxTokens: 1, seed: 2 ** 32 - 1, repetitionPenalty: DEFAULT_SAMPLING_SETTINGS.repetitionPenalty });
    expect(cleanSampling(DEFAULT_SAMPLING_SETTINGS, { temperature: '1', randomSeed: 'yes' })).toEqual(DEFAULT_SAMPLING_SETTINGS);
    expect(cleanContextSize(0)).toBe(0);
    expect(cleanContextSize(-5)).toBe(0);
    expect(cleanContextSize(50)).toBe(128);
    expect(cleanContextSize(1000.4)).toBe(1000);
  });

  it('activation precision: auto by default, int8 when chosen, a bad stored value falls back to the default', async () => {
    expect(useSettingsStore.getState().activations).toBe('auto');
    useSettingsStore.getState().setActivations('int8');
    expect(useSettingsStore.getState().activations).toBe('int8');
    const current = useSettingsStore.getState();
    expect(mergeSettings({ activations: 'fp8' }, { ...current, activations: 'f32' }).activations).toBe('f32');
    expect(mergeSettings({ activations: 'int8' }, { ...current, activations: 'f32' }).activations).toBe('int8');
    expect(mergeSettings({ contextSize: 50 }, { ...current, activations: 'int8' })).toMatchObject({ contextSize: 128, activations: 'int8' });
    expect(mergeSettings({ activations: 'auto' }, { ...current, activations: 'f32' }).activations).toBe('auto');
    useSettingsStore.getState().setActivations('f32');
  });

  it('draws a fresh 32-bit seed per request when asked, else uses the fixed one', () => {
    const fixed = samplingFor({ ...DEFAULT_SAMPLING_SETTINGS, randomSeed: false, seed: 77 });
    expect(fixed).toMatchObject({ seed: 77, stop: [] });
    expect(samplingFor({ ...DEFAULT_SAMPLING_SETTINGS, randomSeed: true }, () => 0.5).seed).toBe(2 ** 31);
    expect(samplingFor({ ...DEFAULT_SAMPLING_SETTINGS, randomSeed: true }, () => 0.999999999999).seed).toBeLessThan(2 ** 32);
  });
});

describe('error advice', () => {
  it('says what to do for the errors people hit', () => {
    expect(explainError({ name: 'GpuUnavailableError', message: 'no adapter' }).advice.join(' ')).toMatch(/--enable-unsafe-webgpu/);
    expect(explainError({ name: 'QuotaError', message: 'x' }).advice.join(' ')).toMatch(/persistent storage/);
    expect(explainError({ name: 'GpuOutOfMemoryError', message: 'x' }).advice.join(' ')).toMatch(/smaller model/);
    const unknown = explainError(new Error('boom'));
    expect(unknown).toMatchObject({ title: 'Something went wrong', message: 'boom' });
  });
});
