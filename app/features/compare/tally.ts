/**
 * @file Blind votes and their tally across turns and sessions: each vote is kept with the models' real names
 * (revealed once voted) in IndexedDB through idb-keyval, in a database of its own (`brix-compare`), so it
 * survives reloads and never mixes with conversations or weights. Records read back are checked field by
 * field; a malformed one is skipped rather than breaking the page.
 */
import { createStore, get, set, del, type UseStore } from 'idb-keyval';

export interface VoteRecord {
  readonly id: string;
  readonly at: number;
  /** Every model in the vote, by name, in the order of their blind labels (A, B, …). */
  readonly models: readonly string[];
  /** The winner's name, or null for a tie. */
  readonly winner: string | null;
}

export interface TallyRow {
  readonly model: string;
  readonly wins: number;
  readonly losses: number;
  readonly ties: number;
  readonly votes: number;
}

export interface TallyRepo {
  load(): Promise<VoteRecord[]>;
  add(v: VoteRecord): Promise<void>;
  clear(): Promise<void>;
}

const KEY = 'votes';
/** Keeps the store bounded; the oldest votes go first. */
export const MAX_VOTES = 10_000;

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

export function parseVotes(x: unknown): VoteRecord[] {
  if (!Array.isArray(x)) return [];
  const out: VoteRecord[] = [];
  for (const v of x) {
    if (!isRecord(v)) continue;
    const { id, at, models, winner } = v;
    if (typeof id !== 'string' || typeof at !== 'number' || !Array.isArray(models)) continue;
    if (!models.every((m): m is string => typeof m === 'string') || models.length < 2) continue;
    if (winner !== null && (typeof winner !== 'string' || !models.includes(winner))) continue;
    out.push({ id, at, models, winner });
  }
  return out;
}

/** Per model: a win for the winner, a loss for each other model in that vote, a tie for all in a tie. */
export function tallyOf(votes: readonly VoteRecord[]): TallyRow[] {
  const rows = new Map<string, { wins: number; losses: number; ties: number; votes: number }>();
  const row = (m: string): { wins: number; losses: number; ties: number; votes: number } => {
    let r = rows.get(m);
    if (!r) {
      r = { wins: 0, losses: 0, ties: 0, votes: 0 };
      rows.set(m, r);
    }
    return r;
  };
  for (const v of votes) {
    for (const m of new Set(v.models)) {
      const r = row(m);
      r.votes++;
      if (v.winner === null) r.ties++;
      else if (m === v.winner) r.wins++;
      else r.losses++;
    }
  }
  return [...rows.entries()]
    .map(([model, r]) => ({ model, ...r }))
    .sort((a, b) => b.wins - a.wins || a.losses - b.losses || a.model.localeCompare(b.model));
}

/** The tally in its own IndexedDB database; opened on first use, not at import. */
export function idbTallyRepo(given?: UseStore): TallyRepo {
  let opened = given;
  const store: UseStore = (mode, callback) => {
    opened ??= createStore('brix-compare', 'tally');
    return opened(mode, callback);
  };
  let chain: Promise<unknown> = Promise.resolve();
  // Serialised read-modify-write, so two quick votes never overwrite each other.
  const queue = <T>(f: () => Promise<T>): Promise<T> => {
    const p = chain.then(f, f);
    chain = p.catch(() => undefined);
    return p;
  };
  return {
    load: () => queue(async () => parseVotes(await get(KEY, store))),
    add: (v) =>
      queue(async () => {
        const all = parseVotes(await get(KEY, store));
        all.push(v);
        await set(KEY, all.slice(-MAX_VOTES), store);
      }),
    clear: () => queue(() => del(KEY, store)),
  };
}

export function memoryTallyRepo(initial: readonly VoteRecord[] = []): TallyRepo & { readonly votes: VoteRecord[] } {
  const votes = [...initial];
  return {
    votes,
    load: () => Promise.resolve([...votes]),
    add: (v) => {
      votes.push(v);
      return Promise.resolve();
    },
    clear: () => {
      votes.length = 0;
      return Promise.resolve();
    },
  };
}
