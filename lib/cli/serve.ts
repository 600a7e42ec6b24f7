/**
 * `xclip-node serve`: the HTTP server (lib/server) on one model. It listens at once (so `/health` answers 503 while
 * the model loads), loads the model, then prints exactly one line to stdout, `listening on http://HOST:PORT`; logs
 * are JSON lines on stderr. SIGTERM/SIGINT drain it: no new work, requests in flight finish (until
 * `--shutdown-timeout-ms`), native calls settle, exit 0. A second signal exits at once with 1. Needs Node.js 20.
 * @module
 * @internal
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { checkBatchingOptions } from '../batchingOptions';
import type { ModelDtype } from '../models';
import { DEFAULT_MODEL_ID, DEMO_MODEL_ID, resolveModelSpec } from '../modelSpec';
import { ZeroShotVideoClassifier } from '../pipelines';
import { cudaAvailable, pendingNativeCalls, setNumThreads } from '../runtime';
import { VideoIndex } from '../search/videoIndex';
import { SERVER_DEFAULTS, defaultAdmission } from '../server/defaults';
import { type ParsedArgs, UsageError, intOption, mibOption, stringOption } from './args';
import type { Command } from './command';
import { CliError, EXIT_FAILED, EXIT_OK } from './io';
import { mediaPolicyOptions } from './media';
import { MODEL_OPTIONS, modelSettings } from './model';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const DTYPES: readonly ModelDtype[] = ['float32', 'bfloat16', 'float16'];
const MAX_MS = 2 ** 31 - 1;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `http://HOST:PORT` of a listening address, brackets around IPv6. */
function urlOf(address: { address: string; port: number }): string {
  return `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
}

function oneOf<T extends string>(args: ParsedArgs, name: string, allowed: readonly T[]): T | undefined {
  const v = stringOption(args, name);
  if (v !== undefined && !allowed.includes(v as T)) throw new UsageError(`--${name} expects ${allowed.join(' | ')} but received "${v}"`);
  return v as T | undefined;
}

/** Everything the command line asks for, checked before anything is loaded or listened on. */
function settings(args: ParsedArgs) {
  const { device, maxBatch } = modelSettings(args);
  const batching = {
    maxBatch,
    maxWaitMs: intOption(args, 'max-wait-ms', 0, 60000),
    maxLatencyMs: intOption(args, 'max-latency-ms', 1, 600000),
    decodeConcurrency: intOption(args, 'decode-concurrency', 1, 64),
    decodeThreads: intOption(args, 'decode-threads', 0, 64),
  };
  const media = mediaPolicyOptions(args);
  const spec = stringOption(args, 'model') ?? DEFAULT_MODEL_ID;
  // A directory is served under its folder name: answers should not reveal the server's paths.
  const isDir = spec !== DEMO_MODEL_ID && fs.existsSync(spec) && fs.statSync(spec).isDirectory();
  let admission: ReturnType<typeof defaultAdmission>;
  try {
    const effective = device?.startsWith('cuda') || (device === 'auto' && cudaAvailable()) ? 'cuda' : 'cpu';
    admission = defaultAdmission(checkBatchingOptions(batching, effective), effective);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const db = stringOption(args, 'db');
  if (db === '') throw new UsageError('--db expects a directory');
  return {
    spec,
    modelId: isDir ? path.basename(path.resolve(spec)) : spec,
    // What the index records (as `index add` does): a directory by its absolute path, so any process can reopen it.
    indexModelId: isDir ? path.resolve(spec) : spec,
    db,
    host: stringOption(args, 'host') ?? '127.0.0.1',
    port: intOption(args, 'port', 0, 65535) ?? 8080,
    threads: intOption(args, 'threads', 1, 1024),
    device,
    dtype: oneOf(args, 'dtype', DTYPES),
    batching,
    logLevel: oneOf(args, 'log-level', LOG_LEVELS) ?? 'info',
    apiKey: stringOption(args, 'api-key') ?? (process.env.XCLIP_API_KEY || undefined),
    shutdownTimeoutMs: intOption(args, 'shutdown-timeout-ms', 0, MAX_MS) ?? SERVER_DEFAULTS.shutdownTimeoutMs,
    server: {
      maxUploadBytes: mibOption(args, 'max-upload-mb'),
      maxInlineBytes: mibOption(args, 'max-inline-mb'),
      maxActive: intOption(args, 'max-active', 1, 4096) ?? admission.maxActive,
      maxQueue: intOption(args, 'max-queue', 0, 65536) ?? admission.maxQueue,
      requestTimeoutMs: intOption(args, 'request-timeout-ms', 0, MAX_MS),
      media: {
        ...media,
        urlTimeoutMs: intOption(args, 'url-timeout-ms', 1, MAX_MS),
      },
    },
  };
}

export const serve: Command = {
  name: 'serve',
  summary: 'HTTP server: classify, score, embeddings, models, health, metrics, docs; index, search and the search page with --db',
  usage: 'serve [--model <id|dir|demo>] [--host 127.0.0.1] [--port 8080] [--db DIR] [options]',
  options: [
    ...MODEL_OPTIONS,
    { name: 'db', value: 'dir', help: 'a search index to serve: POST /v1/index, /v1/search, /v1/similar and the search\npage at / (created with the served model when absent; one built with another model\nis refused; the page shows thumbnails and plays videos only under --media-root)' },
    { name: 'host', value: 'address', help: 'address to listen on (default 127.0.0.1)' },
    { name: 'port', value: 'n', help: 'port, 0 for a free one (default 8080)' },
    { name: 'api-key', value: 'key', help: 'key clients must send (Authorization: Bearer, or X-API-Key);\nenv XCLIP_API_KEY does the same without showing it in the process list' },
    { name: 'max-upload-mb', value: 'n', help: `MiB of files per multipart request, and per fetched URL (default ${SERVER_DEFAULTS.maxUploadMb})` },
    { name: 'max-inline-mb', value: 'n', help: `MiB of one base64 video in a JSON body (default ${SERVER_DEFAULTS.maxInlineMb})` },
    { name: 'max-active', value: 'n', help: 'requests worked on at once (default: see README "Server")' },
    { name: 'max-queue', value: 'n', help: 'requests waiting beyond those; more get 503 + Retry-After (default: see README)' },
    { name: 'request-timeout-ms', value: 'n', help: `answer 504 after this long, 0 for no limit (default ${SERVER_DEFAULTS.requestTimeoutMs})` },
    { name: 'shutdown-timeout-ms', value: 'n', help: `how long requests in flight may finish after SIGTERM (default ${SERVER_DEFAULTS.shutdownTimeoutMs})` },
    { name: 'media-root', value: 'dir', help: 'accept JSON {"path"} videos, only inside this directory (symlinks resolved)' },
    { name: 'allow-url-fetch', value: 'hosts', help: 'accept JSON {"url"} videos from these comma-separated hosts (names, IPs,\nCIDRs, optionally :port); non-public addresses only if listed as addresses' },
    { name: 'url-timeout-ms', value: 'n', help: `time limit of one URL fetch (default ${SERVER_DEFAULTS.urlTimeoutMs})` },
    { name: 'max-wait-ms', value: 'n', help: 'ms a video may wait for others to fill its batch, 0-60000 (default 5)' },
    { name: 'max-latency-ms', value: 'n', help: 'latency budget per video: batch size follows the load, 1-600000 (default none)' },
    { name: 'decode-concurrency', value: 'n', help: 'videos decoded at once, 1-64 (default: half of UV_THREADPOOL_SIZE)' },
    { name: 'decode-threads', value: 'n', help: 'decoder threads per video, 0-64 (default: model threads / decode concurrency)' },
    { name: 'threads', value: 'n', help: 'inference threads (default: physical cores, or XCLIP_NUM_THREADS)' },
    { name: 'dtype', value: 't', help: 'float32 | bfloat16 | float16 (default float32)' },
    { name: 'log-level', value: 'level', help: 'fatal | error | warn | info | debug | trace | silent (default info)' },
  ],
  async run({ args, io }) {
    const s = settings(args);
    // Fastify 5 runs on Node.js 20 or later; the rest of the package on 18. Loaded here, so other commands never load it.
    const major = Number(process.versions.node.split('.')[0]);
    if (major < 20) throw new CliError(`serve needs Node.js 20 or later (Fastify 5); this is Node.js ${process.versions.node}`, EXIT_FAILED);
    const { buildServer } = await import('../server/app.js');
    if (s.threads !== undefined) setNumThreads(s.threads);
    const loading = (async () => {
      const resolved = await resolveModelSpec(s.spec);
      return ZeroShotVideoClassifier.fromPretrained(resolved.dir, { device: s.device, dtype: s.dtype, ...s.batching });
    })();
    loading.catch(() => undefined); // reported below, once the server can log it
    // Opened with the served classifier once it has loaded; the server is ready when both are.
    const opening =
      s.db === undefined
        ? undefined
        : loading.then(async (clf) => {
            const index = await VideoIndex.open(s.db!, { model: clf, modelId: s.indexModelId });
            // Ready with the rows searches read held in memory; should that load fail, searches read them from disk.
            await index.warmUp().catch(() => undefined);
            return index;
          });
    opening?.catch(() => undefined);
    const app = await buildServer({
      classifier: loading,
      index: opening,
      modelId: s.modelId,
      demo: s.spec === DEMO_MODEL_ID,
      apiKey: s.apiKey,
      shutdownTimeoutMs: s.shutdownTimeoutMs,
      ...s.server,
      logger: { level: s.logLevel, stream: process.stderr },
    });
    const log = app.log;
    if (s.spec === DEMO_MODEL_ID) log.warn('serving the generated demo model: its weights are RANDOM and its scores are NOT meaningful');
    if (!s.apiKey && !['127.0.0.1', '::1', 'localhost'].includes(s.host)) log.warn({ host: s.host }, 'listening beyond loopback without --api-key: anyone who can reach this port can use it');

    let finished: (code: number) => void = () => undefined;
    const done = new Promise<number>((resolve) => (finished = resolve));
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signalled) {
        log.warn({ signal }, 'second signal: exiting without draining');
        process.exit(EXIT_FAILED);
      }
      signalled = true;
      log.info({ signal }, 'shutting down');
      void (async () => {
        await app.xclip.shutdown();
        await (await opening?.catch(() => undefined))?.close();
        // Rejects what is still queued in the classifier (requests aborted at the deadline); the batch running ends.
        await (await loading.catch(() => undefined))?.dispose();
        const t0 = Date.now();
        while (pendingNativeCalls() > 0 && Date.now() - t0 < s.shutdownTimeoutMs) await sleep(10);
        const pending = pendingNativeCalls();
        if (pending > 0) log.error({ pending }, 'native calls still running after the shutdown deadline');
        else log.info('drained: all requests answered, no native call running');
        finished(pending > 0 ? EXIT_FAILED : EXIT_OK);
      })();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
      try {
        await app.listen({ host: s.host, port: s.port });
      } catch (err) {
        log.error({ err }, `cannot listen on ${s.host}:${s.port}`);
        await app.close();
        return EXIT_FAILED;
      }
      try {
        await loading;
      } catch (err) {
        log.error({ err }, 'loading the model failed');
        await app.close();
        return EXIT_FAILED;
      }
      try {
        await opening;
      } catch (err) {
        log.error({ err }, `opening the search index ${s.db} failed`);
        await app.close();
        await (await loading).dispose();
        return EXIT_FAILED;
      }
      if (!signalled) io.out(`listening on ${urlOf(app.server.address() as { address: string; port: number })}\n`);
      return await done;
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
  },
};
