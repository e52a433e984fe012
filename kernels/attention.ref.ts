/** @file CPU reference for kernels/attention.wgsl: causal GQA attention over a (n_kv, n_ctx, hd) cache, in double. */

export interface AttentionRefArgs {
  readonly nTok: number;
  readonly nHead: number;
  readonly nKv: number;
  readonly hd: number;
  readonly nCtx: number;
  readonly scale: number;
  /** (T, n_head, hd) at qOff, tokens qStride apart. */
  readonly q: Float32Array;
  readonly qOff?: number;
  readonly qStride?: number;
  /** (n_kv, n_ctx, hd) each. */
  readonly k: Float32Array;
  readonly v: Float32Array;
  readonly positions: readonly number[];
}

/** Output (T, n_head, hd): query t, head h attends to positions 0..min(pos[t], n_ctx − 1) of KV head h / (n_head / n_kv). */
export function attentionRef(a: AttentionRefArgs): Float32Array {
  const { nTok, nHead, nKv, hd, nCtx } = a;
  const qOff = a.qOff ?? 0;
  const qStride = a.qStride ?? nHead * hd;
  const g = nHead / nKv;
  const out = new Float32Array(nTok * nHead * hd);
  const sc = new Float64Array(nCtx);
  const o = new Float64Array(hd);
  for (let t = 0; t < nTok; t++) {
    const len = Math.min(a.positions[t] + 1, nCtx);
    for (let h = 0; h < nHead; h++) {
      const kvh = Math.floor(h / g);
      const qb = qOff + t * qStride + h * hd;
      let mx = -Infinity;
      for (let p = 0; p < len; p++) {
        const kb = (kvh * nCtx + p) * hd;
        let s = 0;
        for (let i = 0; i < hd; i++) s += a.q[qb + i] * a.k[kb + i];
        sc[p] = s * a.scale;
        if (sc[p] > mx) mx = sc[p];
      }
      let sum = 0;
      o.fill(0);
      for (let p = 0; p < len; p++) {
        const e = Math.exp(sc[p] - mx);
        sum += e;
        const vb = (kvh * nCtx + p) * hd;
        for (let i = 0; i < hd; i++) o[i] += e * a.v[vb + i];
      }
      for (let i = 0; i < hd; i++) out[(t * nHead + h) * hd + i] = o[i] / sum;
    }
  }
  return out;
}
