/**
 * `truss jobs list|retry` in-process on a fresh PostgreSQL database: jobs written and failed through the
 * real queue and runner, then listed and retried through the command as an admin runs it.
 */
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import pg from 'pg'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSql } from '../../../server/src/adapters/sql/index.js'
import { runMigrations } from '../../../server/src/adapters/sql/migrate.js'
import type { Sql } from '../../../server/src/adapters/sql/types.js'
import { createJobQueue, type JobQueue } from '../../../server/src/jobs/queue.js'
import { createJobRunner, PermanentJobError } from '../../../server/src/jobs/runner.js'
import { createTestPostgresDatabase } from '../../../server/src/test-utils/db.js'
import { runCli } from '../cli.js'
import type { CliIo } from '../command.js'
import { formatJobs } from './jobs.js'

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

describe('truss jobs (PostgreSQL)', () => {
  let database: Awaited<ReturnType<typeof createTestPostgresDatabase>> | undefined
  let sql: Sql | undefined
  let queue: JobQueue
  let deadId: string
  let queuedId: string
  const env = () => ({ DATABASE_URL: database!.url, LOG_LEVEL: 'silent' })
  const jobs = async (...args: string[]) => {
    const io = captureIo(env())
    const code = await runCli(['jobs', ...args], io)
    return { code, out: io.out, err: io.err }
  }

  beforeAll(async () => {
    database = await createTestPostgresDatabase()
    sql = await createSql({ databaseUrl: database.url, logger: pino({ level: 'silent' }) })
    await runMigrations(sql)
    queue = createJobQueue({ sql })
    // A render that fails for good, through the real runner: the job ends dead with its error.
    deadId = (await queue.enqueue(sql, 'preview.render', { projectId: 'p1', objectId: 'o1' }))!
    const runner = createJobRunner({
      sql,
      logger: pino({ level: 'silent' }),
      pollSeconds: 0.05,
      handlers: [
        {
          kind: 'preview.render',
          run: async () => {
            throw new PermanentJobError('the renderer crashed')
          },
        },
      ],
    })
    await runner.start()
    try {
      const end = Date.now() + 10_000
      while ((await queue.get(deadId)).status !== 'dead') {
        if (Date.now() > end) throw new Error('the job did not die')
        await sleep(25)
      }
    } finally {
      await runner.stop()
    }
    queuedId = (await queue.enqueue(sql, 'webhook.deliver', { eventId: 'e1' }, { delaySeconds: 3600 }))!
  })

  afterAll(async () => {
    await sql?.close()
    await database?.drop()
  })

  it('lists jobs newest first with their status, attempts and last error', async () => {
    const { code, out, err } = await jobs('list')
    expect(err).toBe('')
    expect(code).toBe(0)
    const lines = out.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^ID\s+KIND\s+STATUS\s+ATTEMPTS\s+WHEN\s+LAST ERROR$/)
    expect(lines).toHaveLength(3)
    expect(lines[1]).toMatch(new RegExp(`^${queuedId}\\s+webhook\\.deliver\\s+queued\\s+0/6\\s+in (59|60)m$`))
    expect(lines[2]).toMatch(
      new RegExp(`^${deadId}\\s+preview\\.render\\s+dead\\s+1/3\\s+\\d+s ago\\s+the renderer crashed$`),
    )
  })

  it('filters by status and kind, limits, and prints JSON lines', async () => {
    const dead = await jobs('list', '--status', 'dead', '--json')
    expect(dead.code).toBe(0)
    const rows = dead.out
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; status: string; lastError: string })
    expect(rows).toEqual([expect.objectContaining({ id: deadId, status: 'dead', lastError: 'the renderer crashed' })])

    const byKind = await jobs('list', '--kind', 'webhook.deliver', '--limit', '1', '--json')
    expect(
      byKind.out
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as { id: string }).id),
    ).toEqual([queuedId])
    expect((await jobs('list', '--status', 'running')).out).toBe('No jobs.\n')
  })

  it('refuses an unknown kind, status or limit with exit 2', async () => {
    const kind = await jobs('list', '--kind', 'email.send')
    expect(kind.code).toBe(2)
    expect(kind.err).toMatch(/^truss: --kind must be one of webhook\.deliver, fileimport\.convert, preview\.render/)
    const status = await jobs('list', '--status', 'failed')
    expect(status.code).toBe(2)
    expect(status.err).toMatch(/^truss: --status must be one of queued, running, succeeded, dead \(got "failed"\)/)
    const limit = await jobs('list', '--limit', '0')
    expect(limit.code).toBe(2)
    expect(limit.err).toMatch(/^truss: --limit must be a whole number from 1 to 500/)
    const sub = await jobs('delete', deadId)
    expect(sub.code).toBe(2)
    expect(sub.err).toMatch(/^truss: unknown subcommand "delete" for truss jobs \(known: list, retry\)/)
  })

  it('puts a dead job back in the queue with its attempts reset, and a worker can run it again', async () => {
    const { code, out, err } = await jobs('retry', deadId)
    expect(err).toBe('')
    expect(code).toBe(0)
    expect(out).toBe(`Job ${deadId} (preview.render) is queued again: 3 attempts from now\n`)
    const job = await queue.get(deadId)
    expect(job).toMatchObject({ status: 'queued', attempts: 0, finishedAt: null, lockedBy: null })
    expect(job.runAt.getTime()).toBeLessThanOrEqual(Date.now() + 1000)
    const listed = await jobs('list', '--status', 'queued', '--kind', 'preview.render')
    expect(listed.out).toMatch(new RegExp(`^${deadId}\\s+preview\\.render\\s+queued\\s+0/3\\s`, 'm'))
  })

  it('refuses to retry a job that is not dead, an unknown id, or no id, with a non-zero exit', async () => {
    const notDead = await jobs('retry', queuedId)
    expect(notDead.code).toBe(1)
    expect(notDead.err).toBe(`truss: job ${queuedId} is queued; only a dead job can be retried\n`)
    expect((await queue.get(queuedId)).runAt.getTime()).toBeGreaterThan(Date.now() + 3000_000)

    const unknown = await jobs('retry', '987654321')
    expect(unknown.code).toBe(1)
    expect(unknown.err).toBe('truss: Job 987654321 not found\n')
    expect(unknown.out).toBe('')
    const notAnId = await jobs('retry', 'abc')
    expect(notAnId.code).toBe(1)
    expect(notAnId.err).toBe('truss: Job abc not found\n')

    const none = await jobs('retry')
    expect(none.code).toBe(2)
    expect(none.err).toBe("truss: truss jobs retry takes one job id\nRun 'truss jobs --help' for usage.\n")
  })

  it('says which database it cannot reach, without the password', async () => {
    const url = new URL(database!.url)
    url.password = 'pw-s3cret'
    url.pathname = '/truss_no_such_database'
    const io = captureIo({ DATABASE_URL: url.href })
    expect(await runCli(['jobs', 'list'], io)).toBe(1)
    expect(io.err).toMatch(
      /^truss: DATABASE_URL: cannot connect to PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:5432\/truss_no_such_database: database "truss_no_such_database" does not exist\n$/,
    )
    expect(io.err).not.toContain('pw-s3cret')
    expect(io.out).toBe('')
  })

  it('tells a database user without rights on the job queue what is wrong', async () => {
    const role = `truss_t_nobody_${randomBytes(4).toString('hex')}`
    const admin = new pg.Client({ connectionString: database!.url })
    await admin.connect()
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN`)
      const url = new URL(database!.url)
      url.username = role
      for (const args of [['list'], ['retry', deadId]]) {
        const io = captureIo({ DATABASE_URL: url.href })
        expect(await runCli(['jobs', ...args], io)).toBe(1)
        expect(io.err).toMatch(
          new RegExp(
            `^truss: the database user ${role} may not use the job queue \\(permission denied for [^)]+\\); ` +
              `run truss jobs with the server's DATABASE_URL\\n$`,
          ),
        )
      }
    } finally {
      await admin.query(`DROP OWNED BY ${role}`).catch(() => undefined)
      await admin.query(`DROP ROLE IF EXISTS ${role}`)
      await admin.end()
    }
  })
})

describe('formatJobs', () => {
  it('says so when there are no jobs, and cuts long errors to one line', () => {
    expect(formatJobs([])).toBe('No jobs.\n')
    const now = Date.parse('2026-01-01T12:00:00Z')
    const text = formatJobs(
      [
        {
          id: '7',
          kind: 'webhook.deliver',
          payload: {},
          status: 'dead',
          attempts: 6,
          maxAttempts: 6,
          runAt: new Date(now - 3600_000),
          leaseUntil: null,
          lockedBy: null,
          lastError: `HTTP 500\n${'x'.repeat(200)}`,
          result: null,
          createdAt: new Date(now - 7200_000),
          updatedAt: new Date(now - 300_000),
          finishedAt: new Date(now - 300_000),
        },
      ],
      now,
    )
    const [, row] = text.trimEnd().split('\n')
    expect(row).toMatch(/^7\s+webhook\.deliver\s+dead\s+6\/6\s+5m ago\s+HTTP 500 x+$/)
    expect(row!.split(/\s{2,}/).at(-1)).toHaveLength(80)
  })
})
