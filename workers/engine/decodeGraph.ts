/**
 * @file The decode graph: the layer program (layerProgram.ts) recorded once for one token, on the decode
 * backend (matvec, with int8 activations where the arithmetic asks; split-K attention with the attention
 * prologue fused in: attentionDecodeFused, no qkvRope dispatch; moeDecode), then the
 * final norm and the lm head. The runner (gpuRunner.ts) writes the token id and position into two u32
 * buffers and replays the recording each step.
 *
 * Buffers (f32 unless noted), one token:
 *   token, pos    u32                 the step's input
 *   xA, xB, xn, qkv, q, att, tmp, ffg, h   the layer program's buffers (layerProgram.ts), T = 1 (q unused here)
 *   bias          (widest biased projection)  a projection before its bias (models with biases only)
 *   ids, wts      (k+1) u32 / f32     router output; h (k·n_ff + n_ff_sh) expert activations
 *   logits        (n_vocab)
 *   q8.act        `activations: 'int8'` only: int8 inputs, one buffer per (values, scale block), reused in turn
 */
import type { KernelContext, Dispatch } from '../../kernels/lib/context.ts';
import type { GpuWeight } from '../../kernels/lib/weights.ts';
import type { Q8Activations } from '../../kernels/act_quant.ts';
import { matvec, type MatvecNorm } from '../../kernels/matvec.ts';
import { moeDecode } from '../../kernels/moe_decode.ts';
import { elementwise } from '../../kernels/elementwise.ts';
import { attentionDecodeFused } from '../../kernels/attention.ts';
import type { ModelConfig } from '../model/config.ts';
import { ActivationRounding, type ActivationMode, type InputReader } from './activationRounding.ts';
import { biasWidth, recordLayers, type AttentionInput, type GraphBackend, type KvCache, type MoeBlock, type NormedInput, type Product } from './layerProgram.ts';

export interface DecodeGraphOptions {
  readonly ctx: KernelContext;
  readonly config: ModelConfig;
  readonly weight: (name: string) => GpuWeight;
  readonly optWeight: (name: string) => GpuWeight | undefined;
  readonly kv: KvCache;
  readonly activations: ActivationMode;
  /** (n_layer, n_expert) u32 usage counters, for MoE models. */
  readonly counts: GPUBuffer | undefined;
  /** Allocates (and owns) a storage buffer of `n` f32/u32 elements. */
  readonly buffer: (n: number, label: string) => GPUBuffer;
}

export interface DecodeGraph {
  readonly token: GPUBuffer;
  readonly pos: GPUBuffer;
  readonly logits: GPUBuffer;
  /** The lm head's input (n_embd): the final norm writes it; the prefill graph's last-row norm too. */
  readonly headInput: GPUBuffer;
  /** Embedding, every layer, final norm and lm head. */
  readonly step: readonly Dispatch[];
  /** The lm head alone (headInput → logits), reused after the prefill graph's final norm. */
  readonly head: readonly Dispatch[];
}

/** T = 1: matvec products (int8 where the strategy says), split-K attention with the prologue, moeDecode. */
class DecodeBackend implements GraphBackend {
  readonly tokens = 1;

  constructor(
    readonly ctx: KernelContext,
    private readonly c: ModelConfig,
    private readonly R: ActivationRounding,
    private readonly scratch: { bias: GPUBuffer | undefined; ids: GPUBuffer; wts: GPUBuffer; h: GPUBuffer; counts: GPUBuffer | undefined },
  ) {}

  project(s: Dispatch[], x: GPUBuffer, n: number, products: readonly Product[]): void {
    this.R.readers(s, { buffer: x, n, rows: 1 }, this.readersOf(s, products));
  }

  /**
   * f32: every product is one matvec with the norm folded in (each recomputes the row's scale: its x read is
   * tiny next to W), so xn is never written. Rounded / int8 arithmetic: the norm goes into the first
   * quantization or the sole rounding of xn, else one norm dispatch materialises xn (ActivationRounding.readers).
   */
  normProject(s: Dispatch[], input: NormedInput, products: readonly Product[]): void {
    const g = input.weight.chunks[0].buffer;
    if (this.R.mode === 'f32') {
      const folded: MatvecNorm = { kind: input.kind, weight: g, eps: input.eps };
      for (const pr of products) this.product(s, pr, input.x, folded);
      return;
    }
    const pending = { kind: input.kind, x: input.x, weight: g, eps: input.eps };
    this.R.readers(s, { buffer: input.xn, n: input.n, rows: 1 }, this.readersOf(s, products), pending);
  }

  private readersOf(s: Dispatch[], products: readonly Product[]): InputReader[] {
    return products.map((pr) => {
      const emit = (xi: GPUBuffer | Q8Activations): void => this.product(s, pr, xi);
      return { weight: pr.weight, emit, emitQ8: emit };
    });
  }

  /** One product reading x (f32, with `norm` folded in, or int8). */
  private product(s: Dispatch[], pr: Product, x: GPUBuffer | Q8Activations, norm?: MatvecNorm): void {
    const { ctx } = this;
    const yOffset = pr.yOffset ?? 0;
    if (!pr.bias) {
      s.push(...matvec(ctx, { weight: pr.weight, x, y: pr.y, yOffset, accumulate: pr.accumulate, norm }));
      return;
    }
    const bias = this.scratch.bias;
    if (!bias || pr.accumulate) throw new Error(`internal: ${pr.weight.name}'s bias needs the bias scratch and no accumulation`);
    // Kernel outputs must not alias inputs: the product lands in the scratch, the bias add writes y.
    s.push(...matvec(ctx, { weight: pr.weight, x, y: bias, norm }));
    s.push(elementwise(ctx, { op: 'add', n: pr.weight.rows, a: bias, b: pr.bias.chunks[0].buffer, y: pr.y, yOffset }));
  }

  /** One dispatch pair (split + reduce, or one DIRECT) for prologue and attention: the rope'd Q never leaves the GPU's workgroups. */
  attention(s: Dispatch[], _layer: number, a: AttentionInput, out: GPUBuffer): void {
    s.push(...attentionDecodeFused(this.ctx, { ...a.prologue, scale: this.c.attentionScale, out }));
  }

  moe(s: Dispatch[], m: MoeBlock): void {
    const { c } = this;
    const k = c.nExpertUsed;
    const experts = { gate: m.gate, up: m.up, down: m.down };
    // The router normalises the residual into m.x (the FFN norm folded in), so whatever the rounding records on
    // m.x (a copy for the shared expert) goes right after the router.
    const afterRouter: Dispatch[] = [];
    const { rounding, sharedX, int8 } = this.R.moe(afterRouter, { buffer: m.x, n: c.nEmbd, rows: 1 }, { ...experts, shared: m.shared }, { k });
    const { ids, wts, h, counts } = this.scratch;
    s.push(
      ...moeDecode(this.ctx, {
        x: m.x,
        norm: { kind: m.norm.kind, weight: m.norm.weight, eps: m.norm.eps, input: m.residual },
        afterRouter,
        router: m.router,
        ...experts,
        k,
        gating: c.normTopK ? 'softmax_topk_renorm' : 'softmax_topk',
        scale: c.residualScale,
        residual: m.residual,
        y: m.y,
        ids,
        weights: wts,
        h,
        counts: counts ? { buffer: counts, offset: m.layer * c.nExpert } : undefined,
        shared: m.shared,
        rounding,
        sharedX,
        int8,
      }),
    );
  }
}

/** Allocates the decode graph's buffers and records one step. */
export function recordDecodeGraph(o: DecodeGraphOptions): DecodeGraph {
  const { ctx, config: c, buffer: buf } = o;
  const E = c.nEmbd;
  const nQ = c.nHead * c.headDim;
  const nKv = c.nHeadKv * c.headDim;
  const k = c.nExpertUsed;
  const token = buf(1, 'token');
  const pos = buf(1, 'pos');
  const xn = buf(E, 'xn');
  const buffers = {
    xA: buf(E, 'xA'),
    xB: buf(E, 'xB'),
    xn,
    qkv: buf(nQ + 2 * nKv, 'qkv'),
    q: buf(nQ, 'q'),
    att: buf(nQ, 'att'),
    tmp: buf(Math.max(E, c.nExpert > 0 ? 0 : c.nFf), 'tmp'),
    ffg: c.nExpert > 0 ? undefined : buf(c.nFf, 'ffg'),
    h: c.nExpert > 0 ? undefined : buf(c.nFf, 'h'),
  };
  const bias = biasWidth(c, (n) => o.optWeight(n) !== undefined);
  const scratch = {
    bias: bias > 0 ? buf(bias, 'bias') : undefined,
    ids: buf(k + 1, 'moe.ids'),
    wts: buf(k + 1, 'moe.wts'),
    h: buf(Math.max(k * c.nFf + c.nFfShexp, 1), 'moe.h'),
    counts: o.counts,
  };
  // A rounded copy of xn for products that round it differently (ggml-cpu emulation only).
  const R = new ActivationRounding(
    ctx,
    o.activations,
    o.activations === 'f32' ? undefined : buf(E, 'xn.rounded'),
    (bytes, label) => buf(Math.ceil(bytes / 4), label),
  );
  const backend = new DecodeBackend(ctx, c, R, scratch);
  const step: Dispatch[] = [];
  const x = recordLayers(backend, c, { ids: token, positions: pos, weight: o.weight, optWeight: o.optWeight, kv: o.kv, buffers }, step);
  const logits = buf(c.nVocab, 'logits');
  const lmHead = [{ weight: o.optWeight('output.weight') ?? o.weight('token_embd.weight'), y: logits }];
  // The step folds the final norm into the lm head; `head` (after the prefill graph's final norm) reads xn.
  backend.normProject(step, { x, n: E, kind: c.norm, weight: o.weight('output_norm.weight'), eps: c.normEps, xn }, lmHead);
  const head: Dispatch[] = [];
  backend.project(head, xn, E, lmHead);
  return { token, pos, logits, headInput: xn, step, head };
}
