/**
 * `POST /v1/score`: X-CLIP's own score of every (video, text) pair, `logits_per_video` of transformers'
 * `XCLIPModel`: the text features are conditioned on each video by the prompt generator, so this is not the cosine
 * of the two embeddings from /v1/embeddings. Batched with classify requests on the same texts.
 * @module
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

import type { MediaRef } from '../../mediaSource';
import type { ServerContext } from '../context';
import { HttpError } from '../errors';
import { softmax } from '../../pipelines';
import { booleanField, receiveMultipart, textListField } from '../uploads';
import { MAX_VIDEOS_PER_REQUEST, referencedItems, uploadedItems, withEveryVideo, type VideoItem } from '../videoInputs';
import { workHandler, type RequestWork } from '../work';
import { MAX_LABELS, truncateSchema } from './classify';

const MAX_TEXT_CHARS = 1000;

interface ScoreInput {
  items: VideoItem[];
  texts: string[];
  probs: boolean;
  truncate?: boolean;
}

const textsSchema = { type: 'array', minItems: 1, maxItems: MAX_LABELS, items: { type: 'string', minLength: 1, maxLength: MAX_TEXT_CHARS } } as const;

const jsonBody = {
  type: 'object',
  properties: {
    videos: { type: 'array', minItems: 1, maxItems: MAX_VIDEOS_PER_REQUEST, items: { $ref: 'VideoRef#' } },
    texts: textsSchema,
    probs: { type: 'boolean', default: false, description: 'Also return the softmax of each row over the texts (what classify ranks by).' },
    truncate: truncateSchema,
  },
  required: ['videos', 'texts'],
  additionalProperties: false,
} as const;

const multipartBody = {
  properties: {
    file: { type: 'array', items: { type: 'string', format: 'binary' } },
    texts: { type: 'string', description: 'A JSON array of texts, or one text per repeated `texts` field.' },
    probs: { type: 'string', enum: ['true', 'false'] },
    truncate: { type: 'string', enum: ['true', 'false'] },
  },
  required: ['file', 'texts'],
} as const;

const matrix = { type: 'array', items: { type: 'array', items: { type: 'number' } } } as const;
const responseSchema = {
  type: 'object',
  properties: {
    model: { type: 'string' },
    files: { type: 'array', items: { type: 'string' }, description: 'The videos, in the order of the rows.' },
    logits_per_video: { ...matrix, description: 'One row per video, one column per text.' },
    probs: { ...matrix, description: 'softmax(logits_per_video) over the texts, when asked for.' },
  },
  required: ['model', 'files', 'logits_per_video'],
} as const;

async function multipartInput(request: FastifyRequest, ctx: ServerContext, work: RequestWork): Promise<ScoreInput> {
  const body = await receiveMultipart(request, work, ctx.tempDir, ctx.multipartLimits, { fileField: 'file', fieldNames: ['texts', 'probs', 'truncate'] });
  if (body.files.length === 0) throw new HttpError('INVALID_INPUT', 'no "file" parts: send each video as a "file" part');
  return { items: uploadedItems(body.files), texts: textListField(body, 'texts', MAX_LABELS, MAX_TEXT_CHARS), probs: booleanField(body, 'probs') ?? false, truncate: booleanField(body, 'truncate') };
}

/**
 * @example
 * await app.register(scoreRoutes);
 */
export async function scoreRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.xclip;
  app.post(
    '/v1/score',
    {
      config: { work: true },
      bodyLimit: ctx.jsonBodyLimit,
      schema: {
        summary: "X-CLIP's score of every (video, text) pair (logits_per_video)",
        description:
          "transformers' `XCLIPModel(...).logits_per_video`: logit scale × cosine of the video embedding and of the text embedding " +
          'conditioned on that video by the prompt generator. A plain cosine of /v1/embeddings vectors is not this score and can rank ' +
          'videos differently. All or nothing: a video that fails fails the request with its status.',
        tags: ['inference'],
        consumes: ['application/json', 'multipart/form-data'],
        body: { content: { 'application/json': { schema: jsonBody }, 'multipart/form-data': { schema: multipartBody } } },
        response: { 200: responseSchema, '4xx': { $ref: 'Error#' }, '5xx': { $ref: 'Error#' } },
      },
    },
    workHandler(async (request, _reply, work) => {
      const input: ScoreInput = request.isMultipart()
        ? await multipartInput(request, ctx, work)
        : (() => {
            const body = request.body as { videos: MediaRef[]; texts: string[]; probs: boolean; truncate: boolean };
            return { items: referencedItems(body.videos, ctx.media), texts: body.texts, probs: body.probs, truncate: body.truncate };
          })();
      const clf = ctx.classifier();
      const options = { truncation: input.truncate, signal: work.signal };
      const rows = await withEveryVideo(input.items, work, ctx.metrics, async (source) => (await clf.score([source], input.texts, options))[0]);
      return {
        model: ctx.modelId,
        files: input.items.map((i) => i.name),
        logits_per_video: rows.map((row) => Array.from(row)),
        ...(input.probs ? { probs: rows.map((row) => Array.from(softmax(row))) } : {}),
      };
    }),
  );
}
