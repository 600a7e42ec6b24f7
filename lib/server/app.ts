/**
 * The HTTP server as a Fastify instance, built without listening so that tests and other programs can use it
 * in-process. Routes validate and translate; the classifier does the work (batching, limits, errors). More route
 * plugins can be registered on the returned instance before it starts: they find everything shared in `app.xclip`
 * and mark model routes with `config: { work: true }` (API key, admission, timeout, cancellation).
 * @module
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';

import { MediaSources, type MediaPolicy } from '../mediaSource';
import type { ZeroShotVideoClassifier } from '../pipelines';
import { VideoIndex } from '../search/videoIndex';
import { integerInRange, is, optionalObject, typeError } from '../validate';
import { Admission } from './admission';
import { apiKeyChecker } from './auth';
import type { ServerContext, ServerState } from './context';
import { HttpError, errorSchema, toHttpFailure } from './errors';
import { ServerMetrics } from './metrics';
import { classifyRoutes } from './routes/classify';
import { embeddingsRoutes } from './routes/embeddings';
import { healthRoutes } from './routes/health';
import { metricsRoutes } from './routes/metrics';
import { modelsRoutes } from './routes/models';
import { scoreRoutes } from './routes/score';
import { pageRoutes } from './routes/page';
import { searchRoutes } from './routes/search';
import { MAX_VIDEOS_PER_REQUEST, videoRefSchema } from './videoInputs';
import { SERVER_DEFAULTS, defaultAdmission } from './defaults';
import { RequestWork } from './work';

export { SERVER_DEFAULTS, defaultAdmission } from './defaults';

const MIB = 1024 * 1024;

/**
 * @example
 * const app = await buildServer({ classifier: ZeroShotVideoClassifier.fromPretrained(dir), modelId: 'my-model' });
 * await app.listen({ host: '127.0.0.1', port: 8080 });
 */
export interface ServerOptions {
  /** The classifier, or its loading: the server answers `/health` with 503 (and model routes with 503) until it resolves. */
  classifier: ZeroShotVideoClassifier | Promise<ZeroShotVideoClassifier>;
  /** The name the model is served under. */
  modelId: string;
  /** True for the generated demo model (said in /v1/models). */
  demo?: boolean;
  /**
   * A search index opened with the same classifier, or its opening: `POST /v1/index` and `POST /v1/search` exist only
   * with one, and the server is ready once both have loaded. The caller closes it after the server.
   */
  index?: VideoIndex | Promise<VideoIndex>;
  /** Required on model routes, /v1/models and /metrics when set. */
  apiKey?: string;
  /** Most bytes of the files of one multipart request, and of one fetched URL. Default 512 MiB. */
  maxUploadBytes?: number;
  /** Most bytes of one inline (base64) video once decoded; JSON bodies may be 4/3 of it plus 1 MiB. Default 64 MiB. */
  maxInlineBytes?: number;
  /** Requests worked on at once. Default {@link defaultAdmission}. */
  maxActive?: number;
  /** Requests waiting beyond those; more are refused with 503 + Retry-After. Default {@link defaultAdmission}. */
  maxQueue?: number;
  /** Time limit of a request from arrival to answer (504 after it); 0: none. Default 300000. */
  requestTimeoutMs?: number;
  /** Where videos named by path or URL may come from (see MediaPolicy); paths and URLs are refused by default. */
  media?: Pick<MediaPolicy, 'mediaRoot' | 'allowUrlHosts' | 'urlTimeoutMs' | 'maxRedirects'>;
  /** How long shutdown() lets requests in flight finish. Default 30000. */
  shutdownTimeoutMs?: number;
  /** Fastify's logger option (pino): `false` (default) or e.g. `{ level: 'info', stream: process.stderr }`. */
  logger?: FastifyServerOptions['logger'];
}

const OPTION_KEYS = [
  'classifier', 'modelId', 'demo', 'index', 'apiKey', 'maxUploadBytes', 'maxInlineBytes', 'maxActive', 'maxQueue', 'requestTimeoutMs', 'media', 'shutdownTimeoutMs', 'logger',
] as const;

/** Request ids: the client's `X-Request-Id` when it is short and plain, else a fresh UUID. */
function requestId(header: string | string[] | undefined): string {
  return typeof header === 'string' && /^[\w.:-]{1,128}$/.test(header) ? header : randomUUID();
}

/**
 * Builds the server (not listening yet). Close it with `app.close()`, or `app.xclip.shutdown()` for a graceful stop.
 * @example
 * const app = await buildServer({ classifier: clf, modelId: 'xclip-e2e-a' });
 * const res = await app.inject({ method: 'GET', url: '/health' });
 */
export async function buildServer(options: ServerOptions): Promise<FastifyInstance> {
  const o = optionalObject('options', options, OPTION_KEYS) as unknown as ServerOptions;
  if (!is.string(o.modelId) || o.modelId.length === 0) throw typeError('modelId', 'a non-empty string', o.modelId);
  if (o.apiKey !== undefined && (!is.string(o.apiKey) || o.apiKey.length === 0)) throw typeError('apiKey', 'a non-empty string', o.apiKey);
  const maxUploadBytes = integerInRange('maxUploadBytes', o.maxUploadBytes ?? SERVER_DEFAULTS.maxUploadMb * MIB, 1, Number.MAX_SAFE_INTEGER);
  const maxInlineBytes = integerInRange('maxInlineBytes', o.maxInlineBytes ?? SERVER_DEFAULTS.maxInlineMb * MIB, 1, 1024 * MIB);
  const requestTimeoutMs = integerInRange('requestTimeoutMs', o.requestTimeoutMs ?? SERVER_DEFAULTS.requestTimeoutMs, 0, 2 ** 31 - 1);
  const shutdownTimeoutMs = integerInRange('shutdownTimeoutMs', o.shutdownTimeoutMs ?? SERVER_DEFAULTS.shutdownTimeoutMs, 0, 2 ** 31 - 1);
  const fallback = defaultAdmission({ maxBatch: 8, decodeConcurrency: 2 }, 'cpu');
  const admission = new Admission({ maxActive: o.maxActive ?? fallback.maxActive, maxQueue: o.maxQueue ?? fallback.maxQueue });
  const checkKey = o.apiKey === undefined ? undefined : apiKeyChecker(o.apiKey);

  const tempDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'xclip-serve-'));
  const media = new MediaSources({
    ...o.media,
    urlTimeoutMs: o.media?.urlTimeoutMs ?? SERVER_DEFAULTS.urlTimeoutMs,
    maxUrlBytes: maxUploadBytes,
    maxInlineBytes,
    tempDir,
  });
  const metrics = new ServerMetrics(admission);
  const works = new Set<RequestWork>();
  let state: ServerState = 'loading';
  let classifier: ZeroShotVideoClassifier | undefined;
  let index: VideoIndex | undefined;
  let shuttingDown: Promise<void> | undefined;

  const app = Fastify({
    logger: o.logger ?? false,
    // Ids are made by requestId() from the header, so that a hostile one is not logged as is.
    requestIdHeader: false,
    genReqId: (req) => requestId(req.headers['x-request-id']),
    requestTimeout: requestTimeoutMs,
    ajv: {
      customOptions: {
        // A misspelt field or a number sent as a string is an error, not something to fix up silently.
        coerceTypes: false,
        removeAdditional: false,
        // Multipart schemas exist for the OpenAPI document only (the handler reads the parts).
        formats: { binary: true },
        // ...and so carry no "type": a multipart request has no parsed body to type-check.
        strictTypes: false,
      },
    },
  });
  // Only JSON and multipart carry requests; anything else (text/plain included) is 415.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('work', null);
  app.addSchema(errorSchema);
  app.addSchema(videoRefSchema);

  const unavailable = (): HttpError =>
    new HttpError('UNAVAILABLE', state === 'loading' ? 'the model is still loading' : state === 'failed' ? 'the model failed to load' : 'the server is shutting down', {
      'retry-after': '5',
    });

  const ctx: ServerContext = {
    modelId: o.modelId,
    demo: o.demo ?? false,
    get state() {
      return state;
    },
    classifier() {
      // Requests admitted before a shutdown finish their work while it drains.
      if ((state === 'ready' || state === 'draining') && classifier) return classifier;
      throw unavailable();
    },
    hasIndex: o.index !== undefined,
    index() {
      if (o.index === undefined) throw new HttpError('NOT_FOUND', 'this server has no search index: start it with --db DIR');
      if ((state === 'ready' || state === 'draining') && index) return index;
      throw unavailable();
    },
    media,
    admission,
    metrics,
    tempDir,
    multipartLimits: { maxUploadBytes, maxFiles: MAX_VIDEOS_PER_REQUEST, maxFields: 16 + 256, maxFieldBytes: 64 * 1024 },
    jsonBodyLimit: Math.ceil((maxInlineBytes * 4) / 3) + MIB,
    works,
    shutdown: (deadlineMs = shutdownTimeoutMs) => {
      shuttingDown ??= (async () => {
        state = 'draining';
        admission.close();
        app.log.info({ inFlight: works.size, deadlineMs }, 'draining: no new work, waiting for requests in flight');
        const t0 = Date.now();
        while (works.size > 0 && Date.now() - t0 < deadlineMs) await new Promise((r) => setTimeout(r, 20));
        if (works.size > 0) {
          app.log.warn({ aborted: works.size }, 'shutdown deadline passed: aborting requests still in flight');
          for (const w of works) w.abort(new HttpError('UNAVAILABLE', 'the server shut down before this request finished'));
        }
        await app.close();
      })();
      return shuttingDown;
    },
  };
  app.decorate('xclip', ctx);

  if (o.index !== undefined && !(o.index instanceof VideoIndex) && !(o.index instanceof Promise)) throw typeError('index', 'a VideoIndex or its opening', o.index);
  Promise.all([o.classifier, o.index]).then(
    ([c, i]) => {
      classifier = c;
      index = i;
      metrics.watch(c);
      if (state === 'loading') state = 'ready';
    },
    (err: unknown) => {
      if (state === 'loading') state = 'failed';
      app.log.error({ err }, 'loading the model failed');
    },
  );

  // An upload announced with "Expect: 100-continue" (curl sends it above 1 MB) is refused before its body is sent
  // when it would be refused anyway, so an overload does not cost the upload of every refused video. The
  // connection closes after the answer: the body the request announced will not come.
  app.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const refusal = req.method !== 'POST' ? undefined : state !== 'ready' ? unavailable() : admission.refusal();
    if (!refusal) {
      res.writeContinue();
      app.server.emit('request', req, res);
      return;
    }
    const body = JSON.stringify({ error: { code: refusal.code, message: refusal.message } });
    res.writeHead(refusal.statusCode, { ...refusal.headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
    res.end(body);
    const url = req.url?.split('?')[0] ?? '';
    countRequest('POST', app.hasRoute({ method: 'POST', url }) ? url : undefined, refusal.statusCode, 0);
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    const config = request.routeOptions.config;
    if (!config.work && !config.auth) return;
    checkKey?.(request.headers);
    if (!config.work) return;
    if (state !== 'ready') throw unavailable(); // while loading or draining, before anything is read
    const work = new RequestWork(requestTimeoutMs);
    request.work = work;
    works.add(work);
    // 'close' comes after the response ends or when the client goes away first; either way the request is over
    // for the client, and what it started is released once settled.
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) {
        work.abort(new HttpError('CANCELLED', 'the client closed the connection'));
        // No response, so no onResponse: counted here, as nginx's 499.
        countRequest(request.method, request.routeOptions.url, 499, reply.elapsedTime);
        request.log.info('the client closed the connection: its work is cancelled');
      }
      void work.finish().then(() => works.delete(work));
    });
    // An aborted request's body may never come (a stalled upload): once its answer is out, the connection is
    // dropped, so that the multipart parser stops waiting and the request's slot comes free.
    work.signal.addEventListener('abort', () => {
      const drop = (): void => {
        if (!request.raw.complete) request.raw.destroy();
      };
      if (reply.raw.writableFinished) drop();
      else reply.raw.once('finish', drop);
    });
    work.holdSlot(await admission.acquire(work.signal));
  });

  const countRequest = (method: string, route: string | undefined, status: number, elapsedMs: number): void => {
    const labels = { method, route: route ?? 'unmatched', status: String(status) };
    metrics.requests.inc(labels);
    metrics.latency.observe(labels, elapsedMs / 1000);
  };
  app.addHook('onResponse', async (request, reply) => countRequest(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime));

  app.setErrorHandler((err, request, reply) => {
    const failure = toHttpFailure(err);
    if (failure.body.error.code === 'INTERNAL') request.log.error({ err }, 'internal error');
    else request.log.info({ code: failure.body.error.code, status: failure.status }, failure.body.error.message);
    return reply.code(failure.status).headers(failure.headers).send(failure.body);
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` } }));

  app.addHook('onClose', async () => {
    state = 'draining';
    admission.close();
    metrics.close();
    await media.dispose();
    await fs.promises.rm(tempDir, { recursive: true, force: true });
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'xclip-node server',
        version: '1',
        description:
          'Zero-shot video classification, embeddings and X-CLIP scores over HTTP. Errors are `{"error": {"code", "message"}}`; ' +
          'when the server has an API key, send it as `Authorization: Bearer <key>` or `X-API-Key: <key>`.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' } },
      },
      ...(o.apiKey ? { security: [{ bearer: [] }, { apiKeyHeader: [] }] } : {}),
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  // The UI's assets come from the package itself (no CDN), so /docs works offline.
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(multipart);
  await app.register(healthRoutes);
  await app.register(modelsRoutes);
  await app.register(metricsRoutes);
  await app.register(classifyRoutes);
  await app.register(embeddingsRoutes);
  await app.register(scoreRoutes);
  await app.register(searchRoutes);
  await app.register(pageRoutes);
  return app;
}
