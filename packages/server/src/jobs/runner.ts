/**
 * The consumer side of the job queue: for each job kind this process handles, a lane that claims ready
 * jobs (FOR UPDATE SKIP LOCKED) up to the kind's concurrency, holds each by a lease it renews while the
 * handler runs, and records the outcome: succeeded, retried later with back-off, or dead after the last
 * attempt. A bus hint wakes idle lanes at once; polling covers lost hints. A worker killed mid-job loses
 * nothing: its lease runs out and another worker claims the job. A handler that writes its result through
 * `ctx.complete` writes it in the same transaction that marks the job done, fenced by the lease, so a worker
 * whose lease ran out can never write a second result.
 */
import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { Bus } from '../adapters/bus/types.js'
import type { Sql, SqlExecutor } from '../adapters/sql/types.js'
import {
  JOB_KINDS,
  backoffSeconds,
  type JobKindName,
  type JobPayloads,
  type KindPolicy,
  type WorkerGroup,
} from './kinds.js'
import { JOBS_TOPIC, toJob, type Job } from './queue.js'
import {
  claimJobs,
  lockLease,
  markFailed,
  markSucceeded,
  releaseLease,
  renewLease,
  selectQueueDepth,
  type Lease,
} from './repository.js'

export interface RunnerLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
  child?(bindings: Record<string, unknown>): RunnerLogger
}

/** A claimed job as its handler sees it. */
export interface ClaimedJob<K extends JobKindName = JobKindName> extends Omit<Job, 'payload' | 'kind'> {
  kind: K
  payload: JobPayloads[K]
}

export interface JobContext {
  /** Aborted when the lease is lost, the attempt times out or the worker shuts down. */
  signal: AbortSignal
  logger: RunnerLogger
  /** Whether a failure now makes the job dead (no attempts left). */
  lastAttempt: boolean
  /**
   * Write the job's result and mark it succeeded in one transaction, fenced by the lease: when another
   * worker has taken the job meanwhile, throws `LeaseLost` and `fn`'s writes roll back.
   */
  complete<T>(fn: (tx: SqlExecutor) => Promise<T>, result?: unknown): Promise<T>
  /** Extend the lease now (long steps that cannot check in otherwise). */
  renew(): Promise<void>
}

export interface JobHandler<K extends JobKindName = JobKindName> {
  kind: K
  /** The attempt. Resolve to succeed (its value is kept as the job's result); throw to fail. */
  run(job: ClaimedJob<K>, ctx: JobContext): Promise<unknown>
  /** After the last attempt failed, in the transaction that marks the job dead (e.g. mark an upload failed). */
  onDead?(job: ClaimedJob<K>, error: Error, tx: SqlExecutor): Promise<void>
}

/** A handler of any kind (what the runner and the start-up check take). */
export type AnyJobHandler = { [K in JobKindName]: JobHandler<K> }[JobKindName]

/** Fail without further attempts: retrying cannot help (unreadable file, deleted webhook). */
export class PermanentJobError extends Error {
  override readonly name = 'PermanentJobError'
}

/** The lease of a running job was taken over by another worker. */
export class LeaseLost extends Error {
  override readonly name = 'LeaseLost'
  constructor(jobId: string) {
    super(`the lease of job ${jobId} was lost to another worker`)
  }
}

class AttemptTimedOut extends Error {
  override readonly name = 'AttemptTimedOut'
}
class ShuttingDown extends Error {
  override readonly name = 'ShuttingDown'
}

/** Start-up refuses a set of handlers where a kind of an enabled group has none, or two. */
export class JobHandlersInvalid extends Error {
  override readonly name = 'JobHandlersInvalid'
}

export function checkJobHandlers(handlers: readonly AnyJobHandler[], groups: readonly WorkerGroup[]): void {
  const problems: string[] = []
  const seen = new Map<string, number>()
  for (const handler of handlers) {
    if (!Object.hasOwn(JOB_KINDS, handler.kind))
      problems.push(`a handler is registered for unknown job kind "${handler.kind}"`)
    seen.set(handler.kind, (seen.get(handler.kind) ?? 0) + 1)
  }
  for (const [kind, policy] of Object.entries(JOB_KINDS)) {
    if (!groups.includes(policy.group)) continue
    const count = seen.get(kind) ?? 0
    if (count === 0)
      problems.push(`job kind "${kind}" (group ${policy.group}) has no handler: register one in jobs wiring`)
    if (count > 1) problems.push(`job kind "${kind}" has ${count} handlers: register exactly one`)
  }
  if (problems.length > 0) throw new JobHandlersInvalid(problems.join('; '))
}

export interface JobMetrics {
  outcomes: Counter<'kind' | 'outcome'>
  durationSeconds: Histogram<'kind'>
}

/**
 * The job series in `registry`: outcomes and durations counted by this process's runner, and the queue depth
 * and oldest unfinished job per kind read from the database when scraped (so every node shows the same).
 */
export function registerJobMetrics(registry: Registry, sql: SqlExecutor): JobMetrics {
  new Gauge({
    name: 'truss_jobs_queued',
    help: 'Unfinished jobs, by kind and status (queued, running)',
    labelNames: ['kind', 'status'] as const,
    registers: [registry],
    async collect() {
      this.reset()
      for (const row of await selectQueueDepth(sql)) this.set({ kind: row.kind, status: row.status }, row.count)
    },
  })
  new Gauge({
    name: 'truss_jobs_oldest_age_seconds',
    help: 'Age of the oldest unfinished job, by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
    async collect() {
      this.reset()
      const oldest = new Map<string, number>()
      for (const row of await selectQueueDepth(sql)) {
        oldest.set(row.kind, Math.max(oldest.get(row.kind) ?? 0, row.oldest_seconds ?? 0))
      }
      for (const [kind, seconds] of oldest) this.set({ kind }, seconds)
    },
  })
  return {
    outcomes: new Counter({
      name: 'truss_jobs_completed_total',
      help: 'Job attempts finished by this process, by kind and outcome (succeeded, retried, dead, lease_lost, released)',
      labelNames: ['kind', 'outcome'] as const,
      registers: [registry],
    }),
    durationSeconds: new Histogram({
      name: 'truss_job_duration_seconds',
      help: 'Seconds per job attempt, by kind',
      labelNames: ['kind'] as const,
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800],
      registers: [registry],
    }),
  }
}

export interface JobRunnerOptions {
  sql: Sql
  bus?: Pick<Bus, 'subscribe'>
  logger: RunnerLogger
  handlers: readonly AnyJobHandler[]
  /** Identifies this process in `locked_by`; defaults to host:pid:random. */
  workerId?: string
  leaseSeconds?: number
  pollSeconds?: number
  metrics?: JobMetrics
  /** Policy changes per kind (tests: short back-off; small machines: lower concurrency). */
  policies?: Partial<Record<JobKindName, Partial<KindPolicy>>>
  /** How long `stop()` waits for running attempts before giving their jobs back. */
  stopTimeoutSeconds?: number
}

export interface JobRunner {
  readonly workerId: string
  start(): Promise<void>
  /** Stop claiming; let running attempts finish within the stop timeout, then abort them and give their jobs back. */
  stop(): Promise<void>
  /** Check for ready jobs now (what a bus hint does). */
  wake(): void
}

export function createJobRunner(options: JobRunnerOptions): JobRunner {
  const { sql, logger, handlers } = options
  const workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`
  const leaseSeconds = options.leaseSeconds ?? 30
  const pollMs = Math.max(10, (options.pollSeconds ?? 1) * 1000)
  const stopTimeoutMs = (options.stopTimeoutSeconds ?? 10) * 1000
  let stopped = true
  let unsubscribe: (() => Promise<void>) | undefined
  const lanes = handlers.map((handler) => createLane(handler))

  function createLane(typed: AnyJobHandler) {
    // The lane only passes the handler jobs of its own kind, so the payload always fits.
    const handler = typed as JobHandler
    const kind = handler.kind
    const policy: KindPolicy = { ...JOB_KINDS[kind], ...options.policies?.[kind] }
    const concurrency = Math.max(1, policy.concurrency)
    const running = new Map<string, { controller: AbortController; done: Promise<void> }>()
    let timer: NodeJS.Timeout | undefined
    let pumping = false
    let again = false

    const schedule = (ms: number) => {
      if (stopped) return
      clearTimeout(timer)
      timer = setTimeout(() => void pump(), ms)
    }

    async function pump(): Promise<void> {
      if (stopped) return
      if (pumping) {
        again = true
        return
      }
      pumping = true
      try {
        do {
          again = false
          const free = concurrency - running.size
          if (free <= 0) break
          let rows
          try {
            rows = await claimJobs(sql, { kind, limit: free, workerId, leaseSeconds })
          } catch (err) {
            if (!stopped) logger.warn({ err, kind }, 'could not claim jobs; trying again at the next poll')
            break
          }
          for (const row of rows) start(toJob(row) as ClaimedJob)
          if (rows.length === free) again = true
        } while (again && !stopped)
      } finally {
        pumping = false
        schedule(pollMs)
      }
    }

    function start(job: ClaimedJob) {
      const controller = new AbortController()
      const done = execute(job, controller).finally(() => {
        running.delete(job.id)
        // A slot is free: look for more at once.
        void pump()
      })
      running.set(job.id, { controller, done })
    }

    async function execute(job: ClaimedJob, controller: AbortController): Promise<void> {
      const lease: Lease = { id: job.id, workerId, attempt: job.attempts }
      const log = logger.child?.({ jobId: job.id, kind, attempt: job.attempts }) ?? logger
      const began = performance.now()
      let completed = false
      const renewEvery = Math.max(100, (leaseSeconds * 1000) / 3)
      const renew = async () => {
        const held = await renewLease(sql, lease, leaseSeconds)
        if (!held) controller.abort(new LeaseLost(job.id))
      }
      const heartbeat = setInterval(() => {
        renew().catch((err: unknown) => log.warn({ err }, 'could not renew a job lease'))
      }, renewEvery)
      const timeout = setTimeout(
        () => controller.abort(new AttemptTimedOut(`the attempt ran over ${policy.timeoutSeconds} s`)),
        policy.timeoutSeconds * 1000,
      )
      const ctx: JobContext = {
        signal: controller.signal,
        logger: log,
        lastAttempt: job.attempts >= job.maxAttempts,
        renew,
        async complete(fn, result) {
          const value = await sql.transaction(async (tx) => {
            if (!(await lockLease(tx, lease))) throw new LeaseLost(job.id)
            const out = await fn(tx)
            await markSucceeded(tx, lease, result ?? null)
            return out
          })
          completed = true
          return value
        },
      }
      const outcome = (name: string) => {
        options.metrics?.outcomes.inc({ kind, outcome: name })
        options.metrics?.durationSeconds.observe({ kind }, (performance.now() - began) / 1000)
      }
      try {
        if (job.attempts > job.maxAttempts) {
          // Its worker died during the last attempt: the lease ran out with no attempts left.
          throw new PermanentJobError('the worker running the last attempt stopped before finishing it')
        }
        const result = await raceAbort(handler.run(job, ctx), controller.signal)
        if (!completed && !(await markSucceeded(sql, lease, normalizeResult(result)))) throw new LeaseLost(job.id)
        outcome('succeeded')
        log.info({ ms: Math.round(performance.now() - began) }, 'job succeeded')
      } catch (caught) {
        if (completed) {
          // The result committed; what failed came after it (an abort racing the handler's return).
          outcome('succeeded')
          return
        }
        const reason: unknown = controller.signal.aborted ? controller.signal.reason : caught
        const error = reason instanceof Error ? reason : new Error(String(reason))
        if (error instanceof LeaseLost) {
          outcome('lease_lost')
          log.warn({ err: error }, 'job lease lost; another worker has it')
          return
        }
        if (error instanceof ShuttingDown) {
          await releaseLease(sql, lease).catch((err: unknown) => log.warn({ err }, 'could not give a job back'))
          outcome('released')
          log.info({}, 'job given back at shutdown')
          return
        }
        const dead = error instanceof PermanentJobError || job.attempts >= job.maxAttempts
        const message = error.message || error.name
        try {
          if (dead) {
            await sql.transaction(async (tx) => {
              if (!(await markFailed(tx, lease, { error: message, retryInSeconds: null }))) return
              await handler.onDead?.(job, error, tx)
            })
            outcome('dead')
            log.error({ err: error }, 'job failed for the last time')
          } else {
            const wait = backoffSeconds(job.attempts, policy.backoff)
            await markFailed(sql, lease, { error: message, retryInSeconds: wait })
            outcome('retried')
            log.warn({ err: error, retryInSeconds: Math.round(wait) }, 'job failed; will retry')
          }
        } catch (err) {
          log.error(
            { err, jobError: message },
            'could not record a job failure; its lease will run out and it will run again',
          )
        }
      } finally {
        clearInterval(heartbeat)
        clearTimeout(timeout)
      }
    }

    return {
      kind,
      pump,
      running,
      halt() {
        clearTimeout(timer)
      },
    }
  }

  return {
    workerId,
    async start() {
      if (!stopped) return
      stopped = false
      if (options.bus && lanes.length > 0) {
        unsubscribe = await options.bus.subscribe(JOBS_TOPIC, (message) => {
          const kinds = (message as { kinds?: unknown } | null)?.kinds
          for (const lane of lanes) {
            if (!Array.isArray(kinds) || kinds.includes(lane.kind)) void lane.pump()
          }
        })
      }
      for (const lane of lanes) void lane.pump()
    },
    wake() {
      for (const lane of lanes) void lane.pump()
    },
    async stop() {
      if (stopped) return
      stopped = true
      for (const lane of lanes) lane.halt()
      await unsubscribe?.().catch(() => undefined)
      const running = lanes.flatMap((lane) => [...lane.running.values()])
      let timer: NodeJS.Timeout | undefined
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, stopTimeoutMs)
      })
      await Promise.race([Promise.all(running.map((r) => r.done)), grace])
      clearTimeout(timer)
      for (const r of running) r.controller.abort(new ShuttingDown('the worker is stopping'))
      await Promise.all(running.map((r) => r.done))
    },
  }
}

/** Settle with `promise`, or reject with the signal's reason as soon as it aborts. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err as Error)
      },
    )
  })
}

function normalizeResult(result: unknown): unknown {
  if (result === undefined || result === null) return null
  return typeof result === 'object' && !Array.isArray(result) ? result : { value: result }
}
