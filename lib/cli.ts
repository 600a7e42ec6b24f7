#!/usr/bin/env node
/**
 * `xclip-node`: zero-shot video classification, scores and embeddings from the shell. This is the bin entry; the
 * commands live in lib/cli/, one module each, listed in lib/cli/commands.ts.
 * Exit status: 0 success, 1 the work failed, 2 bad usage, 3 an input file or the model folder is missing.
 * @module
 */
import { EXIT_FAILED, EXIT_OK } from './cli/io';
import { main } from './cli/main';

export { EXIT_FAILED, EXIT_MISSING_INPUT, EXIT_OK, EXIT_USAGE } from './cli/io';
export { main } from './cli/main';

if (require.main === module) {
  // A reader that went away (`xclip-node classify ... | head -1`) wants no more output and no stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? EXIT_OK);
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`xclip-node: ${String(err)}\n`);
      process.exitCode = EXIT_FAILED;
    },
  );
}
