/**
 * @file `detokenize`: token ids back to text with a model's tokenizer (the engine's own), special tokens
 * written out as their text (`<|im_end|>`), unused tokens as nothing. Prints the text and a newline.
 */
import { UsageError, requireString, type CliCommand } from '../cliTypes.ts';
import { loadTokenizer } from './tokenize.ts';

/** "1,2, 3" → [1, 2, 3]; '' → []. */
export function parseTokenList(s: string): number[] {
  if (s.trim() === '') return [];
  return s.split(',').map((part) => {
    const t = part.trim();
    if (!/^\d+$/.test(t)) throw new UsageError(`detokenize: --tokens must be comma-separated token ids, got '${part}'`);
    return Number(t);
  });
}

export const command: CliCommand = {
  name: 'detokenize',
  summary: 'print the text of comma-separated token ids (special tokens as their text)',
  flags: {
    model: { kind: 'string', help: 'GGUF model file (its tokenizer is used)', required: true },
    tokens: { kind: 'string', help: 'token ids, comma-separated, e.g. 9906,1917', required: true },
  },
  async run(flags, io) {
    const ids = parseTokenList(requireString(flags, 'tokens'));
    const tok = await loadTokenizer(requireString(flags, 'model'));
    io.out(tok.decode(ids) + '\n');
    return 0;
  },
};
