/**
 * @file The one error type of the model-file layer. Everything that reads GGUF bytes (from a file, a Blob or
 * the network) throws `GgufError` with a machine-readable `code`, so callers (UI, CLI, tests) can tell a
 * corrupt or hostile file apart from an engine bug without parsing messages.
 */

export type GgufErrorCode =
  | 'bad-magic'
  | 'unsupported-version'
  | 'truncated'
  | 'out-of-bounds'
  | 'overlap'
  | 'misaligned'
  | 'unknown-type'
  | 'unsupported-type'
  | 'missing-metadata'
  | 'bad-metadata'
  | 'missing-tensor'
  | 'bad-shape'
  | 'duplicate'
  | 'too-large'
  | 'bad-split'
  | 'unsupported-arch'
  | 'io'
  | 'range-unsupported';

export class GgufError extends Error {
  override name = 'GgufError';
  readonly code: GgufErrorCode;
  constructor(code: GgufErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
