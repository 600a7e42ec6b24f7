/**
 * What travels through the job queue: the job kinds, their data and results, how failures are told apart
 * (permanent: fail at once; transient: retried) and written into a job's failed reason, and the dead-letter
 * entries. Producers and workers check job data with the same function, so a bad job is refused where it is made.
 * @module
 */
import { type LabelScore, checkTexts } from '../pipelines';
import type { MediaRef } from '../mediaSource';
import { type RecordError, recordError } from '../records';
import type { AddedEntry } from '../search/videoIndex';
import { checkKeys, integerInRange, is, optionalBool, rangeError, typeError } from '../validate';

// A job's video is a MediaRef, the server's shape: a path the worker resolves under its `--media-root`, a URL from
// a host the worker allows, or the file's bytes in base64 (size-capped, see DEFAULT_MAX_INLINE_BYTES).
export type { MediaRef } from '../mediaSource';

/** The job kinds a worker runs; a job's BullMQ name is its kind. */
export const JOB_KINDS = ['classify', 'embed', 'embed-text', 'index'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** The queue name when none is given. */
export const DEFAULT_QUEUE = 'xclip';

/**
 * Most bytes of a video carried inside a job: 16 MiB, which Redis holds as ~21.3 MiB of base64 for as long as the
 * job is kept. Larger videos belong on storage the workers can read (a path under their media root, or a URL).
 */
export const DEFAULT_MAX_INLINE_BYTES = 16 * 1024 * 1024;

interface VideoJob {
  video: MediaRef;
  /** How results and error messages name the video (default: its path or URL). */
  name?: string;
}

/**
 * Zero-shot classification of one video: the result is what `ZeroShotVideoClassifier.classify` returns.
 * @example
 * const data: ClassifyJobData = { video: { path: 'a.mp4' }, labels: ['cooking', 'dancing'], topK: 1 };
 */
export interface ClassifyJobData extends VideoJob {
  labels: string[];
  topK?: number;
  hypothesisTemplate?: string;
  /** Cut labels longer than the model takes (77 tokens) instead of failing. */
  truncation?: boolean;
}

/**
 * The embedding of one video (`get_video_features`).
 * @example
 * const data: EmbedJobData = { video: { url: 'https://videos.example.com/a.mp4' } };
 */
export type EmbedJobData = VideoJob;

/**
 * Embeddings of texts (`get_text_features`).
 * @example
 * const data: EmbedTextJobData = { texts: ['a person cooking', 'a dog'] };
 */
export interface EmbedTextJobData {
  texts: string[];
  /** Cut texts longer than the model takes (77 tokens) instead of failing. */
  truncation?: boolean;
}

/**
 * Adds one video to the search index of the worker that takes the job (`xclip-node worker --db DIR`): one entry for
 * the whole video, or one per segment of `clipSeconds` (starting every `strideSeconds`, default `clipSeconds`). The
 * entries are stored under the video's `name`, else its path or URL as the job gives it (so workers that mount the
 * media root in different places still agree); inline bytes need a `name`. Adding a source again replaces its entries.
 * @example
 * const data: IndexJobData = { video: { path: 'cats/a.mp4' }, clipSeconds: 10 };
 */
export interface IndexJobData extends VideoJob {
  clipSeconds?: number;
  strideSeconds?: number;
}

/** Job data by kind. */
export interface JobDataMap {
  classify: ClassifyJobData;
  embed: EmbedJobData;
  'embed-text': EmbedTextJobData;
  index: IndexJobData;
}

/** Which model produced a result: the worker's `--model` as given, and whether it is the random-weight demo model. */
export interface ResultModel {
  model: string;
  demo: boolean;
}

/** @example const r: ClassifyJobResult = { model: 'microsoft/xclip-base-patch32', demo: false, scores: [{ label: 'cooking', score: 0.9 }] }; */
export interface ClassifyJobResult extends ResultModel {
  /** Best first, as `classify` returns them. */
  scores: LabelScore[];
}

/** @example const r: EmbedJobResult = { model: 'demo', demo: true, embedding: [0.1, -0.2] }; */
export interface EmbedJobResult extends ResultModel {
  embedding: number[];
}

/** @example const r: EmbedTextJobResult = { model: 'demo', demo: true, embeddings: [[0.1, -0.2]] }; */
export interface EmbedTextJobResult extends ResultModel {
  /** One per text, in order. */
  embeddings: number[][];
}

/** @example const r: IndexJobResult = { model: 'demo', demo: true, source: 'cats/a.mp4', entries: [{ id: 'cats/a.mp4#0', start: 0, end: 10 }] }; */
export interface IndexJobResult extends ResultModel {
  /** What the entries are stored under. */
  source: string;
  /** The entries added (they replaced any of the same source), in segment order. */
  entries: AddedEntry[];
}

/** Job results by kind. */
export interface JobResultMap {
  classify: ClassifyJobResult;
  embed: EmbedJobResult;
  'embed-text': EmbedTextJobResult;
  index: IndexJobResult;
}

/**
 * What a worker reports with `job.updateProgress`: `decoded` once the video is decoded and preprocessed (it then
 * waits for its batch), `done` once the model has run.
 * @example
 * queueEvents.on('progress', ({ jobId, data }) => console.log(jobId, (data as JobProgress).stage));
 */
export interface JobProgress {
  stage: 'decoded' | 'done';
  percent: number;
}

/**
 * Why a job failed, as the CLI's per-file records say it: an `XClipError` code (`VIDEO_OPEN_FAILED`,
 * `SOURCE_FORBIDDEN`, ...), `INVALID_INPUT` for job data that is not what its kind takes, `STALLED` for a job whose
 * workers kept dying under it.
 * @example
 * const e: JobError = { code: 'VIDEO_NO_STREAM', message: 'no video stream in song.mp4' };
 */
export type JobError = RecordError;

/**
 * A job that failed for good, as the dead-letter queue (`<queue>-dead`, entry id `dead-<job id>`) keeps it.
 * @example
 * for (const d of await queue.deadLetters()) console.log(d.id, d.error.code, d.attempts);
 */
export interface DeadLetter {
  /** The job's id in the main queue. */
  id: string;
  kind: JobKind;
  data: JobDataMap[JobKind];
  error: JobError;
  /** Attempts that ran to a failure (a stalled attempt does not count). */
  attempts: number;
  /** Epoch ms. */
  failedAt: number;
  /** The worker that gave up, and its model. */
  worker: string;
  model: string;
  demo: boolean;
}

/**
 * Codes of failures that the same job would meet again on any worker: a video that cannot be decoded or is refused,
 * data that is not valid. Such jobs fail at once, without retries. Everything else (I/O, fetch failures and
 * timeouts, a worker shutting down, unexpected engine errors) is transient and retried with backoff.
 */
export const PERMANENT_CODES: ReadonlySet<string> = new Set([
  'INVALID_INPUT',
  'NON_FINITE_INPUT',
  'TOKENIZER_ERROR',
  'FILE_NOT_FOUND',
  'VIDEO_OPEN_FAILED',
  'VIDEO_NO_STREAM',
  'VIDEO_DECODE_FAILED',
  'VIDEO_UNSUPPORTED',
  'VIDEO_TOO_LARGE',
  'SOURCE_FORBIDDEN',
  'SOURCE_TOO_LARGE',
  'STALLED',
]);

/**
 * A failure as a job records it, and whether retrying could help. Argument errors (`TypeError`, `RangeError`) come
 * from job data the classifier refuses and are `INVALID_INPUT`.
 * @example
 * jobError(new XClipError('VIDEO_OPEN_FAILED', 'cannot open video x.mp4')); // { code: 'VIDEO_OPEN_FAILED', message: ..., permanent: true }
 */
export function jobError(err: unknown): JobError & { permanent: boolean } {
  const e = err instanceof TypeError || err instanceof RangeError ? { code: 'INVALID_INPUT', message: err.message } : recordError(err);
  return { ...e, permanent: PERMANENT_CODES.has(e.code) };
}

/**
 * A job's failed reason: `CODE: message`, so the code survives in BullMQ's own records and tools.
 * @example
 * failedReason({ code: 'VIDEO_NO_STREAM', message: 'no video stream' }); // 'VIDEO_NO_STREAM: no video stream'
 */
export function failedReason(e: JobError): string {
  return `${e.code}: ${e.message}`;
}

/** The BullMQ message of a job failed by its stalled-job check. */
const STALLED_REASON = 'job stalled more than allowable limit';

/**
 * Reads a failed reason back. A reason not written by {@link failedReason} keeps its text under the code
 * `JOB_FAILED`; BullMQ's stalled-limit failure reads as `STALLED`.
 * @example
 * parseFailedReason('VIDEO_NO_STREAM: no video stream'); // { code: 'VIDEO_NO_STREAM', message: 'no video stream' }
 */
export function parseFailedReason(reason: string | undefined): JobError {
  const text = reason ?? '';
  if (text === STALLED_REASON) return stalledError();
  const m = /^([A-Za-z][A-Za-z0-9_]*): ([\s\S]*)$/.exec(text);
  return m ? { code: m[1], message: m[2] } : { code: 'JOB_FAILED', message: text };
}

/** True for BullMQ's stalled-limit failure reason. */
export function isStalledReason(reason: string | undefined): boolean {
  return reason === STALLED_REASON;
}

/** The error of a job failed by the stalled-job check. */
export function stalledError(): JobError {
  return { code: 'STALLED', message: 'the job stalled more often than the workers allow (maxStalledCount): its worker died or lost its lock each time' };
}

function checkVideoRef(value: unknown, maxInlineBytes: number): MediaRef {
  const expected = 'an object with exactly one of path, url or data';
  if (!is.object(value)) throw typeError('video', expected, value);
  const keys = Object.keys(value);
  if (keys.length !== 1 || !['path', 'url', 'data'].includes(keys[0])) throw typeError('video', expected, value);
  const v = value[keys[0]];
  if (!is.string(v) || v.length === 0) throw typeError(`video.${keys[0]}`, 'a non-empty string', v);
  if (keys[0] === 'data' && Buffer.byteLength(v, 'base64') > maxInlineBytes) {
    throw rangeError('video.data', `at most ${maxInlineBytes} bytes of video (base64)`, `${Buffer.byteLength(v, 'base64')} bytes`);
  }
  return value as MediaRef;
}

/**
 * Checks a job's data against its kind (unknown keys included), as the producer adds it and as the worker takes it.
 * `TypeError` / `RangeError` as everywhere else in the API.
 * @example
 * checkJobData('classify', { video: { path: 'a.mp4' }, labels: ['cooking'] });
 */
export function checkJobData<K extends JobKind>(kind: K, data: unknown, maxInlineBytes = DEFAULT_MAX_INLINE_BYTES): JobDataMap[K] {
  if (!is.inArray(kind, JOB_KINDS)) throw typeError('kind', `one of ${JOB_KINDS.join(', ')}`, kind);
  if (!is.object(data)) throw typeError('data', 'an object', data);
  if (kind === 'embed-text') {
    checkKeys('data', data, ['texts', 'truncation']);
    checkTexts('texts', data.texts);
    optionalBool('truncation', data.truncation);
    return data as unknown as JobDataMap[K];
  }
  const keys = { classify: ['video', 'name', 'labels', 'topK', 'hypothesisTemplate', 'truncation'], embed: ['video', 'name'], index: ['video', 'name', 'clipSeconds', 'strideSeconds'] }[kind as Exclude<JobKind, 'embed-text'>];
  checkKeys('data', data, keys);
  const video = checkVideoRef(data.video, maxInlineBytes);
  if (data.name !== undefined && !(is.string(data.name) && data.name.length > 0)) throw typeError('name', 'a non-empty string', data.name);
  if (kind === 'index') {
    if ('data' in video && data.name === undefined) throw typeError('name', 'a name to store an inline video under', data.name);
    if (data.clipSeconds !== undefined && !(is.number(data.clipSeconds) && data.clipSeconds > 0 && Number.isFinite(data.clipSeconds))) {
      throw rangeError('clipSeconds', 'a positive number of seconds', data.clipSeconds);
    }
    if (data.strideSeconds !== undefined && !(data.clipSeconds !== undefined && is.number(data.strideSeconds) && data.strideSeconds > 0 && Number.isFinite(data.strideSeconds))) {
      throw rangeError('strideSeconds', 'a positive number of seconds, with clipSeconds', data.strideSeconds);
    }
  }
  if (kind === 'classify') {
    checkTexts('labels', data.labels);
    if (data.topK !== undefined) integerInRange('topK', data.topK, 1, data.labels.length);
    optionalBool('truncation', data.truncation);
    if (data.hypothesisTemplate !== undefined && !(is.string(data.hypothesisTemplate) && data.hypothesisTemplate.includes('{}'))) {
      throw typeError('hypothesisTemplate', "a string containing '{}'", data.hypothesisTemplate);
    }
  }
  return data as unknown as JobDataMap[K];
}

/** The name results and messages give a job's video: its `name`, else its path or URL, else `inline video`. */
export function videoName(data: { video: MediaRef; name?: string }): string {
  if (data.name !== undefined) return data.name;
  const v = data.video;
  return 'path' in v ? v.path : 'url' in v ? v.url : 'inline video';
}

/** The id of a job's dead-letter entry. */
export function deadLetterId(jobId: string): string {
  return `dead-${jobId}`;
}

/** The dead-letter queue of a queue. */
export function deadLetterQueueName(queue: string): string {
  return `${queue}-dead`;
}

/**
 * Checks a queue name: BullMQ keys are `<prefix>:<name>:...`, so a colon would break them.
 * @example
 * checkQueueName('videos-eu'); // 'videos-eu'
 */
export function checkQueueName(name: unknown): string {
  const expected = 'a queue name of letters, digits, ".", "_" or "-" (1 to 100 characters)';
  if (!is.string(name)) throw typeError('queue', expected, name);
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(name)) throw rangeError('queue', expected, name);
  return name;
}
