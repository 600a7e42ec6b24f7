/**
 * The producer side of the job queue: typed jobs in, results out, keyed by job id. Delivery is at least once: a
 * job whose worker dies is run again by another, and since its result is stored under its id (BullMQ's job
 * record), a rerun overwrites, never adds. Adding a job with an id that exists already adds nothing, so a producer
 * that picks its own ids (say, a hash of video and labels) can enqueue again safely after a crash.
 * @module
 */
import { setMaxListeners } from 'node:events';

import type { Job, Queue, QueueEvents } from 'bullmq';

import { optionalSignal } from '../abort';
import { integerInRange, is, optionalObject, rangeError, typeError } from '../validate';
import { bullmq, redisConnection, type RedisConnection } from './connection';
import {
  DEFAULT_MAX_INLINE_BYTES,
  DEFAULT_QUEUE,
  type DeadLetter,
  type JobDataMap,
  type JobError,
  type JobKind,
  type JobResultMap,
  type MediaRef,
  checkJobData,
  checkQueueName,
  deadLetterId,
  deadLetterQueueName,
  parseFailedReason,
} from './jobTypes';

/**
 * @example
 * const options: VideoJobQueueOptions = { redis: 'redis://127.0.0.1:6379', attempts: 5, backoffMs: 2000 };
 */
export interface VideoJobQueueOptions {
  /** `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. */
  redis: string;
  /** Default `xclip`. */
  queue?: string;
  /** Attempts per job before it fails for good on transient failures, 1 to 100; default 5. Permanent failures never retry. */
  attempts?: number;
  /** First retry delay in ms, doubled for each further attempt (exponential backoff); default 1000. */
  backoffMs?: number;
  /** How long completed jobs, and so their results, stay in Redis, in seconds; default 86400 (a day). */
  keepCompletedSeconds?: number;
  /** How long failed jobs stay, in seconds; default 604800 (a week). Their dead-letter entries stay until removed. */
  keepFailedSeconds?: number;
  /** Most bytes of a video carried inline; default {@link DEFAULT_MAX_INLINE_BYTES} (16 MiB). Workers enforce their own cap too. */
  maxInlineBytes?: number;
}

/** @example await queue.add('embed', { video: { path: 'a.mp4' } }, { jobId: 'embed:a.mp4' }); */
export interface AddJobOptions {
  /** Your own id (not all digits): adding an id that exists adds nothing. Default: the queue's next number. */
  jobId?: string;
  /** 1 (first) to 2097152; jobs without a priority come before all prioritised ones. */
  priority?: number;
}

/**
 * How a job ended: its result, or its error.
 * @example
 * const [o] = await queue.wait([id]);
 * if (o.status === 'completed') console.log(o.result.scores); else console.error(o.error.code);
 */
export type JobOutcome<K extends JobKind = JobKind> = { id: string } & JobEnding<K>;

/** How a job ended, without its id. */
type JobEnding<K extends JobKind = JobKind> = { status: 'completed'; result: JobResultMap[K] } | { status: 'failed'; error: JobError };

/** @example await queue.wait(ids, { signal: AbortSignal.timeout(60000), onSettled: (o, i) => console.log(i, o.status) }); */
export interface WaitOptions<K extends JobKind = JobKind> {
  /** Gives up waiting (rejecting with its reason); the jobs go on. */
  signal?: AbortSignal;
  /** Called as each job ends, in the order they end, with its index in `ids`. */
  onSettled?: (outcome: JobOutcome<K>, index: number) => void;
  /** Ms between checks of the jobs' states in Redis, besides the queue's events (which a Redis restart may skip); default 2000. */
  pollMs?: number;
}

/** Job counts of a queue, and the entries of its dead-letter queue. */
export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
  dead: number;
}

const QUEUE_KEYS = ['redis', 'queue', 'attempts', 'backoffMs', 'keepCompletedSeconds', 'keepFailedSeconds', 'maxInlineBytes'] as const;
const DAY_S = 86400;

/** The part of a BullMQ Queue that counts jobs (typed here: the public types must not need bullmq's). */
interface Counting {
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
  count(): Promise<number>;
}

/** Job counts of `main` and the size of its dead-letter queue `dead`; waiting includes paused and prioritised jobs. */
export async function queueCounts(main: Counting, dead: Counting): Promise<QueueCounts> {
  const [c, deadCount] = await Promise.all([main.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'paused', 'prioritized'), dead.count()]);
  return {
    waiting: (c.waiting ?? 0) + (c.paused ?? 0) + (c.prioritized ?? 0),
    active: c.active ?? 0,
    delayed: c.delayed ?? 0,
    completed: c.completed ?? 0,
    failed: c.failed ?? 0,
    dead: deadCount,
  };
}

/**
 * The job's outcome if it has ended, `undefined` while it has not; a job that no longer exists failed with
 * `JOB_NOT_FOUND` (removed, or kept for less time than the wait took).
 */
async function outcomeOf(queue: Queue, id: string): Promise<JobEnding | undefined> {
  // State first: a job read before it ended would show no result yet; once ended, its record no longer changes.
  const state = await queue.getJobState(id);
  if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return undefined;
  const job = (await queue.getJob(id)) as Job | undefined;
  if (!job) return { status: 'failed', error: { code: 'JOB_NOT_FOUND', message: `job ${id} is not in the queue (removed, or expired after it ended)` } };
  if (state === 'completed') return { status: 'completed', result: job.returnvalue as JobResultMap[JobKind] };
  if (state === 'failed') return { status: 'failed', error: parseFailedReason(job.failedReason) };
  // 'unknown' with a job: it was added between the two reads; not ended.
  return undefined;
}

/**
 * A video reference for a job: a Buffer becomes inline bytes (base64), an http(s) URL a URL, anything else a path
 * (resolved by the worker under its media root).
 * @example
 * videoRef('cats/a.mp4');                      // { path: 'cats/a.mp4' }
 * videoRef('https://videos.example.com/b.mp4'); // { url: 'https://videos.example.com/b.mp4' }
 * videoRef(fs.readFileSync('c.mp4'));          // { data: 'AAAAIGZ0eXBpc29t...' }
 */
export function videoRef(source: string | Uint8Array): MediaRef {
  if (source instanceof Uint8Array) return { data: Buffer.from(source.buffer, source.byteOffset, source.byteLength).toString('base64') };
  if (!is.string(source) || source.length === 0) throw typeError('source', 'a path, an http(s) URL or a Buffer', source);
  return /^https?:\/\//i.test(source) ? { url: source } : { path: source };
}

/**
 * Adds video jobs to a BullMQ queue on Redis and waits for their results; any number of `xclip-node worker`
 * processes, on any number of machines, take them.
 * @example
 * const queue = new VideoJobQueue({ redis: 'redis://127.0.0.1:6379' });
 * const ids = await queue.addBulk('classify', files.map((f) => ({ video: videoRef(f), labels: ['cooking', 'dancing'] })));
 * for (const o of await queue.wait<'classify'>(ids)) console.log(o.id, o.status === 'completed' ? o.result.scores[0].label : o.error.code);
 * await queue.close();
 */
export class VideoJobQueue {
  readonly name: string;
  readonly attempts: number;
  readonly maxInlineBytes: number;
  readonly #connection: RedisConnection;
  readonly #queue: Queue<JobDataMap[JobKind], JobResultMap[JobKind], JobKind>;
  /** The dead-letter queue, opened on first use: most producers never read it, and each Queue is a connection. */
  #deadQueue: Queue | undefined;
  readonly #jobDefaults: { attempts: number; backoff: { type: 'exponential'; delay: number }; removeOnComplete: { age: number }; removeOnFail: { age: number } };
  #events: Promise<QueueEvents> | undefined;
  #closed = false;
  /** Aborted by close(): waits still running reject. */
  readonly #closing = new AbortController();

  constructor(options: VideoJobQueueOptions) {
    const o = optionalObject('options', options, QUEUE_KEYS) as unknown as VideoJobQueueOptions;
    this.#connection = redisConnection(o.redis);
    this.name = checkQueueName(o.queue ?? DEFAULT_QUEUE);
    this.attempts = integerInRange('attempts', o.attempts ?? 5, 1, 100);
    this.maxInlineBytes = integerInRange('maxInlineBytes', o.maxInlineBytes ?? DEFAULT_MAX_INLINE_BYTES, 1, 512 * 1024 * 1024);
    this.#jobDefaults = {
      attempts: this.attempts,
      backoff: { type: 'exponential', delay: integerInRange('backoffMs', o.backoffMs ?? 1000, 0, 2 ** 31 - 1) },
      removeOnComplete: { age: integerInRange('keepCompletedSeconds', o.keepCompletedSeconds ?? DAY_S, 1, 2 ** 31 - 1) },
      removeOnFail: { age: integerInRange('keepFailedSeconds', o.keepFailedSeconds ?? 7 * DAY_S, 1, 2 ** 31 - 1) },
    };
    const { Queue: BullQueue } = bullmq();
    this.#queue = new BullQueue(this.name, { connection: this.#connection });
    // Without a listener an 'error' would throw; ioredis reconnects by itself, and calls fail or wait meanwhile.
    this.#queue.on('error', () => undefined);
  }

  get #dead(): Queue {
    if (!this.#deadQueue) {
      const { Queue: BullQueue } = bullmq();
      this.#deadQueue = new BullQueue(deadLetterQueueName(this.name), { connection: this.#connection });
      this.#deadQueue.on('error', () => undefined);
    }
    return this.#deadQueue;
  }

  #options(options: AddJobOptions | undefined): Record<string, unknown> {
    const o = optionalObject('options', options, ['jobId', 'priority']) as AddJobOptions;
    if (o.jobId !== undefined) {
      if (!is.string(o.jobId) || o.jobId.length === 0) throw typeError('jobId', 'a non-empty string', o.jobId);
      // BullMQ's own ids are numbers: a numeric custom id could collide with one.
      if (/^\d+$/.test(o.jobId)) throw rangeError('jobId', 'an id that is not all digits', o.jobId);
    }
    if (o.priority !== undefined) integerInRange('priority', o.priority, 1, 2097152);
    return { ...this.#jobDefaults, ...o };
  }

  #check(): void {
    if (this.#closed) throw new Error('the VideoJobQueue is closed');
  }

  /**
   * Adds one job; resolves with its id. The data is checked first (`TypeError` / `RangeError`).
   * @example
   * const id = await queue.add('classify', { video: { path: 'a.mp4' }, labels: ['cooking', 'dancing'] });
   */
  async add<K extends JobKind>(kind: K, data: JobDataMap[K], options?: AddJobOptions): Promise<string> {
    this.#check();
    const opts = this.#options(options);
    const job = await this.#queue.add(kind, checkJobData(kind, data, this.maxInlineBytes), opts);
    return job.id!;
  }

  /**
   * Adds jobs of one kind in one round trip; resolves with their ids, in order.
   * @example
   * const ids = await queue.addBulk('embed', files.map((f) => ({ video: videoRef(f) })));
   */
  async addBulk<K extends JobKind>(kind: K, items: readonly JobDataMap[K][], options: { jobIds?: readonly string[] } = {}): Promise<string[]> {
    this.#check();
    if (!Array.isArray(items) || items.length === 0) throw typeError('items', 'a non-empty array of job data', items);
    const { jobIds } = optionalObject('options', options, ['jobIds']) as { jobIds?: readonly string[] };
    if (jobIds !== undefined && (!Array.isArray(jobIds) || jobIds.length !== items.length)) throw typeError('jobIds', `an array of ${items.length} ids`, jobIds);
    const jobs = items.map((data, i) => ({ name: kind, data: checkJobData(kind, data, this.maxInlineBytes), opts: this.#options(jobIds ? { jobId: jobIds[i] } : undefined) }));
    return (await this.#queue.addBulk(jobs)).map((j) => j.id!);
  }

  /** QueueEvents, started once: completions and failures as they happen. */
  #queueEvents(): Promise<QueueEvents> {
    this.#events ??= (async () => {
      const { QueueEvents: BullQueueEvents } = bullmq();
      const events = new BullQueueEvents(this.name, { connection: this.#connection });
      events.on('error', () => undefined);
      await events.waitUntilReady();
      return events;
    })();
    return this.#events;
  }

  /**
   * Waits until every job in `ids` has ended (completed, or failed for good: a job being retried has not ended), and
   * resolves with their outcomes in the order of `ids`. Redis outages only delay it.
   * @example
   * const outcomes = await queue.wait(ids, { signal: AbortSignal.timeout(600000) });
   */
  async wait<K extends JobKind = JobKind>(ids: readonly string[], options: WaitOptions<K> = {}): Promise<JobOutcome<K>[]> {
    this.#check();
    if (!Array.isArray(ids) || !ids.every((id) => is.string(id))) throw typeError('ids', 'an array of job ids', ids);
    const o = optionalObject('options', options, ['signal', 'onSettled', 'pollMs']) as WaitOptions<K>;
    const signal = optionalSignal(o.signal);
    if (o.onSettled !== undefined && typeof o.onSettled !== 'function') throw typeError('onSettled', 'a function', o.onSettled);
    const pollMs = integerInRange('pollMs', o.pollMs ?? 2000, 10, 3600000);
    if (signal?.aborted) throw signal.reason;
    const outcomes: JobOutcome<K>[] = new Array(ids.length);
    const pending = new Map<string, number[]>();
    ids.forEach((id, i) => pending.set(id, [...(pending.get(id) ?? []), i]));
    if (pending.size === 0) return outcomes;
    const events = await this.#queueEvents();
    setMaxListeners(0, events);
    return new Promise<JobOutcome<K>[]>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let polling = false;
      const cleanup = (): void => {
        clearTimeout(timer);
        events.off('completed', onCompleted);
        events.off('failed', onFailed);
        signal?.removeEventListener('abort', onAbort);
        this.#closing.signal.removeEventListener('abort', onClose);
      };
      const settle = (id: string, outcome: JobEnding): void => {
        const indexes = pending.get(id);
        if (!indexes) return;
        pending.delete(id);
        for (const i of indexes) {
          outcomes[i] = { id, ...outcome } as JobOutcome<K>;
          try {
            o.onSettled?.(outcomes[i], i);
          } catch (err) {
            cleanup();
            reject(err);
            return;
          }
        }
        if (pending.size === 0) {
          cleanup();
          resolve(outcomes);
        }
      };
      const onCompleted = ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }): void => settle(jobId, { status: 'completed', result: returnvalue as JobResultMap[K] });
      const onFailed = ({ jobId, failedReason }: { jobId: string; failedReason: string }): void => settle(jobId, { status: 'failed', error: parseFailedReason(failedReason) });
      const onAbort = (): void => {
        cleanup();
        reject(signal!.reason);
      };
      const onClose = (): void => {
        cleanup();
        reject(new Error('the VideoJobQueue was closed while waiting'));
      };
      // Events cover what happens from now on; the first check covers what ended before, later checks what a
      // trimmed event stream or a Redis restart lost.
      const poll = async (): Promise<void> => {
        if (polling || pending.size === 0) return;
        polling = true;
        try {
          const ids = [...pending.keys()];
          const found = await Promise.all(ids.map((id) => outcomeOf(this.#queue as unknown as Queue, id).catch(() => undefined)));
          found.forEach((outcome, i) => outcome && settle(ids[i], outcome));
        } finally {
          polling = false;
          if (pending.size > 0) timer = setTimeout(() => void poll(), pollMs);
        }
      };
      events.on('completed', onCompleted);
      events.on('failed', onFailed);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#closing.signal.addEventListener('abort', onClose, { once: true });
      void poll();
    });
  }

  /**
   * The result of a completed job, `undefined` otherwise.
   * @example
   * const r = await queue.result<'classify'>(id);
   */
  async result<K extends JobKind = JobKind>(id: string): Promise<JobResultMap[K] | undefined> {
    this.#check();
    const outcome = await outcomeOf(this.#queue as unknown as Queue, id);
    return outcome?.status === 'completed' ? (outcome.result as JobResultMap[K]) : undefined;
  }

  /** Job counts of the queue and of its dead-letter queue. */
  counts(): Promise<QueueCounts> {
    this.#check();
    return queueCounts(this.#queue, this.#dead);
  }

  /**
   * Jobs that failed for good, oldest first (`start`/`end` as Redis ranges, inclusive; -1 is the last).
   * @example
   * for (const d of await queue.deadLetters()) console.log(d.id, d.error.code);
   */
  async deadLetters(start = 0, end = -1): Promise<DeadLetter[]> {
    this.#check();
    const jobs = (await this.#dead.getJobs(['waiting', 'paused', 'prioritized', 'delayed'], start, end, true)) as Job<DeadLetter>[];
    return jobs.map((j) => j.data);
  }

  /**
   * The dead-letter entry of a job that failed for good, `undefined` if it has none.
   * @example
   * const d = await queue.deadLetter(id);
   */
  async deadLetter(id: string): Promise<DeadLetter | undefined> {
    this.#check();
    const job = (await this.#dead.getJob(deadLetterId(id))) as Job<DeadLetter> | undefined;
    return job?.data;
  }

  /** Closes the Redis connections; waits still running reject; jobs go on in the workers. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    const events = await this.#events?.catch(() => undefined);
    await Promise.all([this.#queue.close(), this.#deadQueue?.close(), events?.close()]);
  }
}
