/**
 * `truss worker`: its flags in-process, and a real process on PostgreSQL serving /healthz and /metrics
 * (with the job queue's series), running a job, and stopping with exit code 0 on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSql } from '../../../server/src/adapters/sql/index.js'
import { runMigrations } from '../../../server/src/adapters/sql/migrate.js'
import type { Sql } from '../../../server/src/adapters/sql/types.js'
import { createJobQueue } from '../../../server/src/jobs/queue.js'
import { createTestPostgresDatabase } from '../../../server/src/test-utils/db.js'
import { runCli } from '../cli.js'
import type { CliIo } from '../command.js'
import { parseWorkerArgs } from './worker.js'

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const BIN = join(ROOT, 'packages/cli/src/bin.ts')

function captureIo(env: Record<string, string> = {}): CliIo & { out: string; err: string } {
  const io = {
    env,
    out: '',
    err: '',
    stdout: (text: string) => {
      io.out += text
    },
    stderr: (text: string) => {
      io.err += text
    },
    signals: new EventEmitter(),
  }
  return io
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function within<T>(what: string, promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

describe('truss worker arguments', () => {
  it('refuses an unknown worker group with exit 2, naming the groups that exist', async () => {
    const io = captureIo()
    expect(await runCli(['worker', '--only', 'webhooks,mailers'], io)).toBe(2)
    expect(io.err).toBe(
      'truss: --only names unknown worker group(s) mailers; use webhooks, imports, previews, monitor\n' +
        "Run 'truss worker --help' for usage.\n",
    )
    expect(io.out).toBe('')
  })

  it('refuses an --only that names no group, and a bad --port, with exit 2', async () => {
    const empty = captureIo()
    expect(await runCli(['worker', '--only', ' , '], empty)).toBe(2)
    expect(empty.err).toMatch(/^truss: --only names no worker group; use webhooks, /)
    const port = captureIo()
    expect(await runCli(['worker', '--port', '99999'], port)).toBe(2)
    expect(port.err).toMatch(/^truss: --port must be a whole number from 0 to 65535 \(got "99999"\)/)
  })

  it('refuses bad configuration from the environment with exit 1, without echoing secrets', async () => {
    const io = captureIo({ DATABASE_URL: 'mysql://root:s3cr3t-pw@db/truss' })
    expect(await runCli(['worker'], io)).toBe(1)
    expect(io.err).toMatch(/^truss: invalid configuration: DATABASE_URL must be a postgres:\/\//)
    expect(io.err).not.toContain('s3cr3t-pw')
  })

  it('turns flags into config settings and prints its help', async () => {
    expect(parseWorkerArgs(['--only', 'Webhooks, monitor', '--port', '0', '--data-dir', '/d'])).toEqual({
      help: false,
      flags: { workerGroups: ['webhooks', 'monitor'], dataDir: '/d' },
      metricsPort: 0,
    })
    expect(parseWorkerArgs([])).toEqual({ help: false, flags: {}, metricsPort: undefined })
    const io = captureIo()
    expect(await runCli(['worker', '--help'], io)).toBe(0)
    for (const text of ['--only', '--port', 'TRUSS_JOBS_LEASE_SECONDS', 'TRUSS_WEBHOOKS_ALLOW_PRIVATE']) {
      expect(io.out).toContain(text)
    }
  })
})

describe('truss worker (spawned, PostgreSQL)', () => {
  let database: Awaited<ReturnType<typeof createTestPostgresDatabase>> | undefined
  let sql: Sql | undefined
  let dataDir: string | undefined
  let child: ChildProcess | undefined

  beforeAll(async () => {
    database = await createTestPostgresDatabase()
    sql = await createSql({ databaseUrl: database.url, logger: pino({ level: 'silent' }) })
    await runMigrations(sql)
    dataDir = await mkdtemp(join(tmpdir(), 'truss-cli-worker-'))
  })

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child!.once('exit', resolve))
      child.kill('SIGKILL')
      await within('the worker to exit', gone, 5000).catch(() => undefined)
    }
    await sql?.close()
    await database?.drop()
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true })
  })

  it('serves /healthz and /metrics with the job queue, runs jobs, and exits 0 on SIGTERM', async () => {
    const db = sql!
    const queue = createJobQueue({ sql: db })
    // A kind this worker does not run stays queued, and shows in the queue gauge.
    await queue.enqueue(db, 'preview.render', { projectId: 'p', objectId: 'o' })

    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', BIN, 'worker', '--only', 'webhooks', '--port', '0', '--data-dir', dataDir!],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          LOG_LEVEL: 'warn',
          DATABASE_URL: database!.url,
          TRUSS_JOBS_POLL_SECONDS: '0.2',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    child = proc
    let stdout = ''
    let stderr = ''
    proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      proc.once('exit', (code, signal) => resolve({ code, signal })),
    )
    const metricsUrl = await within(
      'the worker to say it runs',
      new Promise<string>((resolve, reject) => {
        proc.stdout!.on('data', (chunk: Buffer) => {
          stdout += chunk.toString()
          const match = /^Truss worker running: webhooks \(metrics at (http:\/\/127\.0\.0\.1:\d+\/metrics)\)$/m.exec(
            stdout,
          )
          if (match) resolve(match[1]!)
        })
        void exited.then(({ code }) => reject(new Error(`truss worker exited with ${code}:\n${stderr}`)))
      }),
      20_000,
    )
    const base = metricsUrl.replace(/\/metrics$/, '')

    const health = await fetch(`${base}/healthz`)
    expect(health.status).toBe(200)
    const body = (await health.json()) as { status: string; groups: string[]; workerId: string }
    expect(body).toEqual({ status: 'ok', groups: ['webhooks'], workerId: expect.stringMatching(/:\d+:/) })
    expect(body.workerId).toContain(`:${proc.pid}:`)

    // A delivery job whose event is gone succeeds at once (there is nothing to deliver).
    const jobId = await queue.enqueue(db, 'webhook.deliver', { eventId: 'no-such-event' })
    const end = Date.now() + 10_000
    while ((await queue.get(jobId!)).status !== 'succeeded') {
      if (Date.now() > end) throw new Error('the worker did not run the job')
      await sleep(50)
    }

    const res = await fetch(metricsUrl)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
    const text = await res.text()
    expect(text).toMatch(/^truss_jobs_queued\{kind="preview\.render",status="queued"\} 1$/m)
    expect(text).toMatch(/^truss_jobs_oldest_age_seconds\{kind="preview\.render"\} [\d.e+-]+$/m)
    expect(text).toMatch(/^truss_jobs_completed_total\{kind="webhook\.deliver",outcome="succeeded"\} 1$/m)
    expect(text).toMatch(/^truss_job_duration_seconds_count\{kind="webhook\.deliver"\} 1$/m)
    expect((await fetch(`${base}/other`)).status).toBe(404)

    proc.kill('SIGTERM')
    expect(await within('the worker to stop', exited, 15_000)).toEqual({ code: 0, signal: null })
    expect(stderr).toBe('')
    await expect(fetch(`${base}/healthz`)).rejects.toThrow()
    // It gave nothing up on the way out: the other kind's job is still queued for its workers.
    expect((await queue.list({ kind: 'preview.render' }))[0]?.status).toBe('queued')
  }, 30_000)
})
