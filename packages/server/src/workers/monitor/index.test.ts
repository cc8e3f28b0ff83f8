/**
 * The database monitor against both SQL adapters: PGlite (from the test template) and PostgreSQL on
 * 127.0.0.1:5432 (a fresh database per suite). Logs go to a real pino logger writing into an array.
 */
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPostgresSql, type Sql } from '../../adapters/sql/index.js'
import { createTestPostgresDatabase, openTestPglite } from '../../test-utils/db.js'
import { createDatabaseMonitor } from './index.js'

function capturedLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line))
      done()
    },
  })
  return { logger: pino({ level: 'info' }, stream), lines }
}

/** The value of one sample in the registry's Prometheus text, or undefined when the series is absent. */
async function sample(registry: Registry, series: string): Promise<number | undefined> {
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

const until = async (check: () => boolean, ms = 5_000): Promise<void> => {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** `concurrentQueries`: the adapter runs queries side by side (PostgreSQL), not one at a time (PGlite). */
function monitorContract(name: string, open: () => Promise<Sql>, options: { concurrentQueries: boolean }): void {
  describe(`database monitor: ${name}`, () => {
    let sql: Sql
    const table = `monitor_probe_${randomBytes(4).toString('hex')}`

    beforeAll(async () => {
      sql = await open()
      await sql.query(`CREATE TABLE ${table} (id int PRIMARY KEY, payload text)`)
      await sql.query(`INSERT INTO ${table} SELECT g, repeat('x', 200) FROM generate_series(1, 1000) g`)
      await sql.query(`ANALYZE ${table}`)
    })
    afterAll(async () => {
      await sql?.close()
    })

    it('reads the database size, tables and connections and exports them as gauges', async () => {
      const registry = new Registry()
      const monitor = createDatabaseMonitor({ sql, registry, logger: capturedLogger().logger })
      expect(monitor.latest()).toBeNull()

      const stats = await monitor.collect()

      expect(monitor.latest()).toBe(stats)
      expect(stats.collectedAt).toBeInstanceOf(Date)
      expect(stats.databaseBytes).toBeGreaterThan(1_000_000)
      const probe = stats.tables.find((t) => t.table === table)
      expect(probe).toMatchObject({ schema: 'public', name: table, approxRows: 1000 })
      expect(probe!.totalBytes).toBeGreaterThan(200 * 1000)
      expect(stats.connections).not.toBeNull()
      // The monitor's own query is an active connection on either database.
      expect(stats.connections!.active).toBeGreaterThanOrEqual(1)
      expect(Object.keys(stats.connections!)).toEqual(expect.arrayContaining(['active', 'idle', 'idle in transaction']))
      expect(stats.longestQuerySeconds).toBeGreaterThanOrEqual(0)

      expect(await sample(registry, 'truss_db_size_bytes')).toBe(stats.databaseBytes)
      expect(await sample(registry, `truss_db_table_bytes{table="${table}"}`)).toBe(probe!.totalBytes)
      expect(await sample(registry, `truss_db_table_rows{table="${table}"}`)).toBe(1000)
      expect(await sample(registry, 'truss_db_connections{state="active"}')).toBe(stats.connections!.active)
      expect(await sample(registry, 'truss_db_connections{state="idle in transaction"}')).toBeDefined()
      expect(await sample(registry, 'truss_db_longest_query_seconds')).toBe(stats.longestQuerySeconds)
      const lastSuccess = await sample(registry, 'truss_db_monitor_last_success_timestamp_seconds')
      expect(lastSuccess).toBeCloseTo(stats.collectedAt.getTime() / 1000, 3)
    })

    it('labels tables outside public with their schema and drops the series of a dropped table', async () => {
      const schema = `monitor_s_${randomBytes(4).toString('hex')}`
      await sql.query(`CREATE SCHEMA ${schema}`)
      await sql.query(`CREATE TABLE ${schema}.things (id int)`)
      const registry = new Registry()
      const monitor = createDatabaseMonitor({ sql, registry, logger: capturedLogger().logger })

      const before = await monitor.collect()
      expect(before.tables.map((t) => t.table)).toContain(`${schema}.things`)
      expect(await sample(registry, `truss_db_table_bytes{table="${schema}.things"}`)).toBeDefined()

      await sql.query(`DROP SCHEMA ${schema} CASCADE`)
      const after = await monitor.collect()
      expect(after.tables.map((t) => t.table)).not.toContain(`${schema}.things`)
      expect(await sample(registry, `truss_db_table_bytes{table="${schema}.things"}`)).toBeUndefined()
      expect(await sample(registry, `truss_db_table_bytes{table="${table}"}`)).toBeDefined()
    })

    it('reports at most maxTables tables, largest first', async () => {
      const monitor = createDatabaseMonitor({
        sql,
        registry: new Registry(),
        logger: capturedLogger().logger,
        maxTables: 1,
      })
      const stats = await monitor.collect()
      expect(stats.tables).toHaveLength(1)
      expect(stats.tables[0].table).toBe(table)
    })

    if (options.concurrentQueries) {
      it('reports the age of the longest query running on another connection', async () => {
        const monitor = createDatabaseMonitor({ sql, registry: new Registry(), logger: capturedLogger().logger })
        const sleeping = sql.query('SELECT pg_sleep(1.5)')
        try {
          await new Promise((resolve) => setTimeout(resolve, 700))
          const stats = await monitor.collect()
          expect(stats.longestQuerySeconds).toBeGreaterThanOrEqual(0.5)
          expect(stats.longestQuerySeconds).toBeLessThan(10)
          expect(stats.connections!.active).toBeGreaterThanOrEqual(2)
        } finally {
          await sleeping
        }
      })
    } else {
      it('reports its one backend as the only connection and no other running query', async () => {
        const stats = await createDatabaseMonitor({
          sql,
          registry: new Registry(),
          logger: capturedLogger().logger,
        }).collect()
        expect(Object.values(stats.connections!).reduce((a, b) => a + b, 0)).toBe(1)
        expect(stats.connections!.active).toBe(1)
        expect(stats.longestQuerySeconds).toBe(0)
      })
    }

    it('reads again every interval once started, and not after stop', async () => {
      const monitor = createDatabaseMonitor({
        sql,
        registry: new Registry(),
        logger: capturedLogger().logger,
        intervalSeconds: 0.05,
      })
      const seen = new Set<number>()
      monitor.start()
      monitor.start() // a second start is a no-op, not a second timer
      await until(() => {
        const latest = monitor.latest()
        if (latest !== null) seen.add(latest.collectedAt.getTime())
        return seen.size >= 3
      })
      await monitor.stop()
      const last = monitor.latest()
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(monitor.latest()).toBe(last)
    })

    it('joins a reading already under way', async () => {
      const monitor = createDatabaseMonitor({ sql, registry: new Registry(), logger: capturedLogger().logger })
      const [a, b] = await Promise.all([monitor.collect(), monitor.collect()])
      expect(a).toBe(b)
    })
  })
}

describe('database monitor', () => {
  monitorContract('pglite', () => openTestPglite(), { concurrentQueries: false })

  describe('on postgres', () => {
    let database: Awaited<ReturnType<typeof createTestPostgresDatabase>>
    beforeAll(async () => {
      database = await createTestPostgresDatabase()
    })
    afterAll(async () => {
      await database?.drop()
    })
    monitorContract('postgres', () => createPostgresSql({ url: database.url, logger: pino({ level: 'silent' }) }), {
      concurrentQueries: true,
    })
  })

  it('logs and counts a failed reading, keeps running, and rejects an on-demand reading', async () => {
    const sql = await openTestPglite()
    const registry = new Registry()
    const { logger, lines } = capturedLogger()
    const monitor = createDatabaseMonitor({ sql, registry, logger, intervalSeconds: 0.05 })
    await monitor.collect()
    const good = monitor.latest()
    await sql.close() // every query from now on fails

    monitor.start()
    await until(() => lines.filter((l) => l.msg === 'database monitor reading failed').length >= 2)
    await monitor.stop()

    await expect(monitor.collect()).rejects.toThrow()
    const failure = lines.find((l) => l.msg === 'database monitor reading failed')!
    expect(failure).toMatchObject({ level: 50, worker: 'database-monitor' })
    expect((failure.err as { type: string; message: string }).message).toBeTruthy()
    expect(typeof failure.durationMs).toBe('number')
    expect(await sample(registry, 'truss_db_monitor_failures_total')).toBeGreaterThanOrEqual(3)
    expect(monitor.latest()).toBe(good) // the last good reading stays
    expect(await sample(registry, 'truss_db_size_bytes')).toBe(good!.databaseBytes)
  })

  it('refuses a non-positive interval', () => {
    const options = { sql: { query: async () => ({ rows: [], rowCount: 0 }) }, registry: new Registry() }
    expect(() => createDatabaseMonitor({ ...options, logger: pino({ level: 'silent' }), intervalSeconds: 0 })).toThrow(
      RangeError,
    )
  })
})
