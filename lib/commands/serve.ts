/**
 * `xclip-node serve`: the HTTP server (lib/server) on one model. It listens at once (so `/health` answers 503 while
 * the model loads), loads the model, then prints exactly one line to stdout, `listening on http://HOST:PORT`; logs
 * are JSON lines on stderr. SIGTERM/SIGINT drain it: no new work, requests in flight finish (until
 * `--shutdown-timeout-ms`), native calls settle, exit 0. A second signal exits at once with 1.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import type { Device, ModelDtype } from '../models';
import { DEFAULT_MODEL_ID, DEMO_MODEL_ID, resolveModelSpec } from '../modelSpec';
import { ZeroShotVideoClassifier, checkBatchingOptions } from '../pipelines';
import { pendingNativeCalls, setNumThreads } from '../runtime';
import { SERVER_DEFAULTS, buildServer, defaultAdmission } from '../server/app';

export const SERVE_HELP = `Usage: xclip-node serve [options]

Serves POST /v1/classify, /v1/embeddings, /v1/score, GET /v1/models, /health, /metrics, /docs over HTTP.
Prints "listening on http://HOST:PORT" once the model is loaded; logs go to stderr as JSON lines.

Options:
  --model <dir|id|demo>      model directory, hub id, or "demo" (random weights) (default ${DEFAULT_MODEL_ID})
  --host <address>           address to listen on (default 127.0.0.1)
  --port <n>                 port, 0 for a free one (default 8080)
  --api-key <key>            key clients must send (Authorization: Bearer, or X-API-Key); env XCLIP_API_KEY
                             does the same without showing the key in the process list
  --max-upload-mb <n>        most MiB of files per multipart request, and per fetched URL (default ${SERVER_DEFAULTS.maxUploadMb})
  --max-inline-mb <n>        most MiB of one base64 video in a JSON body (default ${SERVER_DEFAULTS.maxInlineMb})
  --max-active <n>           requests worked on at once (default: decode concurrency + batch)
  --max-queue <n>            requests waiting beyond those; more get 503 + Retry-After (default: = max-active)
  --request-timeout-ms <n>   answer 504 after this long, 0 for no limit (default ${SERVER_DEFAULTS.requestTimeoutMs})
  --shutdown-timeout-ms <n>  how long requests in flight may finish after SIGTERM (default ${SERVER_DEFAULTS.shutdownTimeoutMs})
  --media-root <dir>         accept JSON {"path"} videos, only inside this directory (symlinks resolved)
  --allow-url-fetch <hosts>  accept JSON {"url"} videos from these comma-separated hosts (names, IPs, CIDRs, :port);
                             private/loopback addresses only if listed as addresses
  --url-timeout-ms <n>       time limit of one URL fetch (default ${SERVER_DEFAULTS.urlTimeoutMs})
  --batch <n>                most videos per model call, 1-64 (default 8)
  --max-wait-ms <n>          ms a video may wait for others to fill its batch, 0-1000 (default 5)
  --decode-concurrency <n>   videos decoded at once, 1-64 (default: half of UV_THREADPOOL_SIZE)
  --decode-threads <n>       decoder threads per video, 0-64 (default: model threads / decode concurrency)
  --threads <n>              inference threads (default: physical cores, or XCLIP_NUM_THREADS)
  --dtype <t>                float32 | bfloat16 | float16 (default float32)
  --device <d>               cpu | cuda | cuda:N | auto (default cpu)
  --log-level <level>        fatal | error | warn | info | debug | trace | silent (default info)`;

const OPTIONS = {
  model: { type: 'string' },
  host: { type: 'string', default: '127.0.0.1' },
  port: { type: 'string', default: '8080' },
  'api-key': { type: 'string' },
  'max-upload-mb': { type: 'string' },
  'max-inline-mb': { type: 'string' },
  'max-active': { type: 'string' },
  'max-queue': { type: 'string' },
  'request-timeout-ms': { type: 'string' },
  'shutdown-timeout-ms': { type: 'string' },
  'media-root': { type: 'string' },
  'allow-url-fetch': { type: 'string' },
  'url-timeout-ms': { type: 'string' },
  batch: { type: 'string' },
  'max-wait-ms': { type: 'string' },
  'decode-concurrency': { type: 'string' },
  'decode-threads': { type: 'string' },
  threads: { type: 'string' },
  dtype: { type: 'string' },
  device: { type: 'string' },
  'log-level': { type: 'string', default: 'info' },
  help: { type: 'boolean', short: 'h' },
} as const;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** A bad command line: printed with the help, exit code 2. */
export class ServeUsageError extends Error {}

function int(values: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new ServeUsageError(`--${name} expects an integer between ${min} and ${max} but received "${String(v)}"`);
  }
  return Number(v);
}

function oneOf<T extends string>(values: Record<string, unknown>, name: string, allowed: readonly T[], test: (v: string) => boolean = (v) => allowed.includes(v as T)): T | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !test(v)) throw new ServeUsageError(`--${name} expects ${allowed.join(' | ')} but received "${String(v)}"`);
  return v as T;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `http://HOST:PORT` of a listening address, brackets around IPv6. */
function urlOf(address: { address: string; port: number }): string {
  return `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
}

/**
 * Runs the server until a signal has drained it; resolves with the exit code (0 after a clean drain).
 * @example
 * process.exitCode = await serve(['--model', 'demo', '--port', '0']);
 */
export async function serve(argv: string[]): Promise<number> {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ServeUsageError((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${SERVE_HELP}\n`);
    return 0;
  }
  const port = int(values, 'port', 0, 65535)!;
  const host = values.host as string;
  const mib = (name: string): number | undefined => {
    const v = int(values, name, 1, 1 << 20);
    return v === undefined ? undefined : v * 1024 * 1024;
  };
  const logLevel = oneOf(values, 'log-level', LOG_LEVELS)!;
  const dtype = oneOf<ModelDtype>(values, 'dtype', ['float32', 'bfloat16', 'float16']);
  const device = oneOf<Device>(values, 'device', ['cpu', 'cuda', 'cuda:N' as Device, 'auto'], (v) => /^(cpu|cuda|cuda:\d+|auto)$/.test(v));
  const batching = {
    maxBatch: int(values, 'batch', 1, 64),
    maxWaitMs: int(values, 'max-wait-ms', 0, 1000),
    decodeConcurrency: int(values, 'decode-concurrency', 1, 64),
    decodeThreads: int(values, 'decode-threads', 0, 64),
  };
  const threads = int(values, 'threads', 1, 1024);
  const mediaRoot = values['media-root'] as string | undefined;
  if (mediaRoot !== undefined && !(fs.existsSync(mediaRoot) && fs.statSync(mediaRoot).isDirectory())) throw new ServeUsageError(`--media-root ${mediaRoot} is not a directory`);
  const hosts = (values['allow-url-fetch'] as string | undefined)?.split(',').map((h) => h.trim()).filter((h) => h.length > 0);
  const apiKey = (values['api-key'] as string | undefined) ?? (process.env.XCLIP_API_KEY || undefined);
  const spec = (values.model as string | undefined) ?? DEFAULT_MODEL_ID;
  // A directory is served under its folder name: responses should not reveal server paths.
  const isDir = spec !== DEMO_MODEL_ID && fs.existsSync(spec) && fs.statSync(spec).isDirectory();
  const modelId = isDir ? path.basename(path.resolve(spec)) : spec;

  if (threads !== undefined) setNumThreads(threads);
  // The classifier's own checks (ranges, combinations) run before anything is loaded or listened on.
  let admission: ReturnType<typeof defaultAdmission>;
  try {
    admission = defaultAdmission(checkBatchingOptions(batching));
  } catch (err) {
    throw new ServeUsageError((err as Error).message);
  }
  const loading = (async () => {
    const resolved = await resolveModelSpec(spec);
    return ZeroShotVideoClassifier.fromPretrained(resolved.dir, { device, dtype, ...batching });
  })();
  loading.catch(() => undefined); // reported below, once the server can log it

  const app = await buildServer({
    classifier: loading,
    modelId,
    demo: spec === DEMO_MODEL_ID,
    apiKey,
    maxUploadBytes: mib('max-upload-mb'),
    maxInlineBytes: mib('max-inline-mb'),
    maxActive: int(values, 'max-active', 1, 4096) ?? admission.maxActive,
    maxQueue: int(values, 'max-queue', 0, 65536) ?? admission.maxQueue,
    requestTimeoutMs: int(values, 'request-timeout-ms', 0, 2 ** 31 - 1),
    shutdownTimeoutMs: int(values, 'shutdown-timeout-ms', 0, 2 ** 31 - 1),
    media: { mediaRoot, allowUrlHosts: hosts, urlTimeoutMs: int(values, 'url-timeout-ms', 1, 2 ** 31 - 1) },
    logger: { level: logLevel, stream: process.stderr },
  });
  const log = app.log;
  if (spec === DEMO_MODEL_ID) log.warn('serving the generated demo model: its weights are RANDOM and its scores are NOT meaningful');
  if (!apiKey && !['127.0.0.1', '::1', 'localhost'].includes(host)) log.warn({ host }, 'listening beyond loopback without --api-key: anyone who can reach this port can use it');

  let finished: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (finished = resolve));
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      log.warn({ signal }, 'second signal: exiting without draining');
      process.exit(1);
    }
    signalled = true;
    log.info({ signal }, 'shutting down');
    void (async () => {
      const deadline = app.xclip.shutdown();
      await deadline;
      const clf = await loading.catch(() => undefined);
      await clf?.dispose();
      const t0 = Date.now();
      const limit = int(values, 'shutdown-timeout-ms', 0, 2 ** 31 - 1) ?? SERVER_DEFAULTS.shutdownTimeoutMs;
      while (pendingNativeCalls() > 0 && Date.now() - t0 < limit) await sleep(10);
      const pending = pendingNativeCalls();
      if (pending > 0) log.error({ pending }, 'native calls still running after the shutdown deadline');
      else log.info('drained: all requests answered, no native call running');
      finished(pending > 0 ? 1 : 0);
    })();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    await app.listen({ host, port });
  } catch (err) {
    log.error({ err }, `cannot listen on ${host}:${port}`);
    await app.close();
    return 1;
  }
  try {
    await loading;
  } catch (err) {
    log.error({ err }, 'loading the model failed');
    await app.close();
    return 1;
  }
  if (!signalled) process.stdout.write(`listening on ${urlOf(app.server.address() as { address: string; port: number })}\n`);
  const code = await done;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  return code;
}

/**
 * The CLI entry of `serve`: usage errors print the help and give exit code 2, other failures 1.
 * @example
 * process.exitCode = await serveCommand(process.argv.slice(3));
 */
export async function serveCommand(argv: string[]): Promise<number> {
  try {
    return await serve(argv);
  } catch (err) {
    if (err instanceof ServeUsageError) {
      process.stderr.write(`xclip-node: ${err.message}\n${SERVE_HELP}\n`);
      return 2;
    }
    const e = err as Error & { code?: string };
    process.stderr.write(`xclip-node: error${e.code ? ` [${e.code}]` : ''}: ${e.message}\n`);
    return 1;
  }
}
