/** @file Browser worker entry: wires the protocol handler to `self`. All logic lives in handler.ts. */
import { createWorkerHandler, type Post } from './handler.ts';
import { BrixEngine } from './engine/engine.ts';
import { browserEngineDeps } from './engine/browserDeps.ts';

const post: Post = (ev) => self.postMessage(ev);
const onMessage = createWorkerHandler({ engine: () => new BrixEngine(browserEngineDeps) }, post);
self.onmessage = (e: MessageEvent<unknown>) => onMessage(e.data);
