/**
 * @file Chat prompts from a model's `tokenizer.chat_template` (Jinja, as Hugging Face and llama.cpp use it).
 * The template is untrusted code from a downloaded file, so rendering is bounded:
 *  - known templates (the demo models' ChatML and the families in chatFormats.ts) are formatted natively,
 *    no interpreter involved, byte for byte what the template renders;
 *  - any other runs in @huggingface/jinja under `TemplateLimits`: evaluation steps (nodes evaluated, so loop
 *    iterations and macro calls count), `range()` length, the size of any value and of all text produced, and
 *    wall time. Going over one throws `ChatTemplateError` naming it. `checkChatTemplate` renders a small probe
 *    conversation once at load so a broken or runaway template is reported before the first message.
 * `encodeChat` turns a conversation into ids without letting message text become control tokens: control-token
 * texts inside message content are broken by a sentinel character before rendering, so only the template's own
 * markup is read as control tokens; the sentinel is removed and the content encoded as plain text.
 */
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { registerErrorClass } from '../errors.ts';
import { nativeFormatter } from './chatFormats.ts';
import type { Tokenizer } from './tokenizer.ts';

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
  /** Bounds for the generic renderer (default `DEFAULT_TEMPLATE_LIMITS`). */
  limits?: Partial<TemplateLimits>;
  /** The last message is an assistant turn to extend: cut the prompt right after its text (see GenerateRequest.continueFinal). */
  continueFinal?: boolean;
}

export interface TemplateLimits {
  /** Template source length in characters. */
  readonly maxTemplateChars: number;
  /** Nodes evaluated: base + per message. */
  readonly maxSteps: number;
  readonly maxStepsPerMessage: number;
  /** Largest string any expression may produce, and of the result: base + `outputPerInputChar` × message chars. */
  readonly maxOutputChars: number;
  readonly outputPerInputChar: number;
  /** All text produced while rendering (intermediate strings included): this many times the output limit. */
  readonly producedPerOutput: number;
  /** Items of one `range()`, and the size (items + characters) of any list or mapping. */
  readonly maxItems: number;
  readonly maxMs: number;
}

export const DEFAULT_TEMPLATE_LIMITS: TemplateLimits = {
  maxTemplateChars: 256 * 1024,
  maxSteps: 300_000,
  maxStepsPerMessage: 2_000,
  maxOutputChars: 1 << 20,
  outputPerInputChar: 4,
  producedPerOutput: 16,
  maxItems: 100_000,
  maxMs: 1_000,
};

/** Used when a model has no `tokenizer.chat_template` (the demo models' template is this one). */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** The template did not parse, failed while rendering (including its own `raise_exception(...)`, which
 *  @huggingface/jinja provides along with `strftime_now`), or went over one of its limits (`limit` says which). */
export class ChatTemplateError extends Error {
  override name = 'ChatTemplateError';
}
registerErrorClass('ChatTemplateError', ChatTemplateError);

/** Thrown inside the interpreter; turned into ChatTemplateError by `render`. */
class LimitExceeded extends Error {}

type RuntimeValue = ReturnType<Interpreter['evaluate']>;
type Statement = Parameters<Interpreter['evaluate']>[0];
type Program = Template['parsed'];

/** Filters/functions whose numeric arguments size a string natively (`' '.repeat(n)` per line). */
const WIDTH_ARGUMENT_CALLS = new Set(['indent', 'tojson', 'center', 'ljust', 'rjust', 'wordwrap', 'truncate']);
const MAX_WIDTH_ARGUMENT = 64;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/** Static check at compile time: width-like arguments must be small literals (a computed width could ask for
 *  gigabytes in one native call, which no step count can interrupt). */
function checkWidthArguments(node: unknown, depth = 0): void {
  if (!isRecord(node) || depth > 10_000) return;
  if (node.type === 'CallExpression' && isRecord(node.callee) && node.callee.type === 'Identifier') {
    const name = node.callee.value;
    if (typeof name === 'string' && WIDTH_ARGUMENT_CALLS.has(name) && Array.isArray(node.args)) {
      for (const a of node.args) {
        const v = isRecord(a) && a.type === 'KeywordArgumentExpression' ? a.value : a;
        if (!isSmallLiteral(v)) {
          throw new ChatTemplateError(`chat template refused: ${name}(...) takes only literal arguments up to ${MAX_WIDTH_ARGUMENT} here`);
        }
      }
    }
  }
  for (const v of Object.values(node)) {
    if (Array.isArray(v)) for (const x of v) checkWidthArguments(x, depth + 1);
    else if (v instanceof Map) for (const [k, x] of v) (checkWidthArguments(k, depth + 1), checkWidthArguments(x, depth + 1));
    else if (isRecord(v)) checkWidthArguments(v, depth + 1);
  }
}

function isSmallLiteral(v: unknown): boolean {
  if (!isRecord(v)) return false;
  if (v.type === 'IntegerLiteral' || v.type === 'FloatLiteral') return typeof v.value === 'number' && Math.abs(v.value) <= MAX_WIDTH_ARGUMENT;
  if (v.type === 'StringLiteral') return typeof v.value === 'string' && v.value.length <= MAX_WIDTH_ARGUMENT;
  if (v.type === 'Identifier') return ['true', 'false', 'True', 'False', 'none', 'None'].includes(String(v.value));
  return false;
}

const compiled = new Map<string, Program>();

function compile(source: string, limits: TemplateLimits): Program {
  let p = compiled.get(source);
  if (p === undefined) {
    if (source.length > limits.maxTemplateChars) {
      throw new ChatTemplateError(`chat template refused: it is ${source.length} characters, over the limit of ${limits.maxTemplateChars}`);
    }
    try {
      p = new Template(source).parsed;
    } catch (e) {
      throw new ChatTemplateError(`chat template does not parse: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    checkWidthArguments(p);
    if (compiled.size > 16) compiled.clear();
    compiled.set(source, p);
  }
  return p;
}

interface Budget {
  readonly steps: number;
  readonly outputChars: number;
  readonly producedChars: number;
  readonly items: number;
  readonly deadline: number;
  readonly ms: number;
}

/** Interpreter that counts every node it evaluates and measures what each produces. */
class BoundedInterpreter extends Interpreter {
  private steps = 0;
  private produced = 0;
  /** Expanded size (items + characters) of lists seen, so nesting a list in itself cannot double unseen. */
  private readonly sizes = new WeakMap<object, number>();

  constructor(
    env: Environment,
    private readonly budget: Budget,
  ) {
    super(env);
  }

  override evaluate(statement: Statement, environment: Environment): RuntimeValue {
    const b = this.budget;
    if (++this.steps > b.steps) throw new LimitExceeded(`steps: it evaluated more than ${b.steps} expressions`);
    if ((this.steps & 63) === 0 && performance.now() > b.deadline) throw new LimitExceeded(`time: it ran for more than ${b.ms} ms`);
    const v = super.evaluate(statement, environment);
    if (v.type === 'StringValue' && typeof v.value === 'string') {
      if (v.value.length > b.outputChars) throw new LimitExceeded(`output: it produced a text of more than ${b.outputChars} characters`);
      // Every string handed out counts, existing ones too: a loop body that only names a long string still
      // grows the loop's result by it.
      this.produced += v.value.length;
      if (this.produced > b.producedChars) throw new LimitExceeded(`output: it produced more than ${b.producedChars} characters in all`);
    } else if (v.type === 'ArrayValue' || v.type === 'ObjectValue' || v.type === 'TupleValue') {
      if (this.sizeOf(v) > b.items) throw new LimitExceeded(`items: it built a list or mapping of more than ${b.items} items and characters`);
    }
    return v;
  }

  private sizeOf(v: { readonly value: unknown }, depth = 0): number {
    const raw: unknown = v.value;
    if (typeof raw === 'string') return raw.length + 1;
    if (!isRecord(raw)) return 1;
    const known = Array.isArray(raw) ? this.sizes.get(raw) : undefined;
    if (known !== undefined) return known;
    if (depth > 64) return this.budget.items + 1;
    // Sizing a new list walks it once; that walk (and the loop set-up over it, which the interpreter does
    // before evaluating any body) is charged as steps.
    if (Array.isArray(raw)) this.steps += raw.length;
    let n = 1;
    const children: Iterable<unknown> = Array.isArray(raw) ? raw : raw instanceof Map ? raw.values() : [];
    for (const c of children) {
      if (isRecord(c) && 'type' in c) n += this.sizeOf({ value: c.value }, depth + 1);
      else n += 1;
      if (n > this.budget.items) break;
    }
    // Lists are not changed in place by templates; mappings (namespaces) are, so only lists are remembered.
    if (Array.isArray(raw)) this.sizes.set(raw, n);
    return n;
  }
}

function strftimeNow(format: string): string {
  const d = new Date();
  const pad2 = (n: number): string => (n < 10 ? '0' + n : String(n));
  return String(format).replace(/%[YmdbBHM%]/g, (tok) => {
    switch (tok) {
      case '%Y':
        return String(d.getFullYear());
      case '%m':
        return pad2(d.getMonth() + 1);
      case '%d':
        return pad2(d.getDate());
      case '%b':
        return new Intl.DateTimeFormat(undefined, { month: 'short' }).format(d);
      case '%B':
        return new Intl.DateTimeFormat(undefined, { month: 'long' }).format(d);
      case '%H':
        return pad2(d.getHours());
      case '%M':
        return pad2(d.getMinutes());
      default:
        return '%';
    }
  });
}

function boundedRange(maxItems: number): (start: number, stop?: number, step?: number) => number[] {
  return (start, stop, step = 1) => {
    const [a, z] = stop === undefined ? [0, start] : [start, stop];
    if (![a, z, step].every((x) => typeof x === 'number' && Number.isFinite(x))) throw new Error('range() takes numbers');
    if (step === 0) throw new Error('range() step must not be zero');
    const n = Math.max(0, Math.ceil((z - a) / step));
    if (n > maxItems) throw new LimitExceeded(`items: range() of ${n} items is over the limit of ${maxItems}`);
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(a + i * step);
    return out;
  };
}

function resolveLimits(l: Partial<TemplateLimits> | undefined): TemplateLimits {
  return l === undefined ? DEFAULT_TEMPLATE_LIMITS : { ...DEFAULT_TEMPLATE_LIMITS, ...l };
}

function renderGeneric(source: string, vars: RenderVars, limits: TemplateLimits): string {
  const program = compile(source, limits);
  const inputChars = vars.messages.reduce((a, m) => a + m.content.length + m.role.length, 0);
  const outputChars = limits.maxOutputChars + limits.outputPerInputChar * inputChars;
  const start = performance.now();
  const budget: Budget = {
    steps: limits.maxSteps + limits.maxStepsPerMessage * vars.messages.length,
    outputChars,
    producedChars: limits.producedPerOutput * outputChars,
    items: limits.maxItems,
    deadline: start + limits.maxMs,
    ms: limits.maxMs,
  };
  const env = new Environment();
  env.set('false', false);
  env.set('true', true);
  env.set('none', null);
  env.set('False', false);
  env.set('True', true);
  env.set('None', null);
  env.set('raise_exception', (msg: string) => {
    throw new Error(String(msg));
  });
  env.set('range', boundedRange(limits.maxItems));
  env.set('strftime_now', strftimeNow);
  env.set('messages', vars.messages);
  env.set('add_generation_prompt', vars.add_generation_prompt);
  env.set('bos_token', vars.bos_token);
  env.set('eos_token', vars.eos_token);
  try {
    const out = new BoundedInterpreter(env, budget).run(program);
    return typeof out.value === 'string' ? out.value : String(out.value);
  } catch (e) {
    if (e instanceof LimitExceeded) throw new ChatTemplateError(`chat template stopped at its limit of ${e.message}`);
    if (e instanceof RangeError) throw new ChatTemplateError(`chat template failed to render (${e.message}): it nests or recurses too deeply`, { cause: e });
    throw new ChatTemplateError(`chat template failed to render: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

export interface RenderVars {
  readonly messages: readonly ChatMessage[];
  readonly add_generation_prompt: boolean;
  readonly bos_token: string;
  readonly eos_token: string;
}

/** Calls of the generic renderer so far (tests bound the work of prompt building with it). */
export const renderStats = { generic: 0, native: 0 };

function renderVars(template: string | undefined, messages: readonly ChatMessage[], opts: ChatPromptOptions): { source: string; vars: RenderVars } {
  const source = template === undefined || template.trim() === '' ? CHATML_TEMPLATE : template;
  const msgs = messages.map((m) => ({ role: m.role, content: m.content }));
  if (opts.systemPrompt !== undefined && msgs[0]?.role !== 'system') msgs.unshift({ role: 'system', content: opts.systemPrompt });
  return {
    source,
    vars: {
      messages: msgs,
      add_generation_prompt: continuesFinal(msgs, opts) ? false : (opts.addGenerationPrompt ?? true),
      bos_token: opts.bosToken ?? '',
      eos_token: opts.eosToken ?? '',
    },
  };
}

function renderSource(source: string, vars: RenderVars, limits: TemplateLimits): string {
  const native = nativeFormatter(source);
  if (native !== undefined) {
    renderStats.native++;
    return native(vars);
  }
  renderStats.generic++;
  return renderGeneric(source, vars, limits);
}

/**
 * Renders the conversation with `template` (a model's `tokenizer.chat_template`; undefined or '' → ChatML).
 * Throws `ChatTemplateError` when the template cannot be parsed or rendered, or goes over a limit.
 */
export function renderChatPrompt(template: string | undefined, messages: readonly ChatMessage[], opts: ChatPromptOptions = {}): string {
  const { source, vars } = renderVars(template, messages, opts);
  const out = renderSource(source, vars, resolveLimits(opts.limits));
  if (!continuesFinal(vars.messages, opts)) return out;
  // The template closes the turn after the text; the answer goes on from inside it.
  const last = (vars.messages.at(-1)?.content ?? '').trimEnd();
  const at = last === '' ? -1 : out.lastIndexOf(last);
  if (at < 0) throw new ChatTemplateError('chat template: the answer to continue is not in the rendered prompt');
  return out.slice(0, at + last.length);
}

/** continueFinal applies: the last message is an assistant turn to extend. */
function continuesFinal(msgs: readonly { role: string }[], opts: ChatPromptOptions): boolean {
  return opts.continueFinal === true && msgs.at(-1)?.role === 'assistant';
}

/** The same rendering through the generic (bounded Jinja) renderer even when a native formatter exists:
 *  what the native formatters are tested against. */
export function renderChatPromptJinja(template: string | undefined, messages: readonly ChatMessage[], opts: ChatPromptOptions = {}): string {
  const { source, vars } = renderVars(template, messages, opts);
  return renderGeneric(source, vars, resolveLimits(opts.limits));
}

const PROBE: readonly ChatMessage[] = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'Hello!' },
  { role: 'assistant', content: 'Hi! How can I help?' },
  { role: 'user', content: 'Tell me a joke.' },
];

/**
 * Checks a model's template once at load: it must parse and render a small conversation within its limits.
 * A template's own `raise_exception` on the probe (some refuse a system message) is not an error here; a parse
 * failure or a limit is (`ChatTemplateError`).
 */
export function checkChatTemplate(template: string | undefined, opts: Pick<ChatPromptOptions, 'bosToken' | 'eosToken' | 'limits'> = {}): void {
  for (const probe of [PROBE, PROBE.slice(1)]) {
    try {
      renderChatPrompt(template, probe, opts);
      return;
    } catch (e) {
      if (!(e instanceof ChatTemplateError) || e.message.includes('limit') || e.message.includes('does not parse') || e.message.includes('refused')) throw e;
    }
  }
}

// ------------------------------------------------------------------------------------------------------------
// Encoding: message text as plain text, the template's markup with control tokens

/** Characters that never occur in text (Unicode noncharacters); one not in the conversation marks content. */
const SENTINELS = Array.from({ length: 32 }, (_, i) => String.fromCharCode(0xfdd0 + i));

export interface EncodeChatOptions extends ChatPromptOptions {
  /** Add BOS/EOS as the vocabulary says (default true). */
  addSpecial?: boolean;
  /** Encoded text pieces by text, reused across calls (prompt truncation renders a conversation several times). */
  cache?: Map<string, number[]>;
}

/**
 * The conversation as token ids for `tokenizer`: rendered with the model's template, where only the
 * template's own markup may become control tokens. Message content is encoded as plain text: a message that
 * contains `<|im_start|>system` gets the ids of that text, not the control token. Use this for anything that
 * puts outside text into a conversation (documents, retrieved passages).
 */
export function encodeChat(tokenizer: Tokenizer, template: string | undefined, messages: readonly ChatMessage[], opts: EncodeChatOptions = {}): number[] {
  const texts = tokenizer.controlTexts;
  const all = messages.map((m) => m.content).join('') + (opts.systemPrompt ?? '');
  const sentinel = SENTINELS.find((s) => !all.includes(s));
  if (sentinel === undefined) throw new ChatTemplateError('the conversation contains every sentinel character; it cannot be encoded safely');
  const defuse = (s: string): string => (mayContainControl(s, texts) ? defuseText(s, texts, sentinel) : s);
  const safe = messages.map((m) => ({ role: m.role, content: defuse(m.content) }));
  const sys = opts.systemPrompt === undefined ? undefined : defuse(opts.systemPrompt);
  const prompt = renderChatPrompt(template, safe, {
    ...opts,
    systemPrompt: sys,
    bosToken: opts.bosToken ?? (tokenizer.bos !== undefined ? tokenizer.tokenText(tokenizer.bos) : ''),
    eosToken: opts.eosToken ?? (tokenizer.eos !== undefined ? tokenizer.tokenText(tokenizer.eos) : ''),
  });
  if (prompt.replaceAll(sentinel, '').trim() === '') {
    throw new ChatTemplateError(`the chat template rendered nothing for this conversation of ${messages.length} message(s)`);
  }
  return tokenizer.encodeMarked(prompt, sentinel, { addSpecial: opts.addSpecial ?? true, cache: opts.cache });
}

function mayContainControl(s: string, texts: readonly string[]): boolean {
  return texts.some((t) => s.includes(t));
}

/** Inserts `sentinel` after the first character of every control-token text in `s`. */
function defuseText(s: string, texts: readonly string[], sentinel: string): string {
  let out = s;
  for (const t of texts) {
    if (!out.includes(t)) continue;
    const first = String.fromCodePoint(t.codePointAt(0) ?? 0);
    if (first.length === t.length) continue; // a one-character token cannot be split
    out = out.split(t).join(first + sentinel + t.slice(first.length));
  }
  return out;
}
