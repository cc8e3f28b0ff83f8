/** `GET /metrics` (Prometheus text) and the hook that times every request. */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import type { Metrics } from './index.js'

export interface MetricsRoutesOptions {
  metrics: Metrics
}

/**
 * Time every request of `app`. Call on the root instance: a hook added inside a registered plugin would
 * only see that plugin's routes (Fastify encapsulation).
 */
export function recordRequestDurations(app: FastifyInstance, metrics: Metrics): void {
  // Label by the route pattern (`/objects/:projectId`), never the raw URL, to keep label sets bounded.
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpRequestDurationSeconds.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    )
  })
}

export const metricsRoutes: FastifyPluginAsync<MetricsRoutesOptions> = async (app, { metrics }) => {
  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics()
    return reply.header('content-type', metrics.registry.contentType).send(text)
  })
}
