/**
 * @file Small exact checks of the CPU reference's building blocks (workers/model/reference/ops.ts), so that a
 * golden-test failure can be told apart from a broken primitive: top-k order and tie-break, both RoPE pairings,
 * the two norms, softmax. Hand-computed expectations only.
 */
import { describe, expect, it } from 'vitest';
import { layerNorm, logSoftmax, matVec, rmsNorm, rope, softmaxInPlace, topK } from '../../workers/model/reference/ops.ts';

describe('reference ops', () => {
  it('topK: largest first, ties to the lower index, k = n', () => {
    const out = new Int32Array(3);
    topK(new Float32Array([0.1, 0.5, 0.2, 0.5, 0.0]), 5, 3, out);
    expect([...out]).toEqual([1, 3, 2]);
    const all = new Int32Array(4);
    topK(new Float32Array([3, 1, 4, 2]), 4, 4, all);
    expect([...all]).toEqual([2, 0, 3, 1]);
    const one = new Int32Array(1);
    topK(new Float32Array([-5, -1, -3]), 3, 1, one);
    expect([...one]).toEqual([1]);
  });

  it('rope: neox pairs (i, i + n/2), norm pairs (2i, 2i + 1), θ_i = pos · base^(−2i/n)', () => {
    const pos = 3;
    const base = 100;
    // One head of 4: pair 0 has θ = 3, pair 1 has θ = 3 · 100^(−1/2) = 0.3.
    const th = [pos, pos / 10];
    const x = new Float32Array([1, 2, 3, 4]);
    rope(x, 0, 1, 4, pos, { style: 'neox', nRot: 4, freqBase: base, freqScale: 1 });
    // neox: (x0, x2) rotated by θ0, (x1, x3) by θ1.
    const expectNeox = [
      1 * Math.cos(th[0]) - 3 * Math.sin(th[0]),
      2 * Math.cos(th[1]) - 4 * Math.sin(th[1]),
      1 * Math.sin(th[0]) + 3 * Math.cos(th[0]),
      2 * Math.sin(th[1]) + 4 * Math.cos(th[1]),
    ];
    expectNeox.forEach((v, i) => expect(x[i]).toBeCloseTo(v, 5));

    const y = new Float32Array([1, 2, 3, 4]);
    rope(y, 0, 1, 4, pos, { style: 'normal', nRot: 4, freqBase: base, freqScale: 1 });
    const expectNorm = [
      1 * Math.cos(th[0]) - 2 * Math.sin(th[0]),
      1 * Math.sin(th[0]) + 2 * Math.cos(th[0]),
      3 * Math.cos(th[1]) - 4 * Math.sin(th[1]),
      3 * Math.sin(th[1]) + 4 * Math.cos(th[1]),
    ];
    expectNorm.forEach((v, i) => expect(y[i]).toBeCloseTo(v, 5));

    // Position 0 is the identity; a second head at offset 4 is rotated the same way.
    const z = new Float32Array([1, 2, 3, 4, 1, 2, 3, 4]);
    rope(z, 0, 2, 4, 0, { style: 'neox', nRot: 4, freqBase: base, freqScale: 1 });
    expect([...z]).toEqual([1, 2, 3, 4, 1, 2, 3, 4]);
    rope(z, 0, 2, 4, pos, { style: 'neox', nRot: 4, freqBase: base, freqScale: 1 });
    expect([...z.subarray(4)]).toEqual([...z.subarray(0, 4)]);
  });

  it('layerNorm (biased variance, weight) and rmsNorm', () => {
    const x = new Float32Array([1, 2, 3, 6]); // mean 3, var (4 + 1 + 0 + 9) / 4 = 3.5
    const w = new Float32Array([1, 2, 1, 1]);
    const out = new Float32Array(4);
    layerNorm(out, x, w, undefined, 0, 4);
    const s = Math.sqrt(3.5);
    [-2 / s, (-1 / s) * 2, 0, 3 / s].forEach((v, i) => expect(out[i]).toBeCloseTo(v, 6));
    rmsNorm(out, x, w, 0, 4); // mean square (1 + 4 + 9 + 36) / 4 = 12.5
    const r = Math.sqrt(12.5);
    [1 / r, (2 / r) * 2, 3 / r, 6 / r].forEach((v, i) => expect(out[i]).toBeCloseTo(v, 6));
  });

  it('softmax, logSoftmax and matVec', () => {
    const p = new Float64Array([0, Math.log(3)]);
    softmaxInPlace(p, 2);
    expect(p[0]).toBeCloseTo(0.25, 12);
    expect(p[1]).toBeCloseTo(0.75, 12);
    const lp = logSoftmax(new Float32Array([1000, 1000]));
    expect(lp[0]).toBeCloseTo(Math.log(0.5), 12);
    // W (2 rows × 3 cols) · x; second expert slab selected by offset.
    const w = new Float32Array([1, 2, 3, 4, 5, 6, /* expert 1: */ 1, 0, 0, 0, 0, 1]);
    const y = new Float32Array(2);
    matVec(y, w, new Float32Array([1, 1, 2]), 2, 3);
    expect([...y]).toEqual([9, 21]);
    matVec(y, w, new Float32Array([1, 1, 2]), 2, 3, 6);
    expect([...y]).toEqual([1, 2]);
  });
});
