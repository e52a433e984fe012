/**
 * @file Errors as people read them: a title, the engine's own message, and what to do next. Keyed by the error's
 * name, which survives the worker boundary (workers/errors.ts), so the app never parses messages.
 */
import type { SerializedError } from '../../workers/errors.ts';

export interface ErrorHelp {
  readonly title: string;
  readonly message: string;
  readonly advice: readonly string[];
}

export const WEBGPU_BROWSERS: readonly string[] = [
  'Chrome or Edge 113 or newer on Windows, macOS or ChromeOS (WebGPU is on by default).',
  'On Linux: Chrome or Chromium started with --enable-unsafe-webgpu (and --enable-features=Vulkan if no adapter is found).',
  'Android: Chrome 121 or newer on a recent phone.',
  'Firefox and Safari only where their WebGPU is enabled (Firefox 141+ on Windows, Safari 26+); untested.',
  'Check chrome://gpu: "WebGPU: Hardware accelerated" should be listed.',
];

const HELP: Record<string, { title: string; advice: readonly string[] }> = {
  GpuUnavailableError: { title: 'WebGPU is not available', advice: WEBGPU_BROWSERS },
  GpuOutOfMemoryError: {
    title: 'The model does not fit on this GPU',
    advice: [
      'Pick a smaller model or a smaller quantization (Q4_K_M or IQ4_XS instead of Q8_0).',
      'Lower the context size in Settings: the KV cache grows with it.',
      'Close other tabs and apps that use the GPU, then load again.',
    ],
  },
  GpuDeviceLostError: {
    title: 'The GPU was reset',
    advice: ['Load the model again. If it keeps happening, the model may be too big for this GPU: try a smaller one.'],
  },
  QuotaError: {
    title: 'Not enough storage for this model',
    advice: [
      'Delete cached models you no longer need on the Models page.',
      'Ask for persistent storage on the Models page (the browser may then allow more).',
      'Free disk space on this device; browsers allow a share of the free disk per site.',
    ],
  },
  DownloadError: {
    title: 'The download failed',
    advice: ['Check the connection and try again: what was already downloaded is kept and the download resumes.', 'Check that the URL points at a .gguf file that allows cross-origin downloads (Hugging Face "resolve" links do).'],
  },
  ModelChangedError: {
    title: 'The model file changed upstream',
    advice: ['Delete the cached copy on the Models page and download it again.'],
  },
  IntegrityError: {
    title: 'The downloaded data is corrupt',
    advice: ['Try again later; if it persists, the file on the server does not match its published checksum.'],
  },
  CacheError: {
    title: 'The browser storage failed',
    advice: ['Reload the page. Private windows and some privacy settings disable IndexedDB: use a normal window.'],
  },
  UnsupportedModelError: {
    title: 'This model is not supported',
    advice: ['Brix runs DBRX, OLMoE, Granite-MoE, Qwen-MoE, Mixtral-style and Llama GGUF models with the quantizations listed on the Models page.'],
  },
  GgufError: {
    title: 'This is not a valid GGUF model',
    advice: ['Check that the file is a complete .gguf (llama.cpp format), not an HTML page or a partial download.'],
  },
  ChatTemplateError: {
    title: "The model's chat template failed",
    advice: ['Try another model; this one ships a chat template Brix cannot render.'],
  },
  EngineStateError: {
    title: 'The engine is not ready',
    advice: ['Wait for the model to finish loading, or load it again from the model picker.'],
  },
  WorkerDiedError: {
    title: 'The engine stopped',
    advice: ['Load the model again. If the tab ran out of memory, pick a smaller model.'],
  },
  ProtocolError: {
    title: 'The app and its engine disagree',
    advice: ['Reload the page: a new version of Brix was probably installed.'],
  },
  ImportError: {
    title: 'That file cannot be imported',
    advice: ['Import a JSON file exported from Brix ("Export all" or a conversation\'s "JSON" export).'],
  },
  ModelUrlError: { title: 'That URL cannot be used', advice: ['Paste the download link of a .gguf file (https://…).'] },
  TimeoutError: { title: 'The engine did not answer', advice: ['Reload the page and try again.'] },
};

export function toSerialized(e: unknown): SerializedError {
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

export function explainError(e: SerializedError | Error): ErrorHelp {
  const known = HELP[e.name];
  return {
    title: known?.title ?? 'Something went wrong',
    message: e.message || e.name,
    advice: known?.advice ?? ['Try again. If it keeps happening, reload the page.'],
  };
}
