/**
 * @file The engine's llama.cpp-CPU emulation (runner option `activations: 'ggml-cpu'`). llama.cpp's CPU backend
 * never multiplies a quantized weight by f32 activations: it first rounds each input row to the weight type's
 * vec_dot_type (Q8_0, Q8_K, f16, bf16; act_quant.ts ggmlRoundingFor). With this mode every matrix product whose
 * weight is not F32 gets a roundActivations dispatch on its input first, so the f32 kernels compute what
 * llama.cpp computes (up to summation order). Placement is the CPU reference's (referenceModel.ts `mul`): Q/K/V
 * (fused or separate), attn_output, FFN gate/up and down, expert gate/up and down, the shared expert, the lm
 * head; not the F32 routers and shared-expert gate, norms, attention or embeddings. Off ('f32', the default),
 * nothing is added. For comparing with llama.cpp (golden tests); it costs a small dispatch per product input.
 */
import { roundActivations, ggmlRoundingFor, type GgmlRounding } from '../../kernels/act_quant.ts';
import { elementwise } from '../../kernels/elementwise.ts';
import type { Dispatch, KernelContext } from '../../kernels/lib/context.ts';
import type { GpuWeight } from '../../kernels/lib/weights.ts';
import type { MoeRounding } from '../../kernels/moe.ts';
import { UnsupportedModelError } from './loader.ts';

export type ActivationMode = 'f32' | 'ggml-cpu';

const BLOCK: Readonly<Record<GgmlRounding, number>> = { q8_K: 256, q8_0: 32, f16: 4, bf16: 4 };

/** Rows of one product input: `rows` rows of `n` elements, contiguous (stride n) from offset 0. */
export interface InputRows {
  readonly buffer: GPUBuffer;
  readonly n: number;
  readonly rows: number;
}

/** A product reading a shared input; `emit` records it reading `x` (the input, or a rounded copy of it). */
export interface InputReader {
  readonly weight: GpuWeight;
  readonly emit: (x: GPUBuffer) => void;
}

export class ActivationRounding {
  /**
   * @param scratch f32, at least (rows, n) of the widest input shared by products of different roundings
   *   (Q/K/V, FFN gate/up, shared vs routed experts: n_embd per row); needed only when such a model is met.
   */
  constructor(
    private readonly ctx: KernelContext,
    readonly mode: ActivationMode,
    private readonly scratch?: GPUBuffer,
  ) {}

  /** The rounding ggml-cpu applies to an input of `n` elements of `w` (undefined: f32, or the mode is off). */
  rounding(w: GpuWeight, n: number = w.rowElems): GgmlRounding | undefined {
    if (this.mode === 'f32') return undefined;
    const r = ggmlRoundingFor(w.type);
    if (r && n % BLOCK[r] !== 0) {
      // Q8_0/Q8_K: llama.cpp cannot quantize such a row either (a block-quantized weight's rows are whole blocks,
      // so its inputs are too). f16/bf16: roundActivations takes 4 values per thread.
      throw new UnsupportedModelError(`${w.name}: ${n}-element inputs are not whole ${r} blocks of ${BLOCK[r]}; activations: 'ggml-cpu' cannot round them`);
    }
    return r;
  }

  /** Appends the in-place rounding of `x` for the product with `w` (nothing when f32). */
  round(s: Dispatch[], w: GpuWeight, x: InputRows): void {
    const r = this.rounding(w, x.n);
    if (r) s.push(roundActivations(this.ctx, { x: x.buffer, n: x.n, rows: x.rows, rounding: r }));
  }

  /**
   * Records products that read one input, each seeing it rounded for its own weight: f32 readers first, then
   * one group per rounding; every group but the last reads a rounded copy in the scratch, the last the input
   * rounded in place (the input is overwritten unless all readers are f32).
   */
  readers(s: Dispatch[], x: InputRows, readers: readonly InputReader[]): void {
    const groups = new Map<GgmlRounding | undefined, InputReader[]>([[undefined, []]]);
    for (const rd of readers) {
      const r = this.rounding(rd.weight, x.n);
      groups.set(r, [...(groups.get(r) ?? []), rd]);
    }
    for (const rd of groups.get(undefined) ?? []) rd.emit(x.buffer);
    groups.delete(undefined);
    const rounded = [...groups.entries()];
    rounded.forEach(([r, group], i) => {
      if (r === undefined) return;
      const input = i < rounded.length - 1 ? this.copy(s, x) : x.buffer;
      s.push(roundActivations(this.ctx, { x: input, n: x.n, rows: x.rows, rounding: r }));
      for (const rd of group) rd.emit(input);
    });
  }

  /**
   * The MoE block's rounding (routed gate/up input, GLU rows, shared GLU row) and, when the shared expert's
   * gate/up round x differently from the routed experts', its input: a copy of x in the scratch rounded here
   * (recorded before the block, while x is still f32).
   */
  moe(
    s: Dispatch[],
    x: InputRows,
    w: { gate: GpuWeight; up: GpuWeight; down: GpuWeight; shared?: { gate: GpuWeight; up: GpuWeight; down: GpuWeight } },
  ): { rounding: MoeRounding | undefined; sharedX: GPUBuffer | undefined } {
    if (this.mode === 'f32') return { rounding: undefined, sharedX: undefined };
    const rx = this.sameRounding(w.gate, w.up, x.n);
    const rounding: MoeRounding = { x: rx, h: this.rounding(w.down), sharedH: w.shared && this.rounding(w.shared.down) };
    let sharedX: GPUBuffer | undefined;
    if (w.shared) {
      const rs = this.sameRounding(w.shared.gate, w.shared.up, x.n);
      if (rs !== rx) {
        sharedX = this.copy(s, x);
        if (rs) s.push(roundActivations(this.ctx, { x: sharedX, n: x.n, rows: x.rows, rounding: rs }));
      }
    }
    return { rounding, sharedX };
  }

  /** Gate and up read one input (one kernel, one rounding). */
  private sameRounding(gate: GpuWeight, up: GpuWeight, n: number): GgmlRounding | undefined {
    const rg = this.rounding(gate, n);
    const ru = this.rounding(up, n);
    if (rg !== ru) throw new UnsupportedModelError(`${gate.name} (${gate.type}) and ${up.name} (${up.type}) round activations differently; activations: 'ggml-cpu' needs them alike`);
    return rg;
  }

  /** scratch[0 .. rows·n) = x (x + 0·x: exact for finite activations). */
  private copy(s: Dispatch[], x: InputRows): GPUBuffer {
    const dst = this.scratch;
    const len = x.n * x.rows;
    if (!dst || dst.size < len * 4) throw new Error(`internal: activation rounding needs a scratch of ${len} floats`);
    s.push(elementwise(this.ctx, { op: 'scale_add', n: len, a: x.buffer, b: x.buffer, y: dst, scale: 0 }));
    return dst;
  }
}
