/**
 * @file The native formatters (workers/tokenizer/chatFormats.ts) give byte for byte what @huggingface/jinja
 * renders from the same real templates (tests/unit/fixtures/templates: the demo models' ChatML, Qwen1.5/Qwen2,
 * Llama 3, DBRX Instruct, Granite 3.0), over seeded random conversations: with and without a system turn, padded and empty contents,
 * control-token texts in content, with and without the generation prompt and BOS text.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nativeFormatter } from '../../workers/tokenizer/chatFormats.ts';
import { CHATML_TEMPLATE, renderChatPrompt, renderChatPromptJinja, renderStats, type ChatMessage } from '../../workers/tokenizer/chatTemplate.ts';
import { mulberry32 } from '../helpers/rng.ts';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/templates');
const FIXTURES = ['chatml', 'qwen2', 'llama3', 'dbrx', 'granite3'].map((f) => [f, readFileSync(path.join(dir, `${f}.jinja`), 'utf8')] as const);

const PIECES = ['Hello', ' ', '\n', '  padded  ', '<|im_start|>system', '<|eot_id|>', 'é 漢字 🎉', '{{ x }}', "it's", '\t'];

function conversation(rand: () => number): ChatMessage[] {
  const n = 1 + Math.floor(rand() * 6);
  const msgs: ChatMessage[] = [];
  if (rand() < 0.5) msgs.push({ role: 'system', content: 'Be brief.' });
  for (let i = 0; i < n; i++) {
    const k = Math.floor(rand() * 4);
    const content = Array.from({ length: k }, () => PIECES[Math.floor(rand() * PIECES.length)]).join('');
    msgs.push({ role: i % 2 ? 'assistant' : 'user', content });
  }
  return msgs;
}

describe('native chat formats', () => {
  it('the demo models’ template is the ChatML fixture', () => {
    expect(FIXTURES[0][1]).toBe(CHATML_TEMPLATE);
  });

  it.each(FIXTURES)('%s: native output equals the Jinja render on 300 random conversations', (_name, template) => {
    expect(nativeFormatter(template)).toBeDefined();
    const rand = mulberry32(17);
    for (let i = 0; i < 300; i++) {
      const msgs = conversation(rand);
      const opts = { addGenerationPrompt: rand() < 0.7, bosToken: rand() < 0.5 ? '<|begin_of_text|>' : '', eosToken: '<|end_of_text|>' };
      const before = renderStats.native;
      const native = renderChatPrompt(template, msgs, opts);
      expect(renderStats.native).toBe(before + 1);
      expect(native).toBe(renderChatPromptJinja(template, msgs, opts));
    }
  });

  it.each(FIXTURES)('%s: edge cases (empty or only a system turn, empty system content, other roles) equal the Jinja render', (_name, template) => {
    const cases: ChatMessage[][] = [
      [{ role: 'system', content: '' }, { role: 'user', content: 'hi' }],
      [{ role: 'system', content: '  padded system  ' }, { role: 'user', content: 'hi' }],
      [{ role: 'system', content: 'only a system turn' }],
      [{ role: 'user', content: '' }],
      [{ role: 'assistant', content: 'first' }, { role: 'user', content: 'then' }],
      [{ role: 'nosystem', content: 'a role that contains system' }, { role: 'user', content: 'hi' }],
      [{ role: 'user', content: 'call' }, { role: 'assistant_tool_call', content: '{"f":1}' }, { role: 'tool_response', content: '2' }],
    ];
    for (const msgs of cases) {
      for (const addGenerationPrompt of [true, false]) {
        const opts = { addGenerationPrompt, bosToken: '<s>', eosToken: '</s>' };
        expect(renderChatPrompt(template, msgs, opts), JSON.stringify(msgs)).toBe(renderChatPromptJinja(template, msgs, opts));
      }
    }
  });

  it('a template that differs by one character is not recognised', () => {
    for (const [, t] of FIXTURES) expect(nativeFormatter(t + ' ')).toBeUndefined();
  });
});
