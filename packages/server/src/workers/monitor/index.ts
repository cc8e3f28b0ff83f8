/**
 * The database monitor (Speckle's "monitor" service): reads the database's health through the SQL adapter
 * (the same queries on PGlite and PostgreSQL) every `intervalSeconds` and on demand, keeps the latest
 * reading for admin pages, and exports it as Prometheus gauges. A failed reading is logged and counted;
 * the gauges keep the last good values and `truss_db_monitor_last_success_timestamp_seconds` shows their age.
 */
import type { Logger } from 'pino'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { SqlExecutor } from '../../adapters/sql/types.js'

export interface DatabaseTableStats {
  /** The metric label: `name` for tables in `public`, `schema.name` otherwise. */
  table: string
  schema: string
  name: string
  /** Heap, indexes and TOAST (`pg_total_relation_size`). */
  totalBytes: number
  /** Live rows as the statistics system counts them, else the planner's estimate from the last ANALYZE. */
  approxRows: number
}

export interface DatabaseStats {
  collectedAt: Date
  /** `pg_database_size(current_database())`. */
  databaseBytes: number
  /** Largest first, at most `maxTables`. */
  tables: DatabaseTableStats[]
  /** Client connections to this database by state (`pg_stat_activity`); null where it cannot be read. */
  connections: Record<string, number> | null
  /** Age of the oldest query still running on another connection (0 when none); null with `connections`. */
  longestQuerySeconds: number | null
}

export interface DatabaseMonitor {
  /** Reads the database now (joining a reading already under way); rejects, after logging, when it fails. */
  collect(): Promise<DatabaseStats>
  /** The last successful reading, or null before the first. */
  latest(): DatabaseStats | null
  /** Reads now and then every `intervalSeconds` until `stop()`; never throws or rejects. */
  start(): void
  /** Stops the timer and waits for a reading under way. */
  stop(): Promise<void>
}

export interface DatabaseMonitorOptions {
  sql: Pick<SqlExecutor, 'query'>
  registry: Registry
  logger: Logger
  /** Seconds between readings while started; default 30. */
  intervalSeconds?: number
  /** Tables reported (largest first), bounding the metrics' label values; default 200. */
  maxTables?: number
}

// Always exported, so a dashboard's series exist even while the state has no connections.
const CONNECTION_STATES = ['active', 'idle', 'idle in transaction', 'idle in transaction (aborted)'] as const

// A table's row count: the statistics system's live rows once it has seen the table (any activity or
// maintenance), else pg_class.reltuples (-1 when never analyzed). Temporary tables come and go: not reported.
const TABLES_QUERY = `
SELECT s.schemaname AS schema, s.relname AS name,
       coalesce(pg_total_relation_size(s.relid), 0)::float8 AS total_bytes,
       CASE WHEN s.n_live_tup > 0 OR s.n_dead_tup > 0 OR s.n_tup_ins > 0 OR s.n_tup_del > 0
                 OR coalesce(s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze) IS NOT NULL
            THEN s.n_live_tup::float8
            ELSE greatest(c.reltuples, 0)::float8 END AS approx_rows
  FROM pg_stat_user_tables s
  JOIN pg_class c ON c.oid = s.relid
 WHERE c.relpersistence <> 't'
 ORDER BY total_bytes DESC, s.schemaname, s.relname
 LIMIT $1`

// PGlite has one backend, reported as 'standalone backend'; PostgreSQL's clients are 'client backend'.
const ACTIVITY_QUERY = `
SELECT coalesce(state, 'unknown') AS state, count(*)::int AS connections,
       coalesce(max(extract(epoch FROM clock_timestamp() - query_start))
                  FILTER (WHERE state = 'active' AND pid <> pg_backend_pid()), 0)::float8 AS longest_seconds
  FROM pg_stat_activity
 WHERE datname = current_database() AND backend_type IN ('client backend', 'standalone backend')
 GROUP BY 1`

export function createDatabaseMonitor(options: DatabaseMonitorOptions): DatabaseMonitor {
  const { sql, registry } = options
  const intervalSeconds = options.intervalSeconds ?? 30
  const maxTables = options.maxTables ?? 200
  if (!(intervalSeconds > 0) || !Number.isFinite(intervalSeconds)) {
    throw new RangeError('createDatabaseMonitor: intervalSeconds must be a positive number')
  }
  if (!Number.isInteger(maxTables) || maxTables < 1) {
    throw new RangeError('createDatabaseMonitor: maxTables must be a whole number from 1')
  }
  const logger = options.logger.child({ worker: 'database-monitor' })
  const registers = [registry]

  const sizeBytes = new Gauge({ name: 'truss_db_size_bytes', help: 'Size of the database in bytes', registers })
  const tableBytes = new Gauge({
    name: 'truss_db_table_bytes',
    help: 'Size of a table with its indexes and TOAST, in bytes',
    labelNames: ['table'] as const,
    registers,
  })
  const tableRows = new Gauge({
    name: 'truss_db_table_rows',
    help: 'Approximate live rows of a table',
    labelNames: ['table'] as const,
    registers,
  })
  const connections = new Gauge({
    name: 'truss_db_connections',
    help: 'Client connections to the database, by state',
    labelNames: ['state'] as const,
    registers,
  })
  const longestQuery = new Gauge({
    name: 'truss_db_longest_query_seconds',
    help: 'Age in seconds of the oldest query still running on another connection',
    registers,
  })
  const lastSuccess = new Gauge({
    name: 'truss_db_monitor_last_success_timestamp_seconds',
    help: 'Unix time of the last successful database monitor reading',
    registers,
  })
  const failures = new Counter({
    name: 'truss_db_monitor_failures_total',
    help: 'Database monitor readings that failed',
    registers,
  })

  let latest: DatabaseStats | null = null
  let inFlight: Promise<DatabaseStats> | undefined
  let timer: NodeJS.Timeout | undefined
  let running = false
  let generation = 0 // a timer chain from before a stop() must not continue after a new start()
  let activityUnavailableLogged = false

  async function readActivity(): Promise<Pick<DatabaseStats, 'connections' | 'longestQuerySeconds'>> {
    try {
      const { rows } = await sql.query<{ state: string; connections: number; longest_seconds: number }>(ACTIVITY_QUERY)
      const byState: Record<string, number> = Object.fromEntries(CONNECTION_STATES.map((state) => [state, 0]))
      let longest = 0
      for (const row of rows) {
        byState[row.state] = (byState[row.state] ?? 0) + row.connections
        longest = Math.max(longest, row.longest_seconds)
      }
      return { connections: byState, longestQuerySeconds: longest }
    } catch (err) {
      // A role without access to pg_stat_activity still gets the rest; say so once, not every reading.
      if (!activityUnavailableLogged) {
        activityUnavailableLogged = true
        logger.warn({ err }, 'database monitor cannot read pg_stat_activity; connection metrics are not reported')
      }
      return { connections: null, longestQuerySeconds: null }
    }
  }

  async function read(): Promise<DatabaseStats> {
    const started = performance.now()
    try {
      const size = await sql.query<{ bytes: number }>('SELECT pg_database_size(current_database())::float8 AS bytes')
      const tables = await sql.query<{ schema: string; name: string; total_bytes: number; approx_rows: number }>(
        TABLES_QUERY,
        [maxTables],
      )
      const activity = await readActivity()
      const stats: DatabaseStats = {
        collectedAt: new Date(),
        databaseBytes: size.rows[0]?.bytes ?? 0,
        tables: tables.rows.map((row) => ({
          table: row.schema === 'public' ? row.name : `${row.schema}.${row.name}`,
          schema: row.schema,
          name: row.name,
          totalBytes: row.total_bytes,
          approxRows: row.approx_rows,
        })),
        ...activity,
      }
      publish(stats)
      latest = stats
      return stats
    } catch (err) {
      failures.inc()
      logger.error({ err, durationMs: Math.round(performance.now() - started) }, 'database monitor reading failed')
      throw err
    }
  }

  function publish(stats: DatabaseStats): void {
    // Reset then set in one synchronous step: a dropped table's series disappears, and no scrape sees a gap.
    sizeBytes.set(stats.databaseBytes)
    tableBytes.reset()
    tableRows.reset()
    for (const t of stats.tables) {
      tableBytes.set({ table: t.table }, t.totalBytes)
      tableRows.set({ table: t.table }, t.approxRows)
    }
    connections.reset()
    longestQuery.reset()
    if (stats.connections !== null) {
      for (const [state, count] of Object.entries(stats.connections)) connections.set({ state }, count)
      longestQuery.set(stats.longestQuerySeconds ?? 0)
    }
    lastSuccess.set(stats.collectedAt.getTime() / 1000)
  }

  function collect(): Promise<DatabaseStats> {
    inFlight ??= read().finally(() => {
      inFlight = undefined
    })
    return inFlight
  }

  function tick(chain: number): void {
    collect()
      .catch(() => {}) // already logged and counted by read()
      .finally(() => {
        if (running && chain === generation) timer = setTimeout(() => tick(chain), intervalSeconds * 1000).unref()
      })
  }

  return {
    collect,
    latest: () => latest,
    start() {
      if (running) return
      running = true
      generation += 1
      tick(generation)
    },
    async stop() {
      running = false
      clearTimeout(timer)
      timer = undefined
      await inFlight?.catch(() => {})
    },
  }
}
