/**
 * One model call per input file, each file's record handed over in input order, and how records are shown.
 * @module
 * @internal
 */
import { setMaxListeners } from 'node:events';

import type { ZeroShotVideoClassifier } from '../pipelines';
import { type FailedRecord, type FileRecord, fileRecord, isFailedRecord } from '../records';
import { type ParsedArgs, UsageError, flag } from './args';
import { type CliIo, EXIT_FAILED, EXIT_OK } from './io';
import { openModel } from './model';

/** What every JSON report of a model command starts with. */
export interface ModelReport {
  /** The model as asked for (`--model`, else the default hub id). */
  model: string;
  /** True for the generated demo model, whose scores are not meaningful. */
  demo: boolean;
}

/**
 * Starts `work` for every file at once (the classifier batches them and bounds how many are decoded ahead) and
 * hands each file's record to `emit` in input order, as soon as it and the files before it are done: its result,
 * or its error, so one bad file loses nothing else. With `failFast` the first failure (in input order) is the
 * last record, and the work of the files after it is cancelled. A TypeError or RangeError is about the command's
 * arguments, not a file (e.g. a label too long for the model): it stops everything as a usage error. Returns how
 * many records are failures.
 */
export async function runPerFile<V, T extends object>(
  files: readonly string[],
  work: (file: string, signal: AbortSignal) => Promise<V>,
  result: (value: V) => T,
  emit: (record: FileRecord<T>, index: number) => void,
  failFast: boolean,
): Promise<number> {
  const stop = new AbortController();
  // One listener per file's call.
  setMaxListeners(files.length + 1, stop.signal);
  const tasks = files.map((file) => work(file, stop.signal));
  // Rejections are read in order below; those after a stop are nobody's to handle.
  for (const t of tasks) t.catch(() => undefined);
  let failed = 0;
  try {
    for (const [i, task] of tasks.entries()) {
      const [outcome] = await Promise.allSettled([task]);
      if (outcome.status === 'rejected' && (outcome.reason instanceof TypeError || outcome.reason instanceof RangeError)) {
        throw new UsageError((outcome.reason as Error).message);
      }
      const record = fileRecord(files[i], outcome, result);
      emit(record, i);
      if (isFailedRecord(record)) {
        failed++;
        if (failFast) break;
      }
    }
  } finally {
    stop.abort();
  }
  return failed;
}

/** What a per-file model command does for one file, and how its result reads. */
export interface PerFileWork<V, T extends object> {
  /** Keys of the JSON report before `results` (besides `model` and `demo`). */
  head?: Record<string, unknown>;
  run(clf: ZeroShotVideoClassifier, file: string, signal: AbortSignal): Promise<V>;
  /** The record's keys for a result. */
  result(value: V): T;
  /** Human output lines under the file name. */
  lines(record: { file: string } & T): string[];
}

/**
 * The body shared by the per-file model commands: loads the model, runs each file, prints each record as it comes
 * (or, with `--json`, one report `{ model, demo, ...head, results }` at the end), says how many failed and
 * returns the exit status: 1 if any file failed.
 */
export async function perFileCommand<V, T extends object>(args: ParsedArgs, io: CliIo, files: readonly string[], work: PerFileWork<V, T>): Promise<number> {
  const json = flag(args, 'json');
  const { clf, model } = await openModel(args, io);
  try {
    const results: FileRecord<T>[] = [];
    const failed = await runPerFile(
      files,
      (file, signal) => work.run(clf, file, signal),
      (value) => work.result(value),
      (record) => {
        results.push(record);
        if (!json) printRecord(io, record, work.lines);
      },
      flag(args, 'fail-fast'),
    );
    if (json) io.out(`${JSON.stringify({ model: model.id, demo: model.demo, ...work.head, results })}\n`);
    reportFailures(io, failed, files.length);
    return failed > 0 ? EXIT_FAILED : EXIT_OK;
  } finally {
    await clf.dispose();
  }
}

/** Human output of one record: the file, then its result's lines or its error. */
export function printRecord<T extends object>(io: CliIo, record: FileRecord<T>, lines: (result: { file: string } & T) => string[]): void {
  if (isFailedRecord(record)) {
    const { error } = record as FailedRecord;
    io.out(`${record.file}\n  error [${error.code}]: ${error.message}\n`);
  } else {
    io.out(`${[record.file, ...lines(record as { file: string } & T)].join('\n')}\n`);
  }
}

/** The closing line on stderr when some files failed. */
export function reportFailures(io: CliIo, failed: number, total: number): void {
  if (failed > 0) io.err(`xclip-node: ${failed} of ${total} file${total === 1 ? '' : 's'} failed`);
}
