/**
 * @file The engine's llama.cpp-CPU emulation (runner option `activations: 'ggml-cpu'`). llama.cpp's CPU backend
 * never multiplies a quantized weight by f32 activations: it first rounds each input row to the weight type's
 * vec_dot_type (Q8_0, Q8_K, f16, bf16; act_quant.ts ggmlRoundingFor). With this mode every matrix product whose
 * weight is not F32 gets a roundActivations dispatch on its input first, so the f32 kernels compute what
 * llama.cpp computes (up to summation order). Placement is the CPU reference's (referenceModel.ts `mul`): Q/K/V
 * (fused or separate), attn_output, FFN gate/up and down, expert gate/up and down, the shared expert, the lm
 * head; not the F32 routers and shared-expert gate, norms, attention or embeddings. Off ('f32', the default),
 * nothing is added. For comparing with llama.cpp (golden tests); it costs a small dispatch per product input.
 *
 * 'int8' computes the same values faster (decode graph only): a product whose weight is Q4_K or Q8_0
 * (act_quant.ts Q8_WEIGHT_TYPES) whose caller offers an int8 form (`emitQ8`, `input`, `moe`'s `int8`) reads
 * act_quant's int8 activations, quantized once per input and scale block and shared by every such product
 * reading that input (Q/K/V; gate/up), through integer dot products; other weight types round as 'ggml-cpu'.
 * The int8 form holds exactly the rounding's q·d values, so only summation order differs. Callers that offer no
 * int8 form (the prefill graph) get 'ggml-cpu' rounding.
 */
import {
  Q8_WEIGHT_TYPES,
  ggmlRoundingFor,
  isQ8WeightType,
  q8ActivationBytes,
  quantizeActivations,
  roundActivations,
  type ActNorm,
  type GgmlRounding,
  type Q8Activations,
  type Q8ScaleBlock,
} from '../../kernels/act_quant.ts';
import { elementwise } from '../../kernels/elementwise.ts';
import { norm, type FoldedNorm } from '../../kernels/norm.ts';
import type { Dispatch, KernelContext } from '../../kernels/lib/context.ts';
import type { GpuWeight } from '../../kernels/lib/weights.ts';
import type { MoeRounding } from '../../kernels/moe_bindings.ts';
import { UnsupportedModelError } from './loader.ts';

export type ActivationMode = 'f32' | 'ggml-cpu' | 'int8';

const BLOCK: Readonly<Record<GgmlRounding, number>> = { q8_K: 256, q8_0: 32, f16: 4, bf16: 4 };

/** Rows of one product input: `rows` rows of `n` elements, contiguous (stride n) from offset 0. */
export interface InputRows {
  readonly buffer: GPUBuffer;
  readonly n: number;
  readonly rows: number;
}

/**
 * A product reading a shared input; `emit` records it reading `x` (the input, or a rounded copy of it);
 * `emitQ8` (mode 'int8', single rows only) records it reading the input's int8 form instead.
 */
export interface InputReader {
  readonly weight: GpuWeight;
  readonly emit: (x: GPUBuffer) => void;
  readonly emitQ8?: (xq: Q8Activations) => void;
}

/** A norm not yet applied to a readers() input: the input buffer is to hold norm(x) of `x` (one row). */
export interface PendingNorm extends FoldedNorm {
  /** The raw row (n values). */
  readonly x: GPUBuffer;
}

/** Int8 activations for moeDecode: the routed experts' x and GLU rows where their types allow (else rounded). */
export interface MoeInt8 {
  readonly x?: Q8Activations;
  readonly h?: Q8Activations;
}

export class ActivationRounding {
  /**
   * @param scratch f32, at least (rows, n) of the widest input shared by products of different roundings
   *   (Q/K/V, FFN gate/up, shared vs routed experts: n_embd per row); needed only when such a model is met.
   */
  /** Int8 activation buffers by (values, scale block): one per shape, reused by every input of that shape in turn. */
  private readonly q8Pool = new Map<string, Q8Activations>();

  /**
   * @param alloc allocates the int8 activation buffers (mode 'int8'; the caller owns them); without it, 'int8'
   *   rounds like 'ggml-cpu'.
   */
  constructor(
    private readonly ctx: KernelContext,
    readonly mode: ActivationMode,
    private readonly scratch?: GPUBuffer,
    private readonly alloc?: (bytes: number, label: string) => GPUBuffer,
  ) {}

  /** The int8 scale block for one row of `n` values into `w` (mode 'int8', Q4_K/Q8_0), else undefined. */
  private q8Block(w: GpuWeight, n: number, rows: number): Q8ScaleBlock | undefined {
    if (this.mode !== 'int8' || !this.alloc || rows !== 1 || !isQ8WeightType(w.type)) return undefined;
    const b = Q8_WEIGHT_TYPES[w.type];
    return n % b === 0 ? b : undefined;
  }

  /** Appends the quantization of `n` values of `x` (of norm(x), written to norm.out) into the pooled int8 buffer of that shape. */
  private quantize(s: Dispatch[], x: GPUBuffer, n: number, scaleBlock: Q8ScaleBlock, norm?: ActNorm): Q8Activations {
    const q = this.pooled(n, scaleBlock);
    s.push(quantizeActivations(this.ctx, { x, out: q, norm }));
    return q;
  }

  /** The int8 buffer for `n` values in blocks of `scaleBlock` (allocated on first use). */
  private pooled(n: number, scaleBlock: Q8ScaleBlock): Q8Activations {
    const key = `${n}/${scaleBlock}`;
    let q = this.q8Pool.get(key);
    if (!q) {
      const alloc = this.alloc;
      if (!alloc) throw new Error('internal: int8 activations need an allocator');
      q = { kind: 'q8', buffer: alloc(q8ActivationBytes(n), `q8.act ${key}`), n, scaleBlock };
      this.q8Pool.set(key, q);
    }
    return q;
  }

  /**
   * The input of one product with `w`, as it should read it: the int8 form (mode 'int8', Q4_K/Q8_0, one row),
   * else `x` rounded in place (nothing when f32).
   */
  input(s: Dispatch[], w: GpuWeight, x: InputRows): GPUBuffer | Q8Activations {
    const b = this.q8Block(w, x.n, x.rows);
    if (b) return this.quantize(s, x.buffer, x.n, b);
    this.round(s, w, x);
    return x.buffer;
  }

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
   * rounded in place (the input is overwritten unless all readers are f32). With `pending`, x.buffer is to
   * hold norm(pending.x) first.
   */
  readers(s: Dispatch[], x: InputRows, all: readonly InputReader[], pending?: PendingNorm): void {
    // A pending norm goes into the first kernel that reads x (the first quantization, or the sole rounding),
    // which also writes norm(x) into x.buffer for the rest; otherwise a norm dispatch materialises it first.
    let todo = pending;
    const take = (): { src: GPUBuffer; norm: ActNorm | undefined } => {
      const p = todo;
      todo = undefined;
      return p ? { src: p.x, norm: { kind: p.kind, weight: p.weight, weightOffset: p.weightOffset, eps: p.eps, out: x.buffer } } : { src: x.buffer, norm: undefined };
    };
    const materialise = (): void => {
      const p = todo;
      if (p) s.push(norm(this.ctx, { kind: p.kind, n: x.n, nTok: x.rows, x: p.x, w: p.weight, wOffset: p.weightOffset, y: x.buffer, eps: p.eps }));
      todo = undefined;
    };
    // The folding kernels take one row.
    if (x.rows !== 1) materialise();
    // Int8 readers first, while x is still f32: one quantization per scale block.
    const q8 = new Map<Q8ScaleBlock, ((xq: Q8Activations) => void)[]>();
    const readers: InputReader[] = [];
    for (const rd of all) {
      const b = rd.emitQ8 && this.q8Block(rd.weight, x.n, x.rows);
      if (b && rd.emitQ8) q8.set(b, [...(q8.get(b) ?? []), rd.emitQ8]);
      else readers.push(rd);
    }
    for (const [b, emits] of q8) {
      const { src, norm: nm } = take();
      const xq = this.quantize(s, src, x.n, b, nm);
      for (const e of emits) e(xq);
    }
    const groups = new Map<GgmlRounding | undefined, InputReader[]>([[undefined, []]]);
    for (const rd of readers) {
      const r = this.rounding(rd.weight, x.n);
      groups.set(r, [...(groups.get(r) ?? []), rd]);
    }
    const plain = groups.get(undefined) ?? [];
    groups.delete(undefined);
    const rounded = [...groups.entries()];
    // Only a sole rounding (no f32 reader, no copy for a second rounding) can take the norm.
    if (todo && (plain.length > 0 || rounded.length !== 1)) materialise();
    for (const rd of plain) rd.emit(x.buffer);
    rounded.forEach(([r, group], i) => {
      if (r === undefined) return;
      const input = i < rounded.length - 1 ? this.copy(s, x) : x.buffer;
      const { src, norm: nm } = take();
      s.push(nm ? roundActivations(this.ctx, { x: src, n: x.n, rounding: r, norm: nm }) : roundActivations(this.ctx, { x: input, n: x.n, rows: x.rows, rounding: r }));
      for (const rd of group) rd.emit(input);
    });
  }

  /**
   * The MoE block's rounding (routed gate/up input, GLU rows, shared GLU row) and, when the shared expert's
   * gate/up round x differently from the routed experts', its input: a copy of x in the scratch rounded here,
   * recorded into `s` while x is still f32 and already written: the prefill graph records its norm first, the
   * decode graph passes `s` as moeDecode's `afterRouter` (the router writes x there).
   */
  moe(
    s: Dispatch[],
    x: InputRows,
    w: { gate: GpuWeight; up: GpuWeight; down: GpuWeight; shared?: { gate: GpuWeight; up: GpuWeight; down: GpuWeight } },
    decode?: { readonly k: number },
  ): { rounding: MoeRounding | undefined; sharedX: GPUBuffer | undefined; int8: MoeInt8 | undefined } {
    if (this.mode === 'f32') return { rounding: undefined, sharedX: undefined, int8: undefined };
    const rx = this.sameRounding(w.gate, w.up, x.n);
    const rh = this.rounding(w.down);
    // Mode 'int8' in the decode graph: moeDecode quantizes x (after the router) and the k GLU rows (k·n_ff values,
    // n_ff whole scale blocks) itself; the shared expert keeps the rounding (moeSharedExpert has no int8 path).
    const bx = decode && w.gate.type === w.up.type ? this.q8Block(w.gate, x.n, x.rows) : undefined;
    const nFf = w.down.rowElems;
    const bh = decode && this.q8Block(w.down, nFf, 1);
    const int8: MoeInt8 | undefined =
      decode && (bx || bh)
        ? {
            x: bx ? this.pooled(x.n, bx) : undefined,
            h: bh ? this.pooled(decode.k * nFf, bh) : undefined,
          }
        : undefined;
    // x is rounded in place only where it is not read as int8.
    const rxInPlace = bx ? undefined : rx;
    const rounding: MoeRounding = { x: rxInPlace, h: bh ? undefined : rh, sharedH: w.shared && this.rounding(w.shared.down) };
    let sharedX: GPUBuffer | undefined;
    if (w.shared) {
      const rs = this.sameRounding(w.shared.gate, w.shared.up, x.n);
      if (rs !== rxInPlace) {
        sharedX = this.copy(s, x);
        if (rs) s.push(roundActivations(this.ctx, { x: sharedX, n: x.n, rows: x.rows, rounding: rs }));
      }
    }
    return { rounding, sharedX, int8 };
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
