/**
 * @file The batched prompt graph: the layer program (layerProgram.ts) recorded for T prompt tokens per command
 * buffer on the prefill backend (tiled matmul for every projection, causal flash attention over the cache
 * including the prefix cached before this chunk after qkvRope has written the chunk's T cache positions, grouped
 * MoE with the shared expert); embedding, norms and elementwise ops are the layer program's own.
 *
 * A chunk of T tokens is recorded once per T (pipelines, bind groups and uniforms: `recording(T)`), keeping the
 * full-chunk recording and a few partial sizes (the prompt's last chunk). Token ids and positions come from
 * two small u32 buffers the runner writes before each chunk, so a recording serves any start position p0.
 *
 * Buffers (f32 unless noted), C = maxTokens, Q = n_head·hd, KV = n_kv·hd:
 *   ids, pos        (C) u32             token ids and their positions p0..p0+T-1
 *   xA, xB, xn, qkv, q, att, tmp, ffg, h   the layer program's buffers (layerProgram.ts), T ≤ C rows
 *   bias            (C, widest biased projection)  projections before their bias (models with biases only)
 *   moe             createMoePrefillScratch(C): router ids/weights (C, k+1), grouping, hs (C·k, n_ff), ys (C·k, n_embd)
 *   xr              (C, n_embd)         `activations: 'ggml-cpu'` only: xn rounded for a second rounding
 * The last row's final norm goes to the decode graph's `xn`, so the decode graph's lm-head dispatches give the
 * logits of the prompt's last token: the lm head never runs for the other prompt tokens.
 */
import type { ModelConfig } from '../model/config.ts';
import type { KernelContext, Dispatch } from '../../kernels/lib/context.ts';
import type { GpuWeight } from '../../kernels/lib/weights.ts';
import { matmul } from '../../kernels/matmul.ts';
import { norm } from '../../kernels/norm.ts';
import { attentionPrefill } from '../../kernels/attention.ts';
import { qkvRope } from '../../kernels/rope.ts';
import { createMoePrefillScratch, destroyMoePrefillScratch, moePrefill, type MoePrefillScratch } from '../../kernels/moe_prefill.ts';
import { elementwise } from '../../kernels/elementwise.ts';
import { ActivationRounding, type ActivationMode } from './activationRounding.ts';
import { normThenProject, recordLayers, type AttentionInput, type GraphBackend, type KvCache, type MoeBlock, type NormedInput, type Product } from './layerProgram.ts';

/** Largest chunk: beyond it the per-chunk cost is all arithmetic and the scratch only grows. */
export const PREFILL_MAX_CHUNK = 512;
/** Smallest chunk worth a batched graph; below it the prompt runs through the decode graph. */
export const PREFILL_MIN_CHUNK = 8;
/** Scratch budget of the prefill graph (activations and MoE grouping buffers of one chunk). */
export const PREFILL_SCRATCH_BYTES = 256 * 2 ** 20;
/** Partial-chunk recordings kept besides the full-chunk one. */
const PARTIAL_RECORDINGS = 3;

/** What the prefill graph shares with the decode graph. */
export interface PrefillShared {
  readonly weight: (name: string) => GpuWeight;
  readonly optWeight: (name: string) => GpuWeight | undefined;
  readonly kv: KvCache;
  /** (n_layer, n_expert) u32 usage counters, for MoE models. */
  readonly counts: GPUBuffer | undefined;
  /** The decode graph's normalised-input buffer (n_embd): its lm-head dispatches read it. */
  readonly headInput: GPUBuffer;
  /** Activation rounding before each product (GpuRunnerOptions.activations). */
  readonly activations: ActivationMode;
}

export interface PrefillGraphOptions {
  readonly ctx: KernelContext;
  readonly config: ModelConfig;
  readonly shared: PrefillShared;
  /** Tokens per full chunk (choosePrefillChunk). */
  readonly maxTokens: number;
  /** Widest biased projection (layerProgram.ts biasWidth); 0 without biases. */
  readonly bias: number;
}

export interface PrefillRecording {
  readonly tokens: number;
  /** Embedding and all layers: the residual stream of the T tokens ends in `x`. */
  readonly body: readonly Dispatch[];
  /** Final norm of the last row into the decode graph's `xn` (then the decode lm head). */
  readonly lastNorm: Dispatch;
  /** Final norm of every row into `xn` (T, n_embd) (all-position logits). */
  readonly allNorm: Dispatch;
}

/** Model quantities the chunk size depends on. */
interface Widths {
  /** f32/u32 elements of scratch per token. */
  readonly perToken: number;
  /** Elements per token of the widest single buffer (each must fit one binding). */
  readonly widest: number;
}

function widths(c: ModelConfig, biasWidth: number, activations: ActivationMode): Widths {
  const E = c.nEmbd;
  const nQ = c.nHead * c.headDim;
  const nQkv = nQ + 2 * c.nHeadKv * c.headDim;
  const k = c.nExpertUsed;
  const moe = c.nExpert > 0;
  const ks = k + (c.nFfShexp > 0 ? 1 : 0);
  const tmpW = Math.max(E, moe ? 0 : c.nFf);
  let perToken = 3 * E + nQkv + 2 * nQ + tmpW + biasWidth + 2 + (activations === 'ggml-cpu' ? E : 0); // + ids, pos, xr
  let widest = Math.max(E, nQkv, tmpW, biasWidth);
  if (moe) {
    // ids, weights (ks); slotPos, sorted, inv (k); tiles (≤ 4 + 4·(k/32 + ...) per token, bounded by 4k + 4); hs; ys
    perToken += 2 * ks + 3 * k + 4 * k + 4 + k * c.nFf + k * E;
    widest = Math.max(widest, k * c.nFf, k * E);
    if (c.nFfShexp > 0) {
      perToken += c.nFfShexp + E;
      widest = Math.max(widest, c.nFfShexp);
    }
  } else {
    perToken += 2 * c.nFf;
    widest = Math.max(widest, c.nFf);
  }
  return { perToken, widest };
}

/**
 * Tokens per chunk: the asked size, else the largest power of two ≤ PREFILL_MAX_CHUNK whose scratch fits
 * PREFILL_SCRATCH_BYTES and whose widest buffer fits one binding. 0 means no batched prefill (too small).
 */
export function choosePrefillChunk(ctx: KernelContext, c: ModelConfig, bias: number, asked?: number, activations: ActivationMode = 'f32'): number {
  const w = widths(c, bias, activations);
  const bound = Math.min(Math.floor(ctx.maxBinding / (4 * w.widest)), Math.floor(PREFILL_SCRATCH_BYTES / (4 * w.perToken)));
  if (asked !== undefined) {
    if (!Number.isInteger(asked) || asked < 0) throw new RangeError(`prefill chunk must be a non-negative integer, got ${asked}`);
    return Math.min(asked, bound);
  }
  const chunk = 2 ** Math.floor(Math.log2(Math.max(1, Math.min(PREFILL_MAX_CHUNK, bound))));
  return chunk >= PREFILL_MIN_CHUNK ? chunk : 0;
}

export class PrefillGraph {
  readonly ids: GPUBuffer;
  readonly pos: GPUBuffer;
  /** (C, n_embd): all rows' final norm (allNorm). */
  readonly xn: GPUBuffer;
  readonly bytes: number;
  private readonly owned: GPUBuffer[] = [];
  private readonly xA: GPUBuffer;
  private readonly xB: GPUBuffer;
  private readonly qkv: GPUBuffer;
  private readonly q: GPUBuffer;
  private readonly att: GPUBuffer;
  private readonly tmp: GPUBuffer;
  private readonly ffg: GPUBuffer | undefined;
  private readonly h: GPUBuffer | undefined;
  private readonly biasBuf: GPUBuffer | undefined;
  private readonly moe: MoePrefillScratch | undefined;
  private readonly rounding: ActivationRounding;
  private readonly full: PrefillRecording;
  /** Partial-chunk recordings, least recently used first. */
  private readonly partial = new Map<number, PrefillRecording>();

  private readonly ctx: KernelContext;
  private readonly c: ModelConfig;
  private readonly sh: PrefillShared;
  readonly maxTokens: number;

  constructor(o: PrefillGraphOptions) {
    const { ctx, config: c, bias } = o;
    this.ctx = ctx;
    this.c = c;
    this.sh = o.shared;
    this.maxTokens = o.maxTokens;
    const sh = o.shared;
    const C = o.maxTokens;
    const E = c.nEmbd;
    const nQ = c.nHead * c.headDim;
    const nQkv = nQ + 2 * c.nHeadKv * c.headDim;
    const moe = c.nExpert > 0;
    const buf = (n: number, label: string): GPUBuffer => {
      const b = ctx.storage(Math.max(1, n) * 4, `prefill.${label}`);
      this.owned.push(b);
      return b;
    };
    try {
      this.ids = buf(C, 'ids');
      this.pos = buf(C, 'pos');
      this.xA = buf(C * E, 'xA');
      this.xB = buf(C * E, 'xB');
      this.xn = buf(C * E, 'xn');
      this.qkv = buf(C * nQkv, 'qkv');
      this.q = buf(C * nQ, 'q');
      this.att = buf(C * nQ, 'att');
      this.tmp = buf(C * Math.max(E, moe ? 0 : c.nFf), 'tmp');
      this.ffg = moe ? undefined : buf(C * c.nFf, 'ffg');
      this.h = moe ? undefined : buf(C * c.nFf, 'h');
      this.biasBuf = bias > 0 ? buf(C * bias, 'bias') : undefined;
      this.rounding = new ActivationRounding(ctx, sh.activations, sh.activations === 'ggml-cpu' ? buf(C * E, 'xr') : undefined);
      this.moe = moe
        ? createMoePrefillScratch(ctx, {
            maxTokens: C,
            nEmbd: E,
            nFf: c.nFf,
            nExpert: c.nExpert,
            k: c.nExpertUsed,
            nFfShared: c.nFfShexp > 0 ? c.nFfShexp : undefined,
          })
        : undefined;
      const m = this.moe;
      const moeBufs = m ? [m.ids, m.weights, m.hist, m.slotPos, m.sorted, m.inv, m.tiles, m.hs, m.ys, m.hsh, m.ysh] : [];
      this.bytes = [...this.owned, ...moeBufs].reduce((a, b) => a + (b?.size ?? 0), 0);
      // Recording the full chunk compiles every prefill pipeline at load and checks every kernel's limits.
      this.full = this.record(C);
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  /** The dispatches for a chunk of T ≤ maxTokens tokens (recorded on first use of T). */
  recording(T: number): PrefillRecording {
    if (T === this.maxTokens) return this.full;
    const hit = this.partial.get(T);
    if (hit) {
      this.partial.delete(T);
      this.partial.set(T, hit);
      return hit;
    }
    const r = this.record(T);
    this.partial.set(T, r);
    if (this.partial.size > PARTIAL_RECORDINGS) {
      const [oldT, old] = this.partial.entries().next().value as [number, PrefillRecording];
      this.partial.delete(oldT);
      releaseRecording(old);
    }
    return r;
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
    if (this.moe) destroyMoePrefillScratch(this.moe);
    for (const r of this.partial.values()) releaseRecording(r);
    this.partial.clear();
  }

  private record(T: number): PrefillRecording {
    const { ctx, c, sh } = this;
    const E = c.nEmbd;
    const backend = new PrefillBackend(ctx, c, this.rounding, T, {
      bias: this.biasBuf,
      moe: this.moe,
      counts: sh.counts,
    });
    const buffers = { xA: this.xA, xB: this.xB, xn: this.xn, qkv: this.qkv, q: this.q, att: this.att, tmp: this.tmp, ffg: this.ffg, h: this.h };
    const s: Dispatch[] = [];
    const x = recordLayers(backend, c, { ids: this.ids, positions: this.pos, weight: sh.weight, optWeight: sh.optWeight, kv: sh.kv, buffers }, s);
    const outNorm = sh.weight('output_norm.weight').chunks[0].buffer;
    const lastNorm = norm(ctx, { kind: c.norm, n: E, x, xOffset: (T - 1) * E, w: outNorm, y: sh.headInput, eps: c.normEps });
    const allNorm = norm(ctx, { kind: c.norm, n: E, nTok: T, x, w: outNorm, y: this.xn, eps: c.normEps });
    return { tokens: T, body: s, lastNorm, allNorm };
  }
}

/** T > 1: tiled matmul products (rounded in place as the arithmetic wants), flash attention, moePrefill. */
class PrefillBackend implements GraphBackend {
  constructor(
    readonly ctx: KernelContext,
    private readonly c: ModelConfig,
    private readonly R: ActivationRounding,
    readonly tokens: number,
    private readonly scratch: { bias: GPUBuffer | undefined; moe: MoePrefillScratch | undefined; counts: GPUBuffer | undefined },
  ) {}

  project(s: Dispatch[], x: GPUBuffer, n: number, products: readonly Product[]): void {
    this.R.readers(
      s,
      { buffer: x, n, rows: this.tokens },
      products.map((pr) => ({ weight: pr.weight, emit: (xi: GPUBuffer) => this.product(s, pr, xi) })),
    );
  }

  /** Prefill never folds the norm: one norm dispatch over the T rows, then the products. */
  normProject(s: Dispatch[], input: NormedInput, products: readonly Product[]): void {
    normThenProject(this, s, input, products);
  }

  /** y[yOffset ..+ T·rows) = x·Wᵀ (+ bias per row), contiguous (T, rows). */
  private product(s: Dispatch[], pr: Product, x: GPUBuffer): void {
    const { ctx, tokens: T } = this;
    const yOffset = pr.yOffset ?? 0;
    if (!pr.bias) {
      s.push(...matmul(ctx, { weight: pr.weight, tokens: T, x, y: pr.y, yOffset, accumulate: pr.accumulate }));
      return;
    }
    const bias = this.scratch.bias;
    if (!bias || pr.accumulate) throw new Error(`internal: ${pr.weight.name}'s bias needs the bias scratch and no accumulation`);
    const n = pr.weight.rows;
    s.push(...matmul(ctx, { weight: pr.weight, tokens: T, x, y: bias }));
    s.push(elementwise(ctx, { op: 'add', n: T * n, a: bias, b: pr.bias.chunks[0].buffer, bPeriod: n, y: pr.y, yOffset }));
  }

  /** qkvRope (Q into `a.q`, the T new K/V rows into the cache), then flash attention. */
  attention(s: Dispatch[], _layer: number, a: AttentionInput, out: GPUBuffer): void {
    const { c } = this;
    const p = a.prologue;
    s.push(qkvRope(this.ctx, { ...p, nTok: this.tokens, qOut: a.q }));
    // Causal over the whole cache: rows see the prefix cached by earlier chunks and turns, then their own chunk.
    s.push(
      attentionPrefill(this.ctx, {
        nTok: this.tokens,
        q: a.q,
        kCache: p.kCache,
        vCache: p.vCache,
        kCacheOffset: p.kCacheOffset,
        vCacheOffset: p.vCacheOffset,
        nHead: p.nHead,
        nKv: p.nKv,
        headDim: p.headDim,
        nCtx: p.nCtx,
        kvF16: p.kvF16,
        positions: p.positions,
        scale: c.attentionScale,
        out,
      }),
    );
  }

  moe(s: Dispatch[], m: MoeBlock): void {
    const { c } = this;
    const scratch = this.scratch.moe;
    if (!scratch) throw new Error('internal: a MoE layer needs the MoE prefill scratch');
    const experts = { gate: m.gate, up: m.up, down: m.down };
    // The FFN norm as its own dispatch (the prefill router reads x already normalised).
    s.push(norm(this.ctx, { kind: m.norm.kind, n: c.nEmbd, nTok: this.tokens, x: m.residual, w: m.norm.weight, y: m.x, eps: m.norm.eps }));
    const { rounding, sharedX } = this.R.moe(s, { buffer: m.x, n: c.nEmbd, rows: this.tokens }, { ...experts, shared: m.shared });
    const counts = this.scratch.counts;
    s.push(
      ...moePrefill(this.ctx, {
        x: m.x,
        nTokens: this.tokens,
        router: m.router,
        ...experts,
        k: c.nExpertUsed,
        gating: c.normTopK ? 'softmax_topk_renorm' : 'softmax_topk',
        scale: c.residualScale,
        residual: m.residual,
        y: m.y,
        counts: counts ? { buffer: counts, offset: m.layer * c.nExpert } : undefined,
        shared: m.shared,
        scratch,
        rounding,
        sharedX,
      }),
    );
  }
}

/** Frees a recording's uniform buffers (bind groups and pipelines are garbage collected). */
function releaseRecording(r: PrefillRecording): void {
  for (const d of [...r.body, r.lastNorm, r.allNorm]) d.params?.destroy();
}
