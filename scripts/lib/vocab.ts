/**
 * @file Vocabularies for the models we generate (Node-only; used by the model generator and tests): GPT-4's
 * cl100k_base from js-tiktoken, laid out like DBRX's tokenizer in GGUF (byte-level token strings, BPE merges,
 * DBRX's special tokens, `[PADi]` filler), so a generated GGUF tokenizes exactly like tiktoken under llama.cpp
 * and under our own tokenizer. tiktoken ships ranks only, so the merges are recovered: each token's bytes are
 * BPE-merged using only lower-ranked tokens, and every cl100k token ends in exactly two parts — that pair is
 * its merge, at its rank's position.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import cl100kBase from 'js-tiktoken/ranks/cl100k_base';
import { bytesToByteLevel } from '../../workers/tokenizer/byteLevel.ts';
import { CHATML_TEMPLATE } from '../../workers/tokenizer/chatTemplate.ts';

export { CHATML_TEMPLATE };
import { TokenType, type TokenizerSpec } from '../../workers/tokenizer/spec.ts';

export type VocabKind = 'small' | 'cl100k' | number;

export interface VocabSpec {
  tokens: string[];
  tokenTypes: number[];
  merges: string[];
  pre: 'dbrx';
  bos: number;
  eos: number;
  eot: number;
  pad: number;
  chatTemplate: string;
}


/** Number of ranked (non-special) cl100k tokens: ranks 0..100255. */
export const CL100K_RANKS = 100_256;
/** cl100k vocabulary size in DBRX's layout. */
export const CL100K_VOCAB = 100_352;
/** `small`: the first 4,096 ranks (a self-consistent BPE on its own). */
export const SMALL_RANKS = 4096;

/** DBRX's special tokens, in id order, with their ids in the full cl100k layout. */
const DBRX_SPECIALS: readonly (readonly [string, number])[] = [
  ['<|endoftext|>', 100257],
  ['<|fim_prefix|>', 100258],
  ['<|fim_middle|>', 100259],
  ['<|fim_suffix|>', 100260],
  ['<|endofprompt|>', 100276],
  ['<|pad|>', 100277],
  ['<|im_start|>', 100278],
  ['<|im_end|>', 100279],
];

export class VocabError extends Error {
  override name = 'VocabError';
}

interface RankedVocab {
  tokens: string[];
  merges: string[];
}
let rankCache: RankedVocab | undefined;
/** Bump when the cached layout or the recovery changes. */
const CACHE_FORMAT = 1;

/** `node_modules/.cache/brix/cl100k-<js-tiktoken version>-v<format>.json`, or undefined if unresolvable. */
function diskCachePath(): string | undefined {
  try {
    // js-tiktoken does not export its package.json; find its folder from the ranks module.
    let dir = path.dirname(createRequire(import.meta.url).resolve('js-tiktoken/ranks/cl100k_base'));
    while (path.basename(dir) !== 'js-tiktoken') {
      if (path.dirname(dir) === dir) return undefined;
      dir = path.dirname(dir);
    }
    const pkg: unknown = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const version = typeof pkg === 'object' && pkg !== null && 'version' in pkg ? String(pkg.version) : 'unknown';
    return path.join(path.dirname(dir), '.cache/brix', `cl100k-${version}-v${CACHE_FORMAT}.json`);
  } catch {
    return undefined;
  }
}

function readDiskCache(file: string): RankedVocab | undefined {
  try {
    const v: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof v !== 'object' || v === null || !('tokens' in v) || !('merges' in v)) return undefined;
    const { tokens, merges } = v;
    const strings = (a: unknown, n: number): a is string[] =>
      Array.isArray(a) && a.length === n && a.every((x) => typeof x === 'string');
    return strings(tokens, CL100K_RANKS) && strings(merges, CL100K_RANKS - 256) ? { tokens, merges } : undefined;
  } catch {
    return undefined;
  }
}

function writeDiskCache(file: string, v: RankedVocab): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(v));
    renameSync(tmp, file); // atomic: concurrent test workers never read half a file
  } catch {
    // A read-only tree only costs the recomputation next time.
  }
}

/**
 * All 100,256 cl100k ranks as byte-level strings, and the 100,000 recovered merges (merge i makes rank 256+i).
 * Recovering the merges takes a couple of seconds, so the result is cached on disk next to js-tiktoken.
 */
export function cl100kTokensAndMerges(): { readonly tokens: readonly string[]; readonly merges: readonly string[] } {
  if (rankCache) return rankCache;
  const cacheFile = diskCachePath();
  const cached = cacheFile === undefined ? undefined : readDiskCache(cacheFile);
  if (cached) {
    rankCache = cached;
    return cached;
  }
  const tokens = new Array<string>(CL100K_RANKS);
  for (const line of cl100kBase.bpe_ranks.split('\n')) {
    if (line === '') continue;
    const [, offsetStr, ...b64] = line.split(' ');
    const offset = Number.parseInt(offsetStr, 10);
    b64.forEach((t, i) => (tokens[offset + i] = bytesToByteLevel(Buffer.from(t, 'base64'))));
  }
  for (let r = 0; r < CL100K_RANKS; r++) {
    if (tokens[r] === undefined) throw new VocabError(`cl100k rank ${r} is missing from js-tiktoken's table`);
    if ((r < 256) !== (tokens[r].length === 1)) {
      throw new VocabError(`cl100k rank ${r} has ${tokens[r].length} bytes; expected single bytes exactly at ranks 0..255`);
    }
  }
  const rankOf = new Map<string, number>();
  tokens.forEach((t, r) => rankOf.set(t, r));
  const merges = new Array<string>(CL100K_RANKS - 256);
  for (let r = 256; r < CL100K_RANKS; r++) {
    const parts = bpeBelow(tokens[r], r, rankOf);
    if (parts.length !== 2) {
      throw new VocabError(`cl100k rank ${r} (${JSON.stringify(tokens[r])}) splits into ${parts.length} parts, not 2`);
    }
    merges[r - 256] = `${parts[0]} ${parts[1]}`;
  }
  rankCache = { tokens, merges };
  if (cacheFile !== undefined) writeDiskCache(cacheFile, rankCache);
  return rankCache;
}

/** tiktoken's merge loop on a byte-level string, using only tokens ranked below `limit`. */
function bpeBelow(s: string, limit: number, rankOf: ReadonlyMap<string, number>): string[] {
  const parts = [...s];
  for (;;) {
    let best = -1;
    let bestRank = limit;
    for (let i = 0; i + 1 < parts.length; i++) {
      const rank = rankOf.get(parts[i] + parts[i + 1]);
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        best = i;
      }
    }
    if (best < 0) return parts;
    parts.splice(best, 2, parts[best] + parts[best + 1]);
  }
}

/**
 * `cl100k`: the full vocabulary in DBRX's layout (specials at 100257-100279, `[PADi]` elsewhere, 100,352 in all).
 * `small` / N: the first N ranks (256 <= N <= 100,256), the 8 DBRX specials at N..N+7, `[PADi]` up to a
 * multiple of 64 (N = 32,000 gives the demo model's 32,064).
 */
export function buildVocab(kind: VocabKind): VocabSpec {
  const { tokens: ranked, merges: allMerges } = cl100kTokensAndMerges();
  const nRanks = kind === 'cl100k' ? CL100K_RANKS : kind === 'small' ? SMALL_RANKS : kind;
  if (!Number.isInteger(nRanks) || nRanks < 256 || nRanks > CL100K_RANKS) {
    throw new VocabError(`vocabulary size ${String(kind)}: need an integer number of ranks in [256, ${CL100K_RANKS}]`);
  }
  const specialIds =
    kind === 'cl100k' ? DBRX_SPECIALS.map(([, id]) => id) : DBRX_SPECIALS.map((_, i) => nRanks + i);
  const size = kind === 'cl100k' ? CL100K_VOCAB : Math.ceil((nRanks + DBRX_SPECIALS.length) / 64) * 64;
  const tokens = new Array<string>(size);
  const tokenTypes = new Array<number>(size);
  for (let i = 0; i < size; i++) {
    tokens[i] = i < nRanks ? ranked[i] : `[PAD${i}]`;
    tokenTypes[i] = i < nRanks ? TokenType.normal : TokenType.unused;
  }
  DBRX_SPECIALS.forEach(([text], i) => {
    tokens[specialIds[i]] = text;
    tokenTypes[specialIds[i]] = TokenType.control;
  });
  const id = (text: string): number => specialIds[DBRX_SPECIALS.findIndex(([t]) => t === text)];
  return {
    tokens,
    tokenTypes,
    merges: allMerges.slice(0, nRanks - 256),
    pre: 'dbrx',
    bos: id('<|endoftext|>'),
    eos: id('<|endoftext|>'),
    eot: id('<|im_end|>'),
    pad: id('<|pad|>'),
    chatTemplate: CHATML_TEMPLATE,
  };
}

/** The tokenizer spec a GGUF written from this vocabulary describes (`add_bos_token = false`, as DBRX). */
export function vocabTokenizerSpec(v: VocabSpec): TokenizerSpec {
  return {
    model: 'gpt2',
    pre: v.pre,
    tokens: v.tokens,
    tokenTypes: v.tokenTypes,
    merges: v.merges,
    bos: v.bos,
    eos: v.eos,
    eot: v.eot,
    pad: v.pad,
    addBos: false,
    addEos: false,
    chatTemplate: v.chatTemplate,
  };
}
