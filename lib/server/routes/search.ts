/**
 * `POST /v1/index` and `POST /v1/search`: the server's search index (`serve --db DIR`, a VideoIndex opened with the
 * served classifier). Index adds uploaded videos or files under the media root, one entry per video or per segment;
 * search returns the best entries for a text by X-CLIP's own logits (VideoIndex.search: candidates by embedding
 * cosine, each scored exactly as `XCLIPModel.forward` would). Without an index both routes answer 404, saying why.
 * @module
 */
import * as path from 'node:path';

import type { FastifyInstance, FastifyRequest } from 'fastify';

import type { AddedEntry, SearchResult, SimilarResult } from '../../search/videoIndex';
import type { FileRecord } from '../../records';
import type { ServerContext } from '../context';
import { HttpError } from '../errors';
import { oneField, receiveMultipart } from '../uploads';
import { MAX_VIDEOS_PER_REQUEST, answerPerVideo, perVideo, referencedItems, uploadedItems, withVideo, type PerVideo, type VideoItem } from '../videoInputs';
import { workHandler, type RequestWork } from '../work';

const MAX_QUERY_CHARS = 1000;
const MAX_SECONDS = 86400;

/** One video's answer: what it is stored under and the entries added, or why it failed. */
export type IndexRecord = FileRecord<{ source: string; entries: AddedEntry[] }>;

interface IndexInput {
  /** Each video with the source name its entries are stored under. */
  items: { item: VideoItem; source: string }[];
  clipSeconds?: number;
  strideSeconds?: number;
}

const secondsSchema = (description: string) => ({ type: 'number', exclusiveMinimum: 0, maximum: MAX_SECONDS, description }) as const;
const clipSchema = secondsSchema('Cut the video into segments of this many seconds, one entry each (default: one entry for the whole video).');
const strideSchema = secondsSchema('Seconds between segment starts, with `clipSeconds` (default `clipSeconds`; shorter: overlapping segments).');

const indexJsonBody = {
  type: 'object',
  properties: {
    path: { type: 'string', minLength: 1, maxLength: 4096, description: "A file under the server's --media-root; its entries are stored under this path." },
    clipSeconds: clipSchema,
    strideSeconds: strideSchema,
  },
  required: ['path'],
  additionalProperties: false,
} as const;

const indexMultipartBody = {
  properties: {
    file: { type: 'array', items: { type: 'string', format: 'binary' }, description: `One part per video (at most ${MAX_VIDEOS_PER_REQUEST}), stored under its filename.` },
    clipSeconds: { type: 'string', description: 'Number: segments of this many seconds.' },
    strideSeconds: { type: 'string', description: 'Number: seconds between segment starts.' },
  },
  required: ['file'],
} as const;

const entrySchema = {
  type: 'object',
  properties: { id: { type: 'string', description: '`<source>#<segment>`' }, start: { type: 'number' }, end: { type: 'number' } },
  required: ['id', 'start', 'end'],
} as const;
const errorObject = { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } }, required: ['code', 'message'] } as const;
const indexRecordSchema = {
  type: 'object',
  description: 'One per video, in input order: the entries added (replacing those of the same source), or `error`.',
  properties: { file: { type: 'string' }, source: { type: 'string' }, entries: { type: 'array', items: entrySchema }, error: errorObject },
  required: ['file'],
} as const;
const indexResponse = {
  type: 'object',
  properties: { model: { type: 'string' }, results: { type: 'array', items: indexRecordSchema } },
  required: ['model', 'results'],
} as const;
const indexFailed = {
  type: 'object',
  description: 'Every error; when every video failed, the first failure as `error` and each one in `results`.',
  properties: { error: errorObject, results: { type: 'array', items: indexRecordSchema } },
  required: ['error'],
} as const;

/** The search request's body; the search page's view of search takes the same. */
export const searchBody = {
  type: 'object',
  properties: {
    query: { type: 'string', minLength: 1, maxLength: MAX_QUERY_CHARS, description: 'The text to match.' },
    k: { type: 'integer', minimum: 1, maximum: 10000, default: 10, description: 'Results wanted.' },
    candidates: {
      type: 'integer',
      minimum: 1,
      maximum: 100000,
      description: 'Entries nearest by embedding cosine that are scored exactly by X-CLIP (K′), at least `k`; default max(k, 200). At least the index size: exhaustive.',
    },
  },
  required: ['query'],
  additionalProperties: false,
} as const;

const searchResponse = {
  type: 'object',
  properties: {
    model: { type: 'string' },
    query: { type: 'string' },
    results: {
      type: 'array',
      description: 'Best first.',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          source: { type: 'string' },
          start: { type: 'number', description: 'Seconds.' },
          end: { type: 'number' },
          logit: { type: 'number', description: "`logits_per_video` of this (video, text) pair, as transformers' `XCLIPModel` computes it." },
          score: { type: 'number', description: '`logit / logit scale`: the cosine of the video embedding and the text embedding conditioned on it.' },
        },
        required: ['id', 'source', 'start', 'end', 'logit', 'score'],
      },
    },
  },
  required: ['model', 'query', 'results'],
} as const;

function secondsField(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
  if (!(n > 0 && n <= MAX_SECONDS)) throw new HttpError('INVALID_INPUT', `${name} must be a number of seconds above 0 and at most ${MAX_SECONDS} but is ${JSON.stringify(value)}`);
  return n;
}

async function multipartInput(request: FastifyRequest, ctx: ServerContext, work: RequestWork): Promise<IndexInput> {
  const body = await receiveMultipart(request, work, ctx.tempDir, ctx.multipartLimits, { fileField: 'file', fieldNames: ['clipSeconds', 'strideSeconds'] });
  if (body.files.length === 0) throw new HttpError('INVALID_INPUT', 'no "file" parts: send each video as a "file" part');
  const unnamed = body.files.findIndex((f) => !f.filename);
  if (unnamed >= 0) throw new HttpError('INVALID_INPUT', `file part ${unnamed} has no filename: an indexed video is stored under its filename`);
  const items = uploadedItems(body.files).map((item) => ({ item, source: item.name }));
  return { items, clipSeconds: secondsField(oneField(body, 'clipSeconds'), 'clipSeconds'), strideSeconds: secondsField(oneField(body, 'strideSeconds'), 'strideSeconds') };
}

/** Adds every item (each its own add call, so they batch with everyone's videos); each settles to a record. */
function indexAll(ctx: ServerContext, work: RequestWork, input: IndexInput): Promise<PerVideo<{ source: string; entries: AddedEntry[] }>> {
  if (input.strideSeconds !== undefined && input.clipSeconds === undefined) throw new HttpError('INVALID_INPUT', 'strideSeconds needs clipSeconds');
  const index = ctx.index();
  const options = { clipSeconds: input.clipSeconds, strideSeconds: input.strideSeconds, signal: work.signal };
  return perVideo(
    input.items.map(({ item }) => item.name),
    work,
    async (i) => {
      const { item, source } = input.items[i];
      const entries = await withVideo(item, work, async (file) => {
        const [added] = await index.add([typeof file === 'string' ? { source, path: file } : { source, data: file }], options);
        if (added.error) throw added.error;
        return added.added;
      });
      return { source, entries };
    },
  );
}

/**
 * @example
 * await app.register(searchRoutes);
 */
export async function searchRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.xclip;
  if (!ctx.hasIndex) {
    // Not in the OpenAPI document: this server has no index. The 404 says how to get one.
    const none = async (): Promise<never> => {
      throw new HttpError('NOT_FOUND', 'this server has no search index: start it with --db DIR');
    };
    app.post('/v1/index', { schema: { hide: true } }, none);
    app.post('/v1/search', { schema: { hide: true } }, none);
    app.post('/v1/similar', { schema: { hide: true } }, none);
    return;
  }
  app.post(
    '/v1/index',
    {
      config: { work: true },
      bodyLimit: ctx.jsonBodyLimit,
      schema: {
        summary: 'Add videos to the search index',
        description:
          'multipart/form-data (`file` parts, stored under their filenames; optional `clipSeconds`, `strideSeconds`) or JSON `{ path }` ' +
          '(a file under --media-root, stored under that path). One entry per video, or per segment with `clipSeconds`; a source added ' +
          'again has its entries replaced. One result per video, in input order (200 when any succeeded, else the first failure\'s status).',
        tags: ['search'],
        consumes: ['application/json', 'multipart/form-data'],
        body: { content: { 'application/json': { schema: indexJsonBody }, 'multipart/form-data': { schema: indexMultipartBody } } },
        response: { 200: indexResponse, '4xx': indexFailed, '5xx': indexFailed },
      },
    },
    workHandler(async (request, reply, work) => {
      let input: IndexInput;
      if (request.isMultipart()) {
        input = await multipartInput(request, ctx, work);
      } else {
        const body = request.body as { path: string; clipSeconds?: number; strideSeconds?: number };
        const [item] = referencedItems([{ path: body.path }], ctx.media);
        input = { items: [{ item, source: path.normalize(body.path) }], clipSeconds: body.clipSeconds, strideSeconds: body.strideSeconds };
      }
      const answer = await indexAll(ctx, work, input);
      return answerPerVideo(reply, ctx.metrics, answer, { model: ctx.modelId, results: answer.records });
    }),
  );
  app.post(
    '/v1/search',
    {
      config: { work: true },
      schema: {
        summary: "The index's best entries for a text, by X-CLIP's own logits",
        description:
          'The `candidates` entries nearest to the plain text embedding (cosine) are scored exactly as `XCLIPModel.forward` scores that ' +
          '(video, text) pair; the best `k` come back, best first, with their video or segment (`source`, `start`, `end` in seconds).',
        tags: ['search'],
        body: searchBody,
        response: { 200: searchResponse, '4xx': { $ref: 'Error#' }, '5xx': { $ref: 'Error#' } },
      },
    },
    workHandler(async (request, _reply, work) => ({ model: ctx.modelId, query: (request.body as SearchBody).query, results: await searchIndex(ctx, request.body as SearchBody, work) })),
  );
  app.post(
    '/v1/similar',
    {
      config: { work: true },
      schema: {
        summary: 'The entries most like an entry of the index',
        description:
          'Entries whose video embedding is closest (cosine, `score`) to that of the entry `id` (as /v1/search returns it), best first; ' +
          'the entry itself is left out. No text is involved, so there is no logit.',
        tags: ['search'],
        body: similarBody,
        response: { 200: similarResponse, '4xx': { $ref: 'Error#' }, '5xx': { $ref: 'Error#' } },
      },
    },
    workHandler(async (request, _reply, work) => {
      const { id, k } = request.body as { id: string; k: number };
      return { model: ctx.modelId, id, results: await similarEntries(ctx, id, k, work) };
    }),
  );
}

/** What /v1/search takes (after its schema's defaults). */
export interface SearchBody {
  query: string;
  k: number;
  candidates?: number;
}

/** The one search of the server's routes: /v1/search and the search page's view of it answer these hits, in this order. */
export async function searchIndex(ctx: ServerContext, body: SearchBody, work: RequestWork): Promise<SearchResult[]> {
  if (body.query.trim() === '') throw new HttpError('INVALID_INPUT', 'query must contain more than white space');
  const results = await ctx.index().search(body.query, { k: body.k, candidates: body.candidates ?? Math.max(body.k, 200) });
  work.signal.throwIfAborted();
  return results;
}

/** The one similar of the server's routes (/v1/similar and the page's view): 404 for an id the index does not hold. */
export async function similarEntries(ctx: ServerContext, id: string, k: number, work: RequestWork): Promise<SimilarResult[]> {
  const index = ctx.index();
  // similar() takes a video too; here only stored entries are meant, so an unknown id is 404, never a file path.
  if ((await index.get([id])).length === 0) throw new HttpError('NOT_FOUND', `no entry ${JSON.stringify(id)} in the index`);
  const results = await index.similar(id, { k });
  work.signal.throwIfAborted();
  return results;
}

const similarBody = {
  type: 'object',
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 8192, description: 'An entry id, `<source>#<segment>`, as /v1/search returns it.' },
    k: { type: 'integer', minimum: 1, maximum: 10000, default: 10, description: 'Results wanted.' },
  },
  required: ['id'],
  additionalProperties: false,
} as const;

const similarResponse = {
  type: 'object',
  properties: {
    model: { type: 'string' },
    id: { type: 'string' },
    results: {
      type: 'array',
      items: {
        type: 'object',
        properties: { id: { type: 'string' }, source: { type: 'string' }, start: { type: 'number' }, end: { type: 'number' }, score: { type: 'number', description: 'Cosine of the two video embeddings.' } },
        required: ['id', 'source', 'start', 'end', 'score'],
      },
    },
  },
  required: ['model', 'id', 'results'],
} as const;
