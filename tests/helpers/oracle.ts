/**
 * @file llama.cpp (through node-llama-cpp 3.21.1, CPU prebuilt) as an independent numerics oracle for golden
 * tests: per-position log-probabilities of a GGUF model on given token ids. Settings follow
 * /work/shared/reference/llama-cpp-oracle.md: F32 KV cache (the default F16 cache rounds K/V to f16) and flash
 * attention off (its CPU path accumulates in f16), so on F32 weights llama.cpp matches an f32 reference to ~1e-5.
 * node-llama-cpp exposes no raw-logits getter; `controlledEvaluate` with `probabilities` returns softmax(logits)
 * computed in float32, so log p equals the logits up to a per-position constant (up to ~2e-4 of error from the
 * float32 sum over the vocabulary). One Llama instance is shared by the whole test file (loading it is the
 * slow part); models are loaded per call and disposed right after. Node-only (tests).
 */
import { getLlama, LlamaLogLevel, type ControlledEvaluateInputItem, type Llama, type Token } from 'node-llama-cpp';

let llamaPromise: Promise<Llama> | undefined;

/** The shared CPU-only llama.cpp instance (prebuilt binary; never tries to compile). */
export function oracleLlama(): Promise<Llama> {
  llamaPromise ??= getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  return llamaPromise;
}

/** Releases the shared instance (call from afterAll). */
export async function disposeOracle(): Promise<void> {
  const p = llamaPromise;
  llamaPromise = undefined;
  if (p) await (await p).dispose();
}

export interface LlamaLogProbsOptions {
  /** Log-probabilities at every position (default: only the last). */
  allPositions?: boolean;
  /** Vocabulary size (default: the largest token id in llama.cpp's output + 1). */
  nVocab?: number;
  /** CPU threads for llama.cpp (default 2). */
  threads?: number;
  /** llama.cpp's K/V cache type (default 'F32': the oracle setting; 'F16' is llama.cpp's own default). */
  kvCache?: 'F32' | 'F16';
}

/**
 * Runs `tokens` (exactly these ids: no BOS is added) through llama.cpp and returns, for each requested position,
 * log p(next token | tokens[0..i]) over the whole vocabulary as a Float32Array of n_vocab (−Infinity where the
 * float32 softmax underflowed to 0). With `allPositions` the result has tokens.length entries, else one (the last).
 */
export async function llamaLogProbs(modelPath: string, tokens: readonly number[], opts: LlamaLogProbsOptions = {}): Promise<Float32Array[]> {
  if (tokens.length === 0) throw new Error('llamaLogProbs: no tokens');
  const llama = await oracleLlama();
  const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
  try {
    // Context rounded up to a multiple of 256 with room for the tokens; batch capped so memory stays small.
    const contextSize = Math.max(256, Math.ceil((tokens.length + 1) / 256) * 256);
    const context = await model.createContext({
      contextSize,
      batchSize: Math.min(contextSize, 512),
      threads: opts.threads ?? 2,
      flashAttention: false,
      experimentalKvCacheKeyType: opts.kvCache ?? 'F32',
      experimentalKvCacheValueType: opts.kvCache ?? 'F32',
    });
    try {
      const seq = context.getSequence();
      const last = tokens.length - 1;
      const input: ControlledEvaluateInputItem[] = tokens.map((t, i) => {
        if (!isToken(t)) throw new Error(`llamaLogProbs: token ${t} at position ${i} is not a valid id`);
        return opts.allPositions || i === last ? [t, { generateNext: { probabilities: true } }] : t;
      });
      const results = await seq.controlledEvaluate(input);
      const maps: Map<number, number>[] = [];
      for (let i = 0; i < tokens.length; i++) {
        if (!opts.allPositions && i !== last) continue;
        const probs = results[i]?.next.probabilities;
        if (!probs) throw new Error(`llamaLogProbs: no probabilities returned for position ${i}`);
        maps.push(probs);
      }
      // The maps cover the whole vocabulary; its size is the largest token id seen + 1 unless given.
      let nVocab = opts.nVocab ?? 0;
      if (opts.nVocab === undefined) for (const m of maps) for (const tok of m.keys()) nVocab = Math.max(nVocab, tok + 1);
      return maps.map((m) => {
        const lp = new Float32Array(nVocab).fill(-Infinity);
        for (const [tok, p] of m) {
          if (tok < 0 || tok >= nVocab) throw new Error(`llamaLogProbs: token ${tok} outside the vocabulary of ${nVocab}`);
          lp[tok] = Math.log(p);
        }
        return lp;
      });
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
  }
}

/** node-llama-cpp brands token ids; any non-negative integer is one. */
function isToken(t: number): t is Token {
  return Number.isInteger(t) && t >= 0;
}
