/**
 * A worker killed with SIGKILL mid-job loses nothing and duplicates no result: two real `truss worker`
 * processes on PostgreSQL, a webhook receiver that holds the first delivery open, worker A killed while it
 * waits, and worker B taking the job over once A's lease runs out.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSql } from '../adapters/sql/index.js'
import { runMigrations } from '../adapters/sql/migrate.js'
import type { Sql } from '../adapters/sql/types.js'
import { EVENT_STATUS, createWebhooksService } from '../modules/webhooks/service.js'
import { createTestPostgresDatabase } from '../test-utils/db.js'
import { domainContext } from '../test-utils/domain.js'
import { createJobQueue } from './queue.js'

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const BIN = join(ROOT, 'packages/cli/src/bin.ts')
const LEASE_SECONDS = 2

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Poll `check` until it returns something truthy; fail naming `what` after `timeoutMs`. */
async function until<T>(what: string, check: () => Promise<T | undefined | false | null>, timeoutMs: number) {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(50)
  }
}

interface WorkerProcess {
  name: string
  child: ChildProcess
  output(): string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** The worker's /healthz answer, once it serves it. */
  ready: Promise<{ baseUrl: string; workerId: string }>
}

/**
 * `truss worker --only webhooks` as one process: node with tsx's loader (the tsx launcher would run the
 * CLI in a child process, and SIGKILL to the launcher would leave that child running).
 */
function spawnWorker(name: string, env: Record<string, string>, dataDir: string): WorkerProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', BIN, 'worker', '--only', 'webhooks', '--port', '0', '--data-dir', dataDir],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let output = ''
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  const ready = new Promise<{ baseUrl: string; workerId: string }>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /^Truss worker running: .*\(metrics at (http:\/\/\S+)\/metrics\)$/m.exec(output)
      if (match === null) return
      child.stdout!.off('data', onData)
      child.stdout!.on('data', (more: Buffer) => (output += more.toString()))
      const baseUrl = match[1]!
      fetch(`${baseUrl}/healthz`)
        .then((res) => res.json() as Promise<{ status: string; workerId: string }>)
        .then((health) => resolve({ baseUrl, workerId: health.workerId }), reject)
    }
    child.stdout!.on('data', onData)
    void exited.then(({ code, signal }) =>
      reject(new Error(`worker ${name} exited (${code ?? signal}) before it was ready:\n${output}`)),
    )
  })
  ready.catch(() => {}) // awaited by the test; a late rejection must not go unhandled
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  return { name, child, output: () => output, exited, ready }
}

/** Resolve with `promise`, or fail naming `what` after `ms`. */
function within<T>(what: string, promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** A loopback receiver that never answers the first request (its worker stays mid-job) and 200s the rest. */
async function holdingReceiver() {
  const bodies: string[] = []
  const held: ServerResponse[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString('utf8'))
      if (bodies.length === 1) {
        held.push(res)
        return
      }
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end('thanks')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hook`,
    bodies,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of held) res.destroy()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

interface JobState {
  status: string
  attempts: number
  locked_by: string | null
}

describe('a worker killed mid-job (two truss worker processes on PostgreSQL)', () => {
  let database: Awaited<ReturnType<typeof createTestPostgresDatabase>> | undefined
  let sql: Sql | undefined
  let rx: Awaited<ReturnType<typeof holdingReceiver>> | undefined
  let dataDir: string | undefined
  const workers: WorkerProcess[] = []

  beforeAll(async () => {
    database = await createTestPostgresDatabase()
    sql = await createSql({ databaseUrl: database.url, logger: pino({ level: 'silent' }) })
    await runMigrations(sql)
    rx = await holdingReceiver()
    dataDir = await mkdtemp(join(tmpdir(), 'truss-kill-e2e-'))
  })

  afterAll(async () => {
    for (const w of workers) {
      if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL')
    }
    await Promise.all(workers.map((w) => within(`worker ${w.name} to exit`, w.exited, 5000).catch(() => undefined)))
    await rx?.close()
    await sql?.close()
    await database?.drop()
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true })
  })

  it('lets another worker finish the job when the lease runs out, delivering once and recording one result', async () => {
    const db = sql!
    const receiver = rx!
    const ctx = domainContext(db)
    const webhooks = createWebhooksService({ sql: db, jobs: createJobQueue({ sql: db }) })
    ctx.activity.addSink(webhooks.recordActivity)
    const owner = await ctx.newUser()
    const project = await ctx.newProject(owner.id, { name: 'Viaduct' })
    const hook = await webhooks.create({ projectId: project.id, url: receiver.url, triggers: ['stream_update'] })

    const env = {
      DATABASE_URL: database!.url,
      TRUSS_JOBS_LEASE_SECONDS: String(LEASE_SECONDS),
      TRUSS_JOBS_POLL_SECONDS: '0.2',
      TRUSS_WEBHOOKS_ALLOW_PRIVATE: '1',
    }
    const a = spawnWorker('A', env, join(dataDir!, 'a'))
    workers.push(a)
    const workerA = await within('worker A to serve /healthz', a.ready, 15_000)

    // The event and its delivery job are written with the change; worker A claims the job.
    await ctx.projects.update({ id: project.id, description: 'deck poured', actorId: owner.id })
    const jobState = async () =>
      (
        await db.query<JobState>(
          `SELECT status, attempts, locked_by FROM jobs WHERE kind = 'webhook.deliver' ORDER BY id`,
        )
      ).rows
    await until('the receiver to get the first delivery', async () => receiver.bodies.length >= 1, 10_000)
    expect(await jobState()).toEqual([{ status: 'running', attempts: 1, locked_by: workerA.workerId }])

    process.kill(a.child.pid!, 'SIGKILL')
    expect(await within('worker A to die', a.exited, 5000)).toEqual({ code: null, signal: 'SIGKILL' })
    const killedAt = Date.now()

    const b = spawnWorker('B', env, join(dataDir!, 'b'))
    workers.push(b)
    const workerB = await within('worker B to serve /healthz', b.ready, 15_000)
    expect(workerB.workerId).not.toBe(workerA.workerId)

    const [job] = await until(
      'worker B to finish the job',
      async () => {
        const rows = await jobState()
        return rows[0]?.status === 'succeeded' ? rows : undefined
      },
      15_000,
    )
    // B could only claim the job once A's lease ran out (A renewed it until it died).
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(LEASE_SECONDS * 1000 - 1000)
    expect(job).toEqual({ status: 'succeeded', attempts: 2, locked_by: workerB.workerId })

    // Give a stray second run time to show itself: nothing more may arrive or be recorded.
    await sleep(1000)
    expect(receiver.bodies).toHaveLength(2)
    expect(receiver.bodies[1]).toBe(receiver.bodies[0])
    expect(await jobState()).toHaveLength(1)

    const [event] = (
      await db.query<{ id: string; status: number; status_info: string; retry_count: number }>(
        'SELECT id, status, status_info, retry_count FROM webhook_events WHERE webhook_id = $1',
        [hook.id],
      )
    ).rows
    expect(event).toMatchObject({ status: EVENT_STATUS.called, status_info: 'Webhook called', retry_count: 1 })
    const history = await webhooks.history([hook.id], 10)
    expect(history.get(hook.id)?.totalCount).toBe(1)
    expect(history.get(hook.id)?.items[0]?.deliveries).toEqual([
      expect.objectContaining({ attempt: 2, statusCode: 200, responseExcerpt: 'thanks', error: null }),
    ])

    const metrics = await (await fetch(`${workerB.baseUrl}/metrics`)).text()
    expect(metrics).toMatch(/^truss_jobs_completed_total\{kind="webhook\.deliver",outcome="succeeded"\} 1$/m)
    expect(metrics).not.toMatch(/outcome="lease_lost"/)
  }, 30_000)
})
