/**
 * @file The contract between the CLI entry (scripts/cli.ts) and its commands (scripts/commands/*.ts).
 * Each command declares its flags so the entry can reject unknown ones with exit code 2 and print --help.
 */

/** 'strings': one or more values (`--docs a.txt b/`, until the next flag; repeating the flag adds more). */
export type FlagKind = 'string' | 'number' | 'boolean' | 'strings';

export interface FlagSpec {
  readonly kind: FlagKind;
  readonly help: string;
  readonly required?: boolean;
}

/** Parsed flag values: strings stay strings, numbers are checked finite, booleans are present/absent. */
export type FlagValues = Record<string, string | number | boolean | readonly string[] | undefined>;

export interface CliIO {
  /** Write to stdout without a newline added. */
  out(text: string): void;
  /** Write to stderr without a newline added. */
  err(text: string): void;
}

export interface CliCommand {
  readonly name: string;
  readonly summary: string;
  readonly flags: Readonly<Record<string, FlagSpec>>;
  /** Returns the process exit code. Throwing a UsageError gives exit 2; any other error exit 1. */
  run(flags: FlagValues, io: CliIO): Promise<number>;
}

/** Bad command line: the entry prints the message and exits with code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function flagString(flags: FlagValues, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
}

export function flagNumber(flags: FlagValues, name: string): number | undefined {
  const v = flags[name];
  return typeof v === 'number' ? v : undefined;
}

export function flagStrings(flags: FlagValues, name: string): readonly string[] | undefined {
  const v = flags[name];
  return Array.isArray(v) ? v : undefined;
}

export function requireString(flags: FlagValues, name: string): string {
  const v = flagString(flags, name);
  if (v === undefined) throw new UsageError(`missing required flag --${name}`);
  return v;
}
