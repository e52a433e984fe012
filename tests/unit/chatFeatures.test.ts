/**
 * @file The pure parts of the chat features: the Hub client (search results checked, GGUF files grouped by split
 * set with quant and total size, incomplete sets and projectors left out), Continue in the chat template and on
 * the wire (vLLM's continue_final_message both ways), and versions in the export (round trip, the old branch kept,
 * a bad index refused).
 */
import { describe, expect, it } from 'vitest';
import { groupGgufFiles, listGgufFiles, quantOf, searchGgufRepos } from '../../app/features/models/hfHub.ts';
import { CHATML_TEMPLATE, renderChatPrompt } from '../../workers/tokenizer/chatTemplate.ts';
import { chatCompletionBody } from '../../app/engines/openai.ts';
import { parseChatRequest } from '../../scripts/lib/openaiServer.ts';
import { exportJson, parseImport, conversationMarkdown } from '../../app/features/chat/exportImport.ts';
import { addVersion, switchVersion } from '../../app/features/chat/versions.ts';
import type { Conversation } from '../../app/features/chat/types.ts';
import { DEFAULT_SAMPLING } from '../../workers/protocol.ts';

const json = (body: unknown) => async () => new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } });

describe('Hugging Face search', () => {
  it('lists GGUF repositories, dropping malformed entries, and asks the configured Hub', async () => {
    const asked: string[] = [];
    const f = async (url: string) => {
      asked.push(url);
      return json([{ id: 'a/b-GGUF', downloads: 3 }, { id: '../etc' }, { nope: 1 }, 'x'])();
    };
    expect(await searchGgufRepos('http://hub.test/', 'moe gguf', f)).toEqual([{ id: 'a/b-GGUF', downloads: 3 }]);
    expect(asked[0]).toMatch(/^http:\/\/hub\.test\/api\/models\?search=moe%20gguf&filter=gguf&/);
    await expect(searchGgufRepos('http://hub.test', 'x', async () => new Response('busy', { status: 429 }))).rejects.toThrow(/429 \(rate limited/);
  });

  it('groups split sets into one model with the total size; quant from the name; incomplete sets and mmproj left out', async () => {
    const files = [
      { type: 'file', path: 'm-Q4_K_M-00002-of-00002.gguf', size: 5, lfs: { size: 50 } },
      { type: 'file', path: 'm-Q4_K_M-00001-of-00002.gguf', size: 5, lfs: { size: 40 } },
      { type: 'file', path: 'sub/m-IQ4_XS.gguf', size: 70 },
      { type: 'file', path: 'm-Q8_0-00001-of-00003.gguf', size: 10 },
      { type: 'file', path: 'mmproj-f16.gguf', size: 9 },
      { type: 'file', path: 'README.md', size: 1 },
      { type: 'directory', path: 'sub' },
    ];
    const out = await listGgufFiles('http://hub.test', 'o/r', json(files));
    expect(out.map((m) => [m.name, m.quant, m.parts.length, m.totalBytes])).toEqual([
      ['m-IQ4_XS', 'IQ4_XS', 1, 70],
      ['m-Q4_K_M', 'Q4_K_M', 2, 90],
    ]);
    expect(out[1].url).toBe('http://hub.test/o/r/resolve/main/m-Q4_K_M-00001-of-00002.gguf');
    expect(out[0].url).toBe('http://hub.test/o/r/resolve/main/sub/m-IQ4_XS.gguf');
    expect(['x.Q5_K_S.gguf', 'y-f16.gguf', 'z-BF16.gguf', 'w.gguf'].map(quantOf)).toEqual(['Q5_K_S', 'F16', 'BF16', '']);
    expect(groupGgufFiles('http://hub.test', 'o/r', [{ path: 'a-00002-of-00002.gguf', size: 1 }])).toEqual([]);
    await expect(listGgufFiles('http://hub.test', 'not a repo', json([]))).rejects.toThrow(/not a Hub repository/);
  });
});

describe('Continue', () => {
  it('the prompt ends inside the cut-off answer (no end of turn, no new assistant turn)', () => {
    const msgs = [
      { role: 'user' as const, content: 'Tell me a story' },
      { role: 'assistant' as const, content: 'Once upon a time' },
    ];
    const p = renderChatPrompt(CHATML_TEMPLATE, msgs, { continueFinal: true });
    expect(p.endsWith('<|im_start|>assistant\nOnce upon a time')).toBe(true);
    expect(renderChatPrompt(CHATML_TEMPLATE, msgs).endsWith('<|im_end|>\n<|im_start|>assistant\n')).toBe(true);
  });

  it('goes over the wire as continue_final_message (extended sampling) and back into the request', () => {
    const request = { messages: [{ role: 'assistant' as const, content: 'Once' }], sampling: DEFAULT_SAMPLING, continueFinal: true };
    expect(chatCompletionBody(request, { model: 'm', extendedSampling: true })).toMatchObject({ continue_final_message: true, add_generation_prompt: false });
    expect(chatCompletionBody(request, { model: 'm', extendedSampling: false })).not.toHaveProperty('continue_final_message');
    const parsed = parseChatRequest({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }], continue_final_message: true }, { defaultMaxTokens: 8, randomSeed: () => 1 });
    expect(parsed.continueFinal).toBe(true);
    expect(parseChatRequest({ messages: [{ role: 'user', content: 'a' }], continue_final_message: true }, { defaultMaxTokens: 8, randomSeed: () => 1 }).continueFinal).toBe(false);
  });
});

describe('versions in the export', () => {
  const t = 1000;
  const base: Conversation = {
    id: 'c',
    title: 'T',
    titleEdited: false,
    systemPrompt: '',
    createdAt: t,
    updatedAt: t,
    messages: [
      { id: 'u', role: 'user', content: 'first', createdAt: t },
      { id: 'a', role: 'assistant', content: 'one', createdAt: t },
    ],
  };

  it('round-trips versions with their branches; Markdown shows them; a bad index is refused', () => {
    const edited = addVersion(base.messages[0], { content: 'second', createdAt: t + 1 }, base.messages.slice(1));
    const c: Conversation = { ...base, messages: [edited, { id: 'b', role: 'assistant', content: 'two', createdAt: t + 2 }], settings: { temperature: 0.5 } };
    const [back] = parseImport(exportJson([c]));
    expect(back).toEqual(c);
    expect(back.messages[0]).toMatchObject({ content: 'second', version: 1 });
    const old = switchVersion(back, 'u', 0);
    expect(old.messages.map((m) => m.content)).toEqual(['first', 'one']);
    expect(switchVersion(old, 'u', 1).messages.map((m) => m.content)).toEqual(['second', 'two']);
    expect(conversationMarkdown(c)).toContain('### User (version 2 / 2)');
    expect(conversationMarkdown(c)).toContain('_Version 1 / 2:_\n\n> first');
    const bad = JSON.parse(exportJson([c])) as { conversations: { messages: { version: number }[] }[] };
    bad.conversations[0].messages[0].version = 5;
    expect(() => parseImport(JSON.stringify(bad))).toThrow(/conversations\[0\]\.messages\[0\]\.version must be an index/);
  });
});
