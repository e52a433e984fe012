/**
 * @file CPU references for the MoE kernels (kernels/moe_*.wgsl): router (softmax, top-k, gating), the
 * expert GLU over the selected experts, the weighted down-projection combine with the residual, and the
 * Qwen2-MoE shared expert. Plain TypeScript on dequantized f32 weights (workers/quant `dequantize`),
 * accumulating in float64, so GPU results are compared against the exact math.
 */
import { normRef, type NormKind } from './norm.ref.ts';

/** softmax -> top-k -> renormalise (DBRX, Mixtral, Qwen3-MoE, Granite) or without renormalisation (OLMoE, Qwen2-MoE). */
export type MoeGating = 'softmax_topk_renorm' | 'softmax_topk';

export interface RouterRefOptions {
  readonly nEmbd: number;
  readonly nExpert: number;
  readonly k: number;
  readonly gating: MoeGating;
  /** Multiplies the expert weights (default 1). */
  readonly scale?: number;
  /** Qwen2-MoE shared-expert gate vector (n_embd): slot k gets sigmoid(w · x) and id n_expert. */
  readonly sharedGate?: Float32Array;
}

export interface RouterRefResult {
  /** (n_tokens, ks) with ks = k (+1 with a shared gate). */
  readonly ids: Uint32Array;
  readonly weights: Float32Array;
  /** (n_tokens, n_expert) logits in float64. */
  readonly logits: Float64Array;
}

/**
 * Selection order of the kernels: descending logit, equal logits -> lower expert index first.
 * NaN counts as -3e38 and infinities are clamped to +-3e38, as on the GPU.
 */
export function topkOrder(logits: ArrayLike<number>, k: number): number[] {
  const v = (i: number): number => {
    const l = logits[i];
    return Number.isNaN(l) ? -3e38 : Math.min(3e38, Math.max(-3e38, l));
  };
  const idx = Array.from({ length: logits.length }, (_, i) => i);
  idx.sort((a, b) => v(b) - v(a) || a - b);
  return idx.slice(0, k);
}

/** x: (n_tokens, n_embd); wr: (n_expert, n_embd) row-major (ggml ne [n_embd, n_expert]). */
export function moeRouterRef(x: Float32Array, wr: Float32Array, o: RouterRefOptions): RouterRefResult {
  const { nEmbd, nExpert, k, gating, scale = 1 } = o;
  const nTok = x.length / nEmbd;
  const ks = k + (o.sharedGate ? 1 : 0);
  const ids = new Uint32Array(nTok * ks);
  const weights = new Float32Array(nTok * ks);
  const logits = new Float64Array(nTok * nExpert);
  for (let t = 0; t < nTok; t++) {
    const lg = logits.subarray(t * nExpert, (t + 1) * nExpert);
    for (let e = 0; e < nExpert; e++) lg[e] = dot(wr, e * nEmbd, x, t * nEmbd, nEmbd);
    const sel = topkOrder(lg, k);
    const m = lg[sel[0]];
    let denom = 0;
    if (gating === 'softmax_topk') for (let e = 0; e < nExpert; e++) denom += Math.exp(lg[e] - m);
    else for (const e of sel) denom += Math.exp(lg[e] - m);
    sel.forEach((e, j) => {
      ids[t * ks + j] = e;
      weights[t * ks + j] = (Math.exp(lg[e] - m) / denom) * scale;
    });
    if (o.sharedGate) {
      ids[t * ks + k] = nExpert;
      weights[t * ks + k] = 1 / (1 + Math.exp(-dot(o.sharedGate, 0, x, t * nEmbd, nEmbd)));
    }
  }
  return { ids, weights, logits };
}

/** The router with its input norm folded in (moeRouter `norm`): xn = normRef(x) (n_tokens, n_embd), then the router on xn. */
export function moeRouterNormRef(
  x: Float32Array,
  norm: { readonly kind: NormKind; readonly weight: Float32Array; readonly eps: number },
  wr: Float32Array,
  o: RouterRefOptions,
): RouterRefResult & { readonly xn: Float32Array } {
  const xn = normRef(norm.kind, x, norm.weight, { n: o.nEmbd, nTok: x.length / o.nEmbd, eps: norm.eps });
  return { ...moeRouterRef(xn, wr, o), xn };
}

function dot(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[ao + i] * b[bo + i];
  return s;
}

const silu = (v: number): number => v / (1 + Math.exp(-v));

/**
 * Expert GLU over selected experts: h[j][f] = silu(gate_e[f] · x) * (up_e[f] · x), e = ids[j].
 * gate/up: (n_expert, n_ff, n_embd) row-major (ggml ne [n_embd, n_ff, n_expert]), x: (n_embd).
 */
export function moeGateUpRef(
  x: Float32Array,
  gate: Float32Array,
  up: Float32Array,
  ids: ArrayLike<number>,
  nEmbd: number,
  nFf: number,
): Float32Array {
  const h = new Float32Array(ids.length * nFf);
  for (let j = 0; j < ids.length; j++) {
    const e = ids[j];
    for (let f = 0; f < nFf; f++) {
      const row = (e * nFf + f) * nEmbd;
      h[j * nFf + f] = silu(dot(gate, row, x, 0, nEmbd)) * dot(up, row, x, 0, nEmbd);
    }
  }
  return h;
}

/**
 * y[d] = residual[d] + sum_j w_j (down_{e_j}[d] · h[j]); down: (n_expert, n_embd, n_ff) row-major
 * (ggml ne [n_ff, n_embd, n_expert]); h: (k, n_ff).
 */
export function moeDownRef(
  h: Float32Array,
  down: Float32Array,
  ids: ArrayLike<number>,
  weights: ArrayLike<number>,
  residual: Float32Array,
  nFf: number,
  nEmbd: number,
): Float32Array {
  const y = new Float32Array(nEmbd);
  for (let d = 0; d < nEmbd; d++) {
    let s = residual[d];
    for (let j = 0; j < ids.length; j++) s += weights[j] * dot(down, (ids[j] * nEmbd + d) * nFf, h, j * nFf, nFf);
    y[d] = s;
  }
  return y;
}

export interface MoeLayerRefWeights {
  readonly nEmbd: number;
  readonly nFf: number;
  readonly nExpert: number;
  readonly k: number;
  readonly gating: MoeGating;
  readonly scale?: number;
  /** (n_expert, n_embd) */
  readonly router: Float32Array;
  readonly gate: Float32Array;
  readonly up: Float32Array;
  readonly down: Float32Array;
  /** Qwen2-MoE shared expert: gate vector (n_embd) and dense GLU (n_ff_sh). */
  readonly shared?: {
    readonly nFf: number;
    readonly gateInp: Float32Array;
    readonly gate: Float32Array;
    readonly up: Float32Array;
    readonly down: Float32Array;
  };
}

/** The whole MoE block for T tokens: y[t] = residual[t] + MoE(x[t]) (+ the gated shared expert). */
export function moeLayerRef(x: Float32Array, residual: Float32Array, w: MoeLayerRefWeights): Float32Array {
  const { nEmbd, nFf, k } = w;
  const nTok = x.length / nEmbd;
  const r = moeRouterRef(x, w.router, { nEmbd, nExpert: w.nExpert, k, gating: w.gating, scale: w.scale, sharedGate: w.shared?.gateInp });
  const ks = k + (w.shared ? 1 : 0);
  const y = new Float32Array(nTok * nEmbd);
  for (let t = 0; t < nTok; t++) {
    const xt = x.subarray(t * nEmbd, (t + 1) * nEmbd);
    const ids = r.ids.subarray(t * ks, t * ks + k);
    const ws = r.weights.subarray(t * ks, t * ks + k);
    const h = moeGateUpRef(xt, w.gate, w.up, ids, nEmbd, nFf);
    let yt = moeDownRef(h, w.down, ids, ws, residual.subarray(t * nEmbd, (t + 1) * nEmbd), nFf, nEmbd);
    if (w.shared) {
      const s = w.shared;
      const hs = moeGateUpRef(xt, s.gate, s.up, [0], nEmbd, s.nFf);
      yt = moeDownRef(hs, s.down, [0], [r.weights[t * ks + k]], yt, s.nFf, nEmbd);
    }
    y.set(yt, t * nEmbd);
  }
  return y;
}
