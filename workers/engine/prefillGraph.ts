/**
 * @file The batched prompt graph: T prompt tokens per command buffer through the prefill kernels (embedding of T
 * ids, tiled matmul for every dense projection, fused QKV prologue writing T positions of the KV cache, causal
 * flash attention over the cache including the prefix cached before this chunk, grouped MoE with the shared
 * expert, norms and elementwise over T rows). The same switches from `referenceConfig` as the decode graph.
 *
 * A chunk of T tokens is recorded once per T (pipelines, bind groups and uniforms: `recording(T)`), keeping the
 * full-chunk recording and a few partial sizes (the prompt's last chunk). Token ids and positions come from
 * two small u32 buffers the runner writes before each chunk, so a recording serves any start position p0.
 *
 * Buffers (f32 unless noted), C = maxTokens, Q = n_head·hd, KV = n_kv·hd:
 *   ids, pos        (C) u32             token ids and their positions p0..p0+T-1
 *   xA, xB          (C, n_embd)         residual stream, ping-pong where a kernel cannot write in place
 *   xn              (C, n_embd)         normalised input of attention / FFN; the final norm of every row
 *   qkv             (C, Q + 2·KV)       fused QKV (T, Q+2KV), or Q (T, Q) | K (T, KV) | V (T, KV) blocks
 *   q, att          (C, Q)              Q after clamp/norm/RoPE; attention output
 *   tmp             (C, max(n_embd, n_ff))  Granite's scaled branches, dense FFN up, down
 *   ffg, h          (C, n_ff)           dense FFN gate and silu(gate)·up (dense models only)
 *   bias            (C, widest biased projection)  projections before their bias (models with biases only)
 *   moe             createMoePrefillScratch(C): router ids/weights (C, k+1), grouping, hs (C·k, n_ff), ys (C·k, n_embd)
 *   xr              (C, n_embd)         `activations: 'ggml-cpu'` only: xn rounded for a second rounding
 * With `activations: 'ggml-cpu'` each product's input rows are rounded first as llama.cpp's CPU backend does
 * (activationRounding.ts), as in the decode graph.
 * The last row's final norm goes to the decode graph's `xn`, so the decode graph's lm-head dispatches give the
 * logits of the prompt's last token: the lm head never runs for the other prompt tokens.
 */
import type { ReferenceConfig } from '../model/reference/config.ts';
import type { KernelContext, Dispatch } from '../../kernels/lib/context.ts';
import type { GpuWeight } from '../../kernels/lib/weights.ts';
import { matmul } from '../../kernels/matmul.ts';
import { norm } from '../../kernels/norm.ts';
import { qkvRope, fusedQkvLayout } from '../../kernels/rope.ts';
import { attentionPrefill } from '../../kernels/attention.ts';
import { createMoePrefillScratch, destroyMoePrefillScratch, moePrefill, type MoePrefillScratch } from '../../kernels/moe.ts';
import { elementwise } from '../../kernels/elementwise.ts';
import { embedding } from '../../kernels/embedding.ts';
import { ActivationRounding, type ActivationMode } from './activationRounding.ts';

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
  readonly kCache: readonly GPUBuffer[];
  readonly vCache: readonly GPUBuffer[];
  readonly nCtx: number;
  readonly kvF16: boolean;
  /** (n_layer, n_expert) u32 usage counters, for MoE models. */
  readonly counts: GPUBuffer | undefined;
  /** The decode graph's normalised-input buffer (n_embd): its lm-head dispatches read it. */
  readonly headInput: GPUBuffer;
  /** Activation rounding before each product (GpuRunnerOptions.activations). */
  readonly activations: ActivationMode;
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

function widths(c: ReferenceConfig, biasWidth: number, activations: ActivationMode): Widths {
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

/** Widest projection output that has a bias tensor (0 when the model has no biases). */
export function biasWidth(c: ReferenceConfig, has: (name: string) => boolean): number {
  const nQ = c.nHead * c.headDim;
  const nKv = c.nHeadKv * c.headDim;
  let w = 0;
  for (let l = 0; l < c.nLayer; l++) {
    const p = `blk.${l}.`;
    const sized: [string, number][] = [
      ['attn_qkv.bias', nQ + 2 * nKv],
      ['attn_q.bias', nQ],
      ['attn_k.bias', nKv],
      ['attn_v.bias', nKv],
      ['attn_output.bias', c.nEmbd],
      ['ffn_gate.bias', c.nFf],
      ['ffn_up.bias', c.nFf],
      ['ffn_down.bias', c.nEmbd],
    ];
    for (const [n, width] of sized) if (has(p + n)) w = Math.max(w, width);
  }
  return w;
}

/**
 * Tokens per chunk: the asked size, else the largest power of two ≤ PREFILL_MAX_CHUNK whose scratch fits
 * PREFILL_SCRATCH_BYTES and whose widest buffer fits one binding. 0 means no batched prefill (too small).
 */
export function choosePrefillChunk(ctx: KernelContext, c: ReferenceConfig, bias: number, asked?: number, activations: ActivationMode = 'f32'): number {
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

  constructor(
    private readonly ctx: KernelContext,
    private readonly c: ReferenceConfig,
    private readonly sh: PrefillShared,
    readonly maxTokens: number,
    bias: number,
  ) {
    const C = maxTokens;
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
    const hd = c.headDim;
    const nQ = c.nHead * hd;
    const nKv = c.nHeadKv * hd;
    const k = c.nExpertUsed;
    const W = sh.weight;
    const opt = sh.optWeight;
    const buffer1 = (t: GpuWeight): GPUBuffer => t.chunks[0].buffer;
    const positions = { buffer: this.pos };
    const normKind = c.norm === 'layer' ? ('layer' as const) : ('rms' as const);
    const s: Dispatch[] = [];
    const R = this.rounding;
    const rowsOf = (buffer: GPUBuffer, n: number) => ({ buffer, n, rows: T });
    /** dst[dstOff ..+ T·n) = x·Wᵀ (+ bias per row), contiguous (T, n). */
    const project = (weight: GpuWeight, x: GPUBuffer, dst: GPUBuffer, dstOff: number, bias: GpuWeight | undefined): void => {
      const n = weight.rows;
      if (!bias || !this.biasBuf) {
        s.push(...matmul(ctx, { weight, tokens: T, x, y: dst, yOffset: dstOff }));
        return;
      }
      s.push(...matmul(ctx, { weight, tokens: T, x, y: this.biasBuf }));
      s.push(elementwise(ctx, { op: 'add', n: T * n, a: this.biasBuf, b: buffer1(bias), bPeriod: n, y: dst, yOffset: dstOff }));
    };

    s.push(...embedding(ctx, { table: W('token_embd.weight'), ids: this.ids, tokens: T, out: this.xA, scale: c.embeddingScale }));
    let x = this.xA;
    let other = this.xB;
    for (let l = 0; l < c.nLayer; l++) {
      const p = `blk.${l}.`;
      // ---- attention ----
      s.push(norm(ctx, { kind: normKind, n: E, nTok: T, x, w: buffer1(W(`${p}attn_norm.weight`)), y: this.xn, eps: c.normEps }));
      let layout: { qOffset: number; kOffset: number; vOffset: number; qStride: number; kStride: number; vStride: number };
      if (opt(`${p}attn_qkv.weight`)) {
        const wqkv = W(`${p}attn_qkv.weight`);
        R.round(s, wqkv, rowsOf(this.xn, E));
        project(wqkv, this.xn, this.qkv, 0, opt(`${p}attn_qkv.bias`));
        layout = fusedQkvLayout(c.nHead, c.nHeadKv, hd);
      } else {
        // Q, K and V as three contiguous blocks (T, n) so each bias is one broadcast row.
        const proj = (name: string, dstOff: number) => {
          const weight = W(`${p}${name}.weight`);
          return { weight, emit: (xi: GPUBuffer) => project(weight, xi, this.qkv, dstOff, opt(`${p}${name}.bias`)) };
        };
        R.readers(s, rowsOf(this.xn, E), [proj('attn_q', 0), proj('attn_k', T * nQ), proj('attn_v', T * (nQ + nKv))]);
        layout = { qOffset: 0, qStride: nQ, kOffset: T * nQ, kStride: nKv, vOffset: T * (nQ + nKv), vStride: nKv };
      }
      const qn = opt(`${p}attn_q_norm.weight`);
      const kn = opt(`${p}attn_k_norm.weight`);
      s.push(
        qkvRope(ctx, {
          nTok: T,
          nHead: c.nHead,
          nKv: c.nHeadKv,
          headDim: hd,
          rope: { style: c.rope.mode === 'neox' ? 'neox' : 'normal', nRot: c.rope.nRot, freqBase: c.rope.freqBase, freqScale: c.rope.freqScale },
          src: this.qkv,
          ...layout,
          clamp: c.clampKqv,
          qkNorm:
            c.qkNorm !== 'none' && qn && kn ? { mode: c.qkNorm, qWeight: buffer1(qn), kWeight: buffer1(kn), eps: c.normEps } : undefined,
          qOut: this.q,
          kCache: sh.kCache[l],
          vCache: sh.vCache[l],
          nCtx: sh.nCtx,
          kvF16: sh.kvF16,
          positions,
        }),
      );
      // Causal over the whole cache: rows see the prefix cached by earlier chunks and turns, then their own chunk.
      s.push(
        attentionPrefill(ctx, {
          nTok: T,
          q: this.q,
          kCache: sh.kCache[l],
          vCache: sh.vCache[l],
          nHead: c.nHead,
          nKv: c.nHeadKv,
          headDim: hd,
          nCtx: sh.nCtx,
          kvF16: sh.kvF16,
          positions,
          scale: c.attentionScale,
          out: this.att,
        }),
      );
      // x += residualScale · (att·W_oᵀ + b_o)
      const wo = W(`${p}attn_output.weight`);
      const woBias = opt(`${p}attn_output.bias`);
      R.round(s, wo, rowsOf(this.att, nQ));
      if (c.residualScale === 1 && !woBias) {
        s.push(...matmul(ctx, { weight: wo, tokens: T, x: this.att, y: x, accumulate: true }));
      } else {
        project(wo, this.att, this.tmp, 0, woBias);
        s.push(elementwise(ctx, { op: 'scale_add', n: T * E, a: x, b: this.tmp, y: other, scale: c.residualScale }));
        [x, other] = [other, x];
      }
      // ---- feed-forward ----
      s.push(norm(ctx, { kind: normKind, n: E, nTok: T, x, w: buffer1(W(`${p}${c.ffnNormName}.weight`)), y: this.xn, eps: c.normEps }));
      if (this.moe) {
        const shared = opt(`${p}ffn_gate_shexp.weight`);
        const experts = { gate: W(`${p}ffn_gate_exps.weight`), up: W(`${p}ffn_up_exps.weight`), down: W(`${p}ffn_down_exps.weight`) };
        const shexp = shared ? { gate: shared, up: W(`${p}ffn_up_shexp.weight`), down: W(`${p}ffn_down_shexp.weight`) } : undefined;
        const { rounding, sharedX } = R.moe(s, rowsOf(this.xn, E), { ...experts, shared: shexp });
        s.push(
          ...moePrefill(ctx, {
            x: this.xn,
            nTokens: T,
            router: W(`${p}ffn_gate_inp.weight`),
            ...experts,
            k,
            gating: c.normTopK ? 'softmax_topk_renorm' : 'softmax_topk',
            scale: c.residualScale,
            residual: x,
            y: other,
            counts: sh.counts ? { buffer: sh.counts, offset: l * c.nExpert } : undefined,
            shared: shexp ? { gateInp: W(`${p}ffn_gate_inp_shexp.weight`), ...shexp } : undefined,
            scratch: this.moe,
            rounding,
            sharedX,
          }),
        );
        [x, other] = [other, x];
      } else if (this.ffg && this.h) {
        const { ffg, h } = this;
        const gate = W(`${p}ffn_gate.weight`);
        const up = W(`${p}ffn_up.weight`);
        R.readers(s, rowsOf(this.xn, E), [
          { weight: gate, emit: (xi) => project(gate, xi, ffg, 0, opt(`${p}ffn_gate.bias`)) },
          { weight: up, emit: (xi) => project(up, xi, this.tmp, 0, opt(`${p}ffn_up.bias`)) },
        ]);
        s.push(elementwise(ctx, { op: 'silu_mul', n: T * c.nFf, a: ffg, b: this.tmp, y: h }));
        const down = W(`${p}ffn_down.weight`);
        const downBias = opt(`${p}ffn_down.bias`);
        R.round(s, down, rowsOf(h, c.nFf));
        if (c.residualScale === 1 && !downBias) {
          s.push(...matmul(ctx, { weight: down, tokens: T, x: this.h, y: x, accumulate: true }));
        } else {
          project(down, this.h, this.tmp, 0, downBias);
          s.push(elementwise(ctx, { op: 'scale_add', n: T * E, a: x, b: this.tmp, y: other, scale: c.residualScale }));
          [x, other] = [other, x];
        }
      }
    }
    const outNorm = buffer1(W('output_norm.weight'));
    const lastNorm = norm(ctx, { kind: normKind, n: E, x, xOffset: (T - 1) * E, w: outNorm, y: sh.headInput, eps: c.normEps });
    const allNorm = norm(ctx, { kind: normKind, n: E, nTok: T, x, w: outNorm, y: this.xn, eps: c.normEps });
    return { tokens: T, body: s, lastNorm, allNorm };
  }
}

/** Frees a recording's uniform buffers (bind groups and pipelines are garbage collected). */
function releaseRecording(r: PrefillRecording): void {
  for (const d of [...r.body, r.lastNorm, r.allNorm]) d.params?.destroy();
}
