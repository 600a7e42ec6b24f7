/**
 * Prometheus metrics of one job worker, read when scraped: the queue's job counts as Redis has them (all workers),
 * what this worker did (jobs by outcome, retries, stalled jobs found, lock renewals, videos and the recent rate,
 * batches), and the process defaults (RSS, heap, event-loop lag: a lag near `lockDuration / 2` would cost locks).
 * @module
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Registry } from 'prom-client';

import { promClient } from './connection';
import type { QueueCounts } from './queue';
import type { VideoJobWorker, WorkerStats } from './worker';

/** Window of the videos/s gauge: long enough to smooth over batches, short enough to show a change. */
const RATE_WINDOW_S = 10;

/** A counter whose value is read from the worker's own count when scraped. */
function countFrom(registry: Registry, name: string, help: string, read: () => number): void {
  new (promClient().Counter)({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/**
 * @example
 * const metrics = new WorkerMetrics(worker);
 * const server = await serveMetrics(metrics, { host: '127.0.0.1', port: 9464 });
 */
export class WorkerMetrics {
  readonly #registry: Registry;

  constructor(worker: VideoJobWorker) {
    const { Counter, Gauge, Registry: PromRegistry, collectDefaultMetrics } = promClient();
    this.#registry = new PromRegistry();
    const registers = [this.#registry];
    const queue = worker.queueName;
    collectDefaultMetrics({ register: this.#registry });
    new Gauge({
      name: 'xclip_queue_jobs',
      help: 'Jobs in the queue by state, as Redis has them (all workers); the last values stay while Redis is unreachable',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        let counts: QueueCounts;
        try {
          counts = await worker.counts();
        } catch {
          return;
        }
        for (const state of ['waiting', 'active', 'delayed', 'completed', 'failed'] as const) this.set({ queue, state }, counts[state]);
        this.set({ queue: `${queue}-dead`, state: 'waiting' }, counts.dead);
      },
    });
    const stats = (): WorkerStats => worker.stats;
    new Counter({
      name: 'xclip_worker_jobs_completed_total',
      help: 'Jobs this worker completed, by kind',
      labelNames: ['kind'],
      registers,
      collect() {
        this.reset();
        for (const [kind, n] of Object.entries(stats().completed)) this.inc({ kind }, n);
      },
    });
    new Counter({
      name: 'xclip_worker_jobs_failed_total',
      help: 'Jobs this worker failed for good (and dead-lettered), by error code',
      labelNames: ['code'],
      registers,
      collect() {
        this.reset();
        for (const [code, n] of Object.entries(stats().failed)) this.inc({ code }, n);
      },
    });
    countFrom(this.#registry, 'xclip_worker_job_retries_total', 'Attempts that failed transiently and were put back for a retry with backoff', () => stats().retried);
    countFrom(this.#registry, 'xclip_worker_stalled_jobs_total', "Jobs this worker's stalled check put back in the queue (their worker died or lost its lock)", () => stats().stalled);
    countFrom(this.#registry, 'xclip_worker_lock_renewals_total', 'Job locks renewed while their jobs ran', () => stats().locksRenewed);
    countFrom(this.#registry, 'xclip_worker_lock_renewal_failures_total', 'Lock renewals that failed (the lock had expired: the job may run twice)', () => stats().lockRenewalFailures);
    countFrom(this.#registry, 'xclip_worker_videos_total', 'Videos in jobs this worker completed', () => stats().videos);
    countFrom(this.#registry, 'xclip_worker_batches_total', 'Model calls on videos', () => worker.classifier.stats.batches);
    countFrom(this.#registry, 'xclip_worker_batch_videos_total', 'Videos in those model calls (divide by batches for the mean batch size)', () => worker.classifier.stats.videos);
    new Gauge({
      name: 'xclip_worker_videos_per_second',
      help: `Videos this worker completed per second over the last ${RATE_WINDOW_S} s`,
      registers,
      collect() {
        this.set(worker.videosPerSecond(RATE_WINDOW_S));
      },
    });
    new Gauge({
      name: 'xclip_worker_active_jobs',
      help: 'Jobs this worker has in hand',
      registers,
      collect() {
        this.set(stats().active);
      },
    });
    new Gauge({
      name: 'xclip_worker_concurrency',
      help: 'Most jobs this worker takes at once',
      registers,
      collect() {
        this.set(worker.concurrency);
      },
    });
  }

  /** The exposition format's content type. */
  get contentType(): string {
    return this.#registry.contentType;
  }

  /** The metrics in Prometheus' text format, read now. */
  render(): Promise<string> {
    return this.#registry.metrics();
  }
}

/**
 * Serves `GET /metrics` (everything else 404) on `host:port` (0: a free port); resolves once listening.
 * @example
 * const server = await serveMetrics(metrics, { host: '0.0.0.0', port: 9464 });
 * console.log((server.address() as AddressInfo).port);
 */
export function serveMetrics(metrics: WorkerMetrics, { host, port }: { host: string; port: number }): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    metrics.render().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** `http://HOST:PORT/metrics` of a listening metrics server (brackets around IPv6). */
export function metricsUrl(server: http.Server): string {
  const a = server.address() as AddressInfo;
  return `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}/metrics`;
}
