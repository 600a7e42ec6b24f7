/**
 * Command-line arguments: each command declares its options, and anything else is a usage error (exit 2 with that
 * command's help), never silently ignored.
 * @module
 * @internal
 */

/** Bad usage: the CLI prints the message and the command's help, and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * One option of a command: `--name <value>` when `value` names a placeholder, a flag otherwise.
 * @example
 * const TOP_K: OptionSpec = { name: 'top-k', value: 'n', help: 'best n labels per video (default: all)' };
 */
export interface OptionSpec {
  name: string;
  value?: string;
  help: string;
}

/** What a command gets: its positional arguments and the options given (value or `true` for a flag). */
export interface ParsedArgs {
  positional: string[];
  options: Map<string, string | true>;
}

/**
 * Splits `argv` by the command's option specs. `--name value`, `--name=value`, `-h`, and `--` (everything after it
 * is positional, for files starting with `--`).
 * @example
 * parseArgs(['a.mp4', '--top-k', '2'], [TOP_K]); // { positional: ['a.mp4'], options: Map { 'top-k' => '2' } }
 */
export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const positional: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a === '-h') {
      options.set('help', true);
    } else if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      const spec = byName.get(name);
      if (!spec) throw new UsageError(`unknown option --${name}`);
      if (spec.value === undefined) {
        if (eq > 0) throw new UsageError(`--${name} takes no value`);
        options.set(name, true);
      } else {
        const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
        if (value === undefined) throw new UsageError(`--${name} needs a value <${spec.value}>`);
        if (options.has(name)) throw new UsageError(`--${name} is given twice`);
        options.set(name, value);
      }
    } else if (a.startsWith('-') && a.length > 1) {
      throw new UsageError(`unknown option ${a}`);
    } else {
      positional.push(a);
    }
  }
  return { positional, options };
}

/** A value option, or undefined when absent. */
export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const v = args.options.get(name);
  return typeof v === 'string' ? v : undefined;
}

/** True when a flag was given. */
export function flag(args: ParsedArgs, name: string): boolean {
  return args.options.get(name) === true;
}

/** An integer option between min and max, or undefined when absent. */
export function intOption(args: ParsedArgs, name: string, min: number, max: number): number | undefined {
  const v = stringOption(args, name);
  if (v === undefined) return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= min && n <= max)) throw new UsageError(`--${name} expects an integer between ${min} and ${max} but received "${v}"`);
  return n;
}

/** A size in MiB (1 to 1 TiB) as bytes, or undefined when absent. */
export function mibOption(args: ParsedArgs, name: string): number | undefined {
  const v = intOption(args, name, 1, 1 << 20);
  return v === undefined ? undefined : v * 1024 * 1024;
}

/** Help text: the usage line, a summary, then the options aligned. */
export function helpText(usage: string, summary: string, specs: readonly OptionSpec[]): string {
  const left = specs.map((s) => `  --${s.name}${s.value ? ` <${s.value}>` : ''}`);
  const width = Math.max(...left.map((l) => l.length)) + 2;
  const lines = specs.map((s, i) => left[i].padEnd(width) + s.help.split('\n').join(`\n${' '.repeat(width)}`));
  return `Usage: xclip-node ${usage}\n\n${summary}\n\nOptions:\n${lines.join('\n')}`;
}
