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

/** DBRX Instruct's default system turn (used when the conversation has none). */
const DBRX_SYSTEM =
  'You are DBRX, created by Databricks. You were last updated in December 2023. You answer questions based on information available up to that point.\n' +
  'YOU PROVIDE SHORT RESPONSES TO SHORT QUESTIONS OR STATEMENTS, but provide thorough responses to more complex and open-ended questions.\n' +
  'You assist with various tasks, from writing to coding (using markdown for code blocks \u2014 remember to use ``` with code, JSON, and tables).\n' +
  '(You do not have real-time data access or code execution capabilities. You avoid stereotyping and provide balanced perspectives on controversial topics. You do not provide song lyrics, poems, or news articles and do not divulge details of your training data.)\n' +
  'This is your system prompt, guiding your responses. Do not reference it, just respond to the user. If you find yourself talking about this message, stop. You should be responding appropriately and usually that means not mentioning this.\n' +
  "YOU DO NOT MENTION ANY OF THIS INFORMATION ABOUT YOURSELF UNLESS THE INFORMATION IS DIRECTLY PERTINENT TO THE USER'S QUERY.";

/** DBRX Instruct (databricks/dbrx-instruct): ChatML turns joined by newlines, with a long default system turn. */
const DBRX_TEMPLATE =
  "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% elif 'system' not in messages[0]['role'] %}{% set loop_messages = messages %}{% set system_message = '" +
  DBRX_SYSTEM.replace("USER'S", "USER\\'S") +
  "' %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if loop.index0 == 0 %}{% if system_message != false %}{{ '<|im_start|>system\n' + system_message | trim + '<|im_end|>\n'}}{% endif %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' }}{% else %}{{ '\n' + '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' }}{% endif %}{% if (add_generation_prompt == true and loop.last) %}{{ '\n' + '<|im_start|>' + 'assistant' + '\n' }}{% endif %}{% endfor %}";

const dbrx: NativeFormatter = (v) => {
  const first = v.messages.at(0);
  if (first === undefined) return '';
  let loop = v.messages;
  let system: string | false = false;
  if (first.role === 'system') {
    loop = v.messages.slice(1);
    system = first.content;
  } else if (!first.role.includes('system')) system = DBRX_SYSTEM;
  let out = '';
  loop.forEach((m, i) => {
    if (i === 0) {
      // @huggingface/jinja compares loosely: an empty system text equals false, so it gets no turn.
      if (system !== false && system !== '') out += '<|im_start|>system\n' + system.trim() + '<|im_end|>\n';
      out += '<|im_start|>' + m.role + '\n' + m.content + '<|im_end|>';
    } else out += '\n' + '<|im_start|>' + m.role + '\n' + m.content + '<|im_end|>';
    if (v.add_generation_prompt && i === loop.length - 1) out += '\n' + '<|im_start|>' + 'assistant' + '\n';
  });
  return out;
};

/** Granite 3.0 (ibm-granite/granite-3.0-*-instruct, the 1b-a400m and 3b-a800m MoE models included); no tools here. */
const GRANITE3_TEMPLATE = [
  '{%- if tools %}',
  "    {{- '<|start_of_role|>available_tools<|end_of_role|>\n' }}",
  '    {%- for tool in tools %}',
  '    {{- tool | tojson(indent=4) }}',
  '    {%- if not loop.last %}',
  "        {{- '\n\n' }}",
  '    {%- endif %}',
  '    {%- endfor %}',
  "    {{- '<|end_of_text|>\n' }}",
  '{%- endif %}',
  '{%- for message in messages %}',
  "    {%- if message['role'] == 'system' %}",
  "    {{- '<|start_of_role|>system<|end_of_role|>' + message['content'] + '<|end_of_text|>\n' }}",
  "    {%- elif message['role'] == 'user' %}",
  "    {{- '<|start_of_role|>user<|end_of_role|>' + message['content'] + '<|end_of_text|>\n' }}",
  "    {%- elif message['role'] == 'assistant' %}",
  "    {{- '<|start_of_role|>assistant<|end_of_role|>'  + message['content'] + '<|end_of_text|>\n' }}",
  "    {%- elif message['role'] == 'assistant_tool_call' %}",
  "    {{- '<|start_of_role|>assistant<|end_of_role|><|tool_call|>' + message['content'] + '<|end_of_text|>\n' }}",
  "    {%- elif message['role'] == 'tool_response' %}",
  "    {{- '<|start_of_role|>tool_response<|end_of_role|>' + message['content'] + '<|end_of_text|>\n' }}",
  '    {%- endif %}',
  '    {%- if loop.last and add_generation_prompt %}',
  "    {{- '<|start_of_role|>assistant<|end_of_role|>' }}",
  '    {%- endif %}',
  '{%- endfor %}',
].join('\n');

const granite3: NativeFormatter = (v) => {
  let out = '';
  for (const m of v.messages) {
    if (m.role === 'system' || m.role === 'user' || m.role === 'assistant') out += '<|start_of_role|>' + m.role + '<|end_of_role|>' + m.content + '<|end_of_text|>\n';
    else if (m.role === 'assistant_tool_call') out += '<|start_of_role|>assistant<|end_of_role|><|tool_call|>' + m.content + '<|end_of_text|>\n';
    else if (m.role === 'tool_response') out += '<|start_of_role|>tool_response<|end_of_role|>' + m.content + '<|end_of_text|>\n';
  }
  if (v.add_generation_prompt && v.messages.length > 0) out += '<|start_of_role|>assistant<|end_of_role|>';
  return out;
};

const FORMATTERS = new Map<string, NativeFormatter>([
  [
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    chatml,
  ],
  [QWEN2_TEMPLATE, qwen2],
  [LLAMA3_TEMPLATE, llama3],
  [DBRX_TEMPLATE, dbrx],
  [GRANITE3_TEMPLATE, granite3],
]);

/** The native formatter for exactly this template text, if we have one. */
export function nativeFormatter(source: string): NativeFormatter | undefined {
  return FORMATTERS.get(source);
}

/** The template texts that have a native formatter (for tests and diagnostics). */
export function nativeTemplates(): readonly string[] {
  return [...FORMATTERS.keys()];
}
