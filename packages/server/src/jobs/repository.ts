/** SQL of the jobs table (migration 0008). Times come from the database clock, so nodes' clocks never disagree. */
import type { SqlExecutor } from '../adapters/sql/types.js'

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'dead'

export interface JobRow {
  id: string
  kind: string
  payload: Record<string, unknown>
  status: JobStatus
  attempts: number
  max_attempts: number
  run_at: Date
  lease_until: Date | null
  locked_by: string | null
  last_error: string | null
  result: Record<string, unknown> | null
  dedupe_key: string | null
  created_at: Date
  updated_at: Date
  finished_at: Date | null
}

const COLUMNS = `id::text AS id, kind, payload, status, attempts, max_attempts, run_at, lease_until, locked_by,
  last_error, result, dedupe_key, created_at, updated_at, finished_at`

/** The columns, each qualified by `table` (an UPDATE ... FROM needs it). */
function prefixed(table: string): string {
  return COLUMNS.replace(/(^|,\s*)(\w+)/g, (_m, sep: string, name: string) => `${sep}${table}.${name}`)
}

export async function insertJob(
  db: SqlExecutor,
  job: { kind: string; payload: unknown; maxAttempts: number; delaySeconds: number; dedupeKey: string | null },
): Promise<string | null> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO jobs (kind, payload, max_attempts, run_at, dedupe_key)
     VALUES ($1, $2::jsonb, $3, clock_timestamp() + $4 * interval '1 second', $5)
     ON CONFLICT (kind, dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running') DO NOTHING
     RETURNING id::text AS id`,
    [job.kind, JSON.stringify(job.payload ?? {}), job.maxAttempts, job.delaySeconds, job.dedupeKey],
  )
  return rows[0]?.id ?? null
}

/**
 * Lease up to `limit` jobs of `kind`: ready queued ones first by run_at, then running ones whose lease ran
 * out (their worker died). Each claim counts an attempt.
 */
export async function claimJobs(
  db: SqlExecutor,
  claim: { kind: string; limit: number; workerId: string; leaseSeconds: number },
): Promise<JobRow[]> {
  const { rows } = await db.query<JobRow>(
    `WITH next AS (
       SELECT id FROM jobs
        WHERE kind = $1
          AND ((status = 'queued' AND run_at <= clock_timestamp())
            OR (status = 'running' AND lease_until < clock_timestamp()))
        ORDER BY run_at, id
        LIMIT $2
        FOR UPDATE SKIP LOCKED
     )
     UPDATE jobs SET status = 'running', attempts = jobs.attempts + 1, locked_by = $3,
            lease_until = clock_timestamp() + $4 * interval '1 second', updated_at = clock_timestamp()
       FROM next WHERE jobs.id = next.id
     RETURNING ${prefixed('jobs')}`,
    [claim.kind, claim.limit, claim.workerId, claim.leaseSeconds],
  )
  return rows
}

/** The fence: the row is still this worker's lease of this attempt. */
const FENCE = `id = $1::bigint AND status = 'running' AND locked_by = $2 AND attempts = $3`

export interface Lease {
  id: string
  workerId: string
  attempt: number
}

/** Lock the leased row inside a transaction; false when the lease was lost (another worker took the job). */
export async function lockLease(db: SqlExecutor, lease: Lease): Promise<boolean> {
  const { rows } = await db.query(`SELECT id FROM jobs WHERE ${FENCE} FOR UPDATE`, [
    lease.id,
    lease.workerId,
    lease.attempt,
  ])
  return rows.length === 1
}

export async function renewLease(db: SqlExecutor, lease: Lease, leaseSeconds: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE jobs SET lease_until = clock_timestamp() + $4 * interval '1 second', updated_at = clock_timestamp()
      WHERE ${FENCE}`,
    [lease.id, lease.workerId, lease.attempt, leaseSeconds],
  )
  return rowCount === 1
}

export async function markSucceeded(db: SqlExecutor, lease: Lease, result: unknown): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE jobs SET status = 'succeeded', result = $4::jsonb, lease_until = NULL, last_error = NULL,
            finished_at = clock_timestamp(), updated_at = clock_timestamp()
      WHERE ${FENCE}`,
    [lease.id, lease.workerId, lease.attempt, result === undefined ? null : JSON.stringify(result)],
  )
  return rowCount === 1
}

/** A failed attempt: back to the queue after `retryInSeconds`, or dead when it is null. */
export async function markFailed(
  db: SqlExecutor,
  lease: Lease,
  failure: { error: string; retryInSeconds: number | null },
): Promise<boolean> {
  const dead = failure.retryInSeconds === null
  const { rowCount } = await db.query(
    `UPDATE jobs SET status = $4, last_error = $5, lease_until = NULL, locked_by = NULL,
            run_at = CASE WHEN $4 = 'queued' THEN clock_timestamp() + $6 * interval '1 second' ELSE run_at END,
            finished_at = CASE WHEN $4 = 'dead' THEN clock_timestamp() ELSE NULL END,
            updated_at = clock_timestamp()
      WHERE ${FENCE}`,
    [lease.id, lease.workerId, lease.attempt, dead ? 'dead' : 'queued', failure.error, failure.retryInSeconds ?? 0],
  )
  return rowCount === 1
}

/** Give a job back untouched (shutdown): it runs again at once elsewhere, and this attempt does not count. */
export async function releaseLease(db: SqlExecutor, lease: Lease): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE jobs SET status = 'queued', attempts = attempts - 1, lease_until = NULL, locked_by = NULL,
            run_at = clock_timestamp(), updated_at = clock_timestamp()
      WHERE ${FENCE}`,
    [lease.id, lease.workerId, lease.attempt],
  )
  return rowCount === 1
}

export async function selectJob(db: SqlExecutor, id: string): Promise<JobRow | null> {
  const { rows } = await db.query<JobRow>(`SELECT ${COLUMNS} FROM jobs WHERE id = $1::bigint`, [id])
  return rows[0] ?? null
}

export async function selectJobs(
  db: SqlExecutor,
  filter: { kind?: string | null; status?: JobStatus | null; limit: number; beforeId?: string | null },
): Promise<JobRow[]> {
  const { rows } = await db.query<JobRow>(
    `SELECT ${COLUMNS} FROM jobs
      WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR status = $2)
        AND ($3::bigint IS NULL OR id < $3::bigint)
      ORDER BY id DESC LIMIT $4`,
    [filter.kind ?? null, filter.status ?? null, filter.beforeId ?? null, filter.limit],
  )
  return rows
}

/** Put a dead (or queued) job back to run now with a fresh set of attempts; false when it is not dead/queued. */
export async function requeueJob(db: SqlExecutor, id: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE jobs SET status = 'queued', attempts = 0, run_at = clock_timestamp(), finished_at = NULL,
            locked_by = NULL, lease_until = NULL, updated_at = clock_timestamp()
      WHERE id = $1::bigint AND status IN ('dead', 'queued')`,
    [id],
  )
  return rowCount === 1
}

export interface QueueDepthRow {
  kind: string
  status: JobStatus
  count: number
  oldest_seconds: number | null
}

/** Unfinished jobs per kind and status, with the age of the oldest (from its creation). */
export async function selectQueueDepth(db: SqlExecutor): Promise<QueueDepthRow[]> {
  const { rows } = await db.query<QueueDepthRow>(
    `SELECT kind, status, count(*)::int AS count,
            EXTRACT(EPOCH FROM clock_timestamp() - min(created_at))::float8 AS oldest_seconds
       FROM jobs WHERE status IN ('queued', 'running') GROUP BY kind, status`,
  )
  return rows
}

/** Finished jobs older than `days`: succeeded ones go, dead ones stay for an admin to see. */
export async function deleteFinishedJobs(db: SqlExecutor, days: number): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM jobs WHERE status = 'succeeded' AND finished_at < clock_timestamp() - $1 * interval '1 day'`,
    [days],
  )
  return rowCount
}
