/**
 * @file The models the app offers: the bundled Brix demo model, real GGUF MoE models small enough for a tab
 * (plus one dense reference), and DBRX itself, which is far too big for a tab and is listed only to say so.
 * Sizes and URLs are best effort (Hugging Face `resolve` URLs of public GGUF repos, checked against their
 * model cards where we could); the shard cache probes the real size before it downloads anything.
 */

/** Where a model's bytes come from. */
export type ModelOrigin = 'bundled' | 'catalog' | 'url' | 'file';

export interface ModelDetails {
  readonly architecture: string;
  /** Total parameters. */
  readonly params: number;
  /** Parameters active per token (MoE); equal to params for dense models. */
  readonly activeParams: number;
  readonly experts?: { readonly total: number; readonly used: number };
  /** Trained context length in tokens. */
  readonly context: number;
  readonly quant: string;
  readonly license: string;
  readonly licenseUrl?: string;
  /** The model card. */
  readonly pageUrl?: string;
  /** Rough size of the largest single tensor (what must fit one GPU buffer). */
  readonly largestTensorBytes?: number;
  readonly note?: string;
}

export interface ModelEntry {
  readonly id: string;
  /** Shown in the model picker; unique. */
  readonly name: string;
  readonly origin: ModelOrigin;
  /**
   * bundled: the manifest's path relative to the app's base URL; catalog/url: the absolute URL of the GGUF
   * (or of its first split part).
   */
  readonly url?: string;
  /** origin 'file': the GGUF picked from disk (kept for this session only). */
  readonly file?: Blob;
  /** Download size in bytes, when known. */
  readonly sizeBytes?: number;
  /** True when sizeBytes is an estimate from the model card. */
  readonly sizeApprox?: boolean;
  readonly details?: ModelDetails;
}

/** One quantization of a big model: what a tab needs to hold it. */
export interface TabQuant {
  readonly quant: string;
  /** GGUF tensor bytes: the download and the storage. */
  readonly bytes: number;
  /** GPU memory at the app's default context: weights as uploaded (rows padded), the f16 KV cache, scratch. */
  readonly gpuBytes: number;
  /** Largest single tensor (one GPU buffer binding). */
  readonly largestTensorBytes: number;
}

/** A model that cannot run in a tab; compare against it through an OpenAI-compatible endpoint. */
export interface EndpointModel {
  readonly id: string;
  readonly name: string;
  readonly sizeBytes: number;
  readonly details: ModelDetails;
  /** Quantizations small enough for a tab on a big unified-memory machine, smallest first. */
  readonly tabQuants?: readonly TabQuant[];
}

export const DEMO_MODEL_ID = 'brix-demo-30m';
export const DEMO_MODEL_NAME = 'Brix Demo 30M';
export const DEMO_MANIFEST_PATH = 'models/brix-demo-30m/manifest.json';

const GB = 1e9;
const MB = 1e6;

/**
 * The DBRX engine's GPU memory besides weights and KV cache (activations, prefill chunk scratch, MoE grouping,
 * logits): bench gpuMemoryBytes − upload plan − KV, the same 231,549,064 bytes at 4 and at 8 layers
 * (tests/bench-results/2026-11-28-h200-dbrx-{4,8}-layers.json).
 */
export const DBRX_SCRATCH_BYTES = 231_549_064;
const HF = 'https://huggingface.co';

export const CATALOG: readonly ModelEntry[] = [
  {
    id: DEMO_MODEL_ID,
    name: DEMO_MODEL_NAME,
    origin: 'bundled',
    url: DEMO_MANIFEST_PATH,
    sizeBytes: 28_554_880,
    details: {
      architecture: 'dbrx',
      params: 29.7e6,
      activeParams: 20e6,
      experts: { total: 16, used: 4 },
      context: 2048,
      quant: 'Q8_0 (embeddings Q4_0)',
      license: 'Ships with Brix',
      largestTensorBytes: 9 * MB,
      note: 'A tiny DBRX-architecture model trained for Brix: it greets you, tells short stories and defines words. Works offline.',
    },
  },
  {
    id: 'granite-3.1-1b-a400m-instruct-q4_k_m',
    name: 'Granite 3.1 1B A400M Instruct',
    origin: 'catalog',
    url: `${HF}/bartowski/granite-3.1-1b-a400m-instruct-GGUF/resolve/main/granite-3.1-1b-a400m-instruct-Q4_K_M.gguf`,
    sizeBytes: 0.82 * GB,
    sizeApprox: true,
    details: {
      architecture: 'granitemoe',
      params: 1.3e9,
      activeParams: 0.4e9,
      experts: { total: 32, used: 8 },
      context: 131_072,
      quant: 'Q4_K_M',
      license: 'Apache-2.0',
      licenseUrl: 'https://www.apache.org/licenses/LICENSE-2.0',
      pageUrl: `${HF}/ibm-granite/granite-3.1-1b-a400m-instruct`,
      largestTensorBytes: 42 * MB,
    },
  },
  {
    id: 'granite-3.1-3b-a800m-instruct-q4_k_m',
    name: 'Granite 3.1 3B A800M Instruct',
    origin: 'catalog',
    url: `${HF}/bartowski/granite-3.1-3b-a800m-instruct-GGUF/resolve/main/granite-3.1-3b-a800m-instruct-Q4_K_M.gguf`,
    sizeBytes: 2.0 * GB,
    sizeApprox: true,
    details: {
      architecture: 'granitemoe',
      params: 3.3e9,
      activeParams: 0.8e9,
      experts: { total: 40, used: 8 },
      context: 131_072,
      quant: 'Q4_K_M',
      license: 'Apache-2.0',
      licenseUrl: 'https://www.apache.org/licenses/LICENSE-2.0',
      pageUrl: `${HF}/ibm-granite/granite-3.1-3b-a800m-instruct`,
      largestTensorBytes: 62 * MB,
    },
  },
  {
    id: 'olmoe-1b-7b-0125-instruct-q4_k_m',
    name: 'OLMoE 1B-7B 0125 Instruct (Q4_K_M)',
    origin: 'catalog',
    url: `${HF}/bartowski/allenai_OLMoE-1B-7B-0125-Instruct-GGUF/resolve/main/allenai_OLMoE-1B-7B-0125-Instruct-Q4_K_M.gguf`,
    sizeBytes: 4.2 * GB,
    sizeApprox: true,
    details: {
      architecture: 'olmoe',
      params: 6.9e9,
      activeParams: 1.3e9,
      experts: { total: 64, used: 8 },
      context: 4096,
      quant: 'Q4_K_M',
      license: 'Apache-2.0',
      licenseUrl: 'https://www.apache.org/licenses/LICENSE-2.0',
      pageUrl: `${HF}/allenai/OLMoE-1B-7B-0125-Instruct`,
      largestTensorBytes: 110 * MB,
    },
  },
  {
    id: 'olmoe-1b-7b-0125-instruct-iq4_xs',
    name: 'OLMoE 1B-7B 0125 Instruct (IQ4_XS)',
    origin: 'catalog',
    url: `${HF}/bartowski/allenai_OLMoE-1B-7B-0125-Instruct-GGUF/resolve/main/allenai_OLMoE-1B-7B-0125-Instruct-IQ4_XS.gguf`,
    sizeBytes: 3.7 * GB,
    sizeApprox: true,
    details: {
      architecture: 'olmoe',
      params: 6.9e9,
      activeParams: 1.3e9,
      experts: { total: 64, used: 8 },
      context: 4096,
      quant: 'IQ4_XS',
      license: 'Apache-2.0',
      licenseUrl: 'https://www.apache.org/licenses/LICENSE-2.0',
      pageUrl: `${HF}/allenai/OLMoE-1B-7B-0125-Instruct`,
      largestTensorBytes: 85 * MB,
    },
  },
  {
    id: 'llama-3.2-1b-instruct-q4_k_m',
    name: 'Llama 3.2 1B Instruct (dense)',
    origin: 'catalog',
    url: `${HF}/bartowski/Llama-3.2-1B-Instruct-GGUF/resolve/main/Llama-3.2-1B-Instruct-Q4_K_M.gguf`,
    sizeBytes: 0.81 * GB,
    sizeApprox: true,
    details: {
      architecture: 'llama',
      params: 1.24e9,
      activeParams: 1.24e9,
      context: 131_072,
      quant: 'Q4_K_M',
      license: 'Llama 3.2 Community License',
      licenseUrl: `${HF}/meta-llama/Llama-3.2-1B-Instruct/blob/main/LICENSE.txt`,
      pageUrl: `${HF}/meta-llama/Llama-3.2-1B-Instruct`,
      largestTensorBytes: 215 * MB,
      note: 'A dense model of about the same size, for comparing MoE against dense speed.',
    },
  },
];

export const ENDPOINT_MODELS: readonly EndpointModel[] = [
  {
    id: 'dbrx-instruct',
    name: 'DBRX Instruct',
    sizeBytes: 80 * GB,
    details: {
      architecture: 'dbrx',
      params: 132e9,
      activeParams: 36e9,
      experts: { total: 16, used: 4 },
      context: 32_768,
      quant: 'Q4_K_M',
      license: 'Databricks Open Model License',
      licenseUrl: 'https://www.databricks.com/legal/open-model-license',
      pageUrl: `${HF}/databricks/dbrx-instruct`,
      largestTensorBytes: 870 * MB,
      note:
        '132B parameters (36B active) are about 80 GB at Q4_K_M: far beyond what a browser tab can hold. ' +
        'Run it on a server (llama.cpp, vLLM) and compare against it through an OpenAI-compatible endpoint. ' +
        'At Q2_K (48 GB) it fits a 64 GB unified-memory laptop, at Q3_K_M (63 GB) a 96 GB one.',
    },
    // Computed, not guessed: the sum of tensorBytes over the real DBRX tensor shapes (40 layers, d 6144, 16
    // experts of ff 10752, vocab 100352; 131,596,523,520 parameters) under llama.cpp's mixes, as make-model plans
    // them (scripts/lib/makeModel.ts tensorTypeFor). GPU memory: the loader's upload plan of those tensors
    // (planUpload), + the KV cache at the default 4,096-token context in f16 (671,088,640 bytes), + the
    // engine's scratch as measured on the H200 (DBRX_SCRATCH_BYTES). Both asserted in tests/unit/dbrxFit.test.ts.
    tabQuants: [
      { quant: 'Q2_K', bytes: 48_418_971_648, gpuBytes: 49_668_524_168, largestTensorBytes: 506 * MB },
      { quant: 'Q3_K_M', bytes: 63_161_917_440, gpuBytes: 64_734_791_816, largestTensorBytes: 727 * MB },
      { quant: 'Q4_K_M', bytes: 79_898_861_568, gpuBytes: 80_971_466_888, largestTensorBytes: 867 * MB },
    ],
  },
];

/** A display name for a GGUF URL or file name: the file name without split suffix and extension. */
export function nameFromUrl(url: string): string {
  let file = url;
  try {
    file = new URL(url).pathname;
  } catch {
    // not a URL: a file name
  }
  const base = decodeURIComponent(file.split('/').pop() ?? file);
  return base.replace(/-\d{5}-of-\d{5}(?=\.gguf$)/i, '').replace(/\.gguf$/i, '') || 'Model';
}

export class ModelUrlError extends Error {
  override name = 'ModelUrlError';
}

/** Checks a user-typed model URL: http(s) only, and it should name a .gguf (or a Brix manifest .json). */
export function checkModelUrl(text: string): string {
  const t = text.trim();
  let u: URL;
  try {
    u = new URL(t);
  } catch {
    throw new ModelUrlError(`"${t}" is not a URL (it should start with https://)`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new ModelUrlError(`only http(s) URLs can be downloaded, not ${u.protocol}`);
  if (!/\.(gguf|json)$/i.test(u.pathname)) {
    throw new ModelUrlError('the URL should point at a .gguf file (on Hugging Face: the "resolve" link of the file, not its page)');
  }
  // A Hugging Face "blob" page link is a common mistake: it is HTML, the file is under "resolve".
  if (u.hostname === 'huggingface.co' && u.pathname.includes('/blob/')) u.pathname = u.pathname.replace('/blob/', '/resolve/');
  return u.href;
}

/** A unique display name: "Name", then "Name (2)"… */
export function uniqueName(name: string, taken: readonly string[]): string {
  if (!taken.includes(name)) return name;
  for (let i = 2; ; i++) if (!taken.includes(`${name} (${i})`)) return `${name} (${i})`;
}
