/**
 * @file The plain-TypeScript f32 CPU reference forward pass: every weight dequantized to f32 once, then the
 * transformer written out token by token (llama2.c style) with a KV cache, for every architecture the engine
 * runs (the switches are the model description's, workers/model/config.ts). It is the
 * yardstick the WebGPU engine is tested against (1e-3), and it is itself checked against llama.cpp and against
 * Hugging Face transformers' outputs in tests/golden. It favours being obviously correct over being fast, but
 * allocates nothing per element (buffers are sized once) so tiny and demo models run in seconds.
 * Runs in Node and in the browser: no `node:` imports.
 */
import type { GgufModel } from '../../gguf/model.ts';
import type { GgmlType } from '../../gguf/ggmlTypes.ts';
import { dequantize } from '../../quant/quant.ts';
import { ggmlActivationRounder } from './ggmlRounding.ts';
import { describeModel } from '../../gguf/arch.ts';
import type { ModelConfig } from '../config.ts';
import {
  addInPlace,
  argmax,
  clampInPlace,
  layerNorm,
  matVec,
  rmsNorm,
  rope,
  sigmoid,
  silu,
  softmaxInPlace,
  topK,
  type RopeParams,
} from './ops.ts';

export class ReferenceModelError extends Error {
  override name = 'ReferenceModelError';
}

/** Dequantized weight values and the type they were stored in (which decides ggml's activation rounding). */
interface Weight {
  readonly data: Float32Array;
  readonly type: GgmlType;
}

/** A dequantized matrix: `rows` rows of `cols` contiguous values (ggml ne = [cols, rows]). */
interface Mat extends Weight {
  readonly rows: number;
  readonly cols: number;
}

/** Experts of one layer: `n` slabs of (rows, cols), expert e at offset e·rows·cols. */
interface Experts extends Weight {
  readonly n: number;
  readonly rows: number;
  readonly cols: number;
}

interface LayerWeights {
  readonly attnNorm: Float32Array; // (n_embd)
  readonly qkv?: Mat; // fused (n_q + 2·n_kv, n_embd)
  readonly qkvBias?: Float32Array;
  readonly q?: Mat; // (n_head·hd, n_embd)
  readonly k?: Mat; // (n_head_kv·hd, n_embd)
  readonly v?: Mat; // (n_head_kv·hd, n_embd)
  readonly qBias?: Float32Array;
  readonly kBias?: Float32Array;
  readonly vBias?: Float32Array;
  readonly qNorm?: Float32Array; // (hd) per head, or (n_head·hd) whole
  readonly kNorm?: Float32Array;
  readonly wo: Mat; // (n_embd, n_head·hd)
  readonly woBias?: Float32Array;
  readonly ffnNorm: Float32Array; // (n_embd)
  // Mixture of experts
  readonly router?: Mat; // (n_expert, n_embd)
  readonly gateExps?: Experts; // (n_expert, n_ff, n_embd)
  readonly upExps?: Experts; // (n_expert, n_ff, n_embd)
  readonly downExps?: Experts; // (n_expert, n_embd, n_ff)
  // Shared expert (qwen2moe, granite shared)
  readonly shexpGateInp?: Float32Array; // (n_embd)
  readonly shexpGate?: Mat; // (n_ff_sh, n_embd)
  readonly shexpUp?: Mat;
  readonly shexpDown?: Mat; // (n_embd, n_ff_sh)
  // Dense FFN
  readonly gate?: Mat; // (n_ff, n_embd)
  readonly up?: Mat;
  readonly down?: Mat; // (n_embd, n_ff)
  readonly gateBias?: Float32Array;
  readonly upBias?: Float32Array;
  readonly downBias?: Float32Array;
}

interface Weights {
  readonly tokEmbd: Mat; // (n_vocab, n_embd)
  readonly outputNorm: Float32Array; // (n_embd)
  readonly output: Mat; // (n_vocab, n_embd), token_embd when tied
  readonly ropeFreqs?: Float32Array; // (n_rot/2)
  readonly layers: readonly LayerWeights[];
}

/** The experts one token was routed to in one layer, in top-k order, with their final mixing weights. */
export interface Routing {
  readonly experts: number[];
  readonly weights: number[];
}

export interface ForwardOptions {
  /** Return logits for every new position (default: only the last). */
  allPositions?: boolean;
  /** Debug hook: the residual stream after each layer (x is reused; copy it to keep it). */
  onLayerOutput?: (layer: number, pos: number, x: Float32Array) => void;
}

export interface LoadOptions {
  signal?: AbortSignal;
  /**
   * 'f32' (default): the reference proper, activations in f32. 'ggml-cpu': round each matrix product's input as
   * llama.cpp's CPU backend does for the weight's type (ggmlRounding.ts), to compare with llama.cpp exactly on
   * quantized weights.
   */
  activations?: 'f32' | 'ggml-cpu';
}

const NORM_W_MIN_SUM = 6.103515625e-5; // llama.cpp clamps the top-k weight sum to the smallest normal f16

/** Reads a tensor, checks its ggml shape, and dequantizes it to f32. */
async function readWeight(model: GgufModel, name: string, dims: readonly number[], signal?: AbortSignal): Promise<Weight> {
  const info = model.requireTensor(name);
  const same = info.dims.length >= dims.length && info.dims.every((d, i) => d === (dims[i] ?? 1));
  if (!same) throw new ReferenceModelError(`tensor '${name}' has shape [${info.dims.join(', ')}], expected [${dims.join(', ')}]`);
  const n = dims.reduce((a, b) => a * b, 1);
  const bytes = await model.readTensor(info, 0, info.nbytes, signal);
  return { data: dequantize(info.type, bytes, n), type: info.type };
}

async function readF32(model: GgufModel, name: string, dims: readonly number[], signal?: AbortSignal): Promise<Float32Array> {
  return (await readWeight(model, name, dims, signal)).data;
}

async function readOpt(model: GgufModel, name: string, dims: readonly number[], signal?: AbortSignal): Promise<Float32Array | undefined> {
  return model.tensor(name) ? readF32(model, name, dims, signal) : undefined;
}

async function readMat(model: GgufModel, name: string, rows: number, cols: number, signal?: AbortSignal): Promise<Mat> {
  return { ...(await readWeight(model, name, [cols, rows], signal)), rows, cols };
}

async function loadLayer(model: GgufModel, c: ModelConfig, il: number, signal?: AbortSignal): Promise<LayerWeights> {
  const p = `blk.${il}.`;
  const E = c.nEmbd;
  const nQ = c.nHead * c.headDim;
  const nKv = c.nHeadKv * c.headDim;
  const fused = model.tensor(`${p}attn_qkv.weight`) !== undefined;
  const qkNormLen = c.qkNorm === 'head' ? [c.headDim, c.headDim] : [nQ, nKv];

  const layer: { -readonly [K in keyof LayerWeights]: LayerWeights[K] } = {
    attnNorm: await readF32(model, `${p}attn_norm.weight`, [E], signal),
    wo: await readMat(model, `${p}attn_output.weight`, E, nQ, signal),
    woBias: await readOpt(model, `${p}attn_output.bias`, [E], signal),
    ffnNorm: await readF32(model, `${p}${c.ffnNormName}.weight`, [E], signal),
  };
  if (fused) {
    layer.qkv = await readMat(model, `${p}attn_qkv.weight`, nQ + 2 * nKv, E, signal);
    layer.qkvBias = await readOpt(model, `${p}attn_qkv.bias`, [nQ + 2 * nKv], signal);
  } else {
    layer.q = await readMat(model, `${p}attn_q.weight`, nQ, E, signal);
    layer.k = await readMat(model, `${p}attn_k.weight`, nKv, E, signal);
    layer.v = await readMat(model, `${p}attn_v.weight`, nKv, E, signal);
    layer.qBias = await readOpt(model, `${p}attn_q.bias`, [nQ], signal);
    layer.kBias = await readOpt(model, `${p}attn_k.bias`, [nKv], signal);
    layer.vBias = await readOpt(model, `${p}attn_v.bias`, [nKv], signal);
  }
  if (c.qkNorm !== 'none') {
    layer.qNorm = await readF32(model, `${p}attn_q_norm.weight`, [qkNormLen[0]], signal);
    layer.kNorm = await readF32(model, `${p}attn_k_norm.weight`, [qkNormLen[1]], signal);
  }

  if (c.nExpert > 0) {
    const nE = c.nExpert;
    const nFf = c.nFf;
    layer.router = await readMat(model, `${p}ffn_gate_inp.weight`, nE, E, signal);
    const experts = async (name: string, rows: number, cols: number): Promise<Experts> => ({
      ...(await readWeight(model, `${p}${name}.weight`, [cols, rows, nE], signal)),
      n: nE,
      rows,
      cols,
    });
    layer.gateExps = await experts('ffn_gate_exps', nFf, E);
    layer.upExps = await experts('ffn_up_exps', nFf, E);
    layer.downExps = await experts('ffn_down_exps', E, nFf);
    if (c.nFfShexp > 0) {
      const nSh = c.nFfShexp;
      layer.shexpGate = await readMat(model, `${p}ffn_gate_shexp.weight`, nSh, E, signal);
      layer.shexpUp = await readMat(model, `${p}ffn_up_shexp.weight`, nSh, E, signal);
      layer.shexpDown = await readMat(model, `${p}ffn_down_shexp.weight`, E, nSh, signal);
      if (c.sharedExpertGated) layer.shexpGateInp = await readF32(model, `${p}ffn_gate_inp_shexp.weight`, [E], signal);
    }
  } else {
    const nFf = c.nFf;
    layer.gate = await readMat(model, `${p}ffn_gate.weight`, nFf, E, signal);
    layer.up = await readMat(model, `${p}ffn_up.weight`, nFf, E, signal);
    layer.down = await readMat(model, `${p}ffn_down.weight`, E, nFf, signal);
    layer.gateBias = await readOpt(model, `${p}ffn_gate.bias`, [nFf], signal);
    layer.upBias = await readOpt(model, `${p}ffn_up.bias`, [nFf], signal);
    layer.downBias = await readOpt(model, `${p}ffn_down.bias`, [E], signal);
  }
  return layer;
}

export class ReferenceModel {
  readonly config: ModelConfig;
  readonly nVocab: number;
  private readonly w: Weights;
  private readonly ropeParams: RopeParams;
  /** Emulate ggml-cpu's activation rounding before each matrix product (LoadOptions.activations). */
  private readonly ggmlRounding: boolean;

  // KV cache: per layer (capacity, n_head_kv·hd), grown by doubling.
  private kCache: Float32Array[];
  private vCache: Float32Array[];
  private capacity: number;
  private pos = 0;
  /** Routing per processed position: (n_layer) entries of the chosen experts. */
  private routes: Routing[][] = [];

  // Scratch buffers, sized once.
  private readonly x: Float32Array; // (n_embd) residual stream
  private readonly xn: Float32Array; // (n_embd) normed
  private readonly qkvBuf: Float32Array; // (n_q + 2·n_kv)
  private readonly att: Float32Array; // (n_head·hd)
  private readonly proj: Float32Array; // (n_embd)
  private readonly ffnOut: Float32Array; // (n_embd)
  private readonly expOut: Float32Array; // (n_embd)
  private readonly hGate: Float32Array; // (max n_ff)
  private readonly hUp: Float32Array; // (max n_ff)
  private readonly routerLogits: Float32Array; // (n_expert)
  private readonly chosen: Int32Array; // (n_expert_used)
  private readonly xq: Float32Array; // (max input length) rounded matmul input, ggml-cpu emulation only
  private scores: Float64Array; // (capacity)
  private readonly accV: Float64Array; // (hd)

  private constructor(config: ModelConfig, w: Weights, activations: 'f32' | 'ggml-cpu') {
    this.config = config;
    this.ggmlRounding = activations === 'ggml-cpu';
    this.w = w;
    this.nVocab = config.nVocab;
    this.ropeParams = { ...config.rope, freqFactors: w.ropeFreqs };
    const c = config;
    const nQ = c.nHead * c.headDim;
    const nKv = c.nHeadKv * c.headDim;
    this.capacity = 256;
    this.kCache = w.layers.map(() => new Float32Array(this.capacity * nKv));
    this.vCache = w.layers.map(() => new Float32Array(this.capacity * nKv));
    this.scores = new Float64Array(this.capacity);
    this.accV = new Float64Array(c.headDim);
    this.x = new Float32Array(c.nEmbd);
    this.xn = new Float32Array(c.nEmbd);
    this.qkvBuf = new Float32Array(nQ + 2 * nKv);
    this.att = new Float32Array(nQ);
    this.proj = new Float32Array(c.nEmbd);
    this.ffnOut = new Float32Array(c.nEmbd);
    this.expOut = new Float32Array(c.nEmbd);
    const maxFf = Math.max(1, c.nFf, c.nFfShexp);
    this.hGate = new Float32Array(maxFf);
    this.hUp = new Float32Array(maxFf);
    this.routerLogits = new Float32Array(Math.max(1, c.nExpert));
    this.chosen = new Int32Array(Math.max(1, c.nExpertUsed));
    this.xq = new Float32Array(Math.max(c.nEmbd, nQ, maxFf));
  }

  /** Dequantizes every weight of `model` to f32 (memory: 4 bytes per parameter). */
  static async load(model: GgufModel, opts: LoadOptions = {}): Promise<ReferenceModel> {
    const c = describeModel(model);
    const signal = opts.signal;
    const tokEmbd = await readMat(model, 'token_embd.weight', c.nVocab, c.nEmbd, signal);
    const output = c.tiedOutput ? tokEmbd : await readMat(model, 'output.weight', c.nVocab, c.nEmbd, signal);
    const layers: LayerWeights[] = [];
    for (let il = 0; il < c.nLayer; il++) layers.push(await loadLayer(model, c, il, signal));
    const w: Weights = {
      tokEmbd,
      output,
      outputNorm: await readF32(model, 'output_norm.weight', [c.nEmbd], signal),
      ropeFreqs: await readOpt(model, 'rope_freqs.weight', [c.rope.nRot / 2], signal),
      layers,
    };
    return new ReferenceModel(c, w, opts.activations ?? 'f32');
  }

  /** Number of positions in the KV cache. */
  get nPast(): number {
    return this.pos;
  }

  /** Empties the KV cache and the routing log. */
  reset(): void {
    this.pos = 0;
    this.routes = [];
  }

  /**
   * Runs `tokens` after the cached positions and returns logits (n_vocab each): one per new position with
   * `allPositions`, else only the last. Call again with more tokens to continue (prompt, then one token at a time).
   */
  forward(tokens: readonly number[], opts: ForwardOptions = {}): Float32Array[] {
    const out: Float32Array[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const wantLogits = opts.allPositions === true || i === tokens.length - 1;
      const logits = this.step(tokens[i], wantLogits, opts.onLayerOutput);
      if (logits) out.push(logits);
    }
    return out;
  }

  /**
   * Greedy decoding from an empty cache: runs `prompt`, then appends the argmax token up to `n` times, stopping
   * after an end-of-generation token (which is included). Returns the generated tokens.
   */
  greedy(prompt: readonly number[], n: number, eogIds: readonly number[] = []): number[] {
    this.reset();
    const gen: number[] = [];
    if (n <= 0) return gen;
    let logits = this.forward(prompt)[0];
    if (!logits) throw new ReferenceModelError('greedy: empty prompt');
    for (;;) {
      const t = argmax(logits);
      gen.push(t);
      if (gen.length >= n || eogIds.includes(t)) return gen;
      logits = this.forward([t])[0];
    }
  }

  /** The experts chosen at cached position `pos`, per layer (empty for dense models). */
  routingAt(pos: number): readonly Routing[] {
    const r = this.routes[pos];
    if (!r) throw new ReferenceModelError(`no routing recorded for position ${pos} (${this.pos} positions cached)`);
    return r;
  }

  /** Chosen expert ids for every cached position: [position][layer][k], in top-k order. */
  chosenExperts(): number[][][] {
    return this.routes.map((layers) => layers.map((r) => [...r.experts]));
  }

  // ---------------------------------------------------------------------------------------------------------
  // One position
  // ---------------------------------------------------------------------------------------------------------

  private ensureCapacity(n: number): void {
    if (n <= this.capacity) return;
    let cap = this.capacity;
    while (cap < n) cap *= 2;
    const nKv = this.config.nHeadKv * this.config.headDim;
    const grow = (a: Float32Array): Float32Array => {
      const b = new Float32Array(cap * nKv);
      b.set(a.subarray(0, this.pos * nKv));
      return b;
    };
    this.kCache = this.kCache.map(grow);
    this.vCache = this.vCache.map(grow);
    this.scores = new Float64Array(cap);
    this.capacity = cap;
  }

  /** out[outOff..+rows) = W·x[0..cols), W at wOff (an expert slab); x rounded first under ggml-cpu emulation. */
  private mul(out: Float32Array, w: Weight, x: Float32Array, rows: number, cols: number, wOff = 0, outOff = 0): void {
    const round = this.ggmlRounding ? ggmlActivationRounder(w.type) : undefined;
    let input = x;
    if (round) {
      this.xq.set(x.subarray(0, cols));
      round(this.xq, cols);
      input = this.xq;
    }
    matVec(out, w.data, input, rows, cols, wOff, 0, outOff);
  }

  private norm(out: Float32Array, x: Float32Array, w: Float32Array): void {
    if (this.config.norm === 'layer') layerNorm(out, x, w, undefined, this.config.normEps, this.config.nEmbd);
    else rmsNorm(out, x, w, this.config.normEps, this.config.nEmbd);
  }

  private step(token: number, wantLogits: boolean, onLayerOutput?: ForwardOptions['onLayerOutput']): Float32Array | undefined {
    const c = this.config;
    const w = this.w;
    if (!Number.isInteger(token) || token < 0 || token >= this.nVocab) {
      throw new ReferenceModelError(`token id ${token} at position ${this.pos} is outside the vocabulary (0..${this.nVocab - 1})`);
    }
    const pos = this.pos;
    this.ensureCapacity(pos + 1);
    const E = c.nEmbd;
    const x = this.x;

    // x = token_embd[token] · embedding_scale                                         (n_embd)
    for (let i = 0; i < E; i++) x[i] = w.tokEmbd.data[token * E + i] * c.embeddingScale;

    const routes: Routing[] = [];
    for (let il = 0; il < c.nLayer; il++) {
      const L = w.layers[il];
      // --- attention block: x += residual_scale · Wo·attn(norm(x))
      this.norm(this.xn, x, L.attnNorm);
      this.attention(il, L, pos);
      for (let i = 0; i < E; i++) x[i] += this.proj[i] * c.residualScale;

      // --- FFN block: x += residual_scale · ffn(norm(x))
      this.norm(this.xn, x, L.ffnNorm);
      if (L.router) routes.push(this.moe(L));
      else this.denseFfn(L);
      for (let i = 0; i < E; i++) x[i] += this.ffnOut[i] * c.residualScale;
      onLayerOutput?.(il, pos, x);
    }
    this.routes[pos] = routes;
    this.pos = pos + 1;

    if (!wantLogits) return undefined;
    // logits = output · norm(x) / logit_scale                                          (n_vocab)
    this.norm(this.xn, x, w.outputNorm);
    const logits = new Float32Array(this.nVocab);
    this.mul(logits, w.output, this.xn, this.nVocab, E);
    if (c.logitScale !== 1) for (let i = 0; i < logits.length; i++) logits[i] /= c.logitScale;
    return logits;
  }

  /** Self-attention of position `pos` over positions 0..pos; reads this.xn, writes this.proj (n_embd). */
  private attention(il: number, L: LayerWeights, pos: number): void {
    const c = this.config;
    const E = c.nEmbd;
    const hd = c.headDim;
    const nQ = c.nHead * hd;
    const nKv = c.nHeadKv * hd;
    const qkv = this.qkvBuf; // [q (n_head, hd) | k (n_head_kv, hd) | v (n_head_kv, hd)]

    if (L.qkv) {
      this.mul(qkv, L.qkv, this.xn, nQ + 2 * nKv, E);
      if (L.qkvBias) addInPlace(qkv, L.qkvBias);
      // DBRX: the whole fused output is clamped, before the split and before RoPE.
      if (c.clampKqv > 0) clampInPlace(qkv, c.clampKqv, nQ + 2 * nKv);
    } else if (L.q && L.k && L.v) {
      this.mul(qkv, L.q, this.xn, nQ, E, 0, 0);
      this.mul(qkv, L.k, this.xn, nKv, E, 0, nQ);
      this.mul(qkv, L.v, this.xn, nKv, E, 0, nQ + nKv);
      if (L.qBias) addInPlace(qkv, L.qBias, nQ, 0);
      if (L.kBias) addInPlace(qkv, L.kBias, nKv, nQ);
      if (L.vBias) addInPlace(qkv, L.vBias, nKv, nQ + nKv);
      if (c.clampKqv > 0) clampInPlace(qkv, c.clampKqv, nQ + 2 * nKv);
    } else {
      throw new ReferenceModelError(`layer ${il}: no attention projections loaded`);
    }

    // q/k RMS norm before RoPE (qwen3moe: each head over hd; olmoe: the whole projection).
    if (L.qNorm && L.kNorm) {
      if (c.qkNorm === 'head') {
        for (let h = 0; h < c.nHead; h++) rmsNorm(qkv, qkv, L.qNorm, c.normEps, hd, h * hd);
        for (let h = 0; h < c.nHeadKv; h++) rmsNorm(qkv, qkv, L.kNorm, c.normEps, hd, nQ + h * hd);
      } else {
        rmsNorm(qkv, qkv, L.qNorm, c.normEps, nQ, 0);
        rmsNorm(qkv, qkv, L.kNorm, c.normEps, nKv, nQ);
      }
    }

    rope(qkv, 0, c.nHead, hd, pos, this.ropeParams);
    rope(qkv, nQ, c.nHeadKv, hd, pos, this.ropeParams);

    // Append k, v to the cache at row `pos`.                                           (ctx, n_head_kv·hd)
    const kc = this.kCache[il];
    const vc = this.vCache[il];
    kc.set(qkv.subarray(nQ, nQ + nKv), pos * nKv);
    vc.set(qkv.subarray(nQ + nKv, nQ + 2 * nKv), pos * nKv);

    // Per query head h (GQA: kv head ⌊h / (n_head / n_head_kv)⌋):
    //   s_t = scale · q_h·k_t (t ≤ pos), a = softmax(s), att_h = Σ_t a_t · v_t
    const group = c.nHead / c.nHeadKv;
    const s = this.scores;
    const att = this.att;
    for (let h = 0; h < c.nHead; h++) {
      const kvh = Math.floor(h / group);
      const qOff = h * hd;
      for (let t = 0; t <= pos; t++) {
        const kOff = t * nKv + kvh * hd;
        let dot = 0;
        for (let i = 0; i < hd; i++) dot += qkv[qOff + i] * kc[kOff + i];
        s[t] = dot * c.attentionScale;
      }
      softmaxInPlace(s, pos + 1);
      const acc = this.accV;
      acc.fill(0);
      for (let t = 0; t <= pos; t++) {
        const a = s[t];
        const vOff = t * nKv + kvh * hd;
        for (let i = 0; i < hd; i++) acc[i] += a * vc[vOff + i];
      }
      for (let i = 0; i < hd; i++) att[qOff + i] = acc[i];
    }

    // proj = Wo · att (+ bo)                                                          (n_embd)
    this.mul(this.proj, L.wo, att, E, nQ);
    if (L.woBias) addInPlace(this.proj, L.woBias);
  }

  /**
   * Mixture of experts on this.xn, into this.ffnOut (n_embd):
   *   p = softmax(router·x) over all experts; top-k by p; w = p[top] (÷ Σ if normTopK);
   *   out = Σ_j w_j · down_e(silu(gate_e·x) ⊙ up_e·x)  (+ shared expert, × sigmoid(x·w_sh) when gated)
   */
  private moe(L: LayerWeights): Routing {
    const c = this.config;
    const E = c.nEmbd;
    const router = L.router;
    const gate = L.gateExps;
    const up = L.upExps;
    const down = L.downExps;
    if (!router || !gate || !up || !down) throw new ReferenceModelError('moe: expert weights not loaded');
    const k = c.nExpertUsed;
    const probs = this.routerLogits;
    this.mul(probs, router, this.xn, c.nExpert, E);
    softmaxInPlace(probs, c.nExpert);
    topK(probs, c.nExpert, k, this.chosen);

    const experts: number[] = [];
    const weights: number[] = [];
    let sum = 0;
    for (let j = 0; j < k; j++) {
      experts.push(this.chosen[j]);
      weights.push(probs[this.chosen[j]]);
      sum += probs[this.chosen[j]];
    }
    if (c.normTopK) {
      const d = Math.max(sum, NORM_W_MIN_SUM);
      for (let j = 0; j < k; j++) weights[j] /= d;
    }

    const out = this.ffnOut;
    out.fill(0);
    const nFf = up.rows;
    for (let j = 0; j < k; j++) {
      const e = experts[j];
      // h = silu(gate_e·x) ⊙ (up_e·x)                                                (n_ff)
      this.mul(this.hUp, up, this.xn, nFf, E, e * nFf * E);
      this.mul(this.hGate, gate, this.xn, nFf, E, e * nFf * E);
      for (let i = 0; i < nFf; i++) this.hGate[i] = silu(this.hGate[i]) * this.hUp[i];
      // out += w_j · down_e·h                                                         (n_embd)
      this.mul(this.expOut, down, this.hGate, E, nFf, e * E * nFf);
      for (let i = 0; i < E; i++) out[i] += weights[j] * this.expOut[i];
    }

    if (L.shexpUp && L.shexpGate && L.shexpDown) {
      const nSh = L.shexpUp.rows;
      this.mul(this.hUp, L.shexpUp, this.xn, nSh, E);
      this.mul(this.hGate, L.shexpGate, this.xn, nSh, E);
      for (let i = 0; i < nSh; i++) this.hGate[i] = silu(this.hGate[i]) * this.hUp[i];
      this.mul(this.expOut, L.shexpDown, this.hGate, E, nSh);
      let g = 1;
      if (L.shexpGateInp) {
        let dot = 0;
        for (let i = 0; i < E; i++) dot += L.shexpGateInp[i] * this.xn[i];
        g = sigmoid(dot);
      }
      for (let i = 0; i < E; i++) out[i] += g * this.expOut[i];
    }
    return { experts, weights };
  }

  /** Dense SwiGLU FFN on this.xn into this.ffnOut: down(silu(gate·x + bg) ⊙ (up·x + bu)) + bd. */
  private denseFfn(L: LayerWeights): void {
    const E = this.config.nEmbd;
    const { gate, up, down } = L;
    if (!gate || !up || !down) throw new ReferenceModelError('dense FFN weights not loaded');
    const nFf = up.rows;
    this.mul(this.hUp, up, this.xn, nFf, E);
    this.mul(this.hGate, gate, this.xn, nFf, E);
    if (L.upBias) addInPlace(this.hUp, L.upBias, nFf);
    if (L.gateBias) addInPlace(this.hGate, L.gateBias, nFf);
    for (let i = 0; i < nFf; i++) this.hGate[i] = silu(this.hGate[i]) * this.hUp[i];
    this.mul(this.ffnOut, down, this.hGate, E, nFf);
    if (L.downBias) addInPlace(this.ffnOut, L.downBias);
  }
}

const loaded = new WeakMap<GgufModel, Promise<ReferenceModel>>();

/**
 * Reference logits of `tokens` from an empty cache: per position with `allPositions`, else the last only.
 * The dequantized model is cached per GgufModel object (weakly), so tests can call this repeatedly.
 */
export async function referenceLogits(model: GgufModel | ReferenceModel, tokens: readonly number[], allPositions = false): Promise<Float32Array[]> {
  let ref: ReferenceModel;
  if (model instanceof ReferenceModel) {
    ref = model;
  } else {
    let p = loaded.get(model);
    if (!p) {
      p = ReferenceModel.load(model);
      loaded.set(model, p);
      p.catch(() => loaded.delete(model));
    }
    ref = await p;
  }
  ref.reset();
  return ref.forward(tokens, { allPositions });
}
