/**
 * How a classifier groups videos into model calls and decodes them: the options, their defaults (which depend on
 * where the model runs) and their checks. Apart from the classifier so that a server can size its admission from
 * them without loading a model.
 * @module
 */
import * as os from 'node:os';

import type { Device } from './models';
import { getNumThreads } from './runtime';
import { integerInRange } from './validate';

/**
 * How a classifier groups videos into model calls: videos of concurrent calls (and of one multi-video call) that
 * share a label set are run together, up to `maxBatch` at a time.
 * @example
 * const clf = await ZeroShotVideoClassifier.fromPretrained(dir, { maxBatch: 16, maxWaitMs: 2 });
 */
export interface BatchingOptions {
  /** Most videos in one model call, 1 to 256 (large batches are for GPUs). Default 8. */
  maxBatch?: number;
  /**
   * Milliseconds, 0 to 60000, that a decoded video may wait for others to join its batch while the model is idle
   * and more videos are being decoded. Default 5, or `maxLatencyMs` when that is given. It never delays a lone
   * call: with nothing else on the way, its batch starts at once.
   */
  maxWaitMs?: number;
  /**
   * Latency budget in milliseconds, 1 to 600000, from a video joining the queue (decoded) to its model call's end.
   * With it, the batch size follows the load: while more videos are being decoded, a batch waits for them only as
   * long as its oldest video would still finish within the budget given the measured run time of a batch that
   * size, and it is cut to the largest size that meets the budget. (When even one video would miss it, the queue is
   * behind and a full batch runs.) Default: none (batches wait at most `maxWaitMs`).
   */
  maxLatencyMs?: number;
  /**
   * Videos decoded and preprocessed at the same time, 1 to 64. Default on a CPU model: half of libuv's thread pool
   * (`UV_THREADPOOL_SIZE`, 4 unless set, so 2), since the model call needs a pool thread too. On a CUDA model: the
   * pool less the one thread the model call needs, at most one per CPU (`os.availableParallelism()`), so raise
   * `UV_THREADPOOL_SIZE` to the number of CPUs + 1 (before the process starts) to decode on every core.
   */
  decodeConcurrency?: number;
  /**
   * Decoder threads per video, 0 to 64 (0: FFmpeg's choice). Default: the model's threads ({@link getNumThreads})
   * shared among the `decodeConcurrency` decoders, at least 1; on a CUDA model all CPUs
   * (`os.availableParallelism()`) shared among them. Several single-threaded decoders give more throughput than
   * one multi-threaded decoder: frame threads cost about a quarter more CPU per frame.
   */
  decodeThreads?: number;
}

const DEFAULT_MAX_BATCH = 8;
const DEFAULT_MAX_WAIT_MS = 5;
const MAX_BATCH = 256;
/** The option names {@link checkBatchingOptions} reads. */
export const BATCHING_KEYS = ['maxBatch', 'maxWaitMs', 'maxLatencyMs', 'decodeConcurrency', 'decodeThreads'] as const;

/** The batching settings in effect: `maxLatencyMs` stays undefined when no budget was asked for. */
export type BatchingSettings = Required<Omit<BatchingOptions, 'maxLatencyMs'>> & Pick<BatchingOptions, 'maxLatencyMs'>;

/** Where the model runs, for the decoding defaults: on a GPU, decoding on the CPUs is what limits throughput. */
function defaultDecoding(device: string): { concurrency: number; cpus: number } {
  const parsed = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10);
  const pool = parsed > 0 ? parsed : 4;
  if (!device.startsWith('cuda')) return { concurrency: Math.max(1, Math.floor(pool / 2)), cpus: getNumThreads() };
  const cpus = os.availableParallelism();
  return { concurrency: Math.max(1, Math.min(64, cpus, pool - 1)), cpus };
}

/**
 * Where a classifier on `modelDevice` preprocesses its videos: on that device when it is a GPU (the frames cross as
 * uint8 and the resize runs there, bit-identical to the CPU loops, which leaves the CPUs to decoding), unless
 * `XCLIP_PREPROCESS=cpu`; on a CPU model, the CPU loops (`undefined`).
 * @example
 * preprocessDeviceFor('cuda:0'); // 'cuda:0'
 * preprocessDeviceFor('cuda:0', { XCLIP_PREPROCESS: 'cpu' }); // undefined
 */
export function preprocessDeviceFor(modelDevice: string, env: NodeJS.ProcessEnv = process.env): Device | undefined {
  return modelDevice.startsWith('cuda') && env.XCLIP_PREPROCESS !== 'cpu' ? (modelDevice as Device) : undefined;
}

/**
 * The batching settings a classifier would use for `options` (defaults filled in, ranges checked), without loading
 * anything: for servers that size their admission from them. `device` is where the model runs (`'cpu'`, `'cuda'`,
 * `'cuda:N'`): the decoding defaults differ on a GPU.
 * @example
 * const { maxBatch, decodeConcurrency } = checkBatchingOptions({ maxBatch: 16 });
 */
export function checkBatchingOptions(options: BatchingOptions, device = 'cpu'): BatchingSettings {
  const { maxBatch = DEFAULT_MAX_BATCH, maxLatencyMs, decodeConcurrency, decodeThreads } = options;
  const latency = maxLatencyMs === undefined ? undefined : integerInRange('maxLatencyMs', maxLatencyMs, 1, 600_000);
  const defaults = defaultDecoding(device);
  const concurrency = decodeConcurrency === undefined ? defaults.concurrency : integerInRange('decodeConcurrency', decodeConcurrency, 1, 64);
  return {
    maxBatch: integerInRange('maxBatch', maxBatch, 1, MAX_BATCH),
    maxWaitMs: integerInRange('maxWaitMs', options.maxWaitMs ?? Math.min(latency ?? DEFAULT_MAX_WAIT_MS, 60_000), 0, 60_000),
    maxLatencyMs: latency,
    decodeConcurrency: concurrency,
    decodeThreads:
      decodeThreads === undefined ? Math.min(64, Math.max(1, Math.floor(defaults.cpus / concurrency))) : integerInRange('decodeThreads', decodeThreads, 0, 64),
  };
}
