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

const FORMATTERS = new Map<string, NativeFormatter>([
  [
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    chatml,
  ],
]);

/** The native formatter for exactly this template text, if we have one. */
export function nativeFormatter(source: string): NativeFormatter | undefined {
  return FORMATTERS.get(source);
}

/** Names of the families with a native formatter, by template (for tests and diagnostics). */
export function nativeTemplates(): readonly string[] {
  return [...FORMATTERS.keys()];
}
