/**
 * The job worker: a BullMQ Worker whose jobs each call one {@link ZeroShotVideoClassifier}. The worker takes up to
 * `concurrency` jobs at once and every job calls the classifier on its own; the classifier's micro-batcher puts the
 * videos of jobs fetched together into the same model calls. Model work runs on libuv's threads, never on the
 * event loop, so BullMQ's lock renewals (a timer every `lockDuration / 2`) keep running while a batch does.
 * @module
 */
import * as os from 'node:os';

import type { Job, Queue, QueueEvents, Worker } from 'bullmq';

import { XClipError } from '../errors';
import type { ZeroShotVideoClassifier } from '../pipelines';
import { VideoIndex } from '../search/videoIndex';
import { integerInRange, is, optionalObject, typeError } from '../validate';
import type { VideoSource } from '../video';
import { bullmq, redisConnection } from './connection';
import {
  DEFAULT_QUEUE,
  type DeadLetter,
  type JobDataMap,
  type JobError,
  type JobKind,
  type JobProgress,
  type JobResultMap,
  type MediaRef,
  type ResultModel,
  checkJobData,
  checkQueueName,
  deadLetterId,
  deadLetterQueueName,
  failedReason,
  isStalledReason,
  jobError,
  stalledError,
  videoName,
} from './jobTypes';
import { type QueueCounts, queueCounts } from './queue';

/**
 * A video a job named, opened for the decoder (the media-source policy's result); `close()` releases it.
 * @example
 * const media = await sources.open({ path: 'a.mp4' });
 */
export interface OpenedVideo {
  /** A path (or descriptor path) the decoder opens, or the file's bytes. */
  readonly source: string | Uint8Array;
  close(): Promise<void>;
}

/**
 * Where a worker's videos come from: the media-source policy (which paths, URLs and inline sizes it accepts).
 * @example
 * const sources: VideoSources = new MediaSources({ mediaRoot: '/srv/videos', maxInlineBytes: 16 * 1024 * 1024 });
 */
export interface VideoSources {
  /** Most bytes of an inline video. */
  readonly maxInlineBytes: number;
  open(ref: MediaRef, options?: { signal?: AbortSignal }): Promise<OpenedVideo>;
}

/** One line of the worker's log. */
export type WorkerLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/**
 * @example
 * const options: VideoJobWorkerOptions = { redis: 'redis://127.0.0.1:6379', sources, model: { model: 'demo', demo: true } };
 */
export interface VideoJobWorkerOptions {
  /** `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. */
  redis: string;
  /** Default `xclip`. */
  queue?: string;
  /** Where job videos may come from. */
  sources: VideoSources;
  /**
   * The search index `index` jobs add to (open it with this worker's classifier). Without one, `index` jobs fail
   * for good (`INVALID_INPUT`): send them to a queue whose workers all have an index.
   */
  index?: VideoIndex;
  /** What results name as their model; default: the classifier's model directory, not the demo model. */
  model?: ResultModel;
  /** Jobs worked on at once, 1 to 1024; default twice the classifier's `maxBatch`, so the next batch decodes while one runs. */
  concurrency?: number;
  /**
   * Milliseconds a job's lock lasts without renewal, 100 to 2^31-1; default 30000. The worker renews it every half of
   * that while the job runs; a worker that dies stops renewing, and its jobs go back to the queue once it expires.
   */
  lockDurationMs?: number;
  /** Milliseconds between checks for jobs whose lock expired (stalled jobs), 100 to 2^31-1; default 30000. */
  stalledIntervalMs?: number;
  /** Times a job may stall (its worker died or lost the lock) and be put back, 0 to 1000; default 2. Then it fails as `STALLED`. */
  maxStalledCount?: number;
  /** Stored on each job it runs (`processedBy`); default `<hostname>:<pid>`. */
  name?: string;
  /** Where events go; default nowhere. */
  log?: WorkerLog;
}

/**
 * What a worker has done since it started.
 * @example
 * const { completed, failed, videos } = worker.stats;
 */
export interface WorkerStats {
  /** Jobs completed, by kind. */
  completed: Record<JobKind, number>;
  /** Jobs failed for good (permanent, or transient on their last attempt), by code. */
  failed: Record<string, number>;
  /** Attempts that failed transiently and will be retried. */
  retried: number;
  /** Videos in completed jobs. */
  videos: number;
  /** Jobs this worker's stalled check put back in the queue (their worker died or lost the lock). */
  stalled: number;
  /** Job locks renewed, and renewals that failed (the lock had expired or been taken). */
  locksRenewed: number;
  lockRenewalFailures: number;
  /** Jobs in hand now. */
  active: number;
}

type AnyResult = JobResultMap[JobKind];
const WORKER_KEYS = ['redis', 'queue', 'sources', 'index', 'model', 'concurrency', 'lockDurationMs', 'stalledIntervalMs', 'maxStalledCount', 'name', 'log'] as const;
const MAX_MS = 2 ** 31 - 1;

/**
 * The same failure, naming the job's video instead of what the decoder was handed (`/proc/self/fd/N` for a
 * path opened under the media root, a temp file for a fetched URL), so messages read as the CLI's do.
 */
function named(err: unknown, source: VideoSource, name: string): unknown {
  if (!(err instanceof XClipError) || !is.string(source) || !err.message.includes(source)) return err;
  return new XClipError(err.code, err.message.split(source).join(name));
}

/**
 * @example
 * const clf = await ZeroShotVideoClassifier.fromPretrained(dir);
 * const worker = new VideoJobWorker(clf, { redis: 'redis://127.0.0.1:6379', sources: new MediaSources({ mediaRoot: '/srv/videos' }) });
 * await worker.start();            // takes jobs from now on
 * process.once('SIGTERM', () => void worker.close().then(() => clf.dispose()));
 */
export class VideoJobWorker {
  readonly name: string;
  readonly queueName: string;
  readonly concurrency: number;
  readonly lockDurationMs: number;
  readonly classifier: ZeroShotVideoClassifier;
  readonly #sources: VideoSources;
  readonly #index: VideoIndex | undefined;
  readonly #model: ResultModel;
  readonly #log: WorkerLog;
  readonly #worker: Worker<JobDataMap[JobKind], AnyResult, JobKind>;
  readonly #dead: Queue;
  readonly #queue: Queue;
  readonly #events: QueueEvents;
  readonly #stats: WorkerStats = {
    completed: { classify: 0, embed: 0, 'embed-text': 0, index: 0 },
    failed: {},
    retried: 0,
    videos: 0,
    stalled: 0,
    locksRenewed: 0,
    lockRenewalFailures: 0,
    active: 0,
  };
  /** Ends of recently completed video jobs (ms, performance clock), for the videos/s rate. */
  readonly #recent: number[] = [];
  #running: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(classifier: ZeroShotVideoClassifier, options: VideoJobWorkerOptions) {
    const o = optionalObject('options', options, WORKER_KEYS) as unknown as VideoJobWorkerOptions;
    const connection = redisConnection(o.redis);
    if (!is.object(o.sources) || typeof (o.sources as { open?: unknown }).open !== 'function') throw typeError('sources', 'a media-source policy (MediaSources)', o.sources);
    if (o.index !== undefined && !(o.index instanceof VideoIndex)) throw typeError('index', 'a VideoIndex', o.index);
    if (o.model !== undefined && !(is.object(o.model) && is.string(o.model.model) && is.bool(o.model.demo))) throw typeError('model', '{ model: string, demo: boolean }', o.model);
    if (o.name !== undefined && (!is.string(o.name) || o.name.length === 0)) throw typeError('name', 'a non-empty string', o.name);
    if (o.log !== undefined && typeof o.log !== 'function') throw typeError('log', 'a function', o.log);
    this.classifier = classifier;
    this.queueName = checkQueueName(o.queue ?? DEFAULT_QUEUE);
    this.concurrency = integerInRange('concurrency', o.concurrency ?? 2 * classifier.batching.maxBatch, 1, 1024);
    this.lockDurationMs = integerInRange('lockDurationMs', o.lockDurationMs ?? 30000, 100, MAX_MS);
    const stalledInterval = integerInRange('stalledIntervalMs', o.stalledIntervalMs ?? 30000, 100, MAX_MS);
    const maxStalledCount = integerInRange('maxStalledCount', o.maxStalledCount ?? 2, 0, 1000);
    this.name = o.name ?? `${os.hostname()}:${process.pid}`;
    this.#sources = o.sources;
    this.#index = o.index;
    this.#model = o.model ?? { model: classifier.modelDir, demo: false };
    this.#log = o.log ?? (() => undefined);

    const { Worker: BullWorker, Queue: BullQueue, QueueEvents: BullQueueEvents } = bullmq();
    this.#worker = new BullWorker<JobDataMap[JobKind], AnyResult, JobKind>(this.queueName, (job, _token, signal) => this.#process(job, signal), {
      connection,
      autorun: false,
      concurrency: this.concurrency,
      lockDuration: this.lockDurationMs,
      stalledInterval,
      maxStalledCount,
      name: this.name,
    });
    this.#dead = new BullQueue(deadLetterQueueName(this.queueName), { connection });
    this.#queue = new BullQueue(this.queueName, { connection });
    // Only to dead-letter jobs that the stalled check failed: no processor runs for those.
    this.#events = new BullQueueEvents(this.queueName, { connection, autorun: false });
    this.#listen();
  }

  #listen(): void {
    const w = this.#worker;
    // An 'error' without a listener would throw; Redis outages surface here and are retried by ioredis.
    const onError = (err: Error): void => this.#log('warn', 'redis', { error: err.message });
    w.on('error', onError);
    this.#dead.on('error', onError);
    this.#queue.on('error', onError);
    this.#events.on('error', onError);
    w.on('completed', (job) => {
      this.#stats.completed[job.name]++;
      if (job.name !== 'embed-text') {
        this.#stats.videos++;
        this.#recent.push(performance.now());
      }
      this.#log('info', 'job completed', { job: job.id, kind: job.name, attempt: job.attemptsStarted, ms: job.finishedOn !== undefined && job.processedOn !== undefined ? job.finishedOn - job.processedOn : undefined });
    });
    w.on('stalled', (jobId) => {
      this.#stats.stalled++;
      this.#log('warn', 'job stalled, back in the queue', { job: jobId });
    });
    w.on('locksRenewed', ({ count }) => {
      this.#stats.locksRenewed += count;
    });
    w.on('lockRenewalFailed', (jobIds) => {
      this.#stats.lockRenewalFailures += jobIds.length;
      this.#log('warn', 'lock renewal failed', { jobs: jobIds });
    });
    this.#events.on('failed', ({ jobId, failedReason: reason }) => {
      if (!isStalledReason(reason)) return;
      void this.#deadLetterStalled(jobId);
    });
  }

  /** Waits for Redis, then takes jobs. Resolves once the worker is fetching. */
  async start(): Promise<void> {
    if (this.#running) throw new Error('the worker is already started');
    await Promise.all([this.#worker.waitUntilReady(), this.#dead.waitUntilReady(), this.#queue.waitUntilReady()]);
    void this.#events.run().catch((err: Error) => this.#log('error', 'queue events stopped', { error: err.message }));
    this.#running = this.#worker.run().catch((err: Error) => this.#log('error', 'worker stopped', { error: err.message }));
  }

  /**
   * Stops taking jobs, lets the jobs in hand finish (their locks are renewed until then), and closes the Redis
   * connections. The classifier stays open: dispose it after. Idempotent.
   * @example
   * await worker.close();
   * await clf.dispose();
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#log('info', 'closing: finishing the jobs in hand', { active: this.#stats.active });
      await this.#worker.close();
      await this.#running;
      await Promise.all([this.#events.close(), this.#dead.close(), this.#queue.close()]);
    })();
    return this.#closing;
  }

  /** A snapshot of what the worker has done. */
  get stats(): WorkerStats {
    return { ...this.#stats, completed: { ...this.#stats.completed }, failed: { ...this.#stats.failed } };
  }

  /** Videos per second completed over the last `windowSeconds`. */
  videosPerSecond(windowSeconds = 10): number {
    const now = performance.now();
    while (this.#recent.length > 0 && now - this.#recent[0] > windowSeconds * 1000) this.#recent.shift();
    return this.#recent.length / windowSeconds;
  }

  /** Job counts of the queue (all workers), and of its dead-letter queue. */
  counts(): Promise<QueueCounts> {
    return queueCounts(this.#queue, this.#dead);
  }

  async #process(job: Job<JobDataMap[JobKind], AnyResult, JobKind>, signal: AbortSignal | undefined): Promise<AnyResult> {
    this.#stats.active++;
    try {
      const data = checkJobData(job.name, job.data, this.#sources.maxInlineBytes);
      return await this.#run(job, data, signal);
    } catch (err) {
      const { permanent, ...e } = jobError(err);
      // As BullMQ decides: an UnrecoverableError, or a failure on the last attempt, fails the job for good.
      const final = permanent || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      // Before the job is marked failed: a worker killed in between leaves a stalled job whose rerun writes the
      // same entry again (same id), never a failed job missing from the dead-letter queue.
      if (final) {
        try {
          await this.#deadLetter(job, e, job.attemptsMade + 1);
        } catch (dlqError) {
          // Not failed for good without its entry: retried (with its own code) once Redis takes writes again.
          this.#stats.retried++;
          throw new Error(failedReason({ code: e.code, message: `${e.message} (will retry: writing its dead-letter entry failed: ${(dlqError as Error).message})` }));
        }
        this.#stats.failed[e.code] = (this.#stats.failed[e.code] ?? 0) + 1;
      } else {
        this.#stats.retried++;
      }
      this.#log(final ? 'warn' : 'info', final ? 'job failed' : 'job attempt failed, will retry', { job: job.id, kind: job.name, code: e.code, message: e.message, attempt: job.attemptsMade + 1 });
      const { UnrecoverableError } = bullmq();
      throw permanent ? new UnrecoverableError(failedReason(e)) : new Error(failedReason(e));
    } finally {
      this.#stats.active--;
    }
  }

  #progress(job: Job, stage: JobProgress['stage']): void {
    const p: JobProgress = { stage, percent: stage === 'decoded' ? 50 : 100 };
    // Progress is for watchers; losing one to a Redis blip must not fail the job.
    job.updateProgress(p as unknown as object).catch(() => undefined);
  }

  async #run(job: Job, data: JobDataMap[JobKind], signal: AbortSignal | undefined): Promise<AnyResult> {
    const clf = this.classifier;
    if (job.name === 'embed-text') {
      const { texts, truncation } = data as JobDataMap['embed-text'];
      const embeddings = await clf.embedTexts(texts, { truncation });
      this.#progress(job, 'done');
      return { ...this.#model, embeddings: embeddings.map((e) => Array.from(e)) };
    }
    const video = data as JobDataMap['classify'] | JobDataMap['embed'] | JobDataMap['index'];
    const index = this.#index;
    if (job.name === 'index' && !index) {
      throw new XClipError('INVALID_INPUT', `this worker (${this.name}) has no search index: start it with --db DIR, or send index jobs to a queue whose workers have one`);
    }
    const media = await this.#sources.open(video.video, { signal });
    const onPrepared = (): void => this.#progress(job, 'decoded');
    try {
      let result: AnyResult;
      if (job.name === 'index') {
        const { clipSeconds, strideSeconds } = video as JobDataMap['index'];
        const source = videoName(video);
        const file = is.string(media.source) ? { source, path: media.source } : { source, data: media.source };
        // The index batches its videos through its classifier (this worker's), with every other job's.
        const [added] = await index!.add([file], { clipSeconds, strideSeconds, signal });
        if (added.error) throw added.error;
        result = { ...this.#model, source, entries: added.added };
      } else if (job.name === 'classify') {
        const { labels, topK, hypothesisTemplate, truncation } = video as JobDataMap['classify'];
        result = { ...this.#model, scores: await clf.classify(media.source, labels, { topK, hypothesisTemplate, truncation, signal, onPrepared }) };
      } else {
        const [embedding] = await clf.embedVideos([media.source], { signal, onPrepared });
        result = { ...this.#model, embedding: Array.from(embedding) };
      }
      this.#progress(job, 'done');
      return result;
    } catch (err) {
      throw named(err, media.source, videoName(video));
    } finally {
      await media.close();
    }
  }

  async #deadLetter(job: Job<JobDataMap[JobKind], AnyResult, JobKind>, error: JobError, attempts: number): Promise<void> {
    const entry: DeadLetter = {
      id: job.id!,
      kind: job.name,
      data: job.data,
      error,
      attempts,
      failedAt: Date.now(),
      worker: this.name,
      ...this.#model,
    };
    // Keyed by the job's id (BullMQ refuses numeric custom ids, hence the prefix): adding it again is a no-op, so
    // reruns never duplicate an entry.
    await this.#dead.add(job.name, entry, { jobId: deadLetterId(job.id!) });
  }

  async #deadLetterStalled(jobId: string): Promise<void> {
    try {
      const job = (await this.#queue.getJob(jobId)) as Job<JobDataMap[JobKind], AnyResult, JobKind> | undefined;
      if (!job) return;
      // Every worker hears the event; the entry's id makes their writes one.
      await this.#deadLetter(job, stalledError(), job.attemptsMade);
    } catch (err) {
      this.#log('error', 'dead-lettering a stalled job failed', { job: jobId, error: (err as Error).message });
    }
  }
}
