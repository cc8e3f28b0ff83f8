/**
 * The change feed's outbox table (migrations/0015_outbox.sql): services write it in their transactions
 * (events.ts `recordEvents`); this file reads it for the tailer and for resume, and prunes it.
 */
import type { SqlExecutor } from '../../adapters/sql/types.js'

/** One outbox row: an event on one topic. */
export interface OutboxRow {
  seq: number
  topic: string
  payload: unknown
}

/** What the tailer and resume read. */
export interface OutboxReader {
  /** The highest seq committed so far (0 when none). */
  head(): Promise<number>
  /** Rows with seq above `seq`, in order, at most `limit`. */
  after(seq: number, limit: number): Promise<OutboxRow[]>
  /** The rows among `seqs` that exist now (holes that filled late). */
  bySeq(seqs: readonly number[]): Promise<OutboxRow[]>
  /** `topic`'s rows with `since < seq <= upTo`, in order, at most `limit`. */
  topicRange(topic: string, since: number, upTo: number, limit: number): Promise<OutboxRow[]>
  /** The highest seq the prune job removed (0 when none). */
  prunedThrough(): Promise<number>
}

interface RawRow {
  seq: string | number
  topic: string
  payload: unknown
}

const toRow = (row: RawRow): OutboxRow => ({
  seq: Number(row.seq),
  topic: row.topic,
  payload: typeof row.payload === 'string' ? (JSON.parse(row.payload) as unknown) : row.payload,
})

export function createOutboxReader(sql: SqlExecutor): OutboxReader {
  return {
    async head() {
      const { rows } = await sql.query<{ head: string | null }>('SELECT max(seq)::text AS head FROM outbox')
      return Number(rows[0]?.head ?? 0)
    },
    async after(seq, limit) {
      const { rows } = await sql.query<RawRow>(
        'SELECT seq, topic, payload FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2',
        [seq, limit],
      )
      return rows.map(toRow)
    },
    async bySeq(seqs) {
      if (seqs.length === 0) return []
      const { rows } = await sql.query<RawRow>(
        'SELECT seq, topic, payload FROM outbox WHERE seq = ANY($1::bigint[]) ORDER BY seq',
        [seqs],
      )
      return rows.map(toRow)
    },
    async topicRange(topic, since, upTo, limit) {
      const { rows } = await sql.query<RawRow>(
        `SELECT seq, topic, payload FROM outbox WHERE topic = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4`,
        [topic, since, upTo, limit],
      )
      return rows.map(toRow)
    },
    async prunedThrough() {
      const { rows } = await sql.query<{ pruned: string }>('SELECT pruned_through::text AS pruned FROM outbox_state')
      return Number(rows[0]?.pruned ?? 0)
    },
  }
}

/**
 * Delete rows older than `retentionSeconds` and remember the highest seq deleted, so a resume from before it is
 * answered with a reset. Returns the rows deleted. Safe on every node at once (the state row is locked).
 */
export async function pruneOutbox(
  sql: { transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> },
  retentionSeconds: number,
): Promise<number> {
  return sql.transaction(async (tx) => {
    await tx.query('SELECT pruned_through FROM outbox_state FOR UPDATE')
    const { rows } = await tx.query<{ deleted: string; through: string | null }>(
      `WITH gone AS (
         DELETE FROM outbox WHERE created_at < clock_timestamp() - make_interval(secs => $1) RETURNING seq
       )
       SELECT count(*)::text AS deleted, max(seq)::text AS through FROM gone`,
      [retentionSeconds],
    )
    const through = rows[0]?.through ?? null
    if (through !== null) {
      await tx.query('UPDATE outbox_state SET pruned_through = greatest(pruned_through, $1::bigint)', [through])
    }
    return Number(rows[0]?.deleted ?? 0)
  })
}

/** Prune the outbox every `everySeconds` (each node may; pruning is idempotent). `close()` stops it. */
export function startOutboxPruning(options: {
  sql: { transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> }
  retentionSeconds: number
  everySeconds?: number
  logger?: { warn(obj: object, msg?: string): void; info(obj: object, msg?: string): void }
}): { close(): Promise<void> } {
  const every = options.everySeconds ?? Math.min(600, Math.max(10, options.retentionSeconds / 10))
  let running: Promise<void> | null = null
  const timer = setInterval(() => {
    if (running) return
    running = pruneOutbox(options.sql, options.retentionSeconds)
      .then((deleted) => {
        if (deleted > 0) options.logger?.info({ deleted }, 'pruned the change-feed outbox')
      })
      .catch((err: unknown) => options.logger?.warn({ err }, 'pruning the change-feed outbox failed'))
      .finally(() => (running = null))
  }, every * 1000)
  timer.unref()
  return {
    async close() {
      clearInterval(timer)
      await running
    },
  }
}
