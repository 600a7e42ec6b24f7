/**
 * Where the CLI writes: results to stdout, progress, notes and errors to stderr. A progress bar redrawn on a
 * terminal leaves its line open; anything else written to stderr ends that line first, so an error never lands
 * at the end of a bar.
 * @module
 * @internal
 */

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_MISSING_INPUT = 3;

/** The part of a stream the CLI uses (process.stdout/stderr, or a test's capture). */
export interface OutStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

/** An error the CLI reports with its own exit status and, optionally, a hint line under the message. */
export class CliError extends Error {
  readonly exitCode: number;
  readonly hint: string | undefined;
  readonly code: string | undefined;

  constructor(message: string, exitCode: number, options: { code?: string; hint?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.code = options.code;
    this.hint = options.hint;
  }
}

/**
 * The CLI's output.
 * @example
 * const io = new CliIo(process.stdout, process.stderr);
 * const tick = io.progress('embedding', files.length);
 */
export class CliIo {
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  /** A redrawn progress line is open on stderr. */
  #openLine = false;

  constructor(stdout: OutStream, stderr: OutStream) {
    this.stdout = stdout;
    this.stderr = stderr;
  }

  /** Writes to stdout. */
  out(text: string): void {
    this.stdout.write(text);
  }

  /** Writes a line to stderr, ending an open progress line first. */
  err(line: string): void {
    this.#endLine();
    this.stderr.write(`${line}\n`);
  }

  #endLine(): void {
    if (!this.#openLine) return;
    this.stderr.write('\n');
    this.#openLine = false;
  }

  /** Prints a failure: code and message, the stack only when verbose, then its hint. */
  error(err: unknown, verbose: boolean): void {
    const e = err as Error & { code?: string; hint?: string };
    if (verbose && e.stack) this.err(e.stack);
    else this.err(`xclip-node: error${e.code ? ` [${e.code}]` : ''}: ${e.message ?? String(err)}`);
    if (e.hint) this.err(e.hint);
  }

  /** On a terminal, one redrawn bar with rate and ETA; otherwise a plain line per step. */
  progress(label: string, total: number): (done: number) => void {
    const start = Date.now();
    return (done) => {
      const secs = (Date.now() - start) / 1000;
      const rate = secs > 0 ? done / secs : 0;
      const eta = rate > 0 ? (total - done) / rate : 0;
      if (this.stderr.isTTY === true) {
        const width = 30;
        const filled = Math.round((done / total) * width);
        this.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${rate.toFixed(2)}/s ETA ${eta.toFixed(0)}s`);
        this.#openLine = true;
        if (done === total) this.#endLine();
      } else {
        this.err(`${label} ${done}/${total} (${rate.toFixed(2)}/s, ETA ${eta.toFixed(0)}s)`);
      }
    };
  }
}
