/**
 * The producer and admin side of the job queue: enqueue a job in the caller's transaction, hint idle
 * workers after commit, list and retry jobs. The runner (runner.ts) is the consumer side.
 */
import type { Bus } from '../adapters/bus/types.js'
import type { SqlExecutor } from '../adapters/sql/types.js'
import { BadUserInput, NotFound } from '../errors.js'
import { JOB_KINDS, type JobKindName, type JobPayloads } from './kinds.js'
import {
  insertJob,
  requeueJob,
  selectJob,
  selectJobs,
  selectQueueDepth,
  type JobRow,
  type JobStatus,
} from './repository.js'

import { JOBS_TOPIC } from '../events.js'

/** The bus topic idle workers listen on; a message is only a hint to look at the table now. */
export { JOBS_TOPIC }

export interface Job {
  id: string
  kind: string
  payload: Record<string, unknown>
  status: JobStatus
  attempts: number
  maxAttempts: number
  runAt: Date
  leaseUntil: Date | null
  lockedBy: string | null
  lastError: string | null
  result: Record<string, unknown> | null
  createdAt: Date
  updatedAt: Date
  finishedAt: Date | null
}

export function toJob(row: JobRow): Job {
  return {
    id: row.id,
    kind: row.kind,
    payload: row.payload,
    status: row.status,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    runAt: row.run_at,
    leaseUntil: row.lease_until,
    lockedBy: row.locked_by,
    lastError: row.last_error,
    result: row.result,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  }
}

export interface EnqueueOptions {
  /** Run no earlier than this many seconds from now. */
  delaySeconds?: number
  /** While a job of this kind with this key is queued or running, enqueueing another does nothing. */
  dedupeKey?: string
  /** Attempts in all instead of the kind's policy. */
  maxAttempts?: number
}

export interface JobQueue {
  /** Write a job through `db` (the transaction of the change that causes it); null when deduplicated. */
  enqueue<K extends JobKindName>(
    db: SqlExecutor,
    kind: K,
    payload: JobPayloads[K],
    options?: EnqueueOptions,
  ): Promise<string | null>
  /** After commit: wake idle workers of these kinds (all when none given). Never throws. */
  wake(kinds?: readonly JobKindName[]): Promise<void>
  get(id: string): Promise<Job>
  list(filter?: { kind?: string; status?: JobStatus; limit?: number; beforeId?: string }): Promise<Job[]>
  /** Put a dead job back to run now with its attempts reset; throws NotFound / BadUserInput. */
  retry(id: string): Promise<Job>
  /** Unfinished jobs per kind and status, with the age in seconds of the oldest. */
  depth(): Promise<{ kind: string; status: JobStatus; count: number; oldestSeconds: number }[]>
}

const JOB_ID = /^[1-9][0-9]{0,17}$/

export function createJobQueue({
  sql,
  bus,
  logger,
}: {
  sql: SqlExecutor
  bus?: Pick<Bus, 'publish'>
  logger?: { warn(obj: object, msg?: string): void }
}): JobQueue {
  const get = async (id: string): Promise<Job> => {
    if (!JOB_ID.test(id)) throw new NotFound('job', id)
    const row = await selectJob(sql, id)
    if (row === null) throw new NotFound('job', id)
    return toJob(row)
  }
  return {
    async enqueue(db, kind, payload, options = {}) {
      const policy = JOB_KINDS[kind]
      return insertJob(db, {
        kind,
        payload,
        maxAttempts: Math.max(1, Math.trunc(options.maxAttempts ?? policy.maxAttempts)),
        delaySeconds: Math.max(0, options.delaySeconds ?? 0),
        dedupeKey: options.dedupeKey ?? null,
      })
    },
    async wake(kinds) {
      if (bus === undefined) return
      try {
        await bus.publish(JOBS_TOPIC, { kinds: kinds ?? null })
      } catch (err) {
        // Polling picks the job up within a poll interval anyway.
        logger?.warn({ err }, 'could not publish a job hint')
      }
    },
    get,
    async list(filter = {}) {
      if (filter.beforeId !== undefined && !JOB_ID.test(filter.beforeId)) {
        throw new BadUserInput('the job cursor must be a job id')
      }
      const limit = Math.min(Math.max(1, Math.trunc(filter.limit ?? 50)), 1000)
      const rows = await selectJobs(sql, { kind: filter.kind, status: filter.status, limit, beforeId: filter.beforeId })
      return rows.map(toJob)
    },
    async retry(id) {
      const job = await get(id)
      if (job.status !== 'dead') {
        throw new BadUserInput(`job ${id} is ${job.status}; only a dead job can be retried`)
      }
      await requeueJob(sql, id)
      await this.wake(Object.hasOwn(JOB_KINDS, job.kind) ? [job.kind as JobKindName] : undefined)
      return get(id)
    },
    async depth() {
      const rows = await selectQueueDepth(sql)
      return rows.map((r) => ({ kind: r.kind, status: r.status, count: r.count, oldestSeconds: r.oldest_seconds ?? 0 }))
    },
  }
}
