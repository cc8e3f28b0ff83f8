/**
 * The HTTP app: Fastify with request-scoped pino loggers, Speckle-style CORS, one error handler (errors.ts),
 * a JSON 404, the configured body limit, health and metrics. Module route plugins are registered on the
 * returned app by `main.ts` (`app.register(objectsRoutes, { objects })`).
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { pino, type Logger } from 'pino'
import type { BlobStore } from './adapters/blobs/types.js'
import type { Bus } from './adapters/bus/types.js'
import type { Sql } from './adapters/sql/types.js'
import { mbToBytes, type Config } from './config.js'
import { toHttp } from './errors.js'
import { healthRoutes } from './modules/health/rest.js'
import { createMetrics, type Metrics } from './modules/metrics/index.js'
import { metricsRoutes, recordRequestDurations } from './modules/metrics/rest.js'
import { findWebDir, registerWebApp } from './modules/web/static.js'

export type TrussApp = FastifyInstance

export interface AppDeps {
  config: Config
  sql: Sql
  blobs: BlobStore
  bus: Bus
  /** Root logger; requests log through its children (`reqId` bound). Defaults to pino at `config.logLevel`. */
  logger?: Logger
  /** Defaults to a fresh registry; pass one to share it with the modules that count things. */
  metrics?: Metrics
  /** The built web app to serve at `/` (null: none); default `config.webDir`, else `@truss/web`'s build. */
  webDir?: string | null
  /** Readiness ping timeout; defaults to 2 s. */
  pingTimeoutMs?: number
}

// As Speckle (Express `cors()`): any origin, preflight answered 204.
const CORS_ALLOW_METHODS = 'GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS'
const CORS_ALLOW_HEADERS = 'Authorization, Content-Type, Accept, Content-Encoding'
// A caller's request id is reused only when it is short and plain, so it is safe to log and echo.
const REQUEST_ID = /^[\w.:-]{1,128}$/

function requestId(request: IncomingMessage): string {
  const given = request.headers['x-request-id']
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
}

export function buildApp(deps: AppDeps): TrussApp {
  const { config } = deps
  const logger = deps.logger ?? pino({ name: 'truss', level: config.logLevel })
  const metrics = deps.metrics ?? createMetrics()

  const app: TrussApp = Fastify({
    // Typed as Fastify's base logger so module plugins written against plain `FastifyInstance` fit.
    loggerInstance: logger as FastifyBaseLogger,
    genReqId: requestId,
    bodyLimit: mbToBytes(config.maxRequestBodySizeMb),
    // Socket inactivity: closes connections that neither send nor read (ws clears it on upgraded sockets).
    connectionTimeout: Math.round(config.httpIdleTimeoutSeconds * 1000),
    // Speckle's routes are matched with and without a trailing slash (`…/object-stream/`).
    routerOptions: { ignoreTrailingSlash: true },
  })

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
    reply.header('access-control-allow-origin', '*')
    if (request.method === 'OPTIONS') {
      return reply
        .code(204)
        .header('access-control-allow-methods', CORS_ALLOW_METHODS)
        .header('access-control-allow-headers', CORS_ALLOW_HEADERS)
        .header('access-control-max-age', '86400')
        .send()
    }
  })

  // While closing, tell keep-alive clients to hang up after the answer they are getting, so in-flight requests
  // end the connections they ran on and shutdown need not wait for keep-alive timeouts.
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close')
  })

  app.setErrorHandler((err, request, reply) => {
    const answer = toHttp(err, request.log)
    return reply.status(answer.statusCode).headers(answer.headers).send(answer.body)
  })

  // The web app's pages (a browser navigating to any path the API does not own), else a JSON 404.
  const web = registerWebApp(app, deps.webDir === undefined ? findWebDir(config.webDir) : deps.webDir)
  app.setNotFoundHandler((request, reply) => {
    if (web.fallback(request, reply)) return reply
    return reply
      .status(404)
      .send({ error: { code: 'NOT_FOUND', message: `No route for ${request.method} ${request.url}` } })
  })

  recordRequestDurations(app, metrics)
  app.register(healthRoutes, {
    sql: deps.sql,
    blobs: deps.blobs,
    bus: deps.bus,
    pingTimeoutMs: deps.pingTimeoutMs,
  })
  app.register(metricsRoutes, { metrics })
  return app
}
