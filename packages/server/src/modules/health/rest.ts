/**
 * Health and discovery routes: Truss's `/healthz` and `/readyz`, Speckle's `/api/ping`, `/readiness` and
 * `/liveness` (WIRE.md "Server info, health, discovery"). The root page is the web app's (modules/web).
 */
import type { FastifyBaseLogger, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'

/** Anything with a cheap round trip to its backing service (the sql, blobs and bus adapters). */
export interface Pingable {
  ping(): Promise<void>
}

export interface HealthRoutesOptions {
  sql: Pingable
  blobs: Pingable
  bus: Pingable
  /** How long each ping may take before it counts as failed. */
  pingTimeoutMs?: number
}

const DEFAULT_PING_TIMEOUT_MS = 2000

type CheckResult = 'ok' | 'failed' | 'timeout'

async function check(name: string, target: Pingable, timeoutMs: number, log: FastifyBaseLogger): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs)
  })
  try {
    const result = await Promise.race([target.ping().then(() => 'ok' as const), timeout])
    if (result === 'timeout') log.warn({ check: name, timeoutMs }, 'readiness check timed out')
    return result
  } catch (err) {
    log.warn({ check: name, err }, 'readiness check failed')
    return 'failed'
  } finally {
    clearTimeout(timer)
  }
}

export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = async (app, options) => {
  const timeoutMs = options.pingTimeoutMs ?? DEFAULT_PING_TIMEOUT_MS
  const probes = { sql: options.sql, blobs: options.blobs, bus: options.bus }

  async function runChecks(log: FastifyBaseLogger): Promise<Record<keyof typeof probes, CheckResult>> {
    const [sql, blobs, bus] = await Promise.all(
      (['sql', 'blobs', 'bus'] as const).map((name) => check(name, probes[name], timeoutMs, log)),
    )
    return { sql, blobs, bus }
  }

  // Alive: the process answers HTTP. Deliberately checks nothing else, so a database outage does not get
  // the process restarted.
  app.get('/healthz', async () => ({ status: 'ok' }))

  app.get('/readyz', async (request, reply) => {
    const checks = await runChecks(request.log)
    const ready = Object.values(checks).every((result) => result === 'ok')
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ok' : 'error', checks })
  })

  app.get('/api/ping', async (_request, reply) => reply.type('text/plain; charset=utf-8').send('pong'))

  // Speckle's shapes: `redis` reports the bus, which is in-process (and always up) without REDIS_URL.
  const speckleHealth = async (request: FastifyRequest, reply: FastifyReply) => {
    const [postgres, redis] = await Promise.all([
      check('sql', probes.sql, timeoutMs, request.log),
      check('bus', probes.bus, timeoutMs, request.log),
    ])
    const details = { postgres: postgres === 'ok', redis: redis === 'ok' }
    const up = details.postgres && details.redis
    reply.status(up ? 200 : 503)
    return { status: up ? 'ok' : 'error', details }
  }
  app.get('/readiness', speckleHealth)
  app.get('/liveness', speckleHealth)
}
