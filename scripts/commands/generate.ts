/** @file `generate`: stream text from a model with the engine on Node WebGPU. */
import { UsageError, flagNumber, flagString, flagStrings, requireString, type CliCommand } from '../cliTypes.ts';
import { indexFiles } from '../lib/docs.ts';
import { fitSources, type SourceRef } from '../../workers/retrieval/context.ts';
import { promptBudget } from '../../workers/engine/contextPolicy.ts';
import { ACTIVATIONS_FLAG, KV_CACHE_FLAG, activationsFlag, kvCacheFlag, loadNodeEngine } from '../lib/nodeEngine.ts';
import { DEFAULT_SAMPLING, type ChatMessage } from '../../workers/protocol.ts';

const DOCS_TOP = 8;

export const command: CliCommand = {
  name: 'generate',
  summary: 'generate text (--chat applies the chat template; --docs answers from files; --temperature 0 is greedy; --json ends with {"text","tokens","stats"})',
  flags: {
    model: { kind: 'string', help: 'GGUF file (first file of a split set)', required: true },
    prompt: { kind: 'string', help: 'the prompt (or the user message with --chat)', required: true },
    chat: { kind: 'boolean', help: "apply the model's chat template" },
    system: { kind: 'string', help: 'system prompt (with --chat)' },
    'max-tokens': { kind: 'number', help: `tokens to generate (default ${DEFAULT_SAMPLING.maxTokens})` },
    temperature: { kind: 'number', help: `sampling temperature, 0 = greedy (default ${DEFAULT_SAMPLING.temperature})` },
    'top-k': { kind: 'number', help: `top-k, 0 = off (default ${DEFAULT_SAMPLING.topK})` },
    'top-p': { kind: 'number', help: `top-p, 1 = off (default ${DEFAULT_SAMPLING.topP})` },
    'repeat-penalty': { kind: 'number', help: `repetition penalty, 1 = off (default ${DEFAULT_SAMPLING.repetitionPenalty})` },
    seed: { kind: 'number', help: 'random seed (default 0)' },
    'context-size': { kind: 'number', help: 'KV cache length in tokens' },
    activations: ACTIVATIONS_FLAG,
    'kv-cache': KV_CACHE_FLAG,
    docs: { kind: 'strings', help: 'answer from these files or folders: the best passages that fit the context go into the prompt (implies --chat)' },
    top: { kind: 'number', help: `with --docs: passages to consider, best first (default ${DOCS_TOP})` },
    json: { kind: 'boolean', help: 'end with one JSON line {"text","tokens","stats"} (with --docs also "sources")' },
  },
  async run(flags, io) {
    const num = (n: string, d: number, ok: (v: number) => boolean): number => {
      const v = flagNumber(flags, n) ?? d;
      if (!ok(v)) throw new UsageError(`--${n} ${v} is out of range`);
      return v;
    };
    const sampling = {
      temperature: num('temperature', DEFAULT_SAMPLING.temperature, (v) => v >= 0),
      topK: num('top-k', DEFAULT_SAMPLING.topK, (v) => Number.isInteger(v) && v >= 0),
      topP: num('top-p', DEFAULT_SAMPLING.topP, (v) => v > 0 && v <= 1),
      repetitionPenalty: num('repeat-penalty', DEFAULT_SAMPLING.repetitionPenalty, (v) => v > 0),
      seed: num('seed', 0, (v) => Number.isInteger(v) && v >= 0),
      maxTokens: num('max-tokens', DEFAULT_SAMPLING.maxTokens, (v) => Number.isInteger(v) && v > 0),
      stop: [],
    };
    const runnerOpts = { activations: activationsFlag(flags), kvCache: kvCacheFlag(flags) };
    const docs = flagStrings(flags, 'docs');
    const top = flagNumber(flags, 'top') ?? DOCS_TOP;
    if (docs === undefined && flags.top !== undefined) throw new UsageError('--top needs --docs');
    if (!Number.isInteger(top) || top < 1) throw new UsageError(`--top ${top} must be a whole number of at least 1`);
    const chat = flags.chat === true || docs !== undefined;
    const system = flagString(flags, 'system');
    if (system !== undefined && !chat) throw new UsageError('--system needs --chat');
    const prompt = requireString(flags, 'prompt');
    const messages: ChatMessage[] = chat
      ? [...(system !== undefined ? [{ role: 'system' as const, content: system }] : []), { role: 'user', content: prompt }]
      : [{ role: 'user', content: prompt }];
    const index = docs ? await indexFiles(docs) : undefined;
    const { engine, info } = await loadNodeEngine(requireString(flags, 'model'), flagNumber(flags, 'context-size'), runnerOpts);
    let request = messages;
    let sources: SourceRef[] = [];
    if (index) {
      const fit = await fitSources(messages, index.search(prompt, top), promptBudget(info.contextSize, sampling.maxTokens), (p) => engine.countPromptTokens(p));
      request = fit.messages;
      sources = fit.sources;
      for (const s of sources) io.err(`[${s.n}] ${s.file} · chunk ${s.chunk}\n`);
      if (fit.dropped > 0) io.err(`(${fit.dropped} more passages did not fit the context)\n`);
    }
    const ac = new AbortController();
    const onSig = (): void => ac.abort();
    process.once('SIGINT', onSig);
    try {
      const result = await engine.generate({ messages: request, sampling, raw: !chat }, (d) => io.out(d.text), ac.signal);
      io.out('\n');
      if (flags.json) {
        const extra = index ? { sources: sources.map(({ n, file, chunk, text }) => ({ n, file, chunk, text })) } : {};
        io.out(JSON.stringify({ text: result.text, tokens: result.tokenIds, stats: result.stats, ...extra }) + '\n');
      }
    } finally {
      process.off('SIGINT', onSig);
      await engine.unload();
    }
    return 0;
  },
};
