import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createBlobStore } from './adapters/blobs/index.js'
import type { BlobStore } from './adapters/blobs/types.js'
import { createBus } from './adapters/bus/index.js'
import type { Bus } from './adapters/bus/types.js'
import type { Sql } from './adapters/sql/types.js'
import { buildApp, type AppDeps, type TrussApp } from './app.js'
import { loadConfig } from './config.js'
import { NotFound, RateLimited } from './errors.js'
import { openTestPglite } from './test-utils/db.js'

let dir: string
let sql: Sql
let blobs: BlobStore
let bus: Bus
const silent = pino({ level: 'silent' })

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'truss-app-'))
  sql = await openTestPglite()
  blobs = await createBlobStore({ dataDir: dir })
  bus = await createBus({ logger: silent })
})

afterAll(async () => {
  await Promise.all([sql?.close(), blobs?.close(), bus?.close()])
  await rm(dir, { recursive: true, force: true })
})

async function appWith(overrides: Partial<AppDeps> = {}, env: Record<string, string> = {}): Promise<TrussApp> {
  const app = buildApp({ config: loadConfig(env), sql, blobs, bus, logger: silent, ...overrides })
  await app.register(async (scope) => {
    scope.get('/test/not-found', async () => {
      throw new NotFound('project', 'p1')
    })
    scope.get('/test/rate-limited', async () => {
      throw new RateLimited(7)
    })
    scope.get('/test/crash', async () => {
      throw new Error('secret internals')
    })
    scope.post('/test/echo', async (request) => z.object({ name: z.string() }).parse(request.body))
  })
  await app.ready()
  return app
}

/** A store whose backing service is down: every ping fails, or never answers. */
function down<T extends object>(adapter: T, how: 'fails' | 'hangs'): T {
  const ping = () => (how === 'fails' ? Promise.reject(new Error('connection refused')) : new Promise<void>(() => {}))
  return Object.assign(Object.create(adapter) as T, { ping })
}

describe('health routes', () => {
  it('answers /healthz with 200 {"status":"ok"}', async () => {
    const app = await appWith()
    const res = await app.inject('/healthz')
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ status: 'ok' })
    await app.close()
  })

  it('answers /readyz with 200 when sql, blobs and bus answer their pings', async () => {
    const app = await appWith()
    const res = await app.inject('/readyz')
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ status: 'ok', checks: { sql: 'ok', blobs: 'ok', bus: 'ok' } })
    await app.close()
  })

  it('answers /readyz with 503 naming what failed and what timed out', async () => {
    const app = await appWith({ blobs: down(blobs, 'fails'), bus: down(bus, 'hangs'), pingTimeoutMs: 50 })
    const res = await app.inject('/readyz')
    expect(res.statusCode).toBe(503)
    expect(res.json()).toEqual({ status: 'error', checks: { sql: 'ok', blobs: 'failed', bus: 'timeout' } })
    await app.close()
  })

  it('answers Speckle /api/ping with text pong', async () => {
    const app = await appWith()
    const res = await app.inject('/api/ping')
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    expect(res.body).toBe('pong')
    await app.close()
  })

  it('answers Speckle /readiness and /liveness with postgres and redis details', async () => {
    const app = await appWith()
    for (const url of ['/readiness', '/liveness']) {
      const res = await app.inject(url)
      expect(res.statusCode).toBe(200)
      expect(res.json()).toEqual({ status: 'ok', details: { postgres: true, redis: true } })
    }
    await app.close()
  })

  it('answers /readiness with 503 and postgres false when the database is down', async () => {
    const app = await appWith({ sql: down(sql, 'fails') })
    const res = await app.inject('/readiness')
    expect(res.statusCode).toBe(503)
    expect(res.json()).toEqual({ status: 'error', details: { postgres: false, redis: true } })
    await app.close()
  })

  it('answers the root URL with the placeholder page and x-speckle-frontend-2, also for HEAD', async () => {
    const app = await appWith()
    const res = await app.inject('/')
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/html/)
    expect(res.headers['x-speckle-frontend-2']).toBe('true')
    expect(res.body).toContain('<title>Truss</title>')
    const head = await app.inject({ method: 'HEAD', url: '/' })
    expect(head.headers['x-speckle-frontend-2']).toBe('true')
    await app.close()
  })
})

describe('CORS', () => {
  it('answers a preflight on any path with 204 and the allowed headers', async () => {
    const app = await appWith()
    const res = await app.inject({
      method: 'OPTIONS',
      url: '/objects/abc',
      headers: { origin: 'https://viewer.example.com', 'access-control-request-method': 'POST' },
    })
    expect(res.statusCode).toBe(204)
    expect(res.headers['access-control-allow-origin']).toBe('*')
    expect(res.headers['access-control-allow-headers']).toBe('Authorization, Content-Type, Accept, Content-Encoding')
    expect(res.headers['access-control-allow-methods']).toContain('POST')
    expect(res.body).toBe('')
    await app.close()
  })

  it('allows any origin on answers and on errors', async () => {
    const app = await appWith()
    expect((await app.inject('/healthz')).headers['access-control-allow-origin']).toBe('*')
    expect((await app.inject('/test/crash')).headers['access-control-allow-origin']).toBe('*')
    expect((await app.inject('/nowhere')).headers['access-control-allow-origin']).toBe('*')
    await app.close()
  })
})

describe('errors and limits', () => {
  it('answers an unknown route with a JSON 404', async () => {
    const app = await appWith()
    const res = await app.inject('/nowhere')
    expect(res.statusCode).toBe(404)
    expect(res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'No route for GET /nowhere' } })
    await app.close()
  })

  it('answers a domain error with its status and JSON body', async () => {
    const app = await appWith()
    const res = await app.inject('/test/not-found')
    expect(res.statusCode).toBe(404)
    expect(res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'Project p1 not found' } })
    const limited = await app.inject('/test/rate-limited')
    expect(limited.statusCode).toBe(429)
    expect(limited.headers['retry-after']).toBe('7')
    await app.close()
  })

  it('answers an unexpected error with a 500 that hides its message', async () => {
    const app = await appWith()
    const res = await app.inject('/test/crash')
    expect(res.statusCode).toBe(500)
    expect(res.json()).toEqual({ error: { code: 'INTERNAL', message: 'Internal server error' } })
    await app.close()
  })

  it('answers bad input with 4xx, never 500', async () => {
    const app = await appWith({}, { MAX_REQUEST_BODY_SIZE_MB: '0.001' })
    const post = (payload: string, contentType: string) =>
      app.inject({ method: 'POST', url: '/test/echo', payload, headers: { 'content-type': contentType } })

    expect((await post('{"name":"ok"}', 'application/json')).json()).toEqual({ name: 'ok' })

    const badJson = await post('{"name":', 'application/json')
    expect(badJson.statusCode).toBe(400)
    expect(badJson.json().error.code).toBe('BAD_USER_INPUT')

    const wrongShape = await post('{"name":1}', 'application/json')
    expect(wrongShape.statusCode).toBe(400)
    expect(wrongShape.json().error.message).toMatch(/^name: /)

    const tooLarge = await post(JSON.stringify({ name: 'x'.repeat(2000) }), 'application/json')
    expect(tooLarge.statusCode).toBe(413)
    expect(tooLarge.json().error.code).toBe('TOO_LARGE')

    const unsupported = await post('<name/>', 'application/xml')
    expect(unsupported.statusCode).toBe(415)
    expect(unsupported.json().error.code).toBe('BAD_USER_INPUT')

    const emptyJson = await post('', 'application/json')
    expect(emptyJson.statusCode).toBe(400)
    await app.close()
  })
})

describe('request ids', () => {
  it('echoes a plain caller request id and makes one up otherwise', async () => {
    const app = await appWith()
    expect(
      (await app.inject({ url: '/healthz', headers: { 'x-request-id': 'abc-123' } })).headers['x-request-id'],
    ).toBe('abc-123')
    const made = (await app.inject({ url: '/healthz', headers: { 'x-request-id': 'bad id\u0000' } })).headers[
      'x-request-id'
    ]
    expect(made).toMatch(/^[0-9a-f-]{36}$/)
    await app.close()
  })

  it('logs each request through a child logger carrying its id', async () => {
    const lines: Record<string, unknown>[] = []
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) })
    const app = await appWith({ logger })
    await app.inject({ url: '/test/not-found', headers: { 'x-request-id': 'req-42' } })
    const logged = lines.filter((l) => l.reqId === 'req-42')
    expect(logged.some((l) => l.msg === 'Project p1 not found' && l.level === 30 && l.code === 'NOT_FOUND')).toBe(true)
    await app.close()
  })
})

describe('metrics', () => {
  it('serves Prometheus text with process metrics, request durations by route pattern and object counters', async () => {
    const app = await appWith()
    await app.inject('/healthz')
    await app.inject('/nowhere/at/all')
    const res = await app.inject('/metrics')
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    expect(res.body).toContain('process_cpu_user_seconds_total')
    expect(res.body).toMatch(
      /truss_http_request_duration_seconds_count\{method="GET",route="\/healthz",status_code="200"\} 1/,
    )
    expect(res.body).toMatch(/route="unmatched",status_code="404"\} 1/)
    expect(res.body).not.toContain('/nowhere/at/all')
    for (const counter of ['truss_objects_stored_total', 'truss_upload_bytes_total', 'truss_download_bytes_total']) {
      expect(res.body).toContain(`# TYPE ${counter} counter`)
    }
    await app.close()
  })

  it('keeps one registry per app, so two apps count separately', async () => {
    const first = await appWith()
    const second = await appWith()
    await first.inject('/healthz')
    await first.inject('/healthz')
    await second.inject('/healthz')
    // The histogram's _count line: its bucket lines carry the same labels (and a bucket count of 0 when a
    // request took longer than the bucket's bound).
    const count = async (app: TrussApp) =>
      /_count\{[^}]*route="\/healthz",status_code="200"\} (\d+)/.exec((await app.inject('/metrics')).body)?.[1]
    expect(await count(first)).toBe('2')
    expect(await count(second)).toBe('1')
    await Promise.all([first.close(), second.close()])
  })
})
