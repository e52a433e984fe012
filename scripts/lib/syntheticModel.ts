/**
 * @file `--synthetic <preset>` of `bench` and `profile`: a make-model preset (real shapes) as a GGUF that is never
 * written, its tensor bytes made on demand (workers/gguf/syntheticSource.ts) and streamed by the engine's own
 * loader straight into GPU memory. Same header and tensor list as `make-model --preset` (planModel); the weights
 * are random valid blocks rather than quantized random values (make-model's files take hours at 132B parameters
 * and 80 GB of disk the GPU machine does not have). Named `synthetic:<preset>-<layers>l-<quant>-seed<seed>`.
 */
import type { ByteSource } from '../../workers/gguf/byteSource.ts';
import { syntheticSource } from '../../workers/gguf/syntheticSource.ts';
import { UsageError, flagNumber, flagString, type FlagSpec, type FlagValues } from '../cliTypes.ts';
import { MakeModelError, planModel, PRESET_NAMES, PRESETS, QUANT_RECIPES, resolveConfig, type ModelPlan, type PresetName, type QuantRecipe } from './makeModel.ts';

export interface SyntheticSpec {
  readonly preset: PresetName;
  /** Default: the preset's own (40 for dbrx). */
  readonly layers?: number;
  readonly quant: QuantRecipe;
  readonly seed: number;
}

export function syntheticPlan(spec: SyntheticSpec): ModelPlan {
  try {
    const cfg = resolveConfig({ ...PRESETS[spec.preset], name: `brix-synthetic-${spec.preset}`, ...(spec.layers !== undefined ? { layers: spec.layers } : {}) });
    return planModel(cfg, spec.quant);
  } catch (e) {
    if (e instanceof MakeModelError) throw new UsageError(e.message);
    throw e;
  }
}

/** The model as a ByteSource; nothing is generated until the loader reads it. */
export function syntheticModelSource(spec: SyntheticSpec): ByteSource {
  const plan = syntheticPlan(spec);
  const name = `synthetic:${spec.preset}-${plan.config.layers}l-${spec.quant}-seed${spec.seed}`;
  return syntheticSource(name, plan.metadata, plan.tensors, spec.seed);
}

/** Flags shared by the commands that can run a synthetic model instead of --model. */
export const SYNTHETIC_FLAGS: Readonly<Record<string, FlagSpec>> = {
  synthetic: { kind: 'string', help: `instead of --model: a make-model preset made on the fly (${PRESET_NAMES.join(' | ')}), never written to disk` },
  layers: { kind: 'number', help: 'with --synthetic: blocks (default the preset\'s; dbrx 40)' },
  quant: { kind: 'string', help: `with --synthetic: ${QUANT_RECIPES.join(' | ')} (default mixed-q4_k_m)` },
  seed: { kind: 'number', help: 'with --synthetic: weight seed (default 1)' },
};

/** --model (a path or URL) or --synthetic (a ByteSource), exactly one. */
export function modelFromFlags(flags: FlagValues, command: string): { model: string | ByteSource; synthetic?: SyntheticSpec } {
  const path = flagString(flags, 'model');
  const preset = flagString(flags, 'synthetic');
  if ((path === undefined) === (preset === undefined)) throw new UsageError(`${command}: give exactly one of --model FILE and --synthetic PRESET`);
  if (path !== undefined) {
    for (const f of ['layers', 'quant', 'seed']) if (flags[f] !== undefined) throw new UsageError(`${command}: --${f} goes with --synthetic, not --model`);
    return { model: path };
  }
  const p = PRESET_NAMES.find((n) => n === preset);
  if (!p) throw new UsageError(`--synthetic must be one of ${PRESET_NAMES.join(', ')}, got '${String(preset)}'`);
  const quantFlag = flagString(flags, 'quant') ?? 'mixed-q4_k_m';
  const quant = QUANT_RECIPES.find((q) => q === quantFlag);
  if (!quant) throw new UsageError(`--quant must be one of ${QUANT_RECIPES.join(', ')}, got '${quantFlag}'`);
  const layers = flagNumber(flags, 'layers');
  if (layers !== undefined && (!Number.isInteger(layers) || layers < 1)) throw new UsageError('--layers must be a positive integer');
  const seed = flagNumber(flags, 'seed') ?? 1;
  if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer, got ${seed}`);
  const spec: SyntheticSpec = { preset: p, layers, quant, seed };
  return { model: syntheticModelSource(spec), synthetic: spec };
}
