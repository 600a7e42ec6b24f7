/**
 * The videos of one request, however they came (multipart files, JSON path/url/base64 references), as one list the
 * routes treat alike: each has the name it is reported under and opens into a source for the decoder.
 * @module
 */
import type { FastifyReply } from 'fastify';

import { XClipError } from '../errors';
import type { MediaRef, MediaSources, OpenedMedia } from '../mediaSource';
import { type FailedRecord, type FileRecord, isFailedRecord } from '../records';
import { toHttpFailure } from './errors';
import type { ServerMetrics } from './metrics';
import type { UploadedFile } from './uploads';
import type { RequestWork } from './work';

/** Most videos in one request (JSON items or file parts). */
export const MAX_VIDEOS_PER_REQUEST = 64;

/** One video of a request. */
export interface VideoItem {
  /** Reported as `file`: the part's filename, the path or URL as given, or the index ("0", "1", ...) for inline data. */
  readonly name: string;
  /** Makes the video readable; released when the request's work has settled. */
  open(work: RequestWork): Promise<OpenedMedia>;
}

/** Uploaded files, named by their filename (or index when the part had none). */
export function uploadedItems(files: readonly UploadedFile[]): VideoItem[] {
  return files.map((f, i) => ({
    name: f.filename ?? String(i),
    // The temp file is the request's, deleted by the work's cleanup (uploads.ts).
    open: async () => ({ source: f.path, bytes: f.bytes, close: async () => undefined }),
  }));
}

/** JSON references, checked against the media policy when opened. */
export function referencedItems(refs: readonly MediaRef[], media: MediaSources): VideoItem[] {
  return refs.map((ref, i) => ({
    name: 'path' in ref ? ref.path : 'url' in ref ? ref.url : String(i),
    open: async (work) => {
      const opened = await media.open(ref, { signal: work.signal });
      work.onFinish(() => opened.close());
      return opened;
    },
  }));
}

/**
 * Opens `item` and runs `use` on its source, once the request is still wanted. A failure's message names the video
 * as the client named it, not the temp file or descriptor path the server decoded it from.
 * @example
 * const scores = await withVideo(item, work, (source) => clf.classify(source, labels));
 */
export async function withVideo<T>(item: VideoItem, work: RequestWork, use: (source: OpenedMedia['source']) => Promise<T>): Promise<T> {
  const media = await item.open(work);
  work.signal.throwIfAborted();
  try {
    return await use(media.source);
  } catch (err) {
    if (err instanceof XClipError && typeof media.source === 'string' && err.message.includes(media.source)) {
      throw new XClipError(err.code, err.message.split(media.source).join(item.name));
    }
    throw err;
  }
}

/**
 * `use` on every video, for routes that answer all or nothing: resolves with every result in order, or rejects
 * with the first failure once every video has settled (until then the request's files and slot are still in use).
 * Counts the videos in the metrics either way.
 * @example
 * const rows = await withEveryVideo(items, work, metrics, async (source) => (await clf.score([source], texts))[0]);
 */
export async function withEveryVideo<T>(items: readonly VideoItem[], work: RequestWork, metrics: ServerMetrics, use: (source: OpenedMedia['source']) => Promise<T>): Promise<T[]> {
  const settled = await Promise.allSettled(items.map((item) => withVideo(item, work, use)));
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) {
    metrics.countVideos(0, items.length);
    throw failed.reason;
  }
  metrics.countVideos(items.length, 0);
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** JSON schema of one video reference, for the routes' validation and the OpenAPI document. */
export const videoRefSchema = {
  $id: 'VideoRef',
  description:
    'One video: `data` = the file as base64 or a base64 data URI (size-capped); `path` = a file under the server\'s --media-root (refused without one); `url` = http(s) from a host in --allow-url-fetch (refused otherwise).',
  oneOf: [
    { type: 'object', properties: { data: { type: 'string', minLength: 1 } }, required: ['data'], additionalProperties: false },
    { type: 'object', properties: { path: { type: 'string', minLength: 1, maxLength: 4096 } }, required: ['path'], additionalProperties: false },
    { type: 'object', properties: { url: { type: 'string', minLength: 1, maxLength: 8192 } }, required: ['url'], additionalProperties: false },
  ],
} as const;

/**
 * For routes that answer per video: runs `each` on every video at once; each settles to its record (`{ file,
 * ...result }`, or `{ file, error }` with the package's code), in input order. An aborted request rejects with the
 * abort's reason instead (the answer is then the timeout's or the shutdown's).
 * @example
 * const answer = await perVideo(items.map((i) => i.name), work, (i) => withVideo(items[i], work, async (s) => ({ scores: await clf.classify(s, labels) })));
 */
export async function perVideo<T extends object>(names: readonly string[], work: RequestWork, each: (index: number) => Promise<T>): Promise<PerVideo<T>> {
  const statuses: number[] = [];
  const records = await Promise.all(
    names.map(async (file, i): Promise<FileRecord<T>> => {
      try {
        return { file, ...(await each(i)) };
      } catch (err) {
        if (work.signal.aborted) throw work.signal.reason;
        const failure = toHttpFailure(err);
        statuses[i] = failure.status;
        return { file, error: failure.body.error };
      }
    }),
  );
  return { records, statuses };
}

/** Every video's record, and the HTTP status of each failure (by index). */
export interface PerVideo<T extends object> {
  records: FileRecord<T>[];
  statuses: number[];
}

/**
 * The answer of a per-video route: `body` with 200 when any video succeeded, else the first failure's status with
 * `{ error, results }`. Counts the videos in the metrics.
 * @example
 * return answerPerVideo(reply, ctx.metrics, answer, { model: ctx.modelId, results: answer.records });
 */
export function answerPerVideo<T extends object, B extends object>(reply: FastifyReply, metrics: ServerMetrics, { records, statuses }: PerVideo<T>, body: B): B | FastifyReply {
  const failed = records.filter(isFailedRecord).length;
  metrics.countVideos(records.length - failed, failed);
  if (failed === records.length) return reply.code(statuses[0]).send({ error: (records[0] as FailedRecord).error, results: records });
  return body;
}
