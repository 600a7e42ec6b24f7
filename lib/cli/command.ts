/**
 * What a CLI command is: a name, its help, the options it accepts and what it runs. Each command is one module
 * under lib/cli/, listed in lib/cli/commands.ts.
 * @module
 * @internal
 */
import type { OptionSpec, ParsedArgs } from './args';
import type { CliIo } from './io';

/** What a command's run gets. */
export interface CommandContext {
  args: ParsedArgs;
  io: CliIo;
  /** `--verbose`: stack traces on errors. */
  verbose: boolean;
}

/**
 * A command. `--help` and `--verbose` are added to every command's options.
 * @example
 * export const hello: Command = { name: 'hello', summary: 'greets', usage: 'hello', options: [], run: async ({ io }) => { io.out('hi\n'); return 0; } };
 */
export interface Command {
  name: string;
  /** One line for the list of commands. */
  summary: string;
  /** What follows `xclip-node` on the usage line, e.g. `classify <video|folder...> --labels "a,b,c" [options]`. */
  usage: string;
  /** The command's own options. */
  options: readonly OptionSpec[];
  /** Returns the exit status. */
  run(ctx: CommandContext): Promise<number>;
}

/** The options every command takes. */
export const COMMON_OPTIONS: readonly OptionSpec[] = [
  { name: 'verbose', help: 'stack traces on errors' },
  { name: 'help', help: 'this help' },
];
