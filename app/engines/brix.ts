/**
 * @file Our engine behind the compare view's interface: every pane gets its own engine worker
 * (`startEngineWorker()`), so two to four Brix models load and generate side by side, each on its own
 * GPU device. Models come from the app's list (catalog, bundled demo, URLs the user added); their sources are
 * resolved the way the chat page resolves them (weight cache, bundled manifest).
 */
import type { ChatMessage, GenerateRequest, GenerationResult, LoadOptions, LoadProgress, ModelInfo, TokenDelta } from '../../workers/protocol.ts';
import { EngineStateError } from '../../workers/errors.ts';
import type { ModelEntry } from '../features/models/catalog.ts';
import type { EngineHandle, ResolvedSource } from '../store.ts';
import { optionId, type ChatEngine, type EngineProvider, type ModelOption } from './types.ts';

export interface BrixDeps {
  readonly startEngine: () => EngineHandle;
  readonly resolveSource: (entry: ModelEntry) => Promise<ResolvedSource>;
  /** The app's model list, read when the picker opens. */
  readonly entries: () => readonly ModelEntry[];
  readonly loadOptions: () => LoadOptions;
}

/** KV cache and activations on top of the weights, roughly, for the estimate before loading. */
const OVERHEAD = 1.15;

export function brixOption(e: ModelEntry): ModelOption {
  return {
    id: optionId('brix', e.id),
    kind: 'brix',
    ref: e.id,
    name: e.name,
    gpuBytesEstimate: e.sizeBytes !== undefined ? Math.round(e.sizeBytes * OVERHEAD) : undefined,
    downloadBytes: e.sizeBytes,
    ...(e.sizeApprox ? { downloadApprox: true } : {}),
    note: e.details?.note,
    ...(e.details?.largestTensorBytes !== undefined ? { needs: { bufferBytes: e.details.largestTensorBytes } } : {}),
  };
}

export class BrixChatEngine implements ChatEngine {
  readonly kind = 'brix' as const;
  private engine: EngineHandle | undefined;
  private disposed = false;
  private loaded = false;

  constructor(
    readonly model: ModelOption,
    private readonly deps: BrixDeps,
  ) {}

  async load(onProgress?: (p: LoadProgress, text?: string) => void, signal?: AbortSignal): Promise<ModelInfo> {
    const entry = this.deps.entries().find((e) => e.id === this.model.ref);
    if (!entry) throw new EngineStateError(`no model "${this.model.ref}" in the list`);
    this.engine?.terminate();
    const engine = this.deps.startEngine();
    this.engine = engine;
    try {
      const resolved = await this.deps.resolveSource(entry);
      signal?.throwIfAborted();
      const info = await engine.load(resolved.source, this.deps.loadOptions(), (p) => onProgress?.(p), signal);
      this.loaded = true;
      return info;
    } catch (e) {
      engine.terminate();
      if (this.engine === engine) this.engine = undefined;
      throw e;
    }
  }

  generate(request: GenerateRequest, onToken?: (d: TokenDelta) => void, signal?: AbortSignal): Promise<GenerationResult> {
    if (!this.engine || this.disposed) return Promise.reject(new EngineStateError(`${this.model.name} is not loaded`));
    return this.engine.generate(request, onToken, signal);
  }

  /** Prompt tokens as the model's own template and tokenizer count them (retrieval's context budget). */
  countPromptTokens(prompts: readonly (readonly ChatMessage[])[]): Promise<readonly number[]> {
    const engine = this.engine;
    if (!engine?.countPromptTokens || this.disposed) return Promise.reject(new EngineStateError(`${this.model.name} is not loaded`));
    return engine.countPromptTokens(prompts);
  }

  async unload(): Promise<void> {
    await this.engine?.unload();
  }

  /** The worker behind it (the benchmark and the adapter probe talk to it directly). */
  get handle(): EngineHandle | undefined {
    return this.disposed ? undefined : this.engine;
  }

  dispose(): void {
    this.disposed = true;
    const e = this.engine;
    this.engine = undefined;
    if (!e) return;
    // Nothing is on the GPU yet: end a load at once.
    if (!this.loaded) return e.terminate();
    // Free the GPU buffers in order if the worker answers soon; the worker ends regardless.
    void Promise.race([e.unload().catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]).finally(() => e.terminate());
  }
}

export function brixProvider(deps: BrixDeps): EngineProvider {
  return {
    kind: 'brix',
    listModels: () => Promise.resolve(deps.entries().filter((e) => e.origin !== 'file' || e.file !== undefined).map(brixOption)),
    create: (model) => new BrixChatEngine(model, deps),
  };
}
