/**
 * @file The Node CLI: `npm run -s cli -- <command> [flags]`. It runs the same engine code as the browser
 * worker, on Node WebGPU (the `webgpu` package). Unknown commands or flags exit with code 2.
 */
import { commands } from './commands/index.ts';
import { UsageError, type CliCommand, type CliIO, type FlagValues } from './cliTypes.ts';

const io: CliIO = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
};

function usage(): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: npm run -s cli -- <command> [flags]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'Run `npm run -s cli -- <command> --help` for its flags.',
    '',
  ].join('\n');
}

function commandHelp(c: CliCommand): string {
  const names = Object.keys(c.flags);
  const w = Math.max(6, ...names.map((n) => n.length + 2));
  return [
    `usage: npm run -s cli -- ${c.name} [flags]`,
    '',
    c.summary,
    '',
    'flags:',
    ...names.map((n) => {
      const f = c.flags[n];
      const arg = f.kind === 'boolean' ? '' : f.kind === 'strings' ? ' <string>…' : ` <${f.kind}>`;
      return `  --${n}${arg}`.padEnd(w + 12) + `  ${f.help}${f.required ? ' (required)' : ''}`;
    }),
    '',
  ].join('\n');
}

/** Parses `--name value`, `--name=value` and boolean `--name`; rejects anything the command does not declare. */
export function parseFlags(c: CliCommand, argv: readonly string[]): FlagValues {
  const out: FlagValues = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new UsageError(`${c.name}: unexpected argument '${a}'`);
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    const spec = c.flags[name];
    if (!spec) throw new UsageError(`${c.name}: unknown flag --${name} (see --help)`);
    if (spec.kind === 'boolean') {
      if (eq >= 0) throw new UsageError(`${c.name}: --${name} takes no value`);
      out[name] = true;
      continue;
    }
    if (spec.kind === 'strings') {
      const prev = out[name];
      const values: string[] = Array.isArray(prev) ? [...prev] : [];
      if (eq >= 0) values.push(a.slice(eq + 1));
      else while (i + 1 < argv.length && !argv[i + 1].startsWith('--')) values.push(argv[++i]);
      if (values.length === (Array.isArray(prev) ? prev.length : 0)) throw new UsageError(`${c.name}: --${name} needs at least one value`);
      out[name] = values;
      continue;
    }
    let raw: string | undefined;
    if (eq >= 0) raw = a.slice(eq + 1);
    else {
      raw = argv[i + 1];
      i++;
    }
    if (raw === undefined) throw new UsageError(`${c.name}: --${name} needs a value`);
    if (spec.kind === 'number') {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${c.name}: --${name} must be a number, got '${raw}'`);
      out[name] = n;
    } else out[name] = raw;
  }
  for (const [name, spec] of Object.entries(c.flags)) {
    if (spec.required && out[name] === undefined) throw new UsageError(`${c.name}: missing required flag --${name}`);
  }
  return out;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name === undefined ? 2 : 0;
  }
  const c = commands.find((x) => x.name === name);
  if (!c) {
    io.err(`brix: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(commandHelp(c));
    return 0;
  }
  try {
    return await c.run(parseFlags(c, rest), io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`brix: ${e.message}\n`);
      return 2;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    io.err(`brix ${c.name}: ${err.name}: ${err.message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // dawn.node keeps the event loop alive; leave once stdout is flushed.
    process.stdout.write('', () => process.exit(code));
  },
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
