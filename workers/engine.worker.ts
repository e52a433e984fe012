/** @file Browser worker entry: wires the protocol handler to `self`. All logic lives in handler.ts. */
import { createWorkerHandler } from './handler.ts';
import { createEngine } from './engine/engine.ts';

const post = (ev: Parameters<Parameters<typeof createWorkerHandler>[1]>[0]): void => self.postMessage(ev);
const onMessage = createWorkerHandler({ engine: () => createEngine() }, post);
self.onmessage = (e: MessageEvent<unknown>) => onMessage(e.data);
