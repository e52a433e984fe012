/**
 * @file The value of largest magnitude in a run of floats, the first one on ties (ggml's quantizers scan with a
 * strict `>`): the sign matters, since ggml scales by it (Q4_0's d = max / −8, Q8_K's iscale = −127 / max).
 */
export function signedMax(x: ArrayLike<number>, from: number, to: number): number {
  let amax = 0;
  let max = 0;
  for (let i = from; i < to; i++) {
    const ax = Math.abs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  return max;
}
