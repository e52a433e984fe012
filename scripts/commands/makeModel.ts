/**
 * @file `make-model`: writes a synthetic GGUF of any architecture we run (tiny test models or real shapes via
 * --preset), with seeded random weights, streamed tensor by tensor. Routers are scaled up (×8 by default) so
 * top-k expert choices have clear margins and llama.cpp and our quantized kernels pick the same experts.
 */
import { performance } from 'node:perf_hooks';
import { flagNumber, flagString, UsageError, type CliCommand, type FlagValues } from '../cliTypes.ts';
import { isSupportedArch, SUPPORTED_ARCHS } from '../../workers/gguf/arch.ts';
import { ggmlTypeName } from '../../workers/gguf/ggmlTypes.ts';
import {
  MakeModelError,
  planModel,
  PRESET_NAMES,
  PRESETS,
  QUANT_RECIPES,
  resolveConfig,
  writeModel,
  type ModelSpec,
  type PresetName,
  type QuantRecipe,
  type VocabChoice,
} from '../lib/makeModel.ts';
import { createFileSink } from '../lib/nodeSource.ts';

function isPreset(s: string): s is PresetName {
  return (PRESET_NAMES as readonly string[]).includes(s);
}
function isRecipe(s: string): s is QuantRecipe {
  return (QUANT_RECIPES as readonly string[]).includes(s);
}

function parseVocab(s: string): VocabChoice {
  if (s === 'small' || s === 'cl100k') return s;
  const n = Number(s);
  if (!Number.isInteger(n)) throw new UsageError(`--vocab must be small, cl100k or a token count, got '${s}'`);
  return n;
}

/**
 * Presets, and any model over TILE_MIN_PARAMS parameters, tile tensors above this many values (writeModel's
 * tileAbove): benchmark-sized files in seconds, not hours of K-quant quantization.
 */
const PRESET_TILE_ABOVE = 1 << 16;
const TILE_MIN_PARAMS = 256e6;

/** Flags override the preset; absent flags leave preset (or default) values. */
export function configFromFlags(flags: FlagValues): ModelSpec {
  const presetName = flagString(flags, 'preset');
  let base: Partial<ModelSpec> = {};
  if (presetName !== undefined) {
    if (!isPreset(presetName)) throw new UsageError(`--preset must be one of ${PRESET_NAMES.join(', ')}, got '${presetName}'`);
    base = { ...PRESETS[presetName], name: `brix-synthetic-${presetName}` };
  }
  const arch = flagString(flags, 'arch');
  if (arch !== undefined) {
    if (!isSupportedArch(arch)) throw new UsageError(`--arch must be one of ${SUPPORTED_ARCHS.join(', ')}, got '${arch}'`);
    if (base.arch !== undefined && base.arch !== arch) throw new UsageError(`--preset ${presetName} is a ${base.arch} model; drop --arch ${arch}`);
    base.arch = arch;
  }
  const num: [string, keyof ModelSpec][] = [
    ['layers', 'layers'],
    ['embd', 'embd'],
    ['heads', 'heads'],
    ['kv-heads', 'kvHeads'],
    ['head-dim', 'headDim'],
    ['ff', 'ff'],
    ['experts', 'experts'],
    ['experts-used', 'expertsUsed'],
    ['shared-ff', 'sharedFf'],
    ['ctx', 'ctx'],
    ['rope-base', 'ropeBase'],
    ['router-scale', 'routerScale'],
  ];
  const over: Partial<ModelSpec> = {};
  for (const [flag, key] of num) {
    const v = flagNumber(flags, flag);
    if (v === undefined) continue;
    if (key === 'ropeBase' || key === 'routerScale') {
      if (!(v > 0)) throw new UsageError(`--${flag} must be > 0`);
    } else if (!Number.isInteger(v) || v < 0) throw new UsageError(`--${flag} must be a non-negative integer, got ${v}`);
    Object.assign(over, { [key]: v });
  }
  const vocab = flagString(flags, 'vocab');
  if (vocab !== undefined) over.vocab = parseVocab(vocab);
  if (flags.tied === true) over.tied = true;
  // A preset's head size follows its own embd/heads unless those are overridden.
  if ((over.embd !== undefined || over.heads !== undefined) && over.headDim === undefined) delete base.headDim;
  try {
    return resolveConfig({ ...base, ...over });
  } catch (e) {
    if (e instanceof MakeModelError) throw new UsageError(e.message);
    throw e;
  }
}

const fmtBytes = (n: number): string =>
  n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;

export const command: CliCommand = {
  name: 'make-model',
  summary:
    'write a synthetic GGUF (dbrx, llama, qwen2moe, qwen3moe, olmoe, granitemoe) with seeded random weights; routers scaled ×8 for clear top-k margins; presets and models over 256M parameters repeat one quantized 64-row tile per large tensor (speed fixtures)',
  flags: {
    arch: { kind: 'string', help: `architecture: ${SUPPORTED_ARCHS.join(' | ')}` },
    preset: { kind: 'string', help: `real shapes: ${PRESET_NAMES.join(' | ')} (other flags override; --layers shrinks dbrx)` },
    layers: { kind: 'number', help: 'number of blocks' },
    embd: { kind: 'number', help: 'embedding width' },
    heads: { kind: 'number', help: 'query heads' },
    'kv-heads': { kind: 'number', help: 'key/value heads (default: heads)' },
    'head-dim': { kind: 'number', help: 'head size (default embd/heads; qwen3moe/llama/granitemoe may differ)' },
    ff: { kind: 'number', help: 'FFN width: per expert for MoE, dense otherwise' },
    experts: { kind: 'number', help: 'experts per layer (0 = dense; llama/granitemoe only)' },
    'experts-used': { kind: 'number', help: 'experts per token (top-k)' },
    'shared-ff': { kind: 'number', help: 'shared expert width (qwen2moe; optional for llama/granitemoe MoE)' },
    vocab: { kind: 'string', help: 'small (4,096 cl100k ranks + specials) | cl100k (100,352) | N (exactly N tokens)' },
    quant: { kind: 'string', help: `${QUANT_RECIPES.join(' | ')} (default f32); norms and routers stay F32` },
    seed: { kind: 'number', help: 'weight seed (default 1); same flags + seed = same file' },
    ctx: { kind: 'number', help: 'context length written to metadata (default 2048)' },
    'rope-base': { kind: 'number', help: 'RoPE frequency base' },
    'router-scale': { kind: 'number', help: 'router weight scale over 1/sqrt(fan_in) (default 8: wide top-k margins)' },
    tied: { kind: 'boolean', help: 'no output.weight, logits from token_embd (llama, qwen3moe, granitemoe)' },
    out: { kind: 'string', help: 'output .gguf path', required: true },
  },
  async run(flags, io) {
    const cfg = configFromFlags(flags);
    const quantFlag = flagString(flags, 'quant') ?? 'f32';
    if (!isRecipe(quantFlag)) throw new UsageError(`--quant must be one of ${QUANT_RECIPES.join(', ')}, got '${quantFlag}'`);
    const seed = flagNumber(flags, 'seed') ?? 1;
    if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer, got ${seed}`);
    const out = flagString(flags, 'out') ?? '';

    const t0 = performance.now();
    let plan;
    try {
      plan = planModel(cfg, quantFlag);
    } catch (e) {
      if (e instanceof MakeModelError) throw new UsageError(e.message);
      throw e;
    }
    const nParams = plan.tensors.reduce((n, t) => n + t.dims.reduce((a, b) => a * b, 1), 0);
    const tiled = flagString(flags, 'preset') !== undefined || nParams > TILE_MIN_PARAMS;
    const sink = await createFileSink(out);
    const hist = new Map<string, { n: number; bytes: number }>();
    let size: number;
    try {
      size = await writeModel(plan, sink, seed, (p) => {
        const h = hist.get(ggmlTypeName(p.type)) ?? { n: 0, bytes: 0 };
        h.n++;
        h.bytes += p.bytes;
        hist.set(ggmlTypeName(p.type), h);
      }, tiled ? { tileAbove: PRESET_TILE_ABOVE } : {});
    } finally {
      await sink.close();
    }
    const params = plan.tensors.reduce((s, t) => s + t.dims.reduce((a, b) => a * b, 1), 0);
    const hp = plan.hparams;
    io.out(
      [
        `wrote ${out}: ${fmtBytes(size)}, ${plan.tensors.length} tensors, ${(params / 1e6).toFixed(2)}M parameters, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
        `  ${hp.arch}: ${hp.nLayer} layers, embd ${hp.nEmbd}, heads ${hp.nHead}/${hp.nHeadKv} (head ${hp.headDim}), ff ${hp.nFf}` +
          (hp.nExpert > 0 ? `, experts ${hp.nExpert} top-${hp.nExpertUsed}` : ', dense') +
          (hp.nFfShexp > 0 ? `, shared ff ${hp.nFfShexp}` : '') +
          `, vocab ${hp.nVocab}${hp.tiedOutput ? ' (tied)' : ''}`,
        `  quant ${quantFlag}, seed ${seed}, router scale ×${cfg.routerScale}: ` +
          [...hist.entries()].map(([t, h]) => `${t} ×${h.n} (${fmtBytes(h.bytes)})`).join(', '),
        '',
      ].join('\n'),
    );
    return 0;
  },
};
