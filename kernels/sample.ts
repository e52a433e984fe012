/**
 * @file Dispatch wrappers for kernels/sample.wgsl: greedy argmax and seeded top-k / top-p / min-p / temperature
 * sampling with a repetition penalty, all on the GPU; the result is the token id (u32) and its probability
 * (f32 bits) in a small buffer, which is all a decode step needs to read back (or to feed the next embedding).
 *
 * Sampling chain (llama.cpp's default order): repetition penalty on the recent ids (each distinct id once:
 * logit > 0 divided by the penalty, ≤ 0 multiplied) → top-k (k = topK, 0 meaning "all", capped at
 * SAMPLE_MAX_K = 256 candidates: the documented approximation for top-k off) → top-p on the temperature-1
 * probabilities → min-p → temperature → draw with u = hash(seed, step) (PCG hash, 24-bit uniform; the same
 * (seed, step) always gives the same token). temperature ≤ 0 is greedy over the penalised logits.
 *
 * Top-k on the GPU: the vocabulary is cut into blocks of NB logits (512, or 1024 for k > 64); each
 * workgroup bitonic-sorts its block in workgroup memory and keeps its best k (partial top-k); the lists are
 * reduced the same way until ≤ NB candidates remain, and one workgroup sorts those and samples. 100,352 logits
 * take 4 dispatches with k = 40 (47 µs on an H200), 5 with k = 256 (94 µs); argmax alone 18 µs.
 *
 * API:
 *   argmax(ctx, a: ArgmaxArgs): Dispatch — greedy token (ties → lowest id; NaN never wins) at out[outOffset].
 *   sample(ctx, a: SampleArgs): Dispatch[] — the chain above.
 *   updateSample(ctx, dispatches, a): rewrites the chain's parameters (step, seed, temperature, top-p, min-p,
 *     penalty) in place, for the next token; topK, vocab and buffers must be unchanged.
 *   samplePlan(ctx, vocab, topK): the stages the chain will run.
 * Penalty buffer: `count` u32 slots of recent ids; unused slots hold any id ≥ vocab (e.g. 0xffffffff). Give it
 * at build time to be able to change the penalty later (repeatPenalty 1 makes it a no-op).
 */
import source from './sample.wgsl?raw';
import { check, grid2d, type Dispatch, type KernelContext } from './lib/context.ts';
import { wgslParamsStruct, type ParamValues } from './lib/params.ts';
import { bindSpan } from './lib/span.ts';

export const SAMPLE_PARAMS = [
  ['n', 'u32'],
  ['in_off', 'u32'],
  ['k', 'u32'],
  ['out_off', 'u32'],
  ['pen_off', 'u32'],
  ['n_pen', 'u32'],
  ['seed', 'u32'],
  ['step', 'u32'],
  ['temperature', 'f32'],
  ['top_p', 'f32'],
  ['min_p', 'f32'],
  ['rep', 'f32'],
] as const;
type SampleValues = ParamValues<typeof SAMPLE_PARAMS>;

export const SAMPLE_MAX_K = 256;
export const ARGMAX_WG_SIZES = [64, 256, 1024] as const;
export const SAMPLE_WG_SIZES = [64, 128, 256] as const;

export interface ArgmaxArgs {
  readonly n: number;
  readonly logits: GPUBuffer;
  readonly logitsOffset?: number;
  /** Receives [token id, bits of 1.0]. */
  readonly out: GPUBuffer;
  readonly outOffset?: number;
  readonly workgroupSize?: number;
  readonly subgroups?: boolean;
}

export function argmax(ctx: KernelContext, a: ArgmaxArgs): Dispatch {
  const what = 'argmax';
  const { n, logitsOffset = 0, outOffset = 0 } = a;
  const wg = a.workgroupSize ?? Math.min(1024, ctx.info.limits.maxComputeInvocationsPerWorkgroup);
  check(Number.isInteger(n) && n > 0, () => `${what}: n must be a positive integer, got ${n}`);
  check(wg > 0 && (wg & (wg - 1)) === 0 && wg <= ctx.info.limits.maxComputeInvocationsPerWorkgroup, () => `${what}: workgroup size ${wg} must be a power of two within the device limit`);
  const lg = bindSpan(ctx, a.logits, logitsOffset, logitsOffset + n, 4, `${what}: logits`);
  const out = bindSpan(ctx, a.out, outOffset, outOffset + 2, 4, `${what}: out`);
  const values: SampleValues = { n, in_off: logitsOffset - lg.shift, k: 1, out_off: outOffset - out.shift, pen_off: 0, n_pen: 0, seed: 0, step: 0, temperature: 0, top_p: 1, min_p: 0, rep: 1 };
  const params = ctx.uniform(SAMPLE_PARAMS, values, `${what}.params`);
  const pipeline = ctx.pipeline({
    family: 'sample',
    source: source.replace('PARAMS_STRUCT', wgslParamsStruct(SAMPLE_PARAMS)),
    defines: { ARGMAX: true, USE_SUBGROUPS: (a.subgroups ?? true) && ctx.subgroups },
    overrides: { WG: wg },
  });
  return ctx.dispatch(pipeline, [params, lg.resource, out.resource], [1], params);
}

export interface SampleConfig {
  /** ≤ 0: greedy. */
  readonly temperature: number;
  /** 0: all (capped at SAMPLE_MAX_K). */
  readonly topK: number;
  /** 1: off. */
  readonly topP: number;
  /** 0: off. */
  readonly minP?: number;
  /** 1: off. */
  readonly repeatPenalty?: number;
  readonly seed: number;
}

export interface SampleArgs {
  readonly vocab: number;
  readonly logits: GPUBuffer;
  readonly logitsOffset?: number;
  /** Recent token ids for the repetition penalty (slots with ids ≥ vocab are ignored). */
  readonly penalty?: { readonly buffer: GPUBuffer; readonly offset?: number; readonly count: number };
  /** Receives [token id, bits of its f32 probability]. */
  readonly out: GPUBuffer;
  readonly outOffset?: number;
  readonly config: SampleConfig;
  /** Counter mixed with the seed (e.g. the number of tokens generated so far). */
  readonly step: number;
  /** Two candidate buffers for the partial top-k stages; allocated when omitted. */
  readonly scratch?: readonly [GPUBuffer, GPUBuffer];
  readonly workgroupSize?: number;
  /** Logits (or candidates) per workgroup in the partial top-k stages (power of two ≥ 512; default sampleBlockSize). */
  readonly blockSize?: number;
}

export interface SampleStage {
  readonly kind: 'block' | 'final';
  readonly fromLogits: boolean;
  /** Elements (logits or candidate pairs) read. */
  readonly n: number;
  /** Sort size of the workgroup. */
  readonly nb: number;
  readonly blocks: number;
}

export interface SamplePlan {
  readonly k: number;
  readonly stages: readonly SampleStage[];
  /** Candidate pairs each scratch buffer must hold. */
  readonly scratchPairs: number;
}

const pow2ceil = (x: number): number => 2 ** Math.ceil(Math.log2(Math.max(2, x)));

/** Largest sort size whose keys, ids and penalty bits fit the device's workgroup memory. */
function maxBlockSize(ctx: KernelContext, wg: number): number {
  const limit = ctx.info.limits.maxComputeWorkgroupStorageSize;
  let nb = 4096;
  while (nb > 256 && 8 * nb + nb / 8 + 4 * wg + 4 * 256 + 64 > limit) nb /= 2;
  return nb;
}

/**
 * Default block of the partial top-k stages: small blocks sort fast (log² barrier stages) and fill more of the
 * GPU, large ones leave fewer candidates to merge. Measured on an H200 over 100,352 logits: 512 is best up to
 * k = 64, 1024 for k = 256.
 */
export function sampleBlockSize(k: number): number {
  return k <= 64 ? 512 : 1024;
}

export function samplePlan(ctx: KernelContext, vocab: number, topK: number, workgroupSize = 256, blockSize?: number): SamplePlan {
  const k = Math.min(topK > 0 ? topK : SAMPLE_MAX_K, SAMPLE_MAX_K, vocab);
  blockSize ??= sampleBlockSize(k);
  check(blockSize >= 512 && (blockSize & (blockSize - 1)) === 0, () => `sample: block size ${blockSize} must be a power of two ≥ 512`);
  const NB = Math.min(blockSize, maxBlockSize(ctx, workgroupSize));
  const stages: SampleStage[] = [];
  let n = vocab;
  let fromLogits = true;
  let scratchPairs = 0;
  while (n > NB) {
    const blocks = Math.ceil(n / NB);
    stages.push({ kind: 'block', fromLogits, n, nb: NB, blocks });
    n = blocks * k;
    scratchPairs = Math.max(scratchPairs, n);
    fromLogits = false;
  }
  // At least 64: the penalty bit set needs NB / 32 ≥ 1 words.
  stages.push({ kind: 'final', fromLogits, n, nb: Math.max(64, pow2ceil(n), pow2ceil(k)), blocks: 1 });
  return { k, stages, scratchPairs };
}

function checkConfig(what: string, c: SampleConfig, step: number): void {
  const { minP = 0, repeatPenalty = 1 } = c;
  check(Number.isFinite(c.temperature), () => `${what}: temperature must be finite`);
  check(Number.isInteger(c.topK) && c.topK >= 0, () => `${what}: topK must be a non-negative integer, got ${c.topK}`);
  check(Number.isFinite(c.topP) && c.topP > 0 && c.topP <= 1, () => `${what}: topP must be in (0, 1], got ${c.topP}`);
  check(Number.isFinite(minP) && minP >= 0 && minP <= 1, () => `${what}: minP must be in [0, 1], got ${minP}`);
  check(Number.isFinite(repeatPenalty) && repeatPenalty > 0, () => `${what}: repeatPenalty must be positive, got ${repeatPenalty}`);
  check(Number.isInteger(c.seed) && c.seed >= 0 && c.seed <= 0xffffffff, () => `${what}: seed must be a u32, got ${c.seed}`);
  check(Number.isInteger(step) && step >= 0 && step <= 0xffffffff, () => `${what}: step must be a u32, got ${step}`);
}

interface Built {
  readonly plan: SamplePlan;
  readonly values: SampleValues[];
}

/** Parameter values of every stage (shared by sample and updateSample). */
function stageValues(ctx: KernelContext, a: SampleArgs, logitsShift: number, outShift: number, penShift: number): Built {
  const what = 'sample';
  checkConfig(what, a.config, a.step);
  const plan = samplePlan(ctx, a.vocab, a.config.topK, a.workgroupSize, a.blockSize);
  const c = a.config;
  const pen = a.penalty;
  const values = plan.stages.map((s): SampleValues => ({
    n: s.n,
    in_off: s.fromLogits ? (a.logitsOffset ?? 0) - logitsShift : 0,
    k: plan.k,
    out_off: s.kind === 'final' ? (a.outOffset ?? 0) - outShift : 0,
    pen_off: pen ? (pen.offset ?? 0) - penShift : 0,
    n_pen: pen ? pen.count : 0,
    seed: c.seed,
    step: a.step,
    temperature: c.temperature,
    top_p: c.topP,
    min_p: c.minP ?? 0,
    rep: c.repeatPenalty ?? 1,
  }));
  return { plan, values };
}

export function sample(ctx: KernelContext, a: SampleArgs): Dispatch[] {
  const what = 'sample';
  const { vocab, logitsOffset = 0, outOffset = 0, workgroupSize: wg = 256 } = a;
  check(Number.isInteger(vocab) && vocab > 0, () => `${what}: vocab must be a positive integer, got ${vocab}`);
  check((SAMPLE_WG_SIZES as readonly number[]).includes(wg) && wg <= ctx.info.limits.maxComputeInvocationsPerWorkgroup, () => `${what}: workgroup size ${wg} not in ${SAMPLE_WG_SIZES.join('/')}`);
  const lg = bindSpan(ctx, a.logits, logitsOffset, logitsOffset + vocab, 4, `${what}: logits`);
  const out = bindSpan(ctx, a.out, outOffset, outOffset + 2, 4, `${what}: out`);
  if (a.penalty) check(Number.isInteger(a.penalty.count) && a.penalty.count >= 0, () => `${what}: penalty count must be a non-negative integer`);
  const penOff = a.penalty?.offset ?? 0;
  const pen = a.penalty ? bindSpan(ctx, a.penalty.buffer, penOff, penOff + Math.max(1, a.penalty.count), 4, `${what}: penalty ids`) : undefined;
  const { plan, values } = stageValues(ctx, a, lg.shift, out.shift, pen?.shift ?? 0);
  let scratch: readonly [GPUBuffer, GPUBuffer] | undefined;
  if (plan.stages.length > 1) {
    const bytes = plan.scratchPairs * 8;
    scratch = a.scratch ?? [ctx.storage(bytes, 'sample.candidates.0'), ctx.storage(bytes, 'sample.candidates.1')];
    check(scratch[0].size >= bytes && scratch[1].size >= bytes && scratch[0] !== scratch[1], () => `${what}: scratch buffers must be distinct and hold ${bytes} bytes`);
  }
  const src = source.replace('PARAMS_STRUCT', wgslParamsStruct(SAMPLE_PARAMS));
  const maxDim = ctx.info.limits.maxComputeWorkgroupsPerDimension;
  return plan.stages.map((s, i) => {
    const params = ctx.uniform(SAMPLE_PARAMS, values[i], `${what}.params.${i}`);
    const penalty = s.fromLogits && !!pen;
    const pipeline = ctx.pipeline({
      family: 'sample',
      source: src,
      defines: { BLOCK: s.kind === 'block', FINAL: s.kind === 'final', PAIRS: !s.fromLogits, PENALTY: penalty },
      overrides: { WG: wg, NB: s.nb },
    });
    const input: GPUBuffer | GPUBufferBinding = s.fromLogits ? lg.resource : (scratch?.[(i - 1) % 2] ?? lg.resource);
    const output: GPUBuffer | GPUBufferBinding = s.kind === 'final' ? out.resource : (scratch?.[i % 2] ?? out.resource);
    const buffers: (GPUBuffer | GPUBufferBinding)[] = [params, input, output];
    if (penalty && pen) buffers.push(pen.resource);
    const [gx, gy] = grid2d(s.blocks, maxDim);
    return ctx.dispatch(pipeline, buffers, [gx, gy], params);
  });
}

/** Rewrites the parameters of a chain built by `sample` (same vocab, topK, buffers and offsets). */
export function updateSample(ctx: KernelContext, dispatches: readonly Dispatch[], a: SampleArgs): void {
  const lg = bindSpan(ctx, a.logits, a.logitsOffset ?? 0, (a.logitsOffset ?? 0) + a.vocab, 4, 'updateSample: logits');
  const out = bindSpan(ctx, a.out, a.outOffset ?? 0, (a.outOffset ?? 0) + 2, 4, 'updateSample: out');
  const penOff = a.penalty?.offset ?? 0;
  const pen = a.penalty ? bindSpan(ctx, a.penalty.buffer, penOff, penOff + Math.max(1, a.penalty.count), 4, 'updateSample: penalty') : undefined;
  const { values } = stageValues(ctx, a, lg.shift, out.shift, pen?.shift ?? 0);
  check(values.length === dispatches.length, () => `updateSample: the chain has ${dispatches.length} stages, these arguments need ${values.length}`);
  dispatches.forEach((d, i) => {
    check(d.params !== undefined, () => 'updateSample: dispatch has no params buffer');
    if (d.params) ctx.writeUniform(d.params, SAMPLE_PARAMS, values[i]);
  });
}
