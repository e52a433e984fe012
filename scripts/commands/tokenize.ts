/**
 * @file `tokenize`: a model's tokenizer on a text, printed as one JSON array of ids — the engine's own
 * tokenizer (workers/tokenizer), so prompts can be checked against llama.cpp or a reference by hand.
 * Special-token texts in the input are parsed (`<|im_start|>` becomes its id), like llama.cpp's tokenize tool
 * with special handling, and BOS/EOS are added as the model's `add_bos_token`/`add_eos_token` say.
 */
import { readFile } from 'node:fs/promises';
import { UsageError, flagString, requireString, type CliCommand } from '../cliTypes.ts';
import { tokenizerSpecFromMetadata } from '../../workers/tokenizer/fromGguf.ts';
import { Tokenizer } from '../../workers/tokenizer/tokenizer.ts';
import { openModelFile } from '../lib/nodeSource.ts';

/** The tokenizer of a GGUF model file (the first part of a split model). */
export async function loadTokenizer(file: string): Promise<Tokenizer> {
  const { model, close } = await openModelFile(file);
  try {
    return Tokenizer.fromSpec(tokenizerSpecFromMetadata(model.metadata));
  } finally {
    await close();
  }
}

export const command: CliCommand = {
  name: 'tokenize',
  summary: "print a text's token ids as one JSON array (special tokens parsed; BOS added if the model says so)",
  flags: {
    model: { kind: 'string', help: 'GGUF model file (its tokenizer is used)', required: true },
    text: { kind: 'string', help: 'the text to tokenize; special-token texts such as <|im_start|> become their ids' },
    'text-file': { kind: 'string', help: 'read the text from this UTF-8 file instead (taken as-is, final newline included)' },
  },
  async run(flags, io) {
    const text = flagString(flags, 'text');
    const textFile = flagString(flags, 'text-file');
    if ((text === undefined) === (textFile === undefined)) throw new UsageError('tokenize: give exactly one of --text or --text-file');
    let input: string;
    if (text !== undefined) input = text;
    else {
      try {
        input = await readFile(textFile ?? '', 'utf8');
      } catch (e) {
        throw new UsageError(`tokenize: cannot read --text-file ${textFile}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    const tok = await loadTokenizer(requireString(flags, 'model'));
    io.out(JSON.stringify(tok.encode(input, { addSpecial: true, parseSpecial: true })) + '\n');
    return 0;
  },
};
