/**
 * SQL adapter interface. Two implementations: PGlite (embedded, in `<data-dir>/db`, run off the main
 * thread so heavy queries do not freeze HTTP) and PostgreSQL via `pg` (pooled). Both speak the same
 * PostgreSQL dialect; module repositories write plain SQL against this interface.
 */

export interface QueryResult<R> {
  rows: R[]
  rowCount: number
}

/** Something that runs SQL: the pool itself or a transaction. */
export interface SqlExecutor {
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>>
  /**
   * Bulk-load rows with COPY (text format). `rows` yields arrays of column values (strings or null);
   * the implementation escapes them. Returns the number of rows loaded. Use inside a transaction to
   * load into a temporary table, then INSERT ... SELECT ... ON CONFLICT.
   */
  copyFrom(table: string, columns: readonly string[], rows: Iterable<readonly (string | null)[]>): Promise<number>
  /**
   * Bulk-load bytes that already are COPY text format (values escaped, columns split by tabs, every row
   * ending in a newline), as they come: PostgreSQL starts loading while the source still produces. The
   * pieces may split rows anywhere and are not kept or modified. When the source throws, the COPY is
   * abandoned (nothing it sent is stored) and the source's error is rethrown. Returns the rows loaded.
   */
  copyText(table: string, columns: readonly string[], source: AsyncIterable<Uint8Array>): Promise<number>
}

export interface Sql extends SqlExecutor {
  readonly kind: 'pglite' | 'postgres'
  /** Run `fn` in one transaction; commit when it resolves, roll back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>
  /**
   * Stream a query's rows in batches of `batchSize` from a server-side cursor, with back-pressure:
   * the next batch is fetched only when the consumer asks for it.
   */
  cursor<R = Record<string, unknown>>(
    text: string,
    params: readonly unknown[],
    options?: { batchSize?: number },
  ): AsyncIterable<R[]>
  /**
   * Stream the bytes of `COPY (query) TO STDOUT` in text format: rows of tab-separated values, each
   * ending in a newline, values escaped as COPY text escapes them. Nothing is parsed into JavaScript
   * values. `query` takes no parameters: inline only checked values or `sqlLiteral` quotes. Stopping early
   * abandons the query.
   */
  copyOut(query: string): AsyncIterable<Uint8Array>
  /**
   * Where the adapter has it (PGlite): the rows of a query of two text columns as `a \t b \n` lines,
   * values as they are (not escaped), in one buffer, with each line's end offset. For large reads whose
   * values would otherwise each become a string, then a buffer.
   */
  textLines?(text: string, params: readonly unknown[]): Promise<TextLines>
  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>
  close(): Promise<void>
}

/** Lines of two values each: line `i` is `bytes[ends[i - 1] ?? 0 .. ends[i]]`. */
export interface TextLines {
  bytes: Buffer
  ends: Uint32Array
}

/** Optional fields PostgreSQL sends with an error (both adapters copy the same ones). */
export interface SqlErrorFields {
  /** SQLSTATE, e.g. `23505` for a unique violation. */
  code?: string
  severity?: string
  detail?: string
  hint?: string
  schema?: string
  table?: string
  column?: string
  constraint?: string
  where?: string
  position?: string
}

/**
 * An error reported by the database. `code` is the SQLSTATE, so one table can map it to a domain
 * error (`23505` → Conflict) whichever adapter runs.
 */
export class SqlError extends Error {
  readonly code: string | undefined
  readonly severity: string | undefined
  readonly detail: string | undefined
  readonly hint: string | undefined
  readonly schema: string | undefined
  readonly table: string | undefined
  readonly column: string | undefined
  readonly constraint: string | undefined
  readonly where: string | undefined
  readonly position: string | undefined
  constructor(message: string, fields: SqlErrorFields = {}, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SqlError'
    this.code = fields.code
    this.severity = fields.severity
    this.detail = fields.detail
    this.hint = fields.hint
    this.schema = fields.schema
    this.table = fields.table
    this.column = fields.column
    this.constraint = fields.constraint
    this.where = fields.where
    this.position = fields.position
  }
}

/** A bad or unreachable `DATABASE_URL`, or a data folder that cannot be opened; fixed by the operator. */
/** Every pooled connection stayed busy for the connect timeout: the database is busy, not broken. */
export class SqlBusy extends Error {
  readonly code = 'SQL_BUSY'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SqlBusy'
  }
}

export class SqlConfigError extends Error {
  readonly code = 'CONFIG'
  constructor(
    readonly variable: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'SqlConfigError'
  }
}

/** The adapter was closed (or its PGlite worker stopped); nothing more can run on it. */
export class SqlClosed extends Error {
  readonly code = 'UNAVAILABLE'
  constructor(reason = 'the SQL adapter is closed', options?: { cause?: unknown }) {
    super(reason, options)
    this.name = 'SqlClosed'
  }
}
