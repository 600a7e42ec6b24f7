/**
 * `xclip-node worker`: takes jobs from a BullMQ queue on Redis and runs them on one model (lib/jobs/worker.ts).
 * stdout gets `metrics on URL` (with `--metrics-port`) and then `worker ready` once jobs are being taken; logs go to
 * stderr as JSON lines. SIGTERM or SIGINT: no new jobs, the jobs in hand finish, connections close, exit 0; a second
 * signal exits at once with 1 (the jobs in hand then stall and run again on another worker).
 * @module
 * @internal
 */
import type * as http from 'node:http';

import { redisConnection } from '../jobs/connection';
import { DEFAULT_MAX_INLINE_BYTES, DEFAULT_QUEUE, checkQueueName } from '../jobs/jobTypes';
import { WorkerMetrics, metricsUrl, serveMetrics } from '../jobs/metrics';
import { VideoJobWorker, type WorkerLog } from '../jobs/worker';
import { MediaSources } from '../mediaSource';
import { pendingNativeCalls, setNumThreads } from '../runtime';
import { VideoIndex } from '../search/videoIndex';
import { type ParsedArgs, UsageError, intOption, mibOption, stringOption } from './args';
import type { Command } from './command';
import { type CliIo, EXIT_OK } from './io';
import { mediaPolicyOptions } from './media';
import { MODEL_OPTIONS, modelSettings, openModel } from './model';

const MIB = 1024 * 1024;
/**
 * A worker's default wait for a batch to fill. Nobody waits on a job's answer the way a client waits on a request, so
 * the worker favours throughput: a batch whose videos are still decoding waits for them (at most this long) instead
 * of running part-full, as it would after the 5 ms an interactive caller gets. Only videos already being decoded are
 * waited for, so a lone job still runs at once.
 */
export const WORKER_MAX_WAIT_MS = 1000;

/** JSON log lines on stderr, one per event. */
function jsonLog(io: CliIo): WorkerLog {
  return (level, msg, fields = {}) => io.err(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }));
}

/** `--max-batch` is the issue's name for the other commands' `--batch`; either may be given, not both. */
function batchArgs(args: ParsedArgs): ParsedArgs {
  const maxBatch = stringOption(args, 'max-batch');
  if (maxBatch === undefined) return args;
  if (args.options.has('batch')) throw new UsageError('give --max-batch or --batch, not both');
  return { ...args, options: new Map([...args.options, ['batch', maxBatch]]) };
}

/** A positive number of milliseconds. */
function ms(args: ParsedArgs, name: string): number | undefined {
  return intOption(args, name, 100, 2 ** 31 - 1);
}

export const worker: Command = {
  name: 'worker',
  summary: 'take jobs from a queue on Redis (BullMQ) and run them; start one per machine, or several',
  usage: 'worker --redis redis://HOST:PORT [--queue NAME] [--model ID|DIR|demo] [--db DIR] [options]',
  options: [
    { name: 'redis', value: 'url', help: 'redis://[user:password@]host[:port][/db], rediss:// for TLS (required);\nREDIS_PASSWORD sets the password out of the process list' },
    { name: 'queue', value: 'name', help: `queue name (default ${DEFAULT_QUEUE}); failed jobs also go to NAME-dead` },
    ...MODEL_OPTIONS,
    { name: 'max-batch', value: 'n', help: 'the same as --batch' },
    { name: 'max-wait-ms', value: 'n', help: `ms a video may wait for videos still decoding to fill its batch, 0-60000\n(default ${WORKER_MAX_WAIT_MS}: throughput first)` },
    { name: 'concurrency', value: 'n', help: 'jobs taken at once, 1-1024 (default 2 x batch: the next batch decodes while one runs)' },
    { name: 'threads', value: 'n', help: 'inference threads (default: physical cores, or XCLIP_NUM_THREADS)' },
    { name: 'media-root', value: 'dir', help: 'accept jobs whose video is a path, only inside this directory (symlinks resolved);\nwithout it, path jobs fail with SOURCE_FORBIDDEN' },
    { name: 'allow-url-fetch', value: 'hosts', help: 'accept jobs whose video is a URL on these comma-separated hosts (names, *.suffix, IPs,\nCIDRs, optionally :port); non-public addresses only if listed as addresses;\nwithout it, URL jobs fail with SOURCE_FORBIDDEN' },
    { name: 'url-timeout-ms', value: 'n', help: 'time limit of one URL fetch (default 60000); a timeout is retried' },
    { name: 'max-url-mb', value: 'n', help: 'most MiB of one fetched URL (default 512); a larger one fails with SOURCE_TOO_LARGE' },
    { name: 'max-inline-mb', value: 'n', help: `most MiB of a video carried in a job as bytes (default ${DEFAULT_MAX_INLINE_BYTES / MIB})` },
    { name: 'lock-duration-ms', value: 'n', help: "a job's lock, renewed every half of it while the job runs; a dead worker's jobs\nreturn to the queue once it expires (default 30000)" },
    { name: 'stalled-interval-ms', value: 'n', help: 'how often to look for jobs whose lock expired (default 30000)' },
    { name: 'max-stalled-count', value: 'n', help: 'times a job may be put back after its worker died before it fails as STALLED (default 2)' },
    { name: 'db', value: 'dir', help: 'the search index that index jobs add to (created with this model when absent,\nrefused when another model built it; several workers may share it);\nwithout it, index jobs fail with INVALID_INPUT' },
    { name: 'metrics-port', value: 'n', help: 'serve Prometheus metrics on this port, 0 for a free one (default: none)' },
    { name: 'metrics-host', value: 'address', help: 'address of the metrics server (default 127.0.0.1)' },
    { name: 'name', value: 'name', help: 'worker name stored on the jobs it runs (default HOSTNAME:PID)' },
  ],
  async run({ args: given, io }) {
    const args = batchArgs(given);
    const redis = stringOption(args, 'redis');
    if (redis === undefined) throw new UsageError('--redis is required');
    if (args.positional.length > 0) throw new UsageError(`unexpected argument ${args.positional[0]}`);
    modelSettings(args);
    const maxInlineBytes = (intOption(args, 'max-inline-mb', 1, 512) ?? DEFAULT_MAX_INLINE_BYTES / MIB) * MIB;
    const threads = intOption(args, 'threads', 1, 1024);
    const maxWaitMs = intOption(args, 'max-wait-ms', 0, 60000) ?? WORKER_MAX_WAIT_MS;
    const metricsPort = intOption(args, 'metrics-port', 0, 65535);
    const media = { ...mediaPolicyOptions(args), maxInlineBytes, urlTimeoutMs: ms(args, 'url-timeout-ms'), maxUrlBytes: mibOption(args, 'max-url-mb') };
    const settings = {
      redis,
      queue: stringOption(args, 'queue'),
      concurrency: intOption(args, 'concurrency', 1, 1024),
      lockDurationMs: ms(args, 'lock-duration-ms'),
      stalledIntervalMs: ms(args, 'stalled-interval-ms'),
      maxStalledCount: intOption(args, 'max-stalled-count', 0, 1000),
      name: stringOption(args, 'name'),
    };
    try {
      // Checked again by the worker; here so that a mistake costs no model load.
      redisConnection(redis);
      checkQueueName(settings.queue ?? DEFAULT_QUEUE);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const log = jsonLog(io);
    if (threads !== undefined) setNumThreads(threads);
    const db = stringOption(args, 'db');
    if (db === '') throw new UsageError('--db expects a directory');
    const sources = new MediaSources(media);
    const { clf, model } = await openModel(args, io, { maxWaitMs });
    let index: VideoIndex | undefined;
    let jobs: VideoJobWorker;
    try {
      // An index built with another model is refused here (INDEX_MODEL_MISMATCH), before any job is taken.
      if (db !== undefined) index = await VideoIndex.open(db, { model: clf, modelId: model.id });
      jobs = new VideoJobWorker(clf, { ...settings, sources, index, model: { model: model.id, demo: model.demo }, log });
    } catch (err) {
      await index?.close();
      await clf.dispose();
      await sources.dispose();
      throw err;
    }

    let signals = 0;
    let drain!: () => void;
    const drained = new Promise<void>((resolve) => {
      drain = resolve;
    });
    const onSignal = (signal: NodeJS.Signals): void => {
      if (++signals > 1) {
        log('warn', `second ${signal}: exiting now; the jobs in hand will stall and run again on another worker`);
        process.exit(1);
      }
      log('info', `${signal}: no new jobs; finishing the jobs in hand`, { active: jobs.stats.active });
      drain();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    let metricsServer: http.Server | undefined;
    try {
      if (metricsPort !== undefined) {
        metricsServer = await serveMetrics(new WorkerMetrics(jobs), { host: stringOption(args, 'metrics-host') ?? '127.0.0.1', port: metricsPort });
        io.out(`metrics on ${metricsUrl(metricsServer)}\n`);
      }
      await Promise.race([jobs.start(), drained]);
      if (signals === 0) {
        log('info', 'worker ready', { queue: jobs.queueName, name: jobs.name, model: model.id, index: index?.dir, concurrency: jobs.concurrency, maxBatch: clf.batching.maxBatch, maxWaitMs: clf.batching.maxWaitMs, lockDurationMs: jobs.lockDurationMs });
        io.out('worker ready\n');
        await drained;
      }
    } finally {
      await jobs.close();
      // Fetched files of the jobs in hand are closed by now; this removes their directory.
      await sources.dispose();
      await index?.close();
      await clf.dispose();
      await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
      // Node's exit waits for native calls still running; a drained worker has none left, so this is brief.
      while (pendingNativeCalls() > 0) await new Promise((r) => setTimeout(r, 5));
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
    log('info', 'worker closed', { completed: jobs.stats.completed, failed: jobs.stats.failed });
    return EXIT_OK;
  },
};
