/**
 * @file Named errors of the WebLLM, wllama and endpoint engines, so the compare view says what went wrong and what
 * to do (branching on `name`, like the rest of the app) instead of showing "TypeError: Failed to fetch".
 * Messages name the endpoint by its URL only: an API key never appears in an error.
 */

/** The browser is offline (or every fetch fails) and the engine needs the network (WebLLM's models). */
export class OfflineError extends Error {
  override name = 'OfflineError';
}

/** WebLLM failed for a reason of its own (no WebGPU, model unknown, device lost...). */
export class WebLLMError extends Error {
  override name = 'WebLLMError';
}

/** wllama (llama.cpp in wasm) failed: the model does not fit its wasm memory, the file is not a GGUF it reads... */
export class WllamaEngineError extends Error {
  override name = 'WllamaEngineError';
}

/** The endpoint could not be reached: network down, wrong URL, or it does not allow cross-origin requests. */
export class EndpointUnreachableError extends Error {
  override name = 'EndpointUnreachableError';
}

/** 401/403: the API key is missing, wrong or lacks access. */
export class EndpointAuthError extends Error {
  override name = 'EndpointAuthError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** 429: too many requests; `retryAfterSeconds` from the Retry-After header when the server sent one. */
export class EndpointRateLimitError extends Error {
  override name = 'EndpointRateLimitError';
  constructor(
    message: string,
    readonly retryAfterSeconds: number | undefined,
  ) {
    super(message);
  }
}

/** 5xx: the server failed (model crashed, overloaded, gateway timeout). */
export class EndpointServerError extends Error {
  override name = 'EndpointServerError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Any other non-2xx answer (400 bad request, 404 wrong path or model...). */
export class EndpointHttpError extends Error {
  override name = 'EndpointHttpError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** The answer was not what an OpenAI-compatible server sends (not JSON, no choices, an error event). */
export class EndpointProtocolError extends Error {
  override name = 'EndpointProtocolError';
}

/** The stream ended before `data: [DONE]`: the connection dropped mid-answer. The partial answer is kept. */
export class StreamDroppedError extends Error {
  override name = 'StreamDroppedError';
  constructor(
    message: string,
    readonly partialText: string,
  ) {
    super(message);
  }
}

/** The endpoint settings are not usable (no URL, not http(s), no model name). */
export class EndpointConfigError extends Error {
  override name = 'EndpointConfigError';
}

/** A heading for each of the errors above. */
export const ENGINE_ERROR_TITLE: Readonly<Record<string, string>> = {
  OfflineError: 'Offline: WebLLM needs the network',
  WebLLMError: 'WebLLM failed',
  WllamaEngineError: 'wllama failed',
  EndpointUnreachableError: 'The endpoint is unreachable',
  EndpointAuthError: 'API key rejected',
  EndpointRateLimitError: 'Rate limited',
  EndpointServerError: 'The endpoint failed',
  EndpointHttpError: 'The endpoint refused the request',
  EndpointProtocolError: 'Unexpected answer from the endpoint',
  StreamDroppedError: 'The answer was cut off',
  EndpointConfigError: 'Endpoint settings incomplete',
};

/** What to do about each of the errors above, shown under the message in the compare view. */
export const ENGINE_ERROR_ADVICE: Readonly<Record<string, readonly string[]>> = {
  OfflineError: ['WebLLM downloads its models from the internet: connect and try again, or pick a Brix model (they work offline once cached).'],
  WebLLMError: ['Try a smaller WebLLM model, or reload the page.'],
  WllamaEngineError: ['wllama 3.8 holds the whole GGUF in its wasm memory (about 4 GB at most): try a smaller model, or the same one in Brix.'],
  EndpointUnreachableError: [
    'Check the base URL (for llama.cpp or vLLM it ends in /v1) and that the server is running.',
    'A server on another origin must allow cross-origin requests: `brix serve` does; start llama.cpp with its defaults or vLLM with --allowed-origins.',
  ],
  EndpointAuthError: ['Check the API key in the endpoint settings (it is kept in this browser only).'],
  EndpointRateLimitError: ['Wait and send again, or lower the request rate of other clients.'],
  EndpointServerError: ['The server failed; look at its log. A model that does not fit its GPU often shows up this way.'],
  EndpointHttpError: ['Check the model name (List models shows what the server has) and the base URL.'],
  EndpointProtocolError: ['The server does not speak the OpenAI chat completions protocol as expected; check the base URL.'],
  StreamDroppedError: ['The connection dropped mid-answer; the part that arrived is kept. Send again to retry.'],
  EndpointConfigError: ['Fix the endpoint settings below the panes.'],
};
