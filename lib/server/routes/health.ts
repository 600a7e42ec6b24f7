/**
 * `GET /health`: 200 once the model is loaded, 503 while loading, after a failed load and while draining, so load
 * balancers stop sending work before the server stops.
 * @module
 */
import type { FastifyInstance } from 'fastify';

const healthSchema = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'loading', 'draining', 'failed'] },
    model: { type: 'string' },
    active: { type: 'integer', description: 'Requests being worked on.' },
    queued: { type: 'integer', description: 'Requests waiting for a turn.' },
  },
  required: ['status', 'model'],
} as const;

/**
 * @example
 * await app.register(healthRoutes);
 */
export async function healthRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.xclip;
  app.get(
    '/health',
    { schema: { summary: 'Readiness: 200 when the model is loaded, 503 while loading or draining', tags: ['service'], response: { 200: healthSchema, 503: healthSchema } } },
    async (_request, reply) => {
      const { active, queued } = ctx.admission.state;
      const status = ctx.state === 'ready' ? 'ok' : ctx.state;
      if (status !== 'ok') reply.code(503).header('retry-after', '5');
      return { status, model: ctx.modelId, active, queued };
    },
  );
}
