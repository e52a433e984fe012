/**
 * @file Chat prompt rendering: the demo models' ChatML (read from their GGUF), the ChatML fallback, a
 * llama-3-style template with BOS, templates with system-message handling, and named errors for templates that
 * do not parse, fail at render time, or raise.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openFileSource } from '../../scripts/lib/nodeSource.ts';
import { readGguf } from '../../workers/gguf/reader.ts';
import { CHATML_TEMPLATE, ChatTemplateError, renderChatPrompt, type ChatMessage } from '../../workers/tokenizer/chatTemplate.ts';
import { tokenizerSpecFromMetadata } from '../../workers/tokenizer/fromGguf.ts';
import { Tokenizer } from '../../workers/tokenizer/tokenizer.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DEMO = path.resolve(repoRoot, '../shared/models/brix-demo-30m-q8_0.gguf');

const convo: ChatMessage[] = [
  { role: 'user', content: 'Tell me a story.' },
  { role: 'assistant', content: 'Once upon a time…' },
  { role: 'user', content: 'Go on.' },
];
const chatml = (msgs: readonly ChatMessage[]) =>
  msgs.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('') + '<|im_start|>assistant\n';

describe('ChatML', () => {
  it('renders the demo model’s template exactly, and its prompt encodes to control tokens', async () => {
    if (!existsSync(DEMO)) {
      console.warn(`[chatTemplate.test] ${DEMO} not found: skipping the GGUF template case`);
      return;
    }
    const src = await openFileSource(DEMO);
    const spec = tokenizerSpecFromMetadata((await readGguf(src)).metadata);
    await src.close();
    expect(spec.chatTemplate).toBe(CHATML_TEMPLATE);
    const prompt = renderChatPrompt(spec.chatTemplate, convo);
    expect(prompt).toBe(chatml(convo));
    const tok = Tokenizer.fromSpec(spec);
    const ids = tok.encode(prompt, { parseSpecial: true });
    const imStart = tok.encode('<|im_start|>', { parseSpecial: true });
    const imEnd = tok.encode('<|im_end|>', { parseSpecial: true });
    expect(imStart).toEqual([32006]);
    expect(imEnd).toEqual([32007]);
    expect(ids.filter((t) => t === 32006)).toHaveLength(4);
    expect(ids.filter((t) => t === 32007)).toHaveLength(3);
    expect(tok.decode(ids)).toBe(prompt);
  });

  it('is the fallback when the model has no template, with system prompt and without generation prompt', () => {
    expect(renderChatPrompt(undefined, convo)).toBe(chatml(convo));
    expect(renderChatPrompt('  ', convo)).toBe(chatml(convo));
    const withSystem = renderChatPrompt(undefined, convo, { systemPrompt: 'You are Brix.' });
    expect(withSystem).toBe(chatml([{ role: 'system', content: 'You are Brix.' }, ...convo]));
    const noGen = renderChatPrompt(undefined, [{ role: 'user', content: 'Hi' }], { addGenerationPrompt: false });
    expect(noGen).toBe('<|im_start|>user\nHi<|im_end|>\n');
  });

  it('does not add a second system message when the conversation has one', () => {
    const msgs: ChatMessage[] = [{ role: 'system', content: 'Be terse.' }, { role: 'user', content: 'Hi' }];
    expect(renderChatPrompt(undefined, msgs, { systemPrompt: 'ignored' })).toBe(chatml(msgs));
  });
});

const LLAMA3 =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

const QWEN2 =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

const MISTRAL =
  "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}";

describe('other templates', () => {
  it('llama-3: BOS first, headers, trimmed content, generation header', () => {
    const out = renderChatPrompt(LLAMA3, [{ role: 'user', content: '  Hi there \n' }], {
      systemPrompt: 'You are helpful.',
      bosToken: '<|begin_of_text|>',
    });
    expect(out).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  it('a template with its own default system message uses ours when given', () => {
    const user: ChatMessage[] = [{ role: 'user', content: 'Hi' }];
    expect(renderChatPrompt(QWEN2, user)).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(renderChatPrompt(QWEN2, user, { systemPrompt: 'You are Brix.' })).toBe(
      '<|im_start|>system\nYou are Brix.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('mistral-style: BOS/EOS tokens and alternating roles', () => {
    expect(renderChatPrompt(MISTRAL, convo, { bosToken: '<s>', eosToken: '</s>' })).toBe(
      '<s>[INST] Tell me a story. [/INST]Once upon a time…</s>[INST] Go on. [/INST]',
    );
  });
});

describe('errors', () => {
  it('a template that does not parse gives ChatTemplateError', () => {
    expect(() => renderChatPrompt('{% for message in messages %}{{ message.content }', convo)).toThrow(ChatTemplateError);
    expect(() => renderChatPrompt('{% for m in messages %}', convo)).toThrow(/chat template/);
  });

  it('a template that fails while rendering gives ChatTemplateError', () => {
    expect(() => renderChatPrompt('{{ messages[0].content.nope() }}', convo)).toThrow(ChatTemplateError);
  });

  it('raise_exception in the template gives ChatTemplateError with its message', () => {
    const bad: ChatMessage[] = [{ role: 'assistant', content: 'first' }];
    expect(() => renderChatPrompt(MISTRAL, bad)).toThrow(ChatTemplateError);
    expect(() => renderChatPrompt(MISTRAL, bad)).toThrow(/roles must alternate/);
  });

  it('errors carry the class name across the worker boundary', () => {
    try {
      renderChatPrompt('{% if %}', convo);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ChatTemplateError);
      expect(e).toHaveProperty('name', 'ChatTemplateError');
    }
  });
});
