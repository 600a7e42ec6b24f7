/**
 * Prometheus metrics of one server: requests and latency per route and status, admission (active, queued, refused),
 * the classifier's batches (size, model time) and per-video decode time from its diagnostics channels, videos
 * processed and the recent rate, native memory held for reuse, and the process defaults (RSS, heap, event loop).
 * @module
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import { batchChannel, prepareChannel, type BatchEvent, type PrepareEvent, type ZeroShotVideoClassifier } from '../pipelines';
import { cachedMemoryBytes, pendingNativeCalls } from '../runtime';
import type { Admission } from './admission';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64];
/** Window of the videos/s gauge: long enough to smooth over batches, short enough to show a change. */
const RATE_WINDOW_S = 10;

/**
 * @example
 * const metrics = new ServerMetrics(admission);
 * metrics.watch(clf);
 * reply.type(metrics.contentType).send(await metrics.render());
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly latency: Histogram<'method' | 'route' | 'status'>;
  readonly videos: Counter<'outcome'>;
  readonly uploadBytes: Counter;
  readonly #batchSize: Histogram<'kind'>;
  readonly #modelSeconds: Histogram<'kind'>;
  readonly #decodeSeconds: Histogram<'outcome'>;
  /** Times of recent video completions, for the videos/s gauge. */
  readonly #recent: number[] = [];
  #classifier: ZeroShotVideoClassifier | undefined;
  readonly #onBatch = (message: unknown): void => {
    const m = message as BatchEvent;
    if (m.classifier !== this.#classifier) return;
    this.#batchSize.observe({ kind: m.kind }, m.size);
    this.#modelSeconds.observe({ kind: m.kind }, m.seconds);
  };
  readonly #onPrepare = (message: unknown): void => {
    const m = message as PrepareEvent;
    if (m.classifier === this.#classifier) this.#decodeSeconds.observe({ outcome: m.ok ? 'ok' : 'error' }, m.seconds);
  };

  constructor(admission: Admission) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({ name: 'xclip_http_requests_total', help: 'HTTP requests answered, by route and status', labelNames: ['method', 'route', 'status'], registers });
    this.latency = new Histogram({
      name: 'xclip_http_request_duration_seconds',
      help: 'Time from receiving a request to the end of its response, by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.videos = new Counter({ name: 'xclip_videos_total', help: 'Videos a request asked for, by outcome (ok, error)', labelNames: ['outcome'], registers });
    this.uploadBytes = new Counter({ name: 'xclip_upload_bytes_total', help: 'Bytes of uploaded and inline videos received', registers });
    this.#batchSize = new Histogram({ name: 'xclip_batch_size', help: 'Videos per model call', labelNames: ['kind'], buckets: BATCH_BUCKETS, registers });
    this.#modelSeconds = new Histogram({ name: 'xclip_model_seconds', help: 'Duration of one model call on a batch of videos', labelNames: ['kind'], buckets: LATENCY_BUCKETS, registers });
    this.#decodeSeconds = new Histogram({
      name: 'xclip_decode_seconds',
      help: 'Decoding and preprocessing of one video, including waits for a thread',
      labelNames: ['outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    const recent = this.#recent;
    new Gauge({
      name: 'xclip_videos_per_second',
      help: `Videos completed per second over the last ${RATE_WINDOW_S} s`,
      registers,
      collect() {
        const now = performance.now();
        while (recent.length > 0 && now - recent[0] > RATE_WINDOW_S * 1000) recent.shift();
        this.set(recent.length / RATE_WINDOW_S);
      },
    });
    new Gauge({
      name: 'xclip_admission_active',
      help: 'Requests being worked on',
      registers,
      collect() {
        this.set(admission.state.active);
      },
    });
    new Gauge({
      name: 'xclip_admission_queued',
      help: 'Requests waiting for a turn (queue depth)',
      registers,
      collect() {
        this.set(admission.state.queued);
      },
    });
    new Gauge({
      name: 'xclip_admission_limit',
      help: 'Admission limits: active requests and queue length',
      labelNames: ['kind'],
      registers,
      collect() {
        this.set({ kind: 'active' }, admission.maxActive);
        this.set({ kind: 'queue' }, admission.maxQueue);
      },
    });
    new Counter({
      name: 'xclip_admission_rejected_total',
      help: 'Requests refused with 503 because the queue was full',
      registers,
      collect() {
        this.reset();
        this.inc(admission.state.rejected);
      },
    });
    new Gauge({
      name: 'xclip_native_cached_bytes',
      help: 'Freed native tensor memory kept for reuse',
      registers,
      collect() {
        this.set(cachedMemoryBytes());
      },
    });
    new Gauge({
      name: 'xclip_native_pending_calls',
      help: 'Native calls (decoding, preprocessing, model) queued or running',
      registers,
      collect() {
        this.set(pendingNativeCalls());
      },
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Follows one classifier's batches and decodes (and no other's: tests run several servers in one process). */
  watch(classifier: ZeroShotVideoClassifier): void {
    if (this.#classifier === undefined) {
      subscribe(batchChannel.name, this.#onBatch);
      subscribe(prepareChannel.name, this.#onPrepare);
    }
    this.#classifier = classifier;
  }

  /** Counts videos a request asked for, once its answer is known. */
  countVideos(ok: number, failed: number): void {
    if (ok > 0) this.videos.inc({ outcome: 'ok' }, ok);
    if (failed > 0) this.videos.inc({ outcome: 'error' }, failed);
    const now = performance.now();
    for (let i = 0; i < ok; i++) this.#recent.push(now);
    // Bounded whatever the rate: the gauge only needs the last window.
    if (this.#recent.length > 100_000) this.#recent.splice(0, this.#recent.length - 100_000);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** Stops following the classifier. */
  close(): void {
    if (this.#classifier === undefined) return;
    unsubscribe(batchChannel.name, this.#onBatch);
    unsubscribe(prepareChannel.name, this.#onPrepare);
    this.#classifier = undefined;
  }
}
