/**
 * `GET /metrics`: Prometheus text format (see ../metrics.ts for what is measured).
 * @module
 */
import type { FastifyInstance } from 'fastify';

/**
 * @example
 * await app.register(metricsRoutes);
 */
export async function metricsRoutes(app: FastifyInstance): Promise<void> {
  const ctx = app.xclip;
  app.get(
    '/metrics',
    { config: { auth: true }, schema: { summary: 'Prometheus metrics', tags: ['service'], produces: ['text/plain'] } },
    async (_request, reply) => {
      reply.type(ctx.metrics.contentType);
      return ctx.metrics.render();
    },
  );
}
