/**
 * @file User settings that outlive the tab, kept in localStorage through zustand's `persist` (read
 * synchronously, so the theme applies before the first paint): theme, sampling defaults, context size and
 * activation precision.
 * Values are clamped on the way in, so the engine never sees a temperature of -3 from a stray keystroke.
 */
import { create } from 'zustand';
import { persist } from 'zustand/middleware';
import { DEFAULT_SAMPLING, type ActivationPrecision, type SamplingParams } from '../../../workers/protocol.ts';

export type ThemeChoice = 'system' | 'light' | 'dark';

export interface SamplingSettings {
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly repetitionPenalty: number;
  readonly maxTokens: number;
  readonly seed: number;
  /** A fresh seed per answer (so "Regenerate" gives a different answer); the seed used is kept with it. */
  readonly randomSeed: boolean;
}

export const DEFAULT_SAMPLING_SETTINGS: SamplingSettings = {
  temperature: DEFAULT_SAMPLING.temperature,
  topK: DEFAULT_SAMPLING.topK,
  topP: DEFAULT_SAMPLING.topP,
  repetitionPenalty: DEFAULT_SAMPLING.repetitionPenalty,
  maxTokens: DEFAULT_SAMPLING.maxTokens,
  seed: DEFAULT_SAMPLING.seed,
  randomSeed: true,
};

/** Bounds of each numeric setting (the form uses them too). */
export const SAMPLING_BOUNDS = {
  temperature: { min: 0, max: 2, step: 0.05 },
  topK: { min: 0, max: 1000, step: 1 },
  topP: { min: 0.01, max: 1, step: 0.01 },
  repetitionPenalty: { min: 1, max: 2, step: 0.01 },
  maxTokens: { min: 1, max: 32_768, step: 1 },
  seed: { min: 0, max: 2 ** 32 - 1, step: 1 },
} as const satisfies Record<Exclude<keyof SamplingSettings, 'randomSeed'>, { min: number; max: number; step: number }>;

export const CONTEXT_BOUNDS = { min: 128, max: 131_072 } as const;

const NUMERIC_KEYS = ['temperature', 'topK', 'topP', 'repetitionPenalty', 'maxTokens', 'seed'] as const;
const INTEGER: ReadonlySet<keyof SamplingSettings> = new Set(['topK', 'maxTokens', 'seed']);

function clamp(x: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, x));
}

/** Clamps and rounds a partial update (typed or straight from storage); anything but a finite number keeps the current value. */
export function cleanSampling(current: SamplingSettings, patch: Partial<Record<keyof SamplingSettings, unknown>>): SamplingSettings {
  const out: { -readonly [K in keyof SamplingSettings]: SamplingSettings[K] } = { ...current };
  for (const key of NUMERIC_KEYS) {
    const v = patch[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    const b = SAMPLING_BOUNDS[key];
    out[key] = clamp(INTEGER.has(key) ? Math.round(v) : v, b.min, b.max);
  }
  if (typeof patch.randomSeed === 'boolean') out.randomSeed = patch.randomSeed;
  return out;
}

/** 0 = automatic (the engine picks the smaller of the model's context and what fits). */
export function cleanContextSize(n: number): number {
  if (!Number.isFinite(n) || n <= 0) return 0;
  return clamp(Math.round(n), CONTEXT_BOUNDS.min, CONTEXT_BOUNDS.max);
}

/** The engine's SamplingParams for one request; `randomSeed` draws a new 32-bit seed. */
export function samplingFor(s: SamplingSettings, random: () => number = Math.random): SamplingParams {
  return {
    temperature: s.temperature,
    topK: s.topK,
    topP: s.topP,
    repetitionPenalty: s.repetitionPenalty,
    maxTokens: s.maxTokens,
    seed: s.randomSeed ? Math.floor(random() * 2 ** 32) >>> 0 : s.seed,
    stop: [],
  };
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** What Settings → Arithmetic offers (ActivationPrecision without the tests' 'ggml-cpu'). */
export type ArithmeticSetting = Exclude<ActivationPrecision, 'ggml-cpu'>;
export const ARITHMETIC_SETTINGS: readonly ArithmeticSetting[] = ['auto', 'f32', 'int8'];

export interface SettingsState {
  readonly theme: ThemeChoice;
  readonly sampling: SamplingSettings;
  /** KV cache length for the next load; 0 = automatic. */
  readonly contextSize: number;
  /** Arithmetic for the next load: 'auto' (int8 on a hardware GPU for Q4_K/Q8_0 models, else f32), 'f32', 'int8'. */
  readonly activations: ArithmeticSetting;
  setTheme(theme: ThemeChoice): void;
  setSampling(patch: Partial<SamplingSettings>): void;
  resetSampling(): void;
  setContextSize(n: number): void;
  setActivations(a: ArithmeticSetting): void;
}

/**
 * Stored settings from an older version lack fields: fill them from the defaults, and clamp what is there
 * (zustand persist's `merge`).
 */
export function mergeSettings(persisted: unknown, current: SettingsState): SettingsState {
  if (!isRecord(persisted)) return current;
  const p = persisted;
  const theme = p.theme === 'light' || p.theme === 'dark' || p.theme === 'system' ? p.theme : current.theme;
  const sp = isRecord(p.sampling) ? p.sampling : {};
  return {
    ...current,
    theme,
    sampling: cleanSampling(DEFAULT_SAMPLING_SETTINGS, sp),
    contextSize: typeof p.contextSize === 'number' ? cleanContextSize(p.contextSize) : current.contextSize,
    activations: ARITHMETIC_SETTINGS.find((a) => a === p.activations) ?? current.activations,
  };
}

export const useSettingsStore = create<SettingsState>()(
  persist(
    (set) => ({
      theme: 'system',
      sampling: DEFAULT_SAMPLING_SETTINGS,
      contextSize: 0,
      activations: 'auto',
      setTheme: (theme) => set({ theme }),
      setSampling: (patch) => set((s) => ({ sampling: cleanSampling(s.sampling, patch) })),
      resetSampling: () => set({ sampling: DEFAULT_SAMPLING_SETTINGS }),
      setContextSize: (n) => set({ contextSize: cleanContextSize(n) }),
      setActivations: (activations) => set({ activations }),
    }),
    {
      name: 'brix.settings',
      // v2: 'auto' arithmetic; v1's 'f32' was its default (chosen or not), so it becomes 'auto'.
      version: 2,
      migrate: (p, v) => (v < 2 && isRecord(p) && p.activations === 'f32' ? { ...p, activations: 'auto' } : p),
      merge: mergeSettings,
    },
  ),
);
