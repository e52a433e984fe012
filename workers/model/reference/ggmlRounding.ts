/**
 * @file Optional emulation of how llama.cpp's CPU backend rounds activations before a matrix product, so the f32
 * reference can be compared with llama.cpp *exactly* on quantized weights. ggml-cpu never multiplies a quantized
 * weight by f32 activations: it first converts each activation row to the weight type's `vec_dot_type`
 * (ggml-cpu.c type_traits_cpu): Q8_0 for Q4_0/Q5_0/Q8_0/IQ4_NL/MXFP4, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants and
 * IQ4_XS, f16 for F16, bf16 for BF16. That rounding moves logits by ~0.1–1 and flips near-tied MoE routing, so
 * a plain f32 pass can only agree with llama.cpp statistically; with this emulation it agrees to ~1e-5 (see
 * /work/shared/reference/llama-cpp-oracle.md). Off by default: the reference proper is plain f32.
 *
 * Each rounder replaces x[0..n) by the values its quantized form represents (q·d), which is what the integer dot
 * products compute with, up to float summation order.
 */
import type { GgmlType } from '../../gguf/ggmlTypes.ts';
import { ggmlRoundingOf, type GgmlRounding } from '../../../kernels/lib/weightTypes.ts';
import { bf16BitsToF32, f32ToBf16Bits, roundF16 } from '../../quant/half.ts';
import { signedMax } from '../../quant/signedMax.ts';

const f = Math.fround;

/** Round half to even (x86 _mm256_round_ps with _MM_ROUND_NEAREST; ggml's nearest_int magic-number trick). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; fix exact ties to the even neighbour.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** quantize_row_q8_0 (AVX path): d = amax/127 stored as f16, q = round(x · 127/amax). Q8_1 rounds the same way. */
function roundQ8_0(x: Float32Array, n: number): void {
  for (let b = 0; b < n; b += 32) {
    let amax = 0;
    for (let i = b; i < b + 32; i++) amax = Math.max(amax, Math.abs(x[i]));
    const d = roundF16(f(amax / 127));
    const id = amax !== 0 ? f(127 / amax) : 0;
    for (let i = b; i < b + 32; i++) x[i] = roundHalfEven(f(x[i] * id)) * d;
  }
}

/** quantize_row_q8_K_ref: 256-blocks, iscale = −127/max (max = the value of largest magnitude), d = 1/iscale (f32). */
function roundQ8_K(x: Float32Array, n: number): void {
  for (let b = 0; b < n; b += 256) {
    const max = signedMax(x, b, b + 256);
    if (max === 0) {
      x.fill(0, b, b + 256);
      continue;
    }
    const iscale = f(-127 / max);
    const d = f(1 / iscale);
    for (let i = b; i < b + 256; i++) x[i] = Math.min(127, roundHalfEven(f(iscale * x[i]))) * d;
  }
}

function roundF16InPlace(x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) x[i] = roundF16(x[i]);
}

function roundBf16InPlace(x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) x[i] = bf16BitsToF32(f32ToBf16Bits(x[i]));
}

export type ActivationRounder = (x: Float32Array, n: number) => void;

// Which rounding each weight type gets is the type table's (kernels/lib/weightTypes.ts), shared with the GPU
// engine's emulation (kernels/act_quant.ts).
export { ggmlRoundingOf, type GgmlRounding };

const ROUNDERS: Readonly<Record<GgmlRounding, ActivationRounder>> = {
  q8_K: roundQ8_K,
  q8_0: roundQ8_0,
  f16: roundF16InPlace,
  bf16: roundBf16InPlace,
};

/**
 * The in-place activation rounding ggml-cpu applies before multiplying by a weight of `weightType`, or
 * undefined when it multiplies in f32. n must be a whole number of blocks (it is: a weight row of a block type
 * is whole blocks, and its input has that row's length).
 */
export function ggmlActivationRounder(weightType: GgmlType): ActivationRounder | undefined {
  const r = ggmlRoundingOf(weightType);
  return r && ROUNDERS[r];
}
