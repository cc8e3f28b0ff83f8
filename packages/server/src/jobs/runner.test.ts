import { pino } from 'pino'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMemoryBus } from '../adapters/bus/index.js'
import type { Sql } from '../adapters/sql/types.js'
import { openDatabase } from '../modules/auth/test-utils/identity.js'
import { backoffSeconds, JOB_KINDS } from './kinds.js'
import { createJobQueue, type JobQueue } from './queue.js'
import { claimJobs } from './repository.js'
import {
  checkJobHandlers,
  createJobRunner,
  LeaseLost,
  PermanentJobError,
  registerJobMetrics,
  type AnyJobHandler,
  type JobHandler,
  type JobRunner,
  type JobRunnerOptions,
} from './runner.js'

const silent = pino({ level: 'silent' })
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function until<T>(check: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > end) throw new Error('condition not met in time')
    await sleep(25)
  }
}

// A table the handlers write their results into, so "duplicates no result" is checked in the database.
const RESULTS = `CREATE TABLE IF NOT EXISTS job_test_results (job_id text NOT NULL, worker text NOT NULL)`

/** A handler of the webhook kind (the tests' stand-in work: it records what ran in a table). */
const deliver = (h: Omit<JobHandler<'webhook.deliver'>, 'kind'>): AnyJobHandler => ({ kind: 'webhook.deliver', ...h })

const fast = {
  'webhook.deliver': { backoff: { baseSeconds: 0.05, maxSeconds: 0.1 }, concurrency: 4 },
} satisfies JobRunnerOptions['policies']

function suite(kind: 'pglite' | 'postgres') {
  describe(`job queue and runner (${kind})`, () => {
    let sql: Sql & { dispose(): Promise<void> }
    let queue: JobQueue
    const runners: JobRunner[] = []
    const runner = (options: Partial<JobRunnerOptions> & { handlers: AnyJobHandler[] }) => {
      const r = createJobRunner({ sql, logger: silent, pollSeconds: 0.05, policies: fast, ...options })
      runners.push(r)
      return r
    }

    beforeAll(async () => {
      sql = await openDatabase(kind)
      await sql.query(RESULTS)
      queue = createJobQueue({ sql })
    })
    afterAll(async () => {
      for (const r of runners) await r.stop()
      await sql?.dispose()
    })

    const enqueue = (eventId: string, options?: { dedupeKey?: string; delaySeconds?: number; maxAttempts?: number }) =>
      queue.enqueue(sql, 'webhook.deliver', { eventId }, { maxAttempts: 3, ...options })

    it('runs an enqueued job once and keeps its result', async () => {
      const seen: string[] = []
      const r = runner({
        handlers: [
          deliver({
            async run(job) {
              seen.push(job.payload.eventId)
              return { delivered: job.payload.eventId }
            },
          }),
        ],
      })
      const id = (await enqueue('e-once'))!
      await r.start()
      const job = await until(async () => {
        const j = await queue.get(id)
        return j.status === 'succeeded' && j
      })
      expect(job).toMatchObject({ attempts: 1, result: { delivered: 'e-once' }, lastError: null })
      expect(job.finishedAt).toBeInstanceOf(Date)
      expect(seen).toEqual(['e-once'])
      await r.stop()
    })

    it('retries a failing job with back-off, then keeps it dead with its error and calls onDead once', async () => {
      const attemptsAt: number[] = []
      const deadFor: string[] = []
      const r = runner({
        handlers: [
          deliver({
            async run(job) {
              attemptsAt.push(performance.now())
              throw new Error(`receiver said 500 (attempt ${job.attempts})`)
            },
            async onDead(job, error, tx) {
              deadFor.push(`${job.payload.eventId}: ${error.message}`)
              await tx.query('INSERT INTO job_test_results (job_id, worker) VALUES ($1, $2)', [job.id, 'onDead'])
            },
          }),
        ],
      })
      const id = (await enqueue('e-dead'))!
      await r.start()
      const job = await until(async () => {
        const j = await queue.get(id)
        return j.status === 'dead' && j
      })
      await r.stop()
      expect(job.attempts).toBe(3)
      expect(job.lastError).toBe('receiver said 500 (attempt 3)')
      expect(deadFor).toEqual(['e-dead: receiver said 500 (attempt 3)'])
      expect(attemptsAt).toHaveLength(3)
      // Back-off: the second gap waits at least the first attempt's minimum (base 50 ms, halved by jitter).
      expect(attemptsAt[1]! - attemptsAt[0]!).toBeGreaterThanOrEqual(20)
      const written = await sql.query('SELECT * FROM job_test_results WHERE job_id = $1', [id])
      expect(written.rowCount).toBe(1)
      expect(await queue.list({ status: 'dead' })).toContainEqual(expect.objectContaining({ id }))
    })

    it('makes a permanent failure dead at once, and an admin retry runs it again with fresh attempts', async () => {
      let fail = true
      const r = runner({
        handlers: [
          deliver({
            async run() {
              if (fail) throw new PermanentJobError('the webhook was deleted')
              return { ok: true }
            },
          }),
        ],
      })
      const id = (await enqueue('e-permanent'))!
      await r.start()
      await until(async () => (await queue.get(id)).status === 'dead')
      expect(await queue.get(id)).toMatchObject({ attempts: 1, lastError: 'the webhook was deleted' })
      fail = false
      const retried = await queue.retry(id)
      expect(['queued', 'running', 'succeeded']).toContain(retried.status)
      const done = await until(async () => {
        const j = await queue.get(id)
        return j.status === 'succeeded' && j
      })
      expect(done.attempts).toBe(1)
      await expect(queue.retry(id)).rejects.toThrow(/only a dead job can be retried/)
      await expect(queue.retry('999999999')).rejects.toMatchObject({ code: 'NOT_FOUND' })
      await expect(queue.retry('abc')).rejects.toMatchObject({ code: 'NOT_FOUND' })
      await r.stop()
    })

    it('takes over a job whose worker died once its lease ran out, and fences the dead worker out', async () => {
      const id = (await enqueue('e-orphan'))!
      // A worker that claims the job with a short lease and then dies (it never renews or finishes).
      const [orphan] = await claimJobs(sql, {
        kind: 'webhook.deliver',
        limit: 1,
        workerId: 'dead-worker',
        leaseSeconds: 0.3,
      })
      expect(orphan!.id).toBe(id)
      const r = runner({
        workerId: 'survivor',
        handlers: [
          deliver({
            async run(job, ctx) {
              if (job.payload.eventId !== 'e-orphan') return null
              return ctx.complete(async (tx) => {
                await tx.query('INSERT INTO job_test_results (job_id, worker) VALUES ($1, $2)', [job.id, 'survivor'])
              })
            },
          }),
        ],
      })
      await r.start()
      const job = await until(async () => {
        const j = await queue.get(id)
        return j.status === 'succeeded' && j
      })
      await r.stop()
      expect(job).toMatchObject({ attempts: 2, lockedBy: 'survivor' })
      const written = await sql.query<{ worker: string }>('SELECT worker FROM job_test_results WHERE job_id = $1', [id])
      expect(written.rows).toEqual([{ worker: 'survivor' }])
      // The dead worker's lease (attempt 1) can no longer finish the job.
      const { markSucceeded } = await import('./repository.js')
      expect(await markSucceeded(sql, { id, workerId: 'dead-worker', attempt: 1 }, null)).toBe(false)
    })

    it('aborts a handler whose lease was taken over, and its fenced writes roll back', async () => {
      let signalReason: unknown
      let completeError: unknown
      const r = runner({
        workerId: 'loser',
        leaseSeconds: 0.3,
        handlers: [
          deliver({
            async run(job, ctx) {
              if (job.payload.eventId !== 'e-stolen') return null
              // Another worker takes the job over (as if this one had stalled past its lease).
              await sql.query(`UPDATE jobs SET locked_by = 'thief', attempts = attempts + 1 WHERE id = $1::bigint`, [
                job.id,
              ])
              await until(async () => ctx.signal.aborted)
              signalReason = ctx.signal.reason
              try {
                await ctx.complete(async (tx) => {
                  await tx.query('INSERT INTO job_test_results (job_id, worker) VALUES ($1, $2)', [job.id, 'loser'])
                })
              } catch (err) {
                completeError = err
              }
              return null
            },
          }),
        ],
      })
      const id = (await enqueue('e-stolen'))!
      await r.start()
      await until(async () => completeError !== undefined)
      await r.stop()
      expect(signalReason).toBeInstanceOf(LeaseLost)
      expect(completeError).toBeInstanceOf(LeaseLost)
      const written = await sql.query('SELECT * FROM job_test_results WHERE job_id = $1', [id])
      expect(written.rowCount).toBe(0)
      expect(await queue.get(id)).toMatchObject({ status: 'running', lockedBy: 'thief' })
    })

    it('runs no more than the concurrency at once, and each of many jobs exactly once across two runners', async () => {
      let active = 0
      let peak = 0
      const ranBy = new Map<string, string[]>()
      const handler = (name: string): AnyJobHandler =>
        deliver({
          async run(job) {
            if (!job.payload.eventId.startsWith('many-')) return null
            active++
            peak = Math.max(peak, active)
            await sleep(5)
            active--
            ranBy.set(job.payload.eventId, [...(ranBy.get(job.payload.eventId) ?? []), name])
            return null
          },
        })
      const ids: string[] = []
      await sql.transaction(async (tx) => {
        for (let i = 0; i < 60; i++) ids.push((await queue.enqueue(tx, 'webhook.deliver', { eventId: `many-${i}` }))!)
      })
      const a = runner({ workerId: 'a', handlers: [handler('a')] })
      const b = runner({ workerId: 'b', handlers: [handler('b')] })
      await Promise.all([a.start(), b.start()])
      await until(async () => ranBy.size === 60)
      await Promise.all([a.stop(), b.stop()])
      expect([...ranBy.values()].every((names) => names.length === 1)).toBe(true)
      expect(peak).toBeLessThanOrEqual(8) // 4 per runner
      const done = await sql.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1::bigint[]) AND status = 'succeeded' AND attempts = 1`,
        [ids],
      )
      expect(done.rows[0]!.n).toBe(60)
    })

    it('deduplicates an unfinished job by key, and honours a delay', async () => {
      const first = await enqueue('e-dedupe', { dedupeKey: 'k1', delaySeconds: 3600 })
      const second = await enqueue('e-dedupe', { dedupeKey: 'k1' })
      expect(first).not.toBeNull()
      expect(second).toBeNull()
      const job = await queue.get(first!)
      expect(job.runAt.getTime() - job.createdAt.getTime()).toBeGreaterThan(3_500_000)
      const claimed = await claimJobs(sql, { kind: 'webhook.deliver', limit: 10, workerId: 'x', leaseSeconds: 5 })
      expect(claimed.map((j) => j.id)).not.toContain(first)
    })

    it('gives a running job back at shutdown without counting the attempt', async () => {
      let started = false
      const r = runner({
        stopTimeoutSeconds: 0.1,
        handlers: [
          deliver({
            async run(job, ctx) {
              if (job.payload.eventId !== 'e-shutdown') return null
              started = true
              await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
              return null
            },
          }),
        ],
      })
      const id = (await enqueue('e-shutdown'))!
      await r.start()
      await until(async () => started)
      await r.stop()
      expect(await queue.get(id)).toMatchObject({ status: 'queued', attempts: 0, lockedBy: null })
      await sql.query(`UPDATE jobs SET status = 'succeeded' WHERE id = $1::bigint`, [id])
    })

    it('aborts an attempt that runs over its time limit and counts it as failed', async () => {
      const r = runner({
        policies: { 'webhook.deliver': { ...fast['webhook.deliver'], timeoutSeconds: 0.2 } },
        handlers: [
          deliver({
            async run(job, ctx) {
              if (job.payload.eventId !== 'e-slow') return null
              await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
              return null
            },
          }),
        ],
      })
      const id = (await enqueue('e-slow', { maxAttempts: 1 }))!
      await r.start()
      const job = await until(async () => {
        const j = await queue.get(id)
        return j.status === 'dead' && j
      })
      await r.stop()
      expect(job.lastError).toMatch(/ran over 0.2 s/)
    })

    it('wakes at once on a bus hint instead of waiting for the next poll', async () => {
      const bus = createMemoryBus({ logger: silent })
      const hinted = createJobQueue({ sql, bus })
      let ranAt = 0
      const r = runner({
        bus,
        pollSeconds: 60,
        handlers: [
          deliver({
            async run(job) {
              if (job.payload.eventId === 'e-hint') ranAt = performance.now()
              return null
            },
          }),
        ],
      })
      await r.start()
      await sleep(100) // the first poll has passed; the next is a minute away
      await hinted.enqueue(sql, 'webhook.deliver', { eventId: 'e-hint' })
      const sent = performance.now()
      await hinted.wake(['webhook.deliver'])
      await until(async () => ranAt > 0, 5000)
      expect(ranAt - sent).toBeLessThan(2000)
      await r.stop()
      await bus.close()
    })

    it('reports queue depth, the oldest job and outcomes in Prometheus series', async () => {
      const registry = new Registry()
      const metrics = registerJobMetrics(registry, sql)
      const r = runner({ metrics, handlers: [deliver({ run: async () => null })] })
      await enqueue('e-metrics')
      await enqueue('e-waiting', { delaySeconds: 3600 })
      await r.start()
      await until(async () =>
        /outcome="succeeded"\} [1-9]/.test(await registry.getSingleMetricAsString('truss_jobs_completed_total')),
      )
      await r.stop()
      const text = await registry.metrics()
      expect(text).toMatch(/truss_jobs_queued\{kind="webhook.deliver",status="queued"\} [1-9]/)
      expect(text).toMatch(/truss_jobs_oldest_age_seconds\{kind="webhook.deliver"\} [0-9.]+/)
      expect(text).toMatch(/truss_jobs_completed_total\{kind="webhook.deliver",outcome="succeeded"\} [1-9]/)
      expect(text).toMatch(/truss_job_duration_seconds_count\{kind="webhook.deliver"\} [1-9]/)
    })
  })
}

suite('pglite')
suite('postgres')

describe('job kinds and handlers', () => {
  it('refuses at start-up a kind of an enabled group with no handler, or with two, naming the kind', () => {
    const handler = deliver({ run: async () => null })
    expect(() => checkJobHandlers([], ['webhooks'])).toThrow(/"webhook.deliver" \(group webhooks\) has no handler/)
    expect(() => checkJobHandlers([handler, handler], ['webhooks'])).toThrow(/"webhook.deliver" has 2 handlers/)
    expect(() => checkJobHandlers([{ ...handler, kind: 'nope' as never }], [])).toThrow(/unknown job kind "nope"/)
    expect(() => checkJobHandlers([handler], ['webhooks'])).not.toThrow()
    // A group that is not enabled needs no handlers.
    expect(() => checkJobHandlers([handler], ['webhooks', 'monitor'])).not.toThrow()
  })

  it('backs off exponentially with jitter between half and the whole delay, capped', () => {
    const policy = { baseSeconds: 10, maxSeconds: 900 }
    expect(backoffSeconds(1, policy, () => 0)).toBe(5)
    expect(backoffSeconds(1, policy, () => 1)).toBe(10)
    expect(backoffSeconds(3, policy, () => 1)).toBe(40)
    expect(backoffSeconds(20, policy, () => 1)).toBe(900)
    expect(backoffSeconds(20, policy, () => 0)).toBe(450)
    for (const kind of Object.values(JOB_KINDS)) expect(kind.maxAttempts).toBeGreaterThan(0)
  })
})
