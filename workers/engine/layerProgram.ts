/**
 * @file The transformer, written once: embedding, then per layer norm → QKV (+ biases) → clamp/Q-K-norm/RoPE and
 * the KV-cache write → attention → output projection into the residual → norm → MoE (router, experts, shared
 * expert, combine with the residual) or the dense SwiGLU → residual; the residual stream's last buffer is
 * returned for the caller's final norm. It runs over T tokens at once and records into a `GraphBackend`: the
 * decode graph (T = 1: matvec, split-K attention with the prologue fused in, moeDecode; decodeGraph.ts) or the
 * prefill graph (T > 1: tiled matmul, qkvRope then flash attention over the cache, moePrefill; prefillGraph.ts).
 * The attention prologue (clamp, Q/K norm, RoPE, KV-cache write) is described here and recorded by the backend.
 * Kernels that are the same for both (norm, elementwise) are recorded here directly, except a MoE layer's pre-FFN
 * norm: it goes to the backend with the block (`MoeBlock.norm`), and the decode backend folds it into the router.
 * Architecture differences are the model
 * description's data (workers/model/config.ts), never a test of `arch`; activation arithmetic (f32, ggml-cpu
 * rounding, int8) is the backend's product strategy, chosen once per load.
 *
 * Buffers (f32), T rows each:
 *   xA, xB   (T, n_embd)    residual stream, ping-pong where a kernel cannot write in place
 *   xn       (T, n_embd)    normalised input of attention / FFN
 *   qkv      (T, Q + 2·KV)  fused QKV, or Q (T, Q) | K (T, KV) | V (T, KV) blocks (so a bias is one broadcast row),
 *                           or QK (T, Q + KV) | V (T, KV), or Q (T, Q) | KV (T, 2·KV) (loader-stacked pairs)
 *   q, att   (T, Q)         Q after clamp/norm/RoPE (prefill: qkvRope's output; the fused decode needs none); attention output
 *   tmp      (T, max(n_embd, n_ff))  scaled or biased branches, dense FFN up
 *   ffg, h   (T, n_ff)      dense FFN gate and silu(gate)·up (dense models)
 */
import type { Dispatch, KernelContext } from '../../kernels/lib/context.ts';
import type { GpuWeight } from '../../kernels/lib/weights.ts';
import { norm } from '../../kernels/norm.ts';
import type { NormKind } from '../../kernels/norm.ref.ts';
import type { FoldedNorm } from '../../kernels/norm.ts';
import { fusedQkvLayout, type QkvPrologue } from '../../kernels/rope.ts';
import { elementwise } from '../../kernels/elementwise.ts';
import { embedding } from '../../kernels/embedding.ts';
import type { ModelConfig } from '../model/config.ts';

/** One matrix product of a shared input: y[yOffset ..+ T·rows) = x·Wᵀ (+ bias per row), or += when accumulating. */
export interface Product {
  readonly weight: GpuWeight;
  readonly y: GPUBuffer;
  readonly yOffset?: number;
  readonly bias?: GpuWeight;
  /** y += x·Wᵀ (the residual add of a branch without bias or scale). */
  readonly accumulate?: boolean;
}

/** The pre-FFN norm of a MoE block: x = norm(residual)·weight. */
export type MoeNorm = FoldedNorm;

/** One layer's MoE block: x = norm(residual), then y = residual + scale · Σ experts(x) (+ shared expert). */
export interface MoeBlock {
  readonly layer: number;
  /** Where the normalised input goes (T, n_embd); the backend records `norm` into it (decode: in the router). */
  readonly x: GPUBuffer;
  readonly norm: MoeNorm;
  /** The residual stream (T, n_embd): the norm's input and the block's residual. */
  readonly residual: GPUBuffer;
  readonly y: GPUBuffer;
  readonly router: GpuWeight;
  readonly gate: GpuWeight;
  readonly up: GpuWeight;
  readonly down: GpuWeight;
  readonly shared?: { readonly gateInp: GpuWeight; readonly gate: GpuWeight; readonly up: GpuWeight; readonly down: GpuWeight };
}

/** One layer's attention input: the prologue of its projection (qkvRope's input, the cache included) and a Q buffer. */
export interface AttentionInput {
  readonly prologue: QkvPrologue;
  /** (T, n_head·hd): room for the rope'd Q where the backend runs the prologue as its own dispatch. */
  readonly q: GPUBuffer;
}

/**
 * A product input that is a norm of `x`: T rows of `n` normalised with `weight` (norm.ts kinds). `xn` (T, n) is
 * where a path that does not fold the norm writes norm(x); after `normProject` its content is unspecified
 * (untouched, normalised, or normalised and rounded), so only the products may read the normalised input.
 */
export interface NormedInput {
  readonly x: GPUBuffer;
  readonly n: number;
  readonly kind: NormKind;
  readonly weight: GpuWeight;
  readonly eps: number;
  readonly xn: GPUBuffer;
}

/** What differs between the decode and the prefill graph. */
export interface GraphBackend {
  readonly ctx: KernelContext;
  /** Tokens per recording. */
  readonly tokens: number;
  /** Records the products that read `x` (T rows of `n`), each rounded/quantized as the arithmetic wants. */
  project(s: Dispatch[], x: GPUBuffer, n: number, products: readonly Product[]): void;
  /** As `project`, reading norm(input.x): the decode backend folds the norm into its kernels where it can. */
  normProject(s: Dispatch[], input: NormedInput, products: readonly Product[]): void;
  /**
   * The prologue (clamp, Q/K norm, RoPE, the T new K/V rows into layer `layer`'s cache) and the attention of the
   * T queries over that cache (their positions included) into `out` (T, n_head·hd).
   */
  attention(s: Dispatch[], layer: number, a: AttentionInput, out: GPUBuffer): void;
  moe(s: Dispatch[], m: MoeBlock): void;
}

/** The unfused `normProject`: the norm of the T rows into `xn`, then `project` (the prefill backend's). */
export function normThenProject(b: GraphBackend, s: Dispatch[], input: NormedInput, products: readonly Product[]): void {
  const { x, n, kind, weight, eps, xn } = input;
  s.push(norm(b.ctx, { kind, n, nTok: b.tokens, x, w: weight.chunks[0].buffer, y: xn, eps }));
  b.project(s, xn, n, products);
}

export interface LayerBuffers {
  readonly xA: GPUBuffer;
  readonly xB: GPUBuffer;
  readonly xn: GPUBuffer;
  readonly qkv: GPUBuffer;
  readonly q: GPUBuffer;
  readonly att: GPUBuffer;
  readonly tmp: GPUBuffer;
  /** Dense FFN only. */
  readonly ffg?: GPUBuffer;
  readonly h?: GPUBuffer;
}

export interface KvCache {
  readonly k: readonly GPUBuffer[];
  readonly v: readonly GPUBuffer[];
  readonly nCtx: number;
  readonly f16: boolean;
}

export interface LayerInputs {
  /** (T) u32 token ids. */
  readonly ids: GPUBuffer;
  /** (T) u32 positions. */
  readonly positions: GPUBuffer;
  readonly weight: (name: string) => GpuWeight;
  readonly optWeight: (name: string) => GpuWeight | undefined;
  readonly kv: KvCache;
  readonly buffers: LayerBuffers;
}

/** Records embedding and every layer into `s`; returns the buffer the residual stream ends in. */
export function recordLayers(b: GraphBackend, c: ModelConfig, io: LayerInputs, s: Dispatch[]): GPUBuffer {
  const { ctx, tokens: T } = b;
  const { weight: W, optWeight: opt, kv } = io;
  const { xn, qkv, q, att, tmp } = io.buffers;
  const E = c.nEmbd;
  const hd = c.headDim;
  const nQ = c.nHead * hd;
  const nKv = c.nHeadKv * hd;
  const one = (t: GpuWeight): GPUBuffer => t.chunks[0].buffer;
  const positions = { buffer: io.positions };
  let x = io.buffers.xA;
  let other = io.buffers.xB;
  /** x += residualScale · (input·Wᵀ + bias): straight into x when there is neither scale nor bias. */
  const branch = (input: GPUBuffer, n: number, w: GpuWeight, bias: GpuWeight | undefined): void => {
    if (c.residualScale === 1 && !bias) {
      b.project(s, input, n, [{ weight: w, y: x, accumulate: true }]);
      return;
    }
    b.project(s, input, n, [{ weight: w, y: tmp, bias }]);
    s.push(elementwise(ctx, { op: 'scale_add', n: T * E, a: x, b: tmp, y: other, scale: c.residualScale }));
    [x, other] = [other, x];
  };

  s.push(...embedding(ctx, { table: W('token_embd.weight'), ids: io.ids, tokens: T, out: x, scale: c.embeddingScale }));
  for (let l = 0; l < c.nLayer; l++) {
    const p = `blk.${l}.`;
    // ---- attention ----
    const normed = (name: string): NormedInput => ({ x, n: E, kind: c.norm, weight: W(`${p}${name}.weight`), eps: c.normEps, xn });
    // attn_qkv: fused in the file (DBRX) or stacked by the loader (loader.ts); rows Q, K, V either way.
    const fused = opt(`${p}attn_qkv.weight`);
    let layout: { qOffset: number; kOffset: number; vOffset: number; qStride: number; kStride: number; vStride: number };
    if (fused) {
      b.normProject(s, normed('attn_norm'), [{ weight: fused, y: qkv, bias: opt(`${p}attn_qkv.bias`) }]);
      layout = fusedQkvLayout(c.nHead, c.nHeadKv, hd);
    } else {
      // Separate Q/K/V, or two of them stacked by the loader (attn_qk, attn_kv: no biases): one product per
      // group, each a (T, rows) block of qkv, so Q and K (or K and V) share a token stride.
      const proj = (name: string, yOffset: number): Product => ({ weight: W(`${p}${name}.weight`), y: qkv, yOffset, bias: opt(`${p}${name}.bias`) });
      const qk = opt(`${p}attn_qk.weight`);
      const kvw = opt(`${p}attn_kv.weight`);
      if (qk) {
        b.normProject(s, normed('attn_norm'), [{ weight: qk, y: qkv }, proj('attn_v', T * (nQ + nKv))]);
        layout = { qOffset: 0, qStride: nQ + nKv, kOffset: nQ, kStride: nQ + nKv, vOffset: T * (nQ + nKv), vStride: nKv };
      } else if (kvw) {
        b.normProject(s, normed('attn_norm'), [proj('attn_q', 0), { weight: kvw, y: qkv, yOffset: T * nQ }]);
        layout = { qOffset: 0, qStride: nQ, kOffset: T * nQ, kStride: 2 * nKv, vOffset: T * nQ + nKv, vStride: 2 * nKv };
      } else {
        b.normProject(s, normed('attn_norm'), [proj('attn_q', 0), proj('attn_k', T * nQ), proj('attn_v', T * (nQ + nKv))]);
        layout = { qOffset: 0, qStride: nQ, kOffset: T * nQ, kStride: nKv, vOffset: T * (nQ + nKv), vStride: nKv };
      }
    }
    const qn = opt(`${p}attn_q_norm.weight`);
    const kn = opt(`${p}attn_k_norm.weight`);
    const prologue: QkvPrologue = {
      nHead: c.nHead,
      nKv: c.nHeadKv,
      headDim: hd,
      rope: c.rope,
      src: qkv,
      ...layout,
      clamp: c.clampKqv,
      qkNorm: c.qkNorm !== 'none' && qn && kn ? { mode: c.qkNorm, qWeight: one(qn), kWeight: one(kn), eps: c.normEps } : undefined,
      kCache: kv.k[l],
      vCache: kv.v[l],
      nCtx: kv.nCtx,
      kvF16: kv.f16,
      positions,
    };
    b.attention(s, l, { prologue, q }, att);
    branch(att, nQ, W(`${p}attn_output.weight`), opt(`${p}attn_output.bias`));
    // ---- feed-forward ----
    const ffnNorm: MoeNorm = { kind: c.norm, weight: one(W(`${p}${c.ffnNormName}.weight`)), eps: c.normEps };
    if (c.nExpert > 0) {
      const sharedGate = opt(`${p}ffn_gate_shexp.weight`);
      // The norm goes with the block: the decode backend folds it into the router (one dispatch fewer).
      b.moe(s, {
        layer: l,
        x: xn,
        norm: ffnNorm,
        residual: x,
        y: other,
        router: W(`${p}ffn_gate_inp.weight`),
        gate: W(`${p}ffn_gate_exps.weight`),
        up: W(`${p}ffn_up_exps.weight`),
        down: W(`${p}ffn_down_exps.weight`),
        shared: sharedGate
          ? { gateInp: W(`${p}ffn_gate_inp_shexp.weight`), gate: sharedGate, up: W(`${p}ffn_up_shexp.weight`), down: W(`${p}ffn_down_shexp.weight`) }
          : undefined,
      });
      [x, other] = [other, x];
    } else {
      const { ffg, h } = io.buffers;
      if (!ffg || !h) throw new Error('internal: a dense FFN needs the ffg and h buffers');
      b.normProject(s, normed(c.ffnNormName), [
        { weight: W(`${p}ffn_gate.weight`), y: ffg, bias: opt(`${p}ffn_gate.bias`) },
        { weight: W(`${p}ffn_up.weight`), y: tmp, bias: opt(`${p}ffn_up.bias`) },
      ]);
      s.push(elementwise(ctx, { op: 'silu_mul', n: T * c.nFf, a: ffg, b: tmp, y: h }));
      branch(h, c.nFf, W(`${p}ffn_down.weight`), opt(`${p}ffn_down.bias`));
    }
  }
  return x;
}

/** Widest projection output that has a bias tensor (0 when the model has no biases): the bias scratch's width. */
export function biasWidth(c: ModelConfig, has: (name: string) => boolean): number {
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
