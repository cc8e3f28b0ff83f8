/**
 * PostgreSQL (`DATABASE_URL`) behind the `Sql` interface: a `pg` pool; COPY through
 * `pg-copy-streams`; cursors with DECLARE/FETCH on a dedicated connection inside a transaction.
 */
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import pg from 'pg'
import { from as copyFromStdin, to as copyToStdout } from 'pg-copy-streams'
import type { Logger } from 'pino'
import { checkBatchSize, copyStatement, encodeCopyChunks } from './shared.js'
import { SqlBusy, SqlClosed, SqlConfigError, SqlError, type QueryResult, type Sql, type SqlExecutor } from './types.js'

export interface PostgresSqlOptions {
  /** `postgres://user:password@host:5432/database` (`postgresql://` too). */
  url: string
  /** Connections in the pool; default 10. Each open transaction and cursor holds one. */
  poolSize?: number
  /**
   * How long to wait for a connection, at start and when the pool is busy; default 30 s. Without a
   * limit a request would hang for ever on an unreachable server or a pool held by slow cursors.
   */
  connectTimeoutMs?: number
  logger: Logger
}

const DEFAULT_POOL_SIZE = 10
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000
// Node streams move COPY data in chunks of about this many characters.
const COPY_CHUNK_CHARS = 64 * 1024

const DATE_OID = 1082
const DATE_ARRAY_OID = 1182
const TEXT_ARRAY_OID = 1009
// pg-types' typings list only scalar type ids; at run time it has parsers for arrays too.
const builtinParser = pg.types.getTypeParser as (oid: number, format?: string) => (value: string) => unknown
// Like the PGlite adapter: `date` stays 'YYYY-MM-DD' (pg would make a Date at local midnight).
// int8 and numeric are strings already (pg's default).
const TYPES = {
  getTypeParser: (oid: number, format?: string) => {
    if (oid === DATE_OID) return (value: string) => value
    if (oid === DATE_ARRAY_OID) return builtinParser(TEXT_ARRAY_OID, 'text')
    return builtinParser(oid, format)
  },
} as pg.CustomTypesConfig

export async function createPostgresSql(options: PostgresSqlOptions): Promise<Sql> {
  const url = parseDatabaseUrl(options.url)
  const poolSize = options.poolSize ?? DEFAULT_POOL_SIZE
  if (!Number.isSafeInteger(poolSize) || poolSize < 1) {
    throw new SqlConfigError('DATABASE_URL', `the PostgreSQL pool size must be a positive integer, got ${poolSize}`)
  }
  const pool = new pg.Pool({
    connectionString: options.url,
    max: poolSize,
    connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    keepAlive: true,
    application_name: 'truss',
    types: TYPES,
  })
  // An idle connection that dies (server restart) is replaced on next use; without a listener it would crash the process.
  pool.on('error', (err) => options.logger.warn({ err }, 'an idle PostgreSQL connection failed'))
  try {
    await pool.query('SELECT 1')
  } catch (err) {
    await pool.end().catch(() => undefined)
    throw new SqlConfigError(
      'DATABASE_URL',
      `DATABASE_URL: cannot connect to PostgreSQL at ${redact(url)}: ${hidePassword(errorMessage(err), url)}`,
    )
  }
  options.logger.info({ database: redact(url), poolSize }, 'PostgreSQL connected')
  return new PostgresSql(pool, options.logger)
}

/** Refuse what is not a postgres URL, without echoing it: it may hold a password. */
function parseDatabaseUrl(text: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new SqlConfigError(
      'DATABASE_URL',
      'DATABASE_URL is not a valid URL; use postgres://user:password@host:5432/database',
    )
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new SqlConfigError(
      'DATABASE_URL',
      `DATABASE_URL must start with postgres:// or postgresql://, not ${url.protocol}//; use postgres://user:password@host:5432/database`,
    )
  }
  return url
}

function redact(url: URL): string {
  const user = url.username ? `${decodeURIComponent(url.username)}${url.password ? ':***' : ''}@` : ''
  return `${url.protocol}//${user}${url.host}${url.pathname}`
}

function hidePassword(message: string, url: URL): string {
  if (!url.password) return message
  return message.replaceAll(url.password, '***').replaceAll(decodeURIComponent(url.password), '***')
}

function errorMessage(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.map(errorMessage).join('; ')
  return err instanceof Error ? err.message || String(err) : String(err)
}

/** PostgreSQL's own errors become `SqlError` (same fields as under PGlite); others pass unchanged. */
function toSqlError(err: unknown): unknown {
  // pg-pool's wording when no connection came free within connectionTimeoutMillis (all of them busy).
  if (err instanceof Error && err.message === 'timeout exceeded when trying to connect') {
    return new SqlBusy('no database connection came free in time', { cause: err })
  }
  if (!(err instanceof pg.DatabaseError)) return err
  return new SqlError(
    err.message,
    {
      code: err.code,
      severity: err.severity,
      detail: err.detail,
      hint: err.hint,
      schema: err.schema,
      table: err.table,
      column: err.column,
      constraint: err.constraint,
      where: err.where,
      position: err.position,
    },
    { cause: err },
  )
}

function toResult<R>(result: pg.QueryResult | pg.QueryResult[]): QueryResult<R> {
  // A text of several statements (no parameters) answers one result each; keep the last, as PGlite does.
  const last = Array.isArray(result) ? result.at(-1) : result
  if (!last) return { rows: [], rowCount: 0 }
  return { rows: last.rows as R[], rowCount: last.rowCount ?? last.rows.length }
}

async function runQuery<R>(
  client: pg.Pool | pg.PoolClient,
  text: string,
  params: readonly unknown[] | undefined,
): Promise<QueryResult<R>> {
  try {
    // pg uses the simple protocol for an empty parameter list, so one text may hold several statements.
    return toResult<R>(await client.query(text, params as unknown[] | undefined))
  } catch (err) {
    throw toSqlError(err)
  }
}

async function copyInto(
  client: pg.PoolClient,
  table: string,
  columns: readonly string[],
  rows: Iterable<readonly (string | null)[]>,
): Promise<number> {
  const text = copyStatement(table, columns, 'STDIN')
  const chunks = function* (): Generator<string> {
    for (const chunk of encodeCopyChunks(rows, columns.length, COPY_CHUNK_CHARS)) yield chunk.text
  }
  const stream = client.query(copyFromStdin(text))
  try {
    await pipeline(Readable.from(chunks()), stream)
  } catch (err) {
    throw toSqlError(err)
  }
  return stream.rowCount
}

async function copyTextInto(
  client: pg.PoolClient,
  table: string,
  columns: readonly string[],
  source: AsyncIterable<Uint8Array>,
): Promise<number> {
  const stream = client.query(copyFromStdin(copyStatement(table, columns, 'STDIN')))
  try {
    // A failing source destroys the COPY stream, which sends CopyFail: the statement loads nothing.
    await pipeline(Readable.from(source, { objectMode: false }), stream)
  } catch (err) {
    throw toSqlError(err)
  }
  return stream.rowCount
}

/**
 * A connection's queries one after another: pg deprecates overlapping queries on one client, and a
 * transaction body may well `Promise.all` its queries.
 */
class Session {
  private tail: Promise<unknown> = Promise.resolve()

  constructor(readonly client: pg.PoolClient) {}

  run<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const next = this.tail.then(
      () => fn(this.client),
      () => fn(this.client),
    )
    this.tail = next.catch(() => undefined)
    return next
  }

  executor(guard: () => void): SqlExecutor {
    return {
      query: async <R = Record<string, unknown>>(text: string, params?: readonly unknown[]) => {
        guard()
        return this.run((client) => runQuery<R>(client, text, params))
      },
      copyFrom: async (table, columns, rows) => {
        guard()
        return this.run((client) => copyInto(client, table, columns, rows))
      },
      copyText: async (table, columns, source) => {
        guard()
        return this.run((client) => copyTextInto(client, table, columns, source))
      },
    }
  }
}

class PostgresSql implements Sql {
  readonly kind = 'postgres'
  private closing: Promise<void> | undefined

  constructor(
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
  ) {}

  async query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    this.assertOpen()
    return runQuery<R>(this.pool, text, params)
  }

  async copyFrom(
    table: string,
    columns: readonly string[],
    rows: Iterable<readonly (string | null)[]>,
  ): Promise<number> {
    // One COPY statement is atomic by itself: no transaction needed.
    return this.withCopyConnection((client) => copyInto(client, table, columns, rows))
  }

  async copyText(table: string, columns: readonly string[], source: AsyncIterable<Uint8Array>): Promise<number> {
    return this.withCopyConnection((client) => copyTextInto(client, table, columns, source))
  }

  /** A pooled connection for one COPY; after a failed COPY its state is not worth trusting: it is closed. */
  private async withCopyConnection<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.assertOpen()
    const client = await this.connect()
    let broken: Error | undefined
    try {
      return await fn(client)
    } catch (err) {
      broken = err instanceof Error ? err : new Error(String(err))
      throw err
    } finally {
      client.release(broken)
    }
  }

  async *copyOut(query: string): AsyncIterable<Uint8Array> {
    this.assertOpen()
    const client = await this.connect()
    let complete = false
    let broken: Error | undefined
    try {
      const stream = client.query(copyToStdout(`COPY (${query}) TO STDOUT`))
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) yield chunk
      } catch (err) {
        throw toSqlError(err)
      }
      complete = true
    } catch (err) {
      broken = err instanceof Error ? err : new Error(String(err))
      throw err
    } finally {
      // A COPY left unread cannot be stopped on its connection: close that connection instead.
      client.release(complete ? undefined : (broken ?? new Error('COPY TO abandoned by its reader')))
    }
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    this.assertOpen()
    const session = new Session(await this.connect())
    let active = true
    let broken: Error | undefined
    try {
      await session.run((client) => runQuery(client, 'BEGIN', undefined))
      const result = await fn(
        session.executor(() => {
          if (!active) throw new Error('this transaction has already ended; use the Sql object outside it')
        }),
      )
      await session.run((client) => runQuery(client, 'COMMIT', undefined))
      return result
    } catch (err) {
      await session
        .run((client) => runQuery(client, 'ROLLBACK', undefined))
        .catch((rollbackError: unknown) => {
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError))
          this.logger.error({ err: rollbackError }, 'ROLLBACK failed; dropping the connection')
        })
      throw err
    } finally {
      active = false
      session.client.release(broken)
    }
  }

  async *cursor<R = Record<string, unknown>>(
    text: string,
    params: readonly unknown[],
    options?: { batchSize?: number },
  ): AsyncIterable<R[]> {
    const batchSize = checkBatchSize(options?.batchSize)
    this.assertOpen()
    const client = await this.connect()
    let failed = false
    let broken: Error | undefined
    try {
      await runQuery(client, 'BEGIN', undefined)
      await runQuery(client, `DECLARE truss_cursor NO SCROLL CURSOR FOR ${text}`, params)
      while (true) {
        const { rows } = await runQuery<R>(client, `FETCH FORWARD ${batchSize} FROM truss_cursor`, undefined)
        if (rows.length > 0) yield rows
        if (rows.length < batchSize) return
      }
    } catch (err) {
      failed = true
      throw err
    } finally {
      // Also reached when the consumer stops early (`break`): end the transaction, free the connection.
      await runQuery(client, failed ? 'ROLLBACK' : 'COMMIT', undefined).catch((err: unknown) => {
        broken = err instanceof Error ? err : new Error(String(err))
      })
      client.release(broken)
    }
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1')
  }

  close(): Promise<void> {
    this.closing ??= this.pool.end()
    return this.closing
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect()
    } catch (err) {
      throw toSqlError(err)
    }
  }

  private assertOpen(): void {
    if (this.closing) throw new SqlClosed()
  }
}
