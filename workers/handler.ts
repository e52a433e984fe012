/**
 * @file Worker-side dispatcher: a table of one handler per protocol method (RequestHandlers) turns requests
 * into Engine calls and engine callbacks into events.
 * Each request's work is tracked by id so that `abort` can reach a running `load` or `generate`; every
 * failure becomes an `error` event with the original error's name, so the worker never dies silently.
 */
import { acquireGpu, browserGpu } from './gpu/device.ts';
import { AbortError, EngineStateError, ProtocolError, serializeError } from './errors.ts';
import { PROTOCOL_VERSION, dispatchRequest, isWorkerRequest, requestProblem, type RequestHandlers, type RequestOf, type WorkerEvent } from './protocol.ts';
import type { Engine } from './engine/types.ts';

export type Post = (ev: WorkerEvent) => void;

export interface HandlerDeps {
  /** Created lazily on the first request that needs it. */
  readonly engine: () => Engine;
  /** For `ping`: the GPU the worker itself sees. */
  readonly gpu?: () => GPU | undefined;
}

/** `ping`: the adapter this worker gets (a device is acquired and destroyed), or why it gets none. */
export async function answerPing(gpu: (() => GPU | undefined) | undefined, req: RequestOf<'ping'>, post: Post): Promise<void> {
  try {
    const ctx = await acquireGpu((gpu ?? browserGpu)());
    const info = ctx.info;
    ctx.device.destroy();
    post({ type: 'result', id: req.id, method: 'ping', result: { payload: req.payload, gpu: info } });
  } catch (e) {
    post({ type: 'result', id: req.id, method: 'ping', result: { payload: req.payload, gpu: null, gpuError: serializeError(e) } });
  }
}

/** A page built against another protocol version must reload rather than talk past the worker. */
export function checkProtocolVersion(version: number): void {
  if (version !== PROTOCOL_VERSION) throw new ProtocolError(`protocol version ${version} != worker's ${PROTOCOL_VERSION}: reload the page`);
}

export function createWorkerHandler(deps: HandlerDeps, post: Post): (data: unknown) => void {
  const running = new Map<number, AbortController>();
  let engine: Engine | undefined;
  const getEngine = (): Engine => (engine ??= deps.engine());

  const handlers: RequestHandlers = {
    ping: (req) => answerPing(deps.gpu, req, post),
    async load(req) {
      checkProtocolVersion(req.protocolVersion);
      const ac = new AbortController();
      running.set(req.id, ac);
      const info = await getEngine().load(
        req.source,
        req.options,
        (progress) => post({ type: 'progress', id: req.id, progress }),
        ac.signal,
      );
      post({ type: 'result', id: req.id, method: 'load', result: info });
    },
    async generate(req) {
      const ac = new AbortController();
      running.set(req.id, ac);
      const result = await getEngine().generate(
        req.request,
        (delta) => post({ type: 'token', id: req.id, delta }),
        ac.signal,
      );
      post({ type: 'result', id: req.id, method: 'generate', result: result });
    },
    async abort(req) {
      const ac = running.get(req.target);
      ac?.abort(new AbortError());
      post({ type: 'result', id: req.id, method: 'abort', result: { aborted: ac !== undefined } });
    },
    async unload(req) {
      for (const ac of running.values()) ac.abort(new AbortError('model unloaded'));
      const had = engine !== undefined;
      await engine?.unload();
      post({ type: 'result', id: req.id, method: 'unload', result: { unloaded: had } });
    },
    async bench(req) {
      const engine = getEngine();
      if (!engine.bench) throw new EngineStateError('this engine has no benchmark');
      const ac = new AbortController();
      running.set(req.id, ac);
      const result = await engine.bench(
        req.params,
        (run) => post({ type: 'benchRun', id: req.id, run }),
        ac.signal,
        (step) => post({ type: 'benchStep', id: req.id, step }),
      );
      post({ type: 'result', id: req.id, method: 'bench', result });
    },
    async countPromptTokens(req) {
      const engine = getEngine();
      if (!engine.countPromptTokens) throw new EngineStateError('this engine cannot count prompt tokens');
      const counts = await engine.countPromptTokens(req.prompts);
      post({ type: 'result', id: req.id, method: 'countPromptTokens', result: { counts } });
    },
  };

  return (data: unknown) => {
    if (!isWorkerRequest(data)) {
      const id = idOf(data);
      post({ type: 'error', id, error: serializeError(new ProtocolError(`malformed request: ${requestProblem(data)}`)) });
      return;
    }
    dispatchRequest(handlers, data)
      .catch((e: unknown) => post({ type: 'error', id: data.id, error: serializeError(e) }))
      .finally(() => running.delete(data.id));
  };
}

function idOf(x: unknown): number {
  if (typeof x !== 'object' || x === null || !('id' in x)) return -1;
  return typeof x.id === 'number' ? x.id : -1;
}
