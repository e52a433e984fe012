/** @file WebLLM's engine worker: its own handler answers the page's WebWorkerMLCEngine (see webllmBrowser.ts). */
import { WebWorkerMLCEngineHandler } from '@mlc-ai/web-llm';

const handler = new WebWorkerMLCEngineHandler();
self.onmessage = (e: MessageEvent<unknown>) => handler.onmessage(e);
