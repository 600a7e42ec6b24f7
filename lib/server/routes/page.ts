/**
 * The search page (`/`, served only with an index) and what it needs beside the public API: a view of search and
 * similar that names each hit by its file name and an opaque token instead of the server path (the page never
 * learns paths), the thumbnails of those hits, and their video files with HTTP range requests (only under the media
 * root). `GET /v1/thumbnail?id=` gives API clients the same thumbnails by entry id.
 * @module
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { FastifyInstance, FastifyReply } from 'fastify';

import { HttpError } from '../errors';
import { parseRange } from '../httpRange';
import { PageTokens } from '../pageTokens';
import { ThumbnailCache } from '../thumbnails';
import { packageRoot } from '../../native';
import { workHandler } from '../work';
import { searchBody, searchIndex, similarEntries, type SearchBody } from './search';

/** The page's files: lib/page compiled and copied to dist/page by the build (also when the routes run from lib/ under jest). */
export const PAGE_DIR = path.join(packageRoot(__dirname), 'dist', 'page');
const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};
// Only our own files: no inline script, no third-party origin; blob: for the preview of a clip picked for classify.
const CSP = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const pageHit = {
  type: 'object',
  properties: {
    token: { type: 'string', description: 'Opaque reference to the entry: /page/thumb?t={token}, /media?t={token}, /page/api/similar.' },
    name: { type: 'string', description: 'The file name of the source, without its directory.' },
    start: { type: 'number' },
    end: { type: 'number' },
    logit: { type: 'number' },
    score: { type: 'number' },
  },
  required: ['token', 'name', 'start', 'end', 'score'],
} as const;
const pageAnswer = {
  type: 'object',
  properties: { model: { type: 'string' }, results: { type: 'array', items: pageHit } },
  required: ['model', 'results'],
} as const;
// The page asks for more as the user scrolls, up to 1000.
const kSchema = { type: 'integer', minimum: 1, maximum: 1000, default: 24 } as const;

function nameOf(source: string): string {
  return path.basename(source);
}

/**
 * @example
 * await app.register(pageRoutes);
 */
export async function pageRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.xclip;
  if (!ctx.hasIndex) return; // the page searches an index: without --db there is nothing at /
  const tokens = new PageTokens();
  const thumbs = new ThumbnailCache(() => path.join(ctx.index().dir, 'thumbs'), ctx.media);
  const assets = new Map<string, Buffer>();
  const sendAsset = async (reply: FastifyReply, name: string): Promise<FastifyReply> => {
    let body = assets.get(name);
    if (!body) {
      try {
        body = await fs.promises.readFile(path.join(PAGE_DIR, name));
      } catch {
        throw new HttpError('UNAVAILABLE', `the search page is not built (${name} missing in dist/page): run npm run build:ts`);
      }
      assets.set(name, body);
    }
    return reply.type(ASSETS[name]).header('cache-control', 'no-cache').header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').send(body);
  };
  app.get('/', { schema: { hide: true } }, async (_request, reply) => sendAsset(reply, 'index.html'));
  for (const name of ['app.js', 'style.css']) app.get(`/page/${name}`, { schema: { hide: true } }, async (_request, reply) => sendAsset(reply, name));

  const entryOf = async (token: string) => {
    const id = tokens.open(token);
    const [entry] = id === undefined ? [] : await ctx.index().get([id]);
    if (!entry) throw new HttpError('NOT_FOUND', 'no such entry (the index changed, or the server restarted: search again)');
    return entry;
  };
  const hit = (r: { id: string; source: string; start: number; end: number; logit?: number; score: number }) => ({
    token: tokens.seal(r.id),
    name: nameOf(r.source),
    start: r.start,
    end: r.end,
    ...(r.logit === undefined ? {} : { logit: r.logit }),
    score: r.score,
  });

  app.post(
    '/page/api/search',
    {
      config: { work: true },
      schema: {
        summary: "The search page's view of /v1/search: the same hits in the same order, named by file name and token",
        tags: ['page'],
        body: { ...searchBody, properties: { ...searchBody.properties, k: kSchema } },
        response: { 200: pageAnswer, '4xx': { $ref: 'Error#' }, '5xx': { $ref: 'Error#' } },
      },
    },
    workHandler(async (request, _reply, work) => ({ model: ctx.modelId, results: (await searchIndex(ctx, request.body as SearchBody, work)).map(hit) })),
  );

  app.post(
    '/page/api/similar',
    {
      config: { work: true },
      schema: {
        summary: "The search page's view of /v1/similar: entries whose video embedding is closest to the entry of `token`",
        tags: ['page'],
        body: { type: 'object', properties: { token: { type: 'string', minLength: 1, maxLength: 8192 }, k: kSchema }, required: ['token'], additionalProperties: false },
        response: { 200: pageAnswer, '4xx': { $ref: 'Error#' }, '5xx': { $ref: 'Error#' } },
      },
    },
    workHandler(async (request, _reply, work) => {
      const { token, k } = request.body as { token: string; k: number };
      const entry = await entryOf(token);
      return { model: ctx.modelId, results: (await similarEntries(ctx, entry.id, k, work)).map(hit) };
    }),
  );

  const sendThumbnail = async (reply: FastifyReply, entry: { id: string; source: string; start: number; end: number }, ifNoneMatch: string | undefined) => {
    const { etag, jpeg } = await thumbs.get(entry, { ifNoneMatch });
    reply.header('etag', etag).header('cache-control', 'private, max-age=3600');
    if (!jpeg) return reply.code(304).send();
    return reply.type('image/jpeg').send(jpeg);
  };
  // In the query string: tokens of long paths outgrow the router's 100-character limit on path parameters.
  const tokenQuery = { type: 'object', properties: { t: { type: 'string', minLength: 1, maxLength: 8192 } }, required: ['t'], additionalProperties: false } as const;
  const imageAnswer = { 200: { description: 'A JPEG image (the frame in the middle of the segment).', type: 'string', format: 'binary' }, '4xx': { $ref: 'Error#' }, '5xx': { $ref: 'Error#' } };

  // No API key on the token routes: <img> and <video> cannot send one, and a token is itself the permission, made
  // by this server for a caller that passed the key.
  app.get(
    '/page/thumb',
    { schema: { summary: 'Thumbnail of a page hit', tags: ['page'], querystring: tokenQuery, response: imageAnswer } },
    async (request, reply) => sendThumbnail(reply, await entryOf((request.query as { t: string }).t), request.headers['if-none-match']),
  );

  app.get(
    '/v1/thumbnail',
    {
      config: { auth: true },
      schema: {
        summary: 'Thumbnail of an index entry (JPEG, the frame in the middle of its segment)',
        description: 'Made by our own decoder, cached beside the index, with a strong ETag (304 on If-None-Match). Only for files under the media root.',
        tags: ['search'],
        querystring: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 8192 } }, required: ['id'], additionalProperties: false },
        response: imageAnswer,
      },
    },
    async (request, reply) => {
      const { id } = request.query as { id: string };
      const [entry] = await ctx.index().get([id]);
      if (!entry) throw new HttpError('NOT_FOUND', `no entry ${JSON.stringify(id)} in the index`);
      return sendThumbnail(reply, entry, request.headers['if-none-match']);
    },
  );

  app.get(
    '/media',
    { schema: { summary: 'The video file of a page hit, with HTTP range requests (only under the media root)', tags: ['page'], querystring: tokenQuery } },
    async (request, reply) => {
      const entry = await entryOf((request.query as { t: string }).t);
      const opened = await ctx.media.openPath(entry.source);
      let handedOver = false;
      try {
        const size = opened.bytes;
        const st = await fs.promises.stat(opened.source as string);
        const etag = `"${st.size.toString(36)}-${Math.floor(st.mtimeMs).toString(36)}"`;
        reply.header('accept-ranges', 'bytes').header('etag', etag).header('cache-control', 'private, max-age=3600').type(mediaType(entry.source));
        reply.header('content-disposition', `inline; filename*=UTF-8''${encodeURIComponent(nameOf(entry.source))}`);
        const ifRange = request.headers['if-range'];
        const range = ifRange !== undefined && ifRange !== etag ? { kind: 'whole' as const } : parseRange(request.headers.range, size);
        if (range.kind === 'unsatisfiable') {
          return reply.code(416).type('application/json; charset=utf-8').header('content-range', `bytes */${size}`).send({ error: { code: 'INVALID_INPUT', message: `range not satisfiable for ${size} bytes` } });
        }
        const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, Math.max(0, size - 1)];
        if (range.kind === 'partial') reply.code(206).header('content-range', `bytes ${start}-${end}/${size}`);
        reply.header('content-length', size === 0 ? 0 : end - start + 1);
        if (request.method === 'HEAD' || size === 0) return reply.send();
        // The descriptor the policy checked (/proc/self/fd/N) is read, then closed once the stream is done.
        const stream = fs.createReadStream(opened.source as string, { start, end });
        const close = (): void => void opened.close();
        stream.once('close', close);
        handedOver = true;
        return reply.send(stream);
      } finally {
        if (!handedOver) await opened.close();
      }
    },
  );
}

const MEDIA_TYPES: Record<string, string> = {
  '.mp4': 'video/mp4',
  '.m4v': 'video/mp4',
  '.mov': 'video/quicktime',
  '.webm': 'video/webm',
  '.mkv': 'video/x-matroska',
  '.ogv': 'video/ogg',
  '.avi': 'video/x-msvideo',
};

function mediaType(source: string): string {
  return MEDIA_TYPES[path.extname(source).toLowerCase()] ?? 'application/octet-stream';
}
