/**
 * @file CPU reference for kernels/act_quant.wgsl: the same layout (q words, then per 32 elements the vec4
 * (d, d·Σq₀..₁₅, d·Σq₁₆..₃₁, 0)) with ggml-cpu's rounding (Q8_K: quantize_row_q8_K_ref; Q8_0: the AVX path).
 */
import { roundHalfEven } from '../workers/model/reference/ggmlRounding.ts';
import { roundF16 } from '../workers/quant/half.ts';
import { signedMax } from '../workers/quant/signedMax.ts';
import type { Q8ScaleBlock } from './act_quant.ts';
import { normRef, type NormKind } from './norm.ref.ts';

const f = Math.fround;

export interface Q8Ref {
  /** (n) int8 values. */
  readonly q: Int8Array;
  /** (n / 32) scale of each 32-element block (repeated over a 256-block for Q8_K). */
  readonly d: Float32Array;
  /** The GPU layout: q bytes, then the aux vec4s, as u32 words. */
  readonly words: Uint32Array;
}

export function actQuantRef(x: Float32Array, scaleBlock: Q8ScaleBlock): Q8Ref {
  const n = x.length;
  const q = new Int8Array(n);
  const d = new Float32Array(n / 32);
  for (let b = 0; b < n; b += scaleBlock) {
    const max = signedMax(x, b, b + scaleBlock);
    const amax = Math.abs(max);
    let ds = 0;
    if (scaleBlock === 256) {
      const iscale = amax > 0 ? f(-127 / max) : 0;
      ds = amax > 0 ? f(1 / iscale) : 0;
      for (let i = b; i < b + 256; i++) q[i] = Math.min(127, roundHalfEven(f(iscale * x[i])));
    } else {
      ds = roundF16(f(amax / 127));
      const id = amax > 0 ? f(127 / amax) : 0;
      for (let i = b; i < b + 32; i++) q[i] = roundHalfEven(f(x[i] * id));
    }
    d.fill(ds, b / 32, (b + scaleBlock) / 32);
  }
  const words = new Uint32Array(n / 4 + n / 8);
  new Int8Array(words.buffer, 0, n).set(q);
  const aux = new Float32Array(words.buffer, n, n / 8);
  for (let b = 0; b < n / 32; b++) {
    let s0 = 0;
    let s1 = 0;
    for (let i = 0; i < 16; i++) {
      s0 += q[32 * b + i];
      s1 += q[32 * b + 16 + i];
    }
    aux[4 * b] = d[b];
    aux[4 * b + 1] = f(d[b] * s0);
    aux[4 * b + 2] = f(d[b] * s1);
  }
  return { q, d, words };
}

/** The values the int8 products compute with: q · d. */
export function actQuantValues(r: Q8Ref): Float32Array {
  const out = new Float32Array(r.q.length);
  for (let i = 0; i < out.length; i++) out[i] = r.q[i] * r.d[i >> 5];
  return out;
}

/** act_quant with a folded norm (NORM): the norm reference, then the quantization of its result. */
export function normActQuantRef(kind: NormKind, x: Float32Array, g: Float32Array, eps: number, scaleBlock: Q8ScaleBlock): { xn: Float32Array; q8: Q8Ref } {
  const n = x.length;
  const xn = normRef(kind, x, g.subarray(0, n), { n, eps });
  return { xn, q8: actQuantRef(xn, scaleBlock) };
}
