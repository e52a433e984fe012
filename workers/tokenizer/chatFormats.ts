/**
 * @file Native formatters for chat templates we recognise (exact template text): the same output as
 * @huggingface/jinja renders from that template, byte for byte (tests/unit/chatFormats.test.ts renders both on
 * the real templates in tests/unit/fixtures/templates), without running the template. Anything else goes to the
 * bounded generic renderer in chatTemplate.ts.
 */
import type { RenderVars } from './chatTemplate.ts';

export type NativeFormatter = (v: RenderVars) => string;

/** ChatML: the demo models' template (chatTemplate.ts CHATML_TEMPLATE). */
const chatml: NativeFormatter = (v) => {
  let out = '';
  for (const m of v.messages) out += '<|im_start|>' + m.role + '\n' + m.content + '<|im_end|>' + '\n';
  if (v.add_generation_prompt) out += '<|im_start|>assistant\n';
  return out;
};

/** Qwen1.5 / Qwen2 (Qwen1.5-MoE-A2.7B-Chat, Qwen2-57B-A14B-Instruct): ChatML with a default system turn. */
const QWEN2_TEMPLATE =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

const qwen2: NativeFormatter = (v) => {
  let out = '';
  v.messages.forEach((m, i) => {
    if (i === 0 && v.messages[0].role !== 'system') out += '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n';
    out += '<|im_start|>' + m.role + '\n' + m.content + '<|im_end|>' + '\n';
  });
  if (v.add_generation_prompt) out += '<|im_start|>assistant\n';
  return out;
};

/** Llama 3 (Meta-Llama-3-*-Instruct): header turns, content trimmed (the renderer's trim is JS `trim()`). */
const LLAMA3_TEMPLATE =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

const llama3: NativeFormatter = (v) => {
  let out = '';
  v.messages.forEach((m, i) => {
    out += (i === 0 ? v.bos_token : '') + '<|start_header_id|>' + m.role + '<|end_header_id|>\n\n' + m.content.trim() + '<|eot_id|>';
  });
  if (v.add_generation_prompt) out += '<|start_header_id|>assistant<|end_header_id|>\n\n';
  return out;
};

const FORMATTERS = new Map<string, NativeFormatter>([
  [
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    chatml,
  ],
  [QWEN2_TEMPLATE, qwen2],
  [LLAMA3_TEMPLATE, llama3],
]);

/** The native formatter for exactly this template text, if we have one. */
export function nativeFormatter(source: string): NativeFormatter | undefined {
  return FORMATTERS.get(source);
}

/** Names of the families with a native formatter, by template (for tests and diagnostics). */
export function nativeTemplates(): readonly string[] {
  return [...FORMATTERS.keys()];
}
