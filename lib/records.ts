/**
 * One record per input, as the CLI prints them and a server can answer them: the input's result, or the error
 * that input got, so one bad file never loses the others' results.
 * @module
 */
import { XClipError } from './errors';

/**
 * Why one input failed: an {@link XClipError} code (`VIDEO_OPEN_FAILED`, ...), else the error's own `code` or
 * `name` (`AbortError`, `TypeError`), and its message.
 * @example
 * const e: RecordError = { code: 'VIDEO_NO_STREAM', message: 'no video stream in song.mp4 (1 other stream(s))' };
 */
export interface RecordError {
  code: string;
  message: string;
}

/**
 * The failure record of one input.
 * @example
 * const r: FailedRecord = { file: 'bad.mp4', error: { code: 'VIDEO_OPEN_FAILED', message: 'cannot open video bad.mp4' } };
 */
export interface FailedRecord {
  file: string;
  error: RecordError;
}

/**
 * The record of one input: `{ file, ...result }` or `{ file, error }`.
 * @example
 * const r: FileRecord<{ scores: LabelScore[] }> = { file: 'a.mp4', scores: [{ label: 'cooking', score: 0.9 }] };
 */
export type FileRecord<T extends object> = ({ file: string } & T) | FailedRecord;

/**
 * What a failure says in a record.
 * @example
 * recordError(new XClipError('VIDEO_NO_STREAM', 'no video stream')); // { code: 'VIDEO_NO_STREAM', message: 'no video stream' }
 */
export function recordError(err: unknown): RecordError {
  if (err instanceof XClipError) return { code: err.code, message: err.message };
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null;
  if (typeof e === 'object' && e !== null) {
    const code = typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'Error';
    return { code, message: typeof e.message === 'string' ? e.message : String(err) };
  }
  return { code: 'Error', message: String(err) };
}

/**
 * The record of a settled call on `file`: its result under the record's keys, or its error.
 * @example
 * const [outcome] = await Promise.allSettled([clf.classify(file, labels)]);
 * const r = fileRecord(file, outcome, (scores) => ({ scores }));
 */
export function fileRecord<V, T extends object>(file: string, outcome: PromiseSettledResult<V>, result: (value: V) => T): FileRecord<T> {
  return outcome.status === 'fulfilled' ? { file, ...result(outcome.value) } : { file, error: recordError(outcome.reason) };
}

/**
 * True for a failure record.
 * @example
 * const failed = records.filter(isFailedRecord).length;
 */
export function isFailedRecord(r: FileRecord<object>): r is FailedRecord {
  return 'error' in r && typeof (r as FailedRecord).error === 'object';
}
