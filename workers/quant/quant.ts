/**
 * @file The uniform quant API the rest of the project codes against (engine CPU paths, kernel tests, the
 * model generator): `dequantize(type, bytes, n)`, `quantize(type, values)` and the type lists.
 */
export { dequantize, DEQUANTIZABLE_TYPES, KVALUES_IQ4NL, KVALUES_MXFP4 } from './dequant.ts';
export { quantize, QUANTIZABLE_TYPES } from './quantize.ts';
export { f32ToF16Bits, f16BitsToF32, f32ToBf16Bits, bf16BitsToF32, roundF16 } from './half.ts';
