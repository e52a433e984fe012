/**
 * @file `Tokenizer`: text ↔ token ids for the engine, built from a `TokenizerSpec`. It reproduces llama.cpp's
 * `llama_vocab` (src/llama-vocab.cpp) so that a prompt gets the same ids here as in llama.cpp:
 *  - special tokens (control, user-defined, unknown) are cut out of the text first, longest text first
 *    (`tokenizer_st_partition`); control/unknown ones only when `parseSpecial`, user-defined ones always;
 *  - the rest goes through the pre-tokenizer + byte-level BPE (`gpt2`) or SentencePiece BPE (`llama`);
 *  - the end-of-generation set and the control attribute of "control-looking" tokens are derived from token
 *    texts the way llama.cpp does (`<|im_end|>`, `<|eot_id|>`, `<end_of_turn>`, ...).
 * Decoding is llama.cpp's `token_to_piece` without its `clean_spaces` pass (which would rewrite " ," etc.
 * and break round trips and streaming), so `decode(encode(x)) === x` for any well-formed text.
 */
import { BytePairEncoder } from './bpe.ts';
import { BYTE_TO_CHAR, byteLevelToBytes } from './byteLevel.ts';
import { PreTokenizer } from './preTokenize.ts';
import { SentencePieceEncoder } from './spm.ts';
import { TokenType, TokenizerError, type TokenizerSpec } from './spec.ts';

export interface EncodeOptions {
  /** Add BOS / EOS as the spec's `addBos` / `addEos` say. Default false. */
  addSpecial?: boolean;
  /** Turn texts of control and unknown tokens (`<|im_start|>`...) into those tokens. User-defined tokens are
   *  always matched, as in llama.cpp. Default false: user text cannot inject control tokens. */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Control and unknown tokens decode to nothing. Default false (they decode to their text). */
  skipSpecial?: boolean;
}

/** llama.cpp `llama_token_attr` bits that matter here. */
const Attr = {
  unknown: 1 << 0,
  unused: 1 << 1,
  normal: 1 << 2,
  control: 1 << 3,
  userDefined: 1 << 4,
  byte: 1 << 5,
} as const;
const ATTR_SPECIAL = Attr.unknown | Attr.control;

function attrOfType(t: number | undefined): number {
  switch (t) {
    case TokenType.normal:
    case undefined:
      return Attr.normal;
    case TokenType.unknown:
      return Attr.unknown;
    case TokenType.control:
      return Attr.control;
    case TokenType.userDefined:
      return Attr.userDefined;
    case TokenType.unused:
      return Attr.unused;
    case TokenType.byte:
      return Attr.byte;
    default:
      return 0;
  }
}

// Token texts llama.cpp recognises (llama_vocab::impl::load); kept in its order and spelling.
const EOT_TEXTS = [
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>', '<EOT>', '_<EOT>',
  '[EOT]', '<｜end▁of▁sentence｜>', '<end_of_utterance>',
];
const EOM_TEXTS = ['<|eom_id|>'];
const FIM_TEXTS = [
  '<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>', '<|code_prefix|>', '<|prefix|>',
  '<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>', '<|code_suffix|>', '<|suffix|>',
  '<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>', '<|code_middle|>', '<|middle|>',
];
/** FIM pad / repo / file-separator tokens end generation in llama.cpp. */
const FIM_EOG_GROUPS = [
  ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]'],
  ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>'],
  ['<|file_sep|>'],
];
const EOG_TEXTS = new Set([
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>', '<end_of_turn>',
  '<|endoftext|>', '</s>', '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]', '<|end_of_text|>', '<end_of_utterance>',
  '<eos>', '<turn|>', '<|tool_response>', '<｜end▁of▁sentence｜>', '[e~[',
]);
/** gpt-oss: always rendered, never control (llama.cpp "quick hack"). */
const FORCE_USER_DEFINED = new Set(['<|channel|>', '<|message|>', '<|start|>', '<|constrain|>']);

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const UTF8 = new TextEncoder();
const EMPTY = new Uint8Array(0);

export class Tokenizer {
  readonly model: 'gpt2' | 'llama';
  readonly pre: string;
  readonly vocabSize: number;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  /** End of turn: from the spec, else found by text like llama.cpp (`<|im_end|>`, `<|eot_id|>`, ...). */
  readonly eot: number | undefined;
  readonly eom: number | undefined;
  readonly pad: number | undefined;
  readonly unk: number | undefined;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;
  readonly chatTemplate: string | undefined;
  /** Ids that end generation: EOS, EOT, EOM and end-like control tokens found by text. */
  readonly eogIds: ReadonlySet<number>;

  private readonly tokens: readonly string[];
  private readonly attrs: Uint16Array;
  private readonly tokenToId: Map<string, number>;
  /** Special tokens for partitioning, longest text first (ties: lower id first). */
  private readonly specials: readonly { readonly id: number; readonly text: string; readonly attr: number }[];
  private readonly bpe: BytePairEncoder | undefined;
  private readonly preTokenizer: PreTokenizer | undefined;
  private readonly spm: SentencePieceEncoder | undefined;
  private controlTextList: readonly string[] | undefined;
  /** Decoded bytes per id (special tokens as their text), filled lazily. */
  private readonly pieces: (Uint8Array | undefined)[];

  private constructor(spec: TokenizerSpec) {
    const n = spec.tokens.length;
    if (spec.model !== 'gpt2' && spec.model !== 'llama') {
      throw new TokenizerError(`unsupported tokenizer model '${String(spec.model)}' (expected 'gpt2' or 'llama')`);
    }
    if (n === 0) throw new TokenizerError('tokenizer has an empty vocabulary');
    if (spec.tokenTypes.length !== 0 && spec.tokenTypes.length !== n) {
      throw new TokenizerError(`token_type has ${spec.tokenTypes.length} entries for ${n} tokens`);
    }
    if (spec.model === 'llama' && spec.scores !== undefined && spec.scores.length < n) {
      throw new TokenizerError(`scores has ${spec.scores.length} entries for ${n} tokens`);
    }
    const checkId = (what: string, id: number | undefined): number | undefined => {
      if (id === undefined) return undefined;
      if (!Number.isInteger(id) || id < 0 || id >= n) {
        throw new TokenizerError(`${what} token id ${id} is outside the vocabulary [0, ${n})`);
      }
      return id;
    };
    this.model = spec.model;
    this.pre = spec.pre;
    this.vocabSize = n;
    this.tokens = spec.tokens;
    this.bos = checkId('BOS', spec.bos);
    this.eos = checkId('EOS', spec.eos);
    this.pad = checkId('padding', spec.pad);
    this.unk = checkId('unknown', spec.unk);
    this.addBos = spec.addBos;
    this.addEos = spec.addEos;
    this.addSpacePrefix = spec.model === 'llama' && spec.addSpacePrefix !== false;
    this.chatTemplate = spec.chatTemplate;
    if (this.addBos && this.bos === undefined) throw new TokenizerError('add_bos_token is set but there is no BOS token');
    if (this.addEos && this.eos === undefined) throw new TokenizerError('add_eos_token is set but there is no EOS token');

    this.attrs = new Uint16Array(n);
    this.tokenToId = new Map();
    for (let i = 0; i < n; i++) {
      this.attrs[i] = attrOfType(spec.tokenTypes.length === 0 ? undefined : spec.tokenTypes[i]);
      // First spelling wins if a vocabulary lists a text twice.
      if (!this.tokenToId.has(spec.tokens[i])) this.tokenToId.set(spec.tokens[i], i);
    }

    // Special tokens by text, as llama.cpp: they become control (if not already) and may end generation.
    // llama.cpp takes whichever listed text its hash map yields first; we take the first in list order.
    const byText = (texts: readonly string[]): number | undefined => {
      for (const t of texts) {
        const id = this.tokenToId.get(t);
        if (id !== undefined) return id;
      }
      return undefined;
    };
    const markControl = (id: number | undefined): void => {
      if (id !== undefined) this.attrs[id] |= Attr.control;
    };
    const eot = checkId('EOT', spec.eot) ?? byText(EOT_TEXTS);
    const eom = checkId('EOM', spec.eom) ?? byText(EOM_TEXTS);
    if (spec.eot === undefined) markControl(eot);
    if (spec.eom === undefined) markControl(eom);
    this.eot = eot;
    this.eom = eom;
    for (const t of FIM_TEXTS) markControl(this.tokenToId.get(t));
    const eog = new Set<number>();
    for (const group of FIM_EOG_GROUPS) {
      const id = byText(group);
      if (id !== undefined) {
        eog.add(id);
        markControl(id);
      }
    }
    for (const t of EOG_TEXTS) {
      const id = this.tokenToId.get(t);
      if (id !== undefined) {
        eog.add(id);
        markControl(id);
      }
    }
    for (const t of FORCE_USER_DEFINED) {
      const id = this.tokenToId.get(t);
      if (id !== undefined) this.attrs[id] = Attr.userDefined;
    }
    for (const id of [this.eos, eot, eom]) if (id !== undefined) eog.add(id);
    // gpt-oss / solar-open: `<|end|>` ends a message, not the generation, when return/call tokens exist.
    const has = (t: string) => {
      const id = this.tokenToId.get(t);
      return id !== undefined && eog.has(id);
    };
    const endId = this.tokenToId.get('<|end|>');
    if (endId !== undefined && eog.has(endId)) {
      const hasCall = has('<|call|>') || has('<|calls|>');
      if ((has('<|return|>') && hasCall) || (hasCall && has('<|flush|>'))) {
        eog.delete(endId);
        this.attrs[endId] = Attr.userDefined;
      }
    }
    const sId = this.tokenToId.get('</s>');
    if (sId !== undefined && eog.has(sId) && has('<|tool_response>')) {
      eog.delete(sId);
      this.attrs[sId] = Attr.normal;
    }
    this.eogIds = eog;

    const specials: { id: number; text: string; attr: number }[] = [];
    for (let i = 0; i < n; i++) {
      const a = this.attrs[i];
      if (a & (Attr.control | Attr.userDefined | Attr.unknown) && spec.tokens[i] !== '') {
        specials.push({ id: i, text: spec.tokens[i], attr: a });
      }
    }
    specials.sort((x, y) => y.text.length - x.text.length || x.id - y.id);
    this.specials = specials;

    if (spec.model === 'gpt2') {
      this.preTokenizer = PreTokenizer.forName(spec.pre);
      this.bpe = new BytePairEncoder(spec.merges, this.tokenToId, this.preTokenizer.ignoreMerges);
    } else {
      this.spm = new SentencePieceEncoder(this.tokenToId, spec.scores ?? [], this.unk);
    }
    this.pieces = new Array<Uint8Array | undefined>(n);
  }

  static fromSpec(spec: TokenizerSpec): Tokenizer {
    return new Tokenizer(spec);
  }

  /** The vocabulary entry as stored (byte-level form for `gpt2` normal tokens, e.g. 'Ġthe'). */
  tokenText(id: number): string {
    this.checkId(id);
    return this.tokens[id];
  }

  isEog(id: number): boolean {
    return this.eogIds.has(id);
  }

  /** Control or unknown token (what `skipSpecial` drops). */
  isSpecial(id: number): boolean {
    this.checkId(id);
    return (this.attrs[id] & ATTR_SPECIAL) !== 0;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    return this.encodeWith(text, opts.addSpecial === true, opts.parseSpecial === true, undefined, undefined);
  }

  /** Texts of the tokens that only `parseSpecial` turns into their ids (control and unknown), longest first. */
  get controlTexts(): readonly string[] {
    this.controlTextList ??= this.specials.filter((s) => (s.attr & ATTR_SPECIAL) !== 0).map((s) => s.text);
    return this.controlTextList;
  }

  /**
   * A rendered chat prompt: control-token texts become their ids, then every `sentinel` character is removed
   * from the text between them before it is encoded (chatTemplate.ts puts one inside each control-token text
   * of message content, so those stay text). `cache` keeps encoded pieces by text across calls.
   */
  encodeMarked(text: string, sentinel: string, opts: { addSpecial?: boolean; cache?: Map<string, number[]> } = {}): number[] {
    return this.encodeWith(text, opts.addSpecial === true, true, sentinel, opts.cache);
  }

  private encodeWith(text: string, addSpecial: boolean, parseSpecial: boolean, sentinel: string | undefined, cache: Map<string, number[]> | undefined): number[] {
    const out: number[] = [];
    if (addSpecial && this.addBos && this.bos !== undefined) out.push(this.bos);
    if (text.length > 0) {
      LONE_SURROGATE.lastIndex = 0;
      const clean = LONE_SURROGATE.test(text) ? text.replace(LONE_SURROGATE, '\uFFFD') : text;
      let fragments = this.partition(clean, parseSpecial);
      if (sentinel !== undefined) {
        // Content's own control texts reappear here; user-defined tokens are still matched (as llama.cpp does).
        fragments = fragments.flatMap((f) => (typeof f === 'number' || !f.includes(sentinel) ? [f] : this.partition(f.replaceAll(sentinel, ''), false)));
      }
      let prevSpecial = true; // SentencePiece: a space goes before text that starts the input or follows a special
      for (const f of fragments) {
        if (typeof f === 'number') {
          out.push(f);
          prevSpecial = true;
          continue;
        }
        const key = cache === undefined ? undefined : (prevSpecial ? '1' : '0') + f;
        const hit = key === undefined ? undefined : cache?.get(key);
        if (hit !== undefined) {
          for (const id of hit) out.push(id);
        } else {
          const ids: number[] = [];
          if (this.spm !== undefined) this.spm.encode(this.addSpacePrefix && prevSpecial ? ' ' + f : f, ids);
          else this.encodeBpe(f, ids);
          if (key !== undefined) cache?.set(key, ids);
          for (const id of ids) out.push(id);
        }
        prevSpecial = false;
      }
    }
    if (addSpecial && this.addEos && this.eos !== undefined) out.push(this.eos);
    return out;
  }

  /** Bytes of one token as decoding emits them (may be part of a UTF-8 character). The array is cached and
   *  shared: do not modify it. */
  tokenBytes(id: number, opts: DecodeOptions = {}): Uint8Array {
    this.checkId(id);
    if (opts.skipSpecial === true && (this.attrs[id] & ATTR_SPECIAL) !== 0) return EMPTY;
    let p = this.pieces[id];
    if (p === undefined) {
      p = this.piece(id);
      this.pieces[id] = p;
    }
    return p;
  }

  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const b = this.tokenBytes(ids[i], opts);
      parts.push(b);
      total += b.length;
    }
    const all = new Uint8Array(total);
    let o = 0;
    for (const b of parts) {
      all.set(b, o);
      o += b.length;
    }
    const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(all);
    // SentencePiece: drop the space that encoding put in front of the text (llama.cpp strips it from the first
    // token; we strip it from the first piece that has text, so a skipped BOS does not keep it).
    return this.addSpacePrefix && text.startsWith(' ') ? text.slice(1) : text;
  }

  // --------------------------------------------------------------------------------------------------------

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new TokenizerError(`token id ${id} is outside the vocabulary [0, ${this.vocabSize})`);
    }
  }

  /** Text split around special tokens: strings to tokenize and ids taken as-is. */
  private partition(text: string, parseSpecial: boolean): (string | number)[] {
    let frags: (string | number)[] = [text];
    for (const sp of this.specials) {
      if (!parseSpecial && (sp.attr & ATTR_SPECIAL) !== 0) continue;
      if (!text.includes(sp.text)) continue;
      const next: (string | number)[] = [];
      for (const f of frags) {
        if (typeof f === 'number' || !f.includes(sp.text)) {
          next.push(f);
          continue;
        }
        const parts = f.split(sp.text);
        for (let i = 0; i < parts.length; i++) {
          if (parts[i] !== '') next.push(parts[i]);
          if (i + 1 < parts.length) next.push(sp.id);
        }
      }
      frags = next;
    }
    return frags;
  }

  private encodeBpe(text: string, out: number[]): void {
    const pre = this.preTokenizer;
    const bpe = this.bpe;
    if (pre === undefined || bpe === undefined) return;
    for (const word of pre.split(text)) bpe.encodeWord(toByteLevel(word), out);
  }

  private piece(id: number): Uint8Array {
    const a = this.attrs[id];
    const text = this.tokens[id];
    if (a & (ATTR_SPECIAL | Attr.userDefined)) return UTF8.encode(text);
    if (a & Attr.normal) {
      return this.model === 'gpt2' ? byteLevelToBytes(text) : UTF8.encode(text.replaceAll('\u2581', ' '));
    }
    if (a & Attr.byte) {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(text);
      return m ? Uint8Array.of(parseInt(m[1], 16)) : UTF8.encode(text);
    }
    return EMPTY; // unused / undefined tokens decode to nothing, as in llama.cpp
  }
}

/** A JS string (well-formed) → its UTF-8 bytes in byte-level form, without an intermediate buffer. */
function toByteLevel(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out += BYTE_TO_CHAR[c];
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x800) out += BYTE_TO_CHAR[0xc0 | (c >> 6)] + BYTE_TO_CHAR[0x80 | (c & 63)];
    else if (c < 0x10000)
      out += BYTE_TO_CHAR[0xe0 | (c >> 12)] + BYTE_TO_CHAR[0x80 | ((c >> 6) & 63)] + BYTE_TO_CHAR[0x80 | (c & 63)];
    else
      out +=
        BYTE_TO_CHAR[0xf0 | (c >> 18)] +
        BYTE_TO_CHAR[0x80 | ((c >> 12) & 63)] +
        BYTE_TO_CHAR[0x80 | ((c >> 6) & 63)] +
        BYTE_TO_CHAR[0x80 | (c & 63)];
  }
  return out;
}
