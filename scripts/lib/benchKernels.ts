/**
 * @file Measuring kernel throughput for `bench-kernels`: the decode matvec cases and the fused MoE decode
 * (kernels/moe_decode.ts), timed by workers/bench/timing.ts (shared with the model benchmark), which also holds the
 * streaming-read kernel that gives the device's read bandwidth in the same run. Matvec weights are rotated over
 * enough copies that each dispatch reads memory, not the L2 cache.
 */
import type { KernelContext } from '../../kernels/lib/context.ts';
import { timeDispatches, type Timing, type TimeOptions } from '../../workers/bench/timing.ts';
import { QUANT_GEOMETRY, type QuantType } from '../../kernels/lib/quant.ts';
import { createWeight, destroyWeight, writeWeightRows, BLOCK_LAYOUT, type GpuWeight } from '../../kernels/lib/weights.ts';
import { matvec, type MatvecVariant } from '../../kernels/matvec.ts';
import { Q8_WEIGHT_TYPES, createQ8Activations, isQ8WeightType, q8ActivationBytes, quantizeActivations } from '../../kernels/act_quant.ts';
import { moeDecode } from '../../kernels/moe_decode.ts';
import { dequantizeRows, matmulRef, matvecRef } from '../../kernels/matvec.ref.ts';
import { matmul, MATMUL_TOKEN_TILES } from '../../kernels/matmul.ts';
import { quantize, QUANTIZABLE_TYPES } from '../../workers/quant/quant.ts';
import { GgmlTypeId, uploadWeight } from '../../kernels/lib/weights.ts';

/** A kernel that failed to compile or validate during a benchmark (the device's message). */
export class BenchError extends Error {
  override name = 'BenchError';
}

/** Runs `f` inside a validation error scope; a GPU validation error becomes a BenchError naming `what`. */
async function validated<T>(ctx: KernelContext, what: string, f: () => Promise<T>): Promise<T> {
  ctx.device.pushErrorScope('validation');
  let out: T;
  try {
    out = await f();
  } finally {
    const err = await ctx.device.popErrorScope();
    if (err) throw new BenchError(`${what}: ${err.message.split('\n')[0]}`);
  }
  return out;
}

export { timeDispatches, streamRead, type Timing, type TimeOptions, type StreamResult } from '../../workers/bench/timing.ts';

export interface MatvecCase {
  readonly type: QuantType;
  readonly nIn: number;
  readonly nOut: number;
}

export interface MatvecResult extends MatvecCase {
  readonly variant: Required<MatvecVariant>;
  /** f32 activations, or int8 ones from act_quant (integer dot products; the quantization is timed apart). */
  readonly activations: 'f32' | 'int8';
  /** Weight bytes (GPU layout) + activation bytes read per matvec. */
  readonly bytes: number;
  /** Seconds per matvec (all chunks). Consecutive dispatches write one y, as in a decode step; Dawn serialises
   * the dispatches of a pass anyway, so this includes the gap between dispatches. */
  readonly timing: Timing;
  readonly gbps: number;
  /** Weight copies rotated over (L2 defeat). */
  readonly copies: number;
}

let noise: Uint8Array | undefined;

/** 8 MiB of pseudo-random bytes, made once; f16/f32 fields stay finite (top exponent bit of each half cleared). */
function randomBytes(): Uint8Array {
  if (noise) return noise;
  const u32 = new Uint32Array(2 << 20);
  let s = 0x9e3779b9;
  for (let i = 0; i < u32.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    u32[i] = (s >>> 0) & 0xbfffbfff;
  }
  noise = new Uint8Array(u32.buffer);
  return noise;
}

/** Fills a weight with pseudo-random bytes (whether the blocks are meaningful is irrelevant to the timing). */
function fillWeight(ctx: KernelContext, w: GpuWeight): void {
  const lay = BLOCK_LAYOUT[w.type];
  const rowBytes = (w.rowElems / lay.elems) * lay.bytes;
  const src = randomBytes();
  const rowsPer = Math.max(1, Math.floor(src.byteLength / rowBytes));
  for (let r = 0; r < w.rows; r += rowsPer) {
    const n = Math.min(rowsPer, w.rows - r);
    writeWeightRows(ctx, w, r, src.subarray(0, n * rowBytes));
  }
}

/**
 * Times the decode matvec of one case and variant. `rotateBytes`: weights are copied until the copies
 * together exceed this, and consecutive dispatches read different copies (defeats the L2 cache).
 */
export async function benchMatvec(
  ctx: KernelContext,
  c: MatvecCase,
  variants: readonly Required<MatvecVariant>[],
  rotateBytes: number,
  opts: TimeOptions,
  activations: 'f32' | 'int8' = 'f32',
): Promise<MatvecResult[]> {
  const type = c.type;
  if (activations === 'int8' && !isQ8WeightType(type)) throw new BenchError(`matvec ${type}: no int8-activation path`);
  const g = QUANT_GEOMETRY[c.type];
  const nIn = Math.ceil(c.nIn / g.blockElems) * g.blockElems;
  const first = createWeight(ctx, `bench.${c.type}`, c.type, [nIn, c.nOut]);
  const copies = Math.max(1, Math.min(64, Math.ceil(rotateBytes / first.byteSize)));
  const weights = [first];
  for (let i = 1; i < copies; i++) weights.push(createWeight(ctx, `bench.${c.type}#${i}`, c.type, [nIn, c.nOut]));
  for (const w of weights) fillWeight(ctx, w);
  const x = ctx.storage(new Float32Array(nIn).fill(0.5), 'bench.x');
  const y = ctx.storage(c.nOut * 4, 'bench.y');
  const xq = activations === 'int8' && isQ8WeightType(type) ? createQ8Activations(ctx, nIn, Q8_WEIGHT_TYPES[type], 'bench.xq') : undefined;
  if (xq) ctx.run([quantizeActivations(ctx, { x, out: xq })]);
  const bytes = first.byteSize + (xq ? q8ActivationBytes(nIn) : nIn * 4);
  const out: MatvecResult[] = [];
  for (const variant of variants) {
    // Dispatch i reads copy i % copies (a weight in several chunks gives several dispatches per matvec).
    const lists = weights.map((w) => matvec(ctx, { weight: w, x: xq ?? x, y, variant }));
    const all = lists.flat();
    const t = await validated(ctx, `matvec ${c.type}`, () => timeDispatches(ctx, (i) => all[i % all.length], opts));
    const timing: Timing = { ...t, seconds: t.seconds * lists[0].length };
    out.push({ ...c, nIn, variant, activations, bytes, timing, gbps: bytes / timing.seconds / 1e9, copies });
  }
  for (const w of weights) destroyWeight(w);
  y.destroy();
  x.destroy();
  xq?.buffer.destroy();
  return out;
}

/** Times act_quant (f32 → int8 activations, once per decode input shared by the matvecs that read it). */
export async function benchActQuant(ctx: KernelContext, n: number, scaleBlock: 32 | 256, opts: TimeOptions): Promise<Timing> {
  const x = ctx.storage(new Float32Array(n).fill(0.5), 'bench.aq.x');
  const xq = createQ8Activations(ctx, n, scaleBlock, 'bench.aq.out');
  const d = quantizeActivations(ctx, { x, out: xq });
  const t = await validated(ctx, `act_quant ${n}`, () => timeDispatches(ctx, () => d, opts));
  x.destroy();
  xq.buffer.destroy();
  return t;
}

export interface CheckResult {
  readonly kernel: 'matvec' | 'matmul';
  readonly type: QuantType;
  /** The variant, as a short label (e.g. `wg64 r4 sg`, `T19 tile32`). */
  readonly variant: string;
  readonly nmse: number;
  readonly maxAbs: number;
}

function compare(got: Float32Array, want: Float32Array): { nmse: number; maxAbs: number } {
  let se = 0;
  let sw = 0;
  let maxAbs = 0;
  for (let i = 0; i < want.length; i++) {
    const d = got[i] - want[i];
    se += d * d;
    sw += want[i] * want[i];
    maxAbs = Math.max(maxAbs, Number.isNaN(d) ? Infinity : Math.abs(d));
  }
  return { nmse: se / sw, maxAbs };
}

/** GGUF bytes for `n` elements: quantized random floats, or random blocks with sane scales for the codebook types. */
function checkBytes(type: QuantType, n: number, rnd: () => number): Uint8Array {
  const id = GgmlTypeId[type];
  if (QUANTIZABLE_TYPES.includes(id)) return quantize(id, Float32Array.from({ length: n }, rnd));
  const lay = BLOCK_LAYOUT[type];
  const out = Uint8Array.from({ length: (n / lay.elems) * lay.bytes }, () => Math.floor((rnd() + 0.5) * 256) & 0xff);
  for (let at = 0; at < out.length; at += lay.bytes) {
    if (type === 'MXFP4') out[at] = 122;
    else {
      // f16 scale 2^-8 (IQ4_NL) or 2^-12 (IQ4_XS, whose sub-scales reach ±32).
      out[at] = 0;
      out[at + 1] = type === 'IQ4_XS' ? 0x0c : 0x1c;
    }
  }
  return out;
}

/**
 * Correctness on this adapter: a random weight (quantized with workers/quant, or random codebook blocks),
 * the matvec of every given variant and the matmul at every token tile against the dequantize + f64
 * reference.
 */
export async function checkKernels(
  ctx: KernelContext,
  type: QuantType,
  variants: readonly Required<MatvecVariant>[],
): Promise<CheckResult[]> {
  const g = QUANT_GEOMETRY[type];
  const nIn = g.blockElems >= 256 ? 768 : g.blockElems === 32 ? 800 : 24 * g.blockElems;
  const rows = 37;
  const tokens = 19;
  let seed = 12345;
  const rnd = (): number => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
  const gguf = checkBytes(type, rows * nIn, rnd);
  const deq = dequantizeRows(type, gguf, nIn, rows);
  const xs = Float32Array.from({ length: tokens * nIn }, rnd);
  const w = uploadWeight(ctx, `check.${type}`, type, [nIn, rows], gguf);
  const x = ctx.storage(xs);
  const y = ctx.storage(tokens * rows * 4);
  const out: CheckResult[] = [];
  const want = matvecRef(deq, nIn, xs.subarray(0, nIn));
  for (const variant of variants) {
    ctx.run(matvec(ctx, { weight: w, x, y, variant }));
    const c = compare(await ctx.readF32(y, rows), want);
    out.push({ kernel: 'matvec', type, variant: `wg${variant.workgroupSize} r${variant.rows}${variant.subgroups ? ' sg' : ''}`, ...c });
  }
  const wantMm = matmulRef(deq, nIn, xs);
  for (const tokenTile of MATMUL_TOKEN_TILES) {
    ctx.run(matmul(ctx, { weight: w, tokens, x, y, tokenTile }));
    out.push({ kernel: 'matmul', type, variant: `T${tokens} tile${tokenTile}`, ...compare(await ctx.readF32(y), wantMm) });
  }
  destroyWeight(w);
  x.destroy();
  y.destroy();
  return out;
}

export interface MoeCase {
  readonly name: string;
  readonly type: QuantType;
  readonly nEmbd: number;
  readonly nFf: number;
  readonly nExpert: number;
  readonly k: number;
}

export interface MoeResult extends MoeCase {
  /** Experts with int8 activations (act_quant of x and h: 2 more dispatches). */
  readonly int8: boolean;
  /** Router + the k selected experts' gate, up and down bytes + activations, per decode step. */
  readonly bytes: number;
  /** Seconds per MoE decode step (router, gate+up, down+combine dispatches). */
  readonly timing: Timing;
  readonly dispatchesPerStep: number;
  readonly gbps: number;
}

/** Times the fused MoE decode of kernels/moe_decode.ts (moeDecode) for one layer of the given shape. */
export async function benchMoe(ctx: KernelContext, c: MoeCase, opts: TimeOptions, int8 = false): Promise<MoeResult> {
  const type = c.type;
  if (int8 && !isQ8WeightType(type)) throw new BenchError(`moe ${type}: no int8-activation path`);
  const router = createWeight(ctx, 'bench.router', 'F32', [c.nEmbd, c.nExpert]);
  const gate = createWeight(ctx, 'bench.gate', c.type, [c.nEmbd, c.nFf, c.nExpert]);
  const up = createWeight(ctx, 'bench.up', c.type, [c.nEmbd, c.nFf, c.nExpert]);
  const down = createWeight(ctx, 'bench.down', c.type, [c.nFf, c.nEmbd, c.nExpert]);
  for (const w of [router, gate, up, down]) fillWeight(ctx, w);
  const x = ctx.storage(new Float32Array(c.nEmbd).fill(0.5), 'bench.moe.x');
  const residual = ctx.storage(new Float32Array(c.nEmbd), 'bench.moe.res');
  const y = ctx.storage(c.nEmbd * 4, 'bench.moe.y');
  const ids = ctx.storage((c.k + 1) * 4, 'bench.moe.ids');
  const weights = ctx.storage((c.k + 1) * 4, 'bench.moe.w');
  const h = ctx.storage(c.k * c.nFf * 4, 'bench.moe.h');
  const q8 = int8 && isQ8WeightType(type)
    ? { x: createQ8Activations(ctx, c.nEmbd, Q8_WEIGHT_TYPES[type], 'bench.moe.xq'), h: createQ8Activations(ctx, c.k * c.nFf, Q8_WEIGHT_TYPES[type], 'bench.moe.hq') }
    : undefined;
  const step = moeDecode(ctx, { x, router, gate, up, down, k: c.k, gating: 'softmax_topk_renorm', residual, y, ids, weights, h, int8: q8 });
  const t = await validated(ctx, `moe ${c.name}`, () => timeDispatches(ctx, (i) => step[i % step.length], opts));
  const timing: Timing = { ...t, seconds: t.seconds * step.length };
  const perExpert = (gate.byteSize + up.byteSize + down.byteSize) / c.nExpert;
  const bytes = router.byteSize + c.k * perExpert + c.nEmbd * 4;
  for (const w of [router, gate, up, down]) destroyWeight(w);
  for (const b of [x, residual, y, ids, weights, h]) b.destroy();
  q8?.x.buffer.destroy();
  q8?.h.buffer.destroy();
  return { ...c, int8, bytes, timing, dispatchesPerStep: step.length, gbps: bytes / timing.seconds / 1e9 };
}

export interface MatmulCase {
  readonly type: QuantType;
  readonly nIn: number;
  readonly nOut: number;
  readonly tokens: number;
}

export interface MatmulResult extends MatmulCase {
  readonly timing: Timing;
  /** 2 · tokens · n_in · n_out / time. */
  readonly gflops: number;
}

/** Times the prefill matmul (kernels/matmul.ts, default token tile) of one case. */
export async function benchMatmul(ctx: KernelContext, c: MatmulCase, opts: TimeOptions): Promise<MatmulResult> {
  const w = createWeight(ctx, `bench.mm.${c.type}`, c.type, [c.nIn, c.nOut]);
  fillWeight(ctx, w);
  const x = ctx.storage(new Float32Array(c.tokens * c.nIn).fill(0.25), 'bench.mm.x');
  const y = ctx.storage(c.tokens * c.nOut * 4, 'bench.mm.y');
  const ds = matmul(ctx, { weight: w, tokens: c.tokens, x, y });
  const t = await validated(ctx, `matmul ${c.type}`, () => timeDispatches(ctx, (i) => ds[i % ds.length], opts));
  const timing: Timing = { ...t, seconds: t.seconds * ds.length };
  destroyWeight(w);
  x.destroy();
  y.destroy();
  return { ...c, timing, gflops: (2 * c.tokens * c.nIn * c.nOut) / timing.seconds / 1e9 };
}
