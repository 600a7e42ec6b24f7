/**
 * `GET /v1/models`: the served model, in OpenAI's list shape, with what a client needs to use it.
 * @module
 */
import type { FastifyInstance } from 'fastify';

const STARTED = Math.floor(Date.now() / 1000);

const modelSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['model'] },
    created: { type: 'integer', description: 'When this server started (Unix seconds).' },
    owned_by: { type: 'string' },
    demo: { type: 'boolean', description: 'The generated demo model: random weights, scores not meaningful.' },
    num_frames: { type: 'integer', description: 'Frames sampled per video.' },
    projection_dim: { type: 'integer', description: 'Length of an embedding.' },
    max_text_tokens: { type: 'integer', description: 'Most tokens of a text or label, special tokens included.' },
    dtype: { type: 'string' },
    device: { type: 'string' },
    max_batch: { type: 'integer', description: 'Most videos per model call.' },
  },
  required: ['id', 'object', 'created', 'owned_by'],
} as const;

/**
 * @example
 * await app.register(modelsRoutes);
 */
export async function modelsRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.xclip;
  app.get(
    '/v1/models',
    {
      config: { auth: true },
      schema: {
        summary: 'The served model (OpenAI list shape)',
        tags: ['service'],
        response: { 200: { type: 'object', properties: { object: { type: 'string', enum: ['list'] }, data: { type: 'array', items: modelSchema } }, required: ['object', 'data'] }, '4xx': { $ref: 'Error#' }, '5xx': { $ref: 'Error#' } },
      },
    },
    async () => {
      const clf = ctx.classifier();
      const { config } = clf.model;
      return {
        object: 'list',
        data: [
          {
            id: ctx.modelId,
            object: 'model',
            created: STARTED,
            owned_by: 'xclip-node',
            demo: ctx.demo,
            num_frames: clf.processor.numFrames,
            projection_dim: config.projectionDim,
            max_text_tokens: config.textConfig.maxPositionEmbeddings,
            dtype: clf.model.dtype,
            device: clf.model.device,
            max_batch: clf.batching.maxBatch,
          },
        ],
      };
    },
  );
}
