/**
 * `POST /v1/embeddings`, shaped as OpenAI's (and Hugging Face TEI's) so their clients work unchanged: texts by
 * default, videos with `"modality": "video"` (base64 or data URIs) or as multipart `file` parts. L2-normalized by
 * default as those services are; `"normalize": false` returns exactly `getTextFeatures` / `getVideoFeatures`.
 * @module
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

import type { ServerContext } from '../context';
import { HttpError } from '../errors';
import { truncateSchema } from './classify';
import { booleanField, oneField, receiveMultipart } from '../uploads';
import { MAX_VIDEOS_PER_REQUEST, referencedItems, uploadedItems, withEveryVideo, type VideoItem } from '../videoInputs';
import { workHandler, type RequestWork } from '../work';

/** Most texts per request (one text-tower call). */
export const MAX_TEXTS = 1024;
const MAX_TEXT_CHARS = 10000;

type EncodingFormat = 'float' | 'base64';

interface EmbeddingsInput {
  texts?: string[];
  videos?: VideoItem[];
  encodingFormat: EncodingFormat;
  normalize: boolean;
  truncate?: boolean;
}

const jsonBody = {
  type: 'object',
  properties: {
    input: {
      description: 'Texts, or with modality "video" videos as base64 (or base64 data URIs).',
      anyOf: [
        { type: 'string', minLength: 1 },
        { type: 'array', minItems: 1, maxItems: MAX_TEXTS, items: { type: 'string', minLength: 1 } },
      ],
    },
    model: { type: 'string', description: 'If given, must name the served model (GET /v1/models).' },
    modality: { type: 'string', enum: ['text', 'video'], default: 'text' },
    encoding_format: { type: 'string', enum: ['float', 'base64'], default: 'float', description: 'base64: little-endian float32 bytes, as OpenAI.' },
    normalize: { type: 'boolean', default: true, description: 'L2-normalize (default); false returns get_text_features / get_video_features as they are.' },
    truncate: truncateSchema,
    user: { type: 'string', description: 'Accepted for OpenAI compatibility; ignored.' },
  },
  required: ['input'],
  additionalProperties: false,
} as const;

const multipartBody = {
  properties: {
    file: { type: 'array', items: { type: 'string', format: 'binary' }, description: `Videos, one part each, at most ${MAX_VIDEOS_PER_REQUEST}.` },
    model: { type: 'string' },
    encoding_format: { type: 'string', enum: ['float', 'base64'] },
    normalize: { type: 'string', enum: ['true', 'false'] },
  },
  required: ['file'],
} as const;

const responseSchema = {
  type: 'object',
  properties: {
    object: { type: 'string', enum: ['list'] },
    data: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          object: { type: 'string', enum: ['embedding'] },
          index: { type: 'integer' },
          embedding: { anyOf: [{ type: 'array', items: { type: 'number' } }, { type: 'string' }] },
        },
        required: ['object', 'index', 'embedding'],
      },
    },
    model: { type: 'string' },
    usage: {
      type: 'object',
      description: 'Tokens of the text inputs, special tokens included (0 for videos).',
      properties: { prompt_tokens: { type: 'integer' }, total_tokens: { type: 'integer' } },
      required: ['prompt_tokens', 'total_tokens'],
    },
  },
  required: ['object', 'data', 'model', 'usage'],
} as const;

function checkModel(ctx: ServerContext, model: string | undefined): void {
  if (model !== undefined && model !== ctx.modelId) throw new HttpError('NOT_FOUND', `model ${JSON.stringify(model)} is not served here; this server serves ${JSON.stringify(ctx.modelId)}`);
}

function l2normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (const x of v) sum += x * x;
  const norm = Math.sqrt(sum);
  return norm > 0 ? v.map((x) => x / norm) : v;
}

function encode(v: Float32Array, format: EncodingFormat): number[] | string {
  // Little-endian float32, as OpenAI's base64 format (every platform Node runs this addon on is little-endian).
  return format === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v);
}

async function multipartInput(request: FastifyRequest, ctx: ServerContext, work: RequestWork): Promise<EmbeddingsInput> {
  const body = await receiveMultipart(request, work, ctx.tempDir, ctx.multipartLimits, { fileField: 'file', fieldNames: ['model', 'encoding_format', 'normalize'] });
  if (body.files.length === 0) throw new HttpError('INVALID_INPUT', 'no "file" parts: send each video as a "file" part');
  checkModel(ctx, oneField(body, 'model'));
  const format = oneField(body, 'encoding_format') ?? 'float';
  if (format !== 'float' && format !== 'base64') throw new HttpError('INVALID_INPUT', `encoding_format must be "float" or "base64" but is ${JSON.stringify(format)}`);
  return { videos: uploadedItems(body.files), encodingFormat: format, normalize: booleanField(body, 'normalize') ?? true };
}

function jsonInput(request: FastifyRequest, ctx: ServerContext): EmbeddingsInput {
  const body = request.body as { input: string | string[]; model?: string; modality: 'text' | 'video'; encoding_format: EncodingFormat; normalize: boolean; truncate: boolean };
  checkModel(ctx, body.model);
  const inputs = typeof body.input === 'string' ? [body.input] : body.input;
  const base = { encodingFormat: body.encoding_format, normalize: body.normalize, truncate: body.truncate };
  if (body.modality === 'video') {
    if (inputs.length > MAX_VIDEOS_PER_REQUEST) throw new HttpError('INVALID_INPUT', `at most ${MAX_VIDEOS_PER_REQUEST} videos per request, not ${inputs.length}`);
    return { ...base, videos: referencedItems(inputs.map((data) => ({ data })), ctx.media) };
  }
  for (const t of inputs) if (t.length > MAX_TEXT_CHARS) throw new HttpError('INVALID_INPUT', `each text must be at most ${MAX_TEXT_CHARS} characters`);
  return { ...base, texts: inputs };
}

/**
 * @example
 * await app.register(embeddingsRoutes);
 */
export async function embeddingsRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.xclip;
  app.post(
    '/v1/embeddings',
    {
      config: { work: true },
      bodyLimit: ctx.jsonBodyLimit,
      schema: {
        summary: 'Text or video embeddings (OpenAI-compatible)',
        description:
          'X-CLIP `get_text_features` / `get_video_features`, L2-normalized unless `normalize` is false. Note that a cosine of a text ' +
          'and a video embedding is not X-CLIP\'s score: X-CLIP conditions the text features on each video (its prompt generator); ' +
          'use POST /v1/score or /v1/classify for that.',
        tags: ['inference'],
        consumes: ['application/json', 'multipart/form-data'],
        body: { content: { 'application/json': { schema: jsonBody }, 'multipart/form-data': { schema: multipartBody } } },
        response: { 200: responseSchema, '4xx': { $ref: 'Error#' }, '5xx': { $ref: 'Error#' } },
      },
    },
    workHandler(async (request, _reply, work) => {
      const input = request.isMultipart() ? await multipartInput(request, ctx, work) : jsonInput(request, ctx);
      let vectors: Float32Array[];
      let tokens = 0;
      if (input.texts) {
        const clf = ctx.classifier();
        const max = clf.model.config.textConfig.maxPositionEmbeddings;
        for (const t of input.texts) tokens += Math.min(clf.processor.tokenizer.encode(t).length, input.truncate ? max : Infinity);
        vectors = await clf.embedTexts(input.texts, { truncation: input.truncate });
      } else {
        // All or nothing, as OpenAI's embeddings.
        const clf = ctx.classifier();
        vectors = await withEveryVideo(input.videos!, work, ctx.metrics, async (source) => (await clf.embedVideos([source], { signal: work.signal }))[0]);
      }
      return {
        object: 'list',
        data: vectors.map((v, index) => ({ object: 'embedding', index, embedding: encode(input.normalize ? l2normalize(v) : v, input.encodingFormat) })),
        model: ctx.modelId,
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      };
    }),
  );
}
