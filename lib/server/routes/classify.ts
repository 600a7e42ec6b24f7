/**
 * `POST /v1/classify`: zero-shot classification of one or more videos against labels, in the CLI's `--json` shape.
 * Each video is its own `classify` call, so the classifier batches them with every other request's videos, and a
 * video that fails is reported in its place while the others succeed.
 * @module
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

import type { MediaRef } from '../../mediaSource';
import type { LabelScore } from '../../pipelines';
import type { FileRecord } from '../../records';
import type { ServerContext } from '../context';
import { HttpError } from '../errors';
import { booleanField, oneField, receiveMultipart, textListField } from '../uploads';
import { MAX_VIDEOS_PER_REQUEST, answerPerVideo, perVideo, referencedItems, uploadedItems, withVideo, type PerVideo, type VideoItem } from '../videoInputs';
import { workHandler, type RequestWork } from '../work';

/** Most labels per request: each distinct label set costs a text-tower pass (cached afterwards). */
export const MAX_LABELS = 256;
const MAX_LABEL_CHARS = 1000;

/** One video's answer: its scores, or why it failed (the records the CLI prints with --json). */
export type ClassifyRecord = FileRecord<{ scores: LabelScore[] }>;

interface ClassifyInput {
  items: VideoItem[];
  labels: string[];
  topK?: number;
  template?: string;
  truncate?: boolean;
}

/** Shared by the routes that take texts. */
export const truncateSchema = {
  type: 'boolean',
  default: false,
  description: 'Cut texts over the model\'s 77 tokens as transformers does (first 75, then the end token) instead of answering 400.',
} as const;

const labelsSchema = {
  type: 'array',
  minItems: 1,
  maxItems: MAX_LABELS,
  items: { type: 'string', minLength: 1, maxLength: MAX_LABEL_CHARS },
  description: 'Free-text labels; scores are a softmax over them.',
} as const;

const jsonBody = {
  type: 'object',
  properties: {
    videos: { type: 'array', minItems: 1, maxItems: MAX_VIDEOS_PER_REQUEST, items: { $ref: 'VideoRef#' } },
    labels: labelsSchema,
    topK: { type: 'integer', minimum: 1, maximum: MAX_LABELS, description: 'Keep the best k labels per video (default: all).' },
    template: { type: 'string', minLength: 2, maxLength: MAX_LABEL_CHARS, pattern: '\\{\\}', description: "Hypothesis template, `{}` marks the label (default '{}')." },
    truncate: truncateSchema,
  },
  required: ['videos', 'labels'],
  additionalProperties: false,
} as const;

/** Documentation only: multipart bodies are not parsed before the handler, which checks them itself. */
const multipartBody = {
  properties: {
    file: { type: 'array', items: { type: 'string', format: 'binary' }, description: `One part per video, at most ${MAX_VIDEOS_PER_REQUEST}.` },
    labels: { type: 'string', description: 'A JSON array of labels, or one label per repeated `labels` field.' },
    topK: { type: 'string', description: 'Integer: keep the best k labels per video.' },
    template: { type: 'string', description: "Hypothesis template, `{}` marks the label (default '{}')." },
    truncate: { type: 'string', enum: ['true', 'false'] },
  },
  required: ['file', 'labels'],
} as const;

const scoreSchema = { type: 'object', properties: { label: { type: 'string' }, score: { type: 'number' } }, required: ['label', 'score'] } as const;
const recordSchema = {
  type: 'object',
  description: 'One per video, in input order: `scores` best first, or `error` when that video failed.',
  properties: {
    file: { type: 'string', description: 'The part\'s filename, the path or URL as given, else the video\'s index ("0", "1", ...).' },
    scores: { type: 'array', items: scoreSchema },
    error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } }, required: ['code', 'message'] },
  },
  required: ['file'],
} as const;

const responseSchema = {
  type: 'object',
  properties: { model: { type: 'string' }, demo: { type: 'boolean', description: 'The generated demo model: scores not meaningful.' }, results: { type: 'array', items: recordSchema } },
  required: ['model', 'demo', 'results'],
} as const;

const failedSchema = {
  type: 'object',
  description: 'Every error; when every video of a classify request failed, the first failure as `error` and each one in `results`.',
  properties: {
    error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } }, required: ['code', 'message'] },
    results: { type: 'array', items: recordSchema },
  },
  required: ['error'],
} as const;

async function multipartInput(request: FastifyRequest, ctx: ServerContext, work: RequestWork): Promise<ClassifyInput> {
  const body = await receiveMultipart(request, work, ctx.tempDir, ctx.multipartLimits, { fileField: 'file', fieldNames: ['labels', 'topK', 'template', 'truncate'] });
  if (body.files.length === 0) throw new HttpError('INVALID_INPUT', 'no "file" parts: send each video as a "file" part');
  const topK = oneField(body, 'topK');
  if (topK !== undefined && !/^\d{1,4}$/.test(topK)) throw new HttpError('INVALID_INPUT', `topK must be a positive integer but is ${JSON.stringify(topK)}`);
  const template = oneField(body, 'template');
  if (template !== undefined && !template.includes('{}')) throw new HttpError('INVALID_INPUT', "template must contain '{}' where the label goes");
  return { items: uploadedItems(body.files), labels: textListField(body, 'labels', MAX_LABELS, MAX_LABEL_CHARS), topK: topK === undefined ? undefined : Number(topK), template, truncate: booleanField(body, 'truncate') };
}

/** Classifies every item concurrently; each settles to a record. */
function classifyAll(ctx: ServerContext, work: RequestWork, input: ClassifyInput): Promise<PerVideo<{ scores: LabelScore[] }>> {
  if (input.topK !== undefined && (input.topK < 1 || input.topK > input.labels.length)) {
    throw new HttpError('INVALID_INPUT', `topK must be between 1 and ${input.labels.length} (the number of labels) but is ${input.topK}`);
  }
  const clf = ctx.classifier();
  // The request's signal cancels the videos still queued or decoding when the client leaves or time runs out.
  const options = { topK: input.topK, hypothesisTemplate: input.template, truncation: input.truncate, signal: work.signal };
  // The handler awaits every video, and workHandler tracks the handler: the request holds its slot until all settle.
  return perVideo(
    input.items.map((item) => item.name),
    work,
    async (i) => ({ scores: await withVideo(input.items[i], work, (source) => clf.classify(source, input.labels, options)) }),
  );
}

/**
 * @example
 * await app.register(classifyRoutes);
 */
export async function classifyRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.xclip;
  app.post(
    '/v1/classify',
    {
      config: { work: true },
      bodyLimit: ctx.jsonBodyLimit,
      schema: {
        summary: 'Zero-shot classification of videos against free-text labels',
        description:
          'multipart/form-data (`file` parts + `labels`, optional `topK`, `template`) or JSON (`videos` as base64 `data`, `path` or `url`). ' +
          'Results come in input order, one per video; a video that fails has `error` instead of `scores` and the others still succeed ' +
          '(200 when any succeeded, else the first failure\'s status). Scores are a softmax over X-CLIP\'s `logits_per_video`, as transformers\' pipeline.',
        tags: ['inference'],
        consumes: ['application/json', 'multipart/form-data'],
        body: { content: { 'application/json': { schema: jsonBody }, 'multipart/form-data': { schema: multipartBody } } },
        response: { 200: responseSchema, '4xx': failedSchema, '5xx': failedSchema },
      },
    },
    workHandler(async (request, reply, work) => {
      const input: ClassifyInput = request.isMultipart()
        ? await multipartInput(request, ctx, work)
        : (() => {
            const body = request.body as { videos: MediaRef[]; labels: string[]; topK?: number; template?: string; truncate: boolean };
            return { items: referencedItems(body.videos, ctx.media), labels: body.labels, topK: body.topK, template: body.template, truncate: body.truncate };
          })();
      const answer = await classifyAll(ctx, work, input);
      return answerPerVideo(reply, ctx.metrics, answer, { model: ctx.modelId, demo: ctx.demo, results: answer.records });
    }),
  );
}
