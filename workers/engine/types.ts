/**
 * @file The `Engine` interface: implemented by the engine itself (inside the worker or in Node) and by the
 * app-side worker client, so UI code does not care which side of the worker it talks to.
 */
import type {
  ChatMessage,
  GenerateRequest,
  GenerationResult,
  LoadOptions,
  LoadProgress,
  ModelInfo,
  ModelSource,
  TokenDelta,
} from '../protocol.ts';
import type { BenchMeasurement, BenchParams, BenchRun, BenchStep } from '../measurement.ts';

export interface Engine {
  load(
    source: ModelSource,
    options: LoadOptions,
    onProgress?: (p: LoadProgress) => void,
    signal?: AbortSignal,
  ): Promise<ModelInfo>;
  /** Streams deltas through onToken; an aborted signal ends it with finishReason 'abort' (not an error). */
  generate(request: GenerateRequest, onToken?: (d: TokenDelta) => void, signal?: AbortSignal): Promise<GenerationResult>;
  unload(): Promise<void>;
  /**
   * The model benchmark on the loaded model (workers/bench/bench.ts): the engine itself and its worker client
   * have it; engines that cannot measure it (fakes, other engines) leave it out. Aborting throws. `onRun` gets
   * each finished run, `onStep` the progress within runs.
   */
  bench?(params: BenchParams, onRun?: (r: BenchRun) => void, signal?: AbortSignal, onStep?: (s: BenchStep) => void): Promise<BenchMeasurement>;
  /**
   * Prompt tokens of each message list, encoded as `generate` would encode it (template included, nothing cut).
   * Retrieval fits its sources to the engine's budget with it; engines without a tokenizer leave it out.
   */
  countPromptTokens?(prompts: readonly (readonly ChatMessage[])[]): Promise<readonly number[]>;
}
