/**
 * The server's defaults, apart from the server itself: the CLI prints them in its help and sizes admission from
 * them without loading Fastify (only `serve` needs it, and it needs Node.js 20).
 * @module
 */

/** Defaults of the server's options (`ServerOptions` in app.ts), also the CLI's. */
export const SERVER_DEFAULTS = {
  maxUploadMb: 512,
  maxInlineMb: 64,
  requestTimeoutMs: 300_000,
  shutdownTimeoutMs: 30_000,
  urlTimeoutMs: 60_000,
} as const;

/**
 * Admission defaults for a classifier's batching and device. A request admitted beyond what keeps the decoders and
 * the model busy adds latency, not throughput, and an admitted request waits for about as many as are in the
 * server. On a CPU a batch of 8 runs only ~10% faster per video than a batch of 1 (see Performance), so the server
 * works on the decoders' videos plus one in the model and lets one more wait: an admitted request then waits for
 * about the batch being run before its own (on 2 cores under 4x overload: p50 3.4x, p99 4.9x a request alone;
 * with no waiting slot 3.2x, but throughput drops to 83-88% of in-process because decoding no longer overlaps the
 * model), and everything past that is refused at once. On a GPU batching is where the
 * throughput is: two batches plus the decoders are worked on, and one batch may wait.
 * @example
 * const { maxActive, maxQueue } = defaultAdmission({ maxBatch: 8, decodeConcurrency: 2 }, 'cpu'); // 3, 1
 */
export function defaultAdmission(batching: { maxBatch: number; decodeConcurrency: number }, device: 'cpu' | 'cuda'): { maxActive: number; maxQueue: number } {
  if (device === 'cuda') return { maxActive: batching.decodeConcurrency + 2 * batching.maxBatch, maxQueue: batching.maxBatch };
  return { maxActive: batching.decodeConcurrency + 1, maxQueue: 1 };
}

