/**
 * @file Chat prompts from a model's `tokenizer.chat_template` (Jinja, as Hugging Face and llama.cpp use it),
 * rendered with @huggingface/jinja; ChatML when the file has no template. The result is a prompt string that
 * the caller encodes with `parseSpecial: true`, so `<|im_start|>` and friends become their control tokens.
 * (A special-token text typed inside a message then becomes a control token too, as with llama.cpp's server and
 * transformers' `apply_chat_template` + tokenize.)
 */
import { Template } from '@huggingface/jinja';
import { registerErrorClass } from '../errors.ts';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | (string & {});
  content: string;
}

export interface ChatPromptOptions {
  /** Put before the messages as a `system` message, unless the first message already is one. */
  systemPrompt?: string;
  /** End with the opening of an assistant turn (default true: we are about to generate one). */
  addGenerationPrompt?: boolean;
  /** Texts templates may use as `bos_token` / `eos_token` (default ''). */
  bosToken?: string;
  eosToken?: string;
  /** The last message is an assistant turn to extend: cut the prompt right after its text (see GenerateRequest.continueFinal). */
  continueFinal?: boolean;
}

/** Used when a model has no `tokenizer.chat_template` (the demo models' template is this one). */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** The template did not parse, or failed while rendering (including its own `raise_exception(...)`, which
 *  @huggingface/jinja provides along with `strftime_now`). */
export class ChatTemplateError extends Error {
  override name = 'ChatTemplateError';
}
registerErrorClass('ChatTemplateError', ChatTemplateError);

const compiled = new Map<string, Template>();

function compile(source: string): Template {
  let t = compiled.get(source);
  if (t === undefined) {
    try {
      t = new Template(source);
    } catch (e) {
      throw new ChatTemplateError(`chat template does not parse: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    if (compiled.size > 16) compiled.clear();
    compiled.set(source, t);
  }
  return t;
}

/**
 * Renders the conversation with `template` (a model's `tokenizer.chat_template`; undefined or '' → ChatML).
 * Throws `ChatTemplateError` when the template cannot be parsed or rendered.
 */
export function renderChatPrompt(template: string | undefined, messages: readonly ChatMessage[], opts: ChatPromptOptions = {}): string {
  const source = template === undefined || template.trim() === '' ? CHATML_TEMPLATE : template;
  const msgs = messages.map((m) => ({ role: m.role, content: m.content }));
  if (opts.systemPrompt !== undefined && msgs[0]?.role !== 'system') msgs.unshift({ role: 'system', content: opts.systemPrompt });
  const t = compile(source);
  const cont = opts.continueFinal === true && msgs.at(-1)?.role === 'assistant';
  try {
    const out = t.render({
      messages: msgs,
      add_generation_prompt: cont ? false : (opts.addGenerationPrompt ?? true),
      bos_token: opts.bosToken ?? '',
      eos_token: opts.eosToken ?? '',
    });
    if (!cont) return out;
    // The template closes the turn after the text; the answer goes on from inside it.
    const last = (msgs.at(-1)?.content ?? '').trimEnd();
    const at = last === '' ? -1 : out.lastIndexOf(last);
    if (at < 0) throw new ChatTemplateError('chat template: the answer to continue is not in the rendered prompt');
    return out.slice(0, at + last.length);
  } catch (e) {
    if (e instanceof ChatTemplateError) throw e;
    throw new ChatTemplateError(`chat template failed to render: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}
