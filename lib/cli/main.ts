/**
 * The CLI's dispatcher: finds the command, parses its options, runs it and turns failures into exit statuses
 * (0 success, 1 the work failed, 2 bad usage, 3 an input file or the model folder is missing).
 * @module
 * @internal
 */
import { type OptionSpec, UsageError, flag, helpText, parseArgs } from './args';
import { COMMON_OPTIONS, type Command } from './command';
import { COMMANDS } from './commands';
import { CliError, CliIo, EXIT_FAILED, EXIT_MISSING_INPUT, EXIT_OK, EXIT_USAGE } from './io';
import { packageVersion } from './version';

function optionsOf(command: Command): OptionSpec[] {
  return [...command.options, ...COMMON_OPTIONS];
}

/** The help of one command. */
export function commandHelp(command: Command): string {
  return helpText(command.usage, `${command.summary[0].toUpperCase()}${command.summary.slice(1)}.`, optionsOf(command));
}

/** The list of commands. */
export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'Usage: xclip-node <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Run "xclip-node <command> --help" for its options; "xclip-node --version" for the version.',
    'Exit status: 0 success, 1 the work failed (a file that cannot be read, a model error), 2 bad usage,',
    '3 an input file or the model folder is missing.',
  ].join('\n');
}

/** Runs the CLI; returns the exit status. */
export async function main(argv: readonly string[], io: CliIo = new CliIo(process.stdout, process.stderr)): Promise<number> {
  const [name = '--help', ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    io.out(`${mainHelp()}\n`);
    return EXIT_OK;
  }
  if (name === '--version' || name === '-v') {
    io.out(`${packageVersion()}\n`);
    return EXIT_OK;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.err(`xclip-node: unknown command "${name}"\n${mainHelp()}`);
    return EXIT_USAGE;
  }
  let verbose = rest.includes('--verbose');
  try {
    const args = parseArgs(rest, optionsOf(command));
    verbose = flag(args, 'verbose');
    if (flag(args, 'help')) {
      io.out(`${commandHelp(command)}\n`);
      return EXIT_OK;
    }
    return await command.run({ args, io, verbose });
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`xclip-node ${command.name}: ${err.message}\n\n${commandHelp(command)}`);
      return EXIT_USAGE;
    }
    io.error(err, verbose);
    if (err instanceof CliError) return err.exitCode;
    return (err as { code?: unknown }).code === 'FILE_NOT_FOUND' ? EXIT_MISSING_INPUT : EXIT_FAILED;
  }
}
