/**
 * A worker process's life, for `xclip-node worker`: load the model, take jobs, serve metrics, and on SIGTERM or
 * SIGINT stop taking jobs, finish those in hand, close, and exit 0. A second signal exits at once with 1 (the jobs
 * in hand then stall and go to other workers). stdout gets `metrics on URL` (with a metrics port) and then
 * `worker ready` once jobs are being taken; logs go to stderr as JSON lines.
 * @module
 * @internal
 */
import type * as http from 'node:http';
import * as path from 'node:path';

import type { Device } from '../models';
import { resolveModelSpec } from '../modelSpec';
import { ZeroShotVideoClassifier } from '../pipelines';
import { pendingNativeCalls, setNumThreads } from '../runtime';
import type { VideoSource } from '../video';
import { DEFAULT_MAX_INLINE_BYTES, type MediaRef } from './jobTypes';
import { WorkerMetrics, metricsUrl, serveMetrics } from './metrics';
import { type VideoSources, VideoJobWorker, type WorkerLog } from './worker';

/** What `xclip-node worker` was asked for, checked by the command. */
export interface WorkerSettings {
  redis: string;
  queue?: string;
  /** `--model`: a directory, a hub id, or `demo`. */
  model?: string;
  device?: Device;
  maxBatch?: number;
  concurrency?: number;
  threads?: number;
  mediaRoot?: string;
  allowUrlHosts?: string[];
  maxInlineBytes?: number;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  maxStalledCount?: number;
  metricsHost?: string;
  metricsPort?: number;
  name?: string;
}

/** Where the process writes: result lines (stdout) and log lines (stderr). */
export interface WorkerOutput {
  out(line: string): void;
  err(line: string): void;
}

/** JSON log lines, one per event. */
function jsonLog(output: WorkerOutput): WorkerLog {
  return (level, msg, fields = {}) => output.err(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }));
}

// TODO(merge): the media-source policy (lib/mediaSource.ts, issue 17) replaces this until it lands on main.
function interimSources(mediaRoot: string | undefined, maxInlineBytes: number): VideoSources {
  return {
    maxInlineBytes,
    async open(ref: MediaRef) {
      let source: VideoSource;
      if ('path' in ref && mediaRoot !== undefined) source = path.resolve(mediaRoot, ref.path);
      else if ('data' in ref) source = Buffer.from(ref.data, 'base64');
      else throw new Error('not accepted');
      return { source, close: async () => undefined };
    },
  };
}

/**
 * Runs a worker until a signal has drained it; resolves with the exit status.
 * @example
 * process.exitCode = await runWorker({ redis: 'redis://127.0.0.1:6379', model: 'demo' }, { out: console.log, err: console.error });
 */
export async function runWorker(settings: WorkerSettings, output: WorkerOutput): Promise<number> {
  const log = jsonLog(output);
  if (settings.threads !== undefined) setNumThreads(settings.threads);
  const model = await resolveModelSpec(settings.model);
  if (model.demo) log('warn', 'model "demo" has RANDOM weights: its scores are NOT meaningful');
  const clf = await ZeroShotVideoClassifier.fromPretrained(model.dir, { device: settings.device, maxBatch: settings.maxBatch });
  const sources = interimSources(settings.mediaRoot, settings.maxInlineBytes ?? DEFAULT_MAX_INLINE_BYTES);
  let worker: VideoJobWorker;
  try {
    worker = new VideoJobWorker(clf, {
      redis: settings.redis,
      queue: settings.queue,
      sources,
      model: { model: model.id, demo: model.demo },
      concurrency: settings.concurrency,
      lockDurationMs: settings.lockDurationMs,
      stalledIntervalMs: settings.stalledIntervalMs,
      maxStalledCount: settings.maxStalledCount,
      name: settings.name,
      log,
    });
  } catch (err) {
    await clf.dispose();
    throw err;
  }

  let signals = 0;
  let drain: (() => void) | undefined;
  const drained = new Promise<void>((resolve) => {
    drain = resolve;
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log('warn', `second ${signal}: exiting now; the jobs in hand will stall and run again elsewhere`);
      process.exit(1);
    }
    log('info', `${signal}: no new jobs; finishing the jobs in hand`, { active: worker.stats.active });
    drain!();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  let metricsServer: http.Server | undefined;
  try {
    if (settings.metricsPort !== undefined) {
      metricsServer = await serveMetrics(new WorkerMetrics(worker), { host: settings.metricsHost ?? '127.0.0.1', port: settings.metricsPort });
      output.out(`metrics on ${metricsUrl(metricsServer)}`);
    }
    await Promise.race([worker.start(), drained]);
    if (signals === 0) {
      log('info', 'worker ready', { queue: worker.queueName, name: worker.name, model: model.id, concurrency: worker.concurrency, maxBatch: clf.batching.maxBatch, lockDurationMs: worker.lockDurationMs });
      output.out('worker ready');
      await drained;
    }
  } finally {
    await worker.close();
    await clf.dispose();
    await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
    // Node's exit waits for native calls still running; the drained worker has none left.
    while (pendingNativeCalls() > 0) await new Promise((r) => setTimeout(r, 5));
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  log('info', 'worker closed', { completed: worker.stats.completed, failed: worker.stats.failed });
  return 0;
}
