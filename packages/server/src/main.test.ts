import { EventEmitter } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyPluginAsync } from 'fastify'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig, type ConfigFlags } from './config.js'
import { handleShutdownSignals, startServer, StartupError } from './main.js'
import { createTestPostgresDatabase } from './test-utils/db.js'

const silent = pino({ level: 'silent' })
const dirs: string[] = []

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'truss-main-'))
  dirs.push(dir)
  return dir
}

afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
})

/** A route that answers after `ms`, to have a request in flight during shutdown. */
const slowRoute: FastifyPluginAsync = async (app) => {
  app.get<{ Querystring: { ms: string } }>('/test/slow', async (request) => {
    await new Promise((resolve) => setTimeout(resolve, Number(request.query.ms)))
    return { done: true }
  })
}

async function refused(url: string): Promise<boolean> {
  try {
    await fetch(url)
    return false
  } catch {
    return true
  }
}

describe('handleShutdownSignals', () => {
  function setup(close: () => Promise<void>) {
    const signals = new EventEmitter()
    const exits: number[] = []
    const stop = handleShutdownSignals({ close }, { signals, logger: silent, exit: (code) => exits.push(code) })
    return { signals, exits, stop }
  }

  it.each(['SIGTERM', 'SIGINT'])('closes the server on %s, then exits 0', async (signal) => {
    let closed = 0
    const { signals, exits } = setup(async () => {
      closed++
    })
    signals.emit(signal)
    await new Promise((resolve) => setImmediate(resolve))
    expect(closed).toBe(1)
    expect(exits).toEqual([0])
  })

  it('exits 1 at once on a second signal while closing', async () => {
    let finish: () => void = () => {}
    const { signals, exits } = setup(() => new Promise<void>((resolve) => (finish = resolve)))
    signals.emit('SIGTERM')
    signals.emit('SIGINT')
    expect(exits).toEqual([1])
    finish()
  })

  it('exits 1 when closing fails', async () => {
    const { signals, exits } = setup(() => Promise.reject(new Error('adapter stuck')))
    signals.emit('SIGTERM')
    await new Promise((resolve) => setImmediate(resolve))
    expect(exits).toEqual([1])
  })

  it('removes its handlers when stopped', () => {
    const { signals, stop } = setup(async () => {})
    expect(signals.listenerCount('SIGTERM')).toBe(1)
    stop()
    expect(signals.listenerCount('SIGTERM')).toBe(0)
    expect(signals.listenerCount('SIGINT')).toBe(0)
  })
})

describe('startServer on embedded defaults', () => {
  it('listens on a free port, lets an in-flight request finish on close, then stops listening', async () => {
    const dataDir = await tempDir()
    const config = loadConfig({}, { port: 0, dataDir, logLevel: 'silent' })
    const server = await startServer(config, { routes: slowRoute })
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(server.url).not.toMatch(/:0$/)
    expect(server.config.publicUrl).toBe(server.url)
    expect(server.config.workers).toBe(true)

    const ready = await fetch(`${server.url}/readyz`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toEqual({ status: 'ok', checks: { sql: 'ok', blobs: 'ok', bus: 'ok' } })

    const inFlight = fetch(`${server.url}/test/slow?ms=500`)
    await new Promise((resolve) => setTimeout(resolve, 100))
    const closeStarted = Date.now()
    const closing = server.close()
    const answer = await inFlight
    expect(answer.status).toBe(200)
    expect(await answer.json()).toEqual({ done: true })
    await closing
    // Not held open by the keep-alive connection the answer went out on.
    expect(Date.now() - closeStarted).toBeLessThan(3000)
    await server.close() // idempotent
    expect(await refused(`${server.url}/healthz`)).toBe(true)
  })
})

describe('startServer on PostgreSQL and Redis', () => {
  let databaseUrl: string
  let dropDatabase: () => Promise<void>
  let dataDir: string
  const flags = (more: ConfigFlags = {}): ConfigFlags => ({ port: 0, dataDir, logLevel: 'silent', ...more })
  const env = () => ({ DATABASE_URL: databaseUrl, REDIS_URL: 'redis://127.0.0.1:6379' })

  beforeAll(async () => {
    const db = await createTestPostgresDatabase()
    databaseUrl = db.url
    dropDatabase = db.drop
    dataDir = await tempDir()
  })

  afterAll(async () => {
    await dropDatabase?.()
  })

  it('uses the PostgreSQL and Redis adapters and reports them healthy', async () => {
    const server = await startServer(loadConfig(env(), flags()))
    try {
      const readiness = await fetch(`${server.url}/readiness`)
      expect(readiness.status).toBe(200)
      expect(await readiness.json()).toEqual({ status: 'ok', details: { postgres: true, redis: true } })
      const ping = await fetch(`${server.url}/api/ping`)
      expect(await ping.text()).toBe('pong')
    } finally {
      await server.close()
    }
  })

  it('runs several servers against one database and one Redis', async () => {
    const [a, b] = await Promise.all([startServer(loadConfig(env(), flags())), startServer(loadConfig(env(), flags()))])
    try {
      expect(a.url).not.toBe(b.url)
      for (const server of [a, b]) expect((await fetch(`${server.url}/readyz`)).status).toBe(200)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })

  it('cuts requests still running at the shutdown timeout', async () => {
    const server = await startServer(loadConfig(env(), flags({ shutdownTimeoutSeconds: 0.3 })), { routes: slowRoute })
    const inFlight = fetch(`${server.url}/test/slow?ms=5000`).then(
      () => 'answered',
      () => 'cut',
    )
    await new Promise((resolve) => setTimeout(resolve, 100))
    const started = Date.now()
    await server.close()
    expect(Date.now() - started).toBeLessThan(2000)
    expect(await inFlight).toBe('cut')
  })

  it('fails with a clear message when the port is taken, and releases what it opened', async () => {
    const blocker: Server = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const address = blocker.address()
    const port = typeof address === 'object' && address ? address.port : 0
    try {
      const err = await startServer(loadConfig(env(), flags({ port }))).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(StartupError)
      expect((err as Error).message).toBe(
        `port ${port} on 127.0.0.1 is already in use; stop the other server or pass --port (PORT) to use another`,
      )
    } finally {
      await new Promise((resolve) => blocker.close(resolve))
    }
    // The failed start closed its adapters: a new start on the same settings works.
    const server = await startServer(loadConfig(env(), flags()))
    await server.close()
  })
})
