/**
 * @file Sampling defaults follow llama.cpp's current ones where they overlap: no repetition penalty (its
 * repeat_penalty 1.0) in the worker protocol, the app's settings and the OpenAI server, so temperature 0 means
 * plain greedy decoding everywhere.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_SAMPLING } from '../../workers/protocol.ts';
import { DEFAULT_SAMPLING_SETTINGS, samplingFor } from '../../app/features/settings/store.ts';
import { createOpenAIServer } from '../../scripts/lib/openaiServer.ts';
import type { Engine } from '../../workers/engine/types.ts';
import type { GenerateRequest } from '../../workers/protocol.ts';

describe('defaults', () => {
  it('repetition penalty is off in the protocol and the app settings', () => {
    expect(DEFAULT_SAMPLING.repetitionPenalty).toBe(1);
    expect(DEFAULT_SAMPLING_SETTINGS.repetitionPenalty).toBe(1);
    expect(samplingFor(DEFAULT_SAMPLING_SETTINGS).repetitionPenalty).toBe(1);
  });

  it('serve: a request without repetition_penalty runs without one', async () => {
    const seen: GenerateRequest[] = [];
    const engine: Engine = {
      async load() {
        throw new Error('unused');
      },
      async generate(r) {
        seen.push(r);
        return {
          text: 'x',
          tokenIds: [1],
          stats: { promptTokens: 1, generatedTokens: 1, timeToFirstTokenMs: 1, prefillTokensPerSecond: 1, decodeTokensPerSecond: 1, totalMs: 1, finishReason: 'eog', expertUsage: [], truncatedTokens: 0 },
        };
      },
      async unload() {},
    };
    const server = createOpenAIServer({ engine, modelId: 'm', maxQueue: 1, defaultMaxTokens: 4, maxTokensLimit: 64, log: () => undefined });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const addr = server.address();
      if (addr === null || typeof addr === 'string') throw new Error('no TCP address');
      const res = await fetch(`http://127.0.0.1:${addr.port}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], temperature: 0 }),
      });
      expect(res.status).toBe(200);
      expect(seen[0].sampling.repetitionPenalty).toBe(1);
      expect(seen[0].sampling.temperature).toBe(0);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
