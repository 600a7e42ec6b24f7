/**
 * `xclip-node enqueue`: adds classify, embed, embed-text or index jobs to a queue on Redis for `xclip-node worker`
 * processes. Without `--wait` it prints the job ids; with `--wait` it prints what `classify`, `embed` or
 * `embed-text` would print for the same inputs (one record per file, in input order, failures included) and exits
 * as they do; for index jobs, one `{"file", "source", "entries"}` line per file.
 * @module
 * @internal
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { DEFAULT_MAX_INLINE_BYTES, DEFAULT_QUEUE, JOB_KINDS, type JobDataMap, type JobKind, type MediaRef, type ResultModel } from '../jobs/jobTypes';
import { type JobOutcome, VideoJobQueue } from '../jobs/queue';
import type { FileRecord } from '../records';
import { type ParsedArgs, UsageError, flag, intOption, stringOption } from './args';
import { LABEL_OPTIONS, labelSettings, scoreLines } from './classify';
import type { Command } from './command';
import { textArgs, textEmbeddingLine } from './embedText';
import { secondsOption } from './indexCommand';
import { VIDEO_INPUT_OPTIONS, videoFiles } from './inputs';
import { CliError, type CliIo, EXIT_FAILED, EXIT_OK } from './io';
import { printRecord, reportFailures, runPerFile } from './perFile';

const MIB = 1024 * 1024;

/** How a video file travels in its job. */
function videoRefOf(file: string, args: ParsedArgs): MediaRef {
  if (flag(args, 'inline')) {
    const bytes = fs.statSync(file).size;
    if (bytes > DEFAULT_MAX_INLINE_BYTES) {
      throw new UsageError(`${file} is ${bytes} bytes, over the ${DEFAULT_MAX_INLINE_BYTES / MIB} MiB a job carries inline; put it where the workers read (a path under their --media-root)`);
    }
    return { data: fs.readFileSync(file).toString('base64') };
  }
  const root = stringOption(args, 'media-root');
  if (root === undefined) return { path: path.resolve(file) };
  const rel = path.relative(path.resolve(root), path.resolve(file));
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new UsageError(`${file} is not inside --media-root ${root}`);
  return { path: rel };
}

/** The job data of each input, and the inputs' names. */
function jobsOf(kind: JobKind, args: ParsedArgs): { names: string[]; items: JobDataMap[JobKind][] } {
  const inputs: ParsedArgs = { ...args, positional: args.positional.slice(1) };
  if (kind === 'embed-text') {
    const texts = textArgs(inputs);
    return { names: texts, items: [{ texts, truncation: flag(args, 'truncate') }] };
  }
  const files = videoFiles(inputs);
  if (kind === 'embed') return { names: files, items: files.map((file) => ({ video: videoRefOf(file, args), name: file })) };
  if (kind === 'index') {
    const clipSeconds = secondsOption(args, 'clip-seconds');
    const strideSeconds = secondsOption(args, 'stride-seconds');
    if (strideSeconds !== undefined && clipSeconds === undefined) throw new UsageError('--stride-seconds needs --clip-seconds');
    // Stored under the path the job carries (as `index add` stores absolute paths); inline bytes under the absolute path.
    const named = (file: string) => (flag(args, 'inline') ? { name: path.resolve(file) } : {});
    return { names: files, items: files.map((file) => ({ video: videoRefOf(file, args), ...named(file), clipSeconds, strideSeconds })) };
  }
  const { labels, topK, hypothesisTemplate, truncation } = labelSettings(args);
  return { names: files, items: files.map((file) => ({ video: videoRefOf(file, args), name: file, labels, topK, hypothesisTemplate, truncation })) };
}

/** An error as the per-file records say it. */
function recordFailure(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/** Gives up waiting after `timeoutMs` (never when undefined): aborts with a `WAIT_TIMEOUT` error. */
function waitLimit(timeoutMs: number | undefined): { signal: AbortSignal; done(): void } {
  const ac = new AbortController();
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => ac.abort(recordFailure('WAIT_TIMEOUT', `gave up waiting after ${timeoutMs} ms; the job goes on in the queue`)), timeoutMs);
  return { signal: ac.signal, done: () => clearTimeout(timer) };
}

/**
 * Waits for one job per file and prints their records as the model commands do: `classify --json`'s document, or
 * its lines; `embed`'s JSONL. Returns the exit status.
 */
async function waitPerFile(queue: VideoJobQueue, kind: 'classify' | 'embed' | 'index', ids: string[], files: string[], args: ParsedArgs, io: CliIo, signal: AbortSignal): Promise<number> {
  const settled = ids.map(() => {
    let resolve!: (o: JobOutcome) => void;
    const promise = new Promise<JobOutcome>((r) => (resolve = r));
    return { promise, resolve };
  });
  const waiting = queue.wait(ids, { signal, onSettled: (o, i) => settled[i].resolve(o) });
  // A give-up (timeout) rejects `waiting`: it ends the records still waited for with its error.
  const stopped = waiting.then(() => new Promise<never>(() => undefined));
  stopped.catch(() => undefined);
  let model: ResultModel | undefined;
  const json = kind === 'classify' && flag(args, 'json');
  const results: FileRecord<object>[] = [];
  // runPerFile starts the work of each file in order: the n-th call is the n-th job.
  let next = 0;
  const failed = await runPerFile(
    files,
    async () => {
      const o = await Promise.race([settled[next++].promise, stopped]);
      if (o.status === 'failed') throw recordFailure(o.error.code, o.error.message);
      model ??= { model: o.result.model, demo: o.result.demo };
      return o.result;
    },
    (r) => ('scores' in r ? { scores: r.scores } : 'entries' in r ? { source: r.source, entries: r.entries } : { embedding: (r as { embedding: number[] }).embedding }),
    (record) => {
      if (kind !== 'classify') io.out(`${JSON.stringify(record)}\n`);
      else if (json) results.push(record);
      else printRecord(io, record as FileRecord<{ scores: [] }>, scoreLines);
    },
    flag(args, 'fail-fast'),
  );
  // No job completed: the model is the one named by a dead-letter entry.
  for (const id of ids) {
    if (model) break;
    const dead = await queue.deadLetter(id).catch(() => undefined);
    if (dead) model = { model: dead.model, demo: dead.demo };
  }
  if (model?.demo) io.err('note: the workers run the demo model (RANDOM weights): its scores are NOT meaningful');
  if (json) io.out(`${JSON.stringify({ model: model?.model ?? 'unknown', demo: model?.demo ?? false, results })}\n`);
  reportFailures(io, failed, files.length);
  return failed > 0 ? EXIT_FAILED : EXIT_OK;
}

export const enqueue: Command = {
  name: 'enqueue',
  summary: 'add classify, embed, embed-text or index jobs for workers to a queue on Redis; --wait prints their results',
  usage: 'enqueue classify|embed|index <video|folder...> | enqueue embed-text <text...> --redis redis://HOST:PORT [--wait] [options]',
  options: [
    { name: 'redis', value: 'url', help: 'redis://[user:password@]host[:port][/db], rediss:// for TLS (required)' },
    { name: 'queue', value: 'name', help: `queue name (default ${DEFAULT_QUEUE})` },
    ...LABEL_OPTIONS,
    { name: 'texts-file', value: 'file', help: 'embed-text: texts, one per line (instead of arguments)' },
    { name: 'clip-seconds', value: 's', help: "index: one entry per segment of s seconds (default: one per video); the\nindex is the workers' (worker --db DIR)" },
    { name: 'stride-seconds', value: 's', help: 'index: seconds between segment starts (default: the segment length)' },
    { name: 'media-root', value: 'dir', help: "send paths relative to this directory (the workers' --media-root may be\nanother mount of it); default: absolute paths" },
    { name: 'inline', help: `carry each video's bytes in its job (at most ${DEFAULT_MAX_INLINE_BYTES / MIB} MiB each) instead of its path` },
    { name: 'attempts', value: 'n', help: 'attempts per job on transient failures, 1-100 (default 5); permanent ones never retry' },
    { name: 'wait', help: 'wait for the results and print them as classify / embed / embed-text do;\nindex: one {"file", "source", "entries": [{"id", "start", "end"}]} line per file' },
    { name: 'timeout-ms', value: 'n', help: 'with --wait, give up waiting after this long (the jobs go on); default: no limit' },
    { name: 'json', help: 'classify: with --wait, the document classify --json prints; without, {"queue", "jobs": [{"file", "id"}]}' },
    ...VIDEO_INPUT_OPTIONS,
  ],
  async run({ args, io }) {
    const kind = args.positional[0] as JobKind | undefined;
    if (kind === undefined || !JOB_KINDS.includes(kind)) throw new UsageError(`the first argument is the job kind: ${JOB_KINDS.join(', ')}`);
    if (kind !== 'index' && (args.options.has('clip-seconds') || args.options.has('stride-seconds'))) throw new UsageError('--clip-seconds and --stride-seconds are for index jobs');
    const redis = stringOption(args, 'redis');
    if (redis === undefined) throw new UsageError('--redis is required');
    const timeoutMs = intOption(args, 'timeout-ms', 1, 2 ** 31 - 1);
    if (timeoutMs !== undefined && !flag(args, 'wait')) throw new UsageError('--timeout-ms is for --wait');
    const { names, items } = jobsOf(kind, args);
    let queue: VideoJobQueue;
    try {
      queue = new VideoJobQueue({ redis, queue: stringOption(args, 'queue'), attempts: intOption(args, 'attempts', 1, 100) });
    } catch (err) {
      if (err instanceof TypeError || err instanceof RangeError) throw new UsageError(err.message);
      throw err;
    }
    try {
      const ids = await queue.addBulk(kind, items);
      if (!flag(args, 'wait')) {
        const jobs = kind === 'embed-text' ? [{ texts: names, id: ids[0] }] : names.map((file, i) => ({ file, id: ids[i] }));
        if (flag(args, 'json')) io.out(`${JSON.stringify({ queue: queue.name, jobs })}\n`);
        else io.out(jobs.map((j) => `${j.id}\t${'file' in j ? j.file : `${names.length} texts`}\n`).join(''));
        return EXIT_OK;
      }
      const limit = waitLimit(timeoutMs);
      try {
        if (kind !== 'embed-text') return await waitPerFile(queue, kind, ids, names, args, io, limit.signal);
        const [o] = await queue.wait<'embed-text'>(ids, { signal: limit.signal });
        if (o.status === 'failed') throw new CliError(o.error.message, EXIT_FAILED, { code: o.error.code });
        io.out(names.map((text, i) => textEmbeddingLine(text, o.result.embeddings[i])).join(''));
        return EXIT_OK;
      } catch (err) {
        if (err === limit.signal.reason) throw new CliError((err as Error).message, EXIT_FAILED, { code: 'WAIT_TIMEOUT' });
        throw err;
      } finally {
        limit.done();
      }
    } finally {
      await queue.close();
    }
  },
};
