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
  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>
  close(): Promise<void>
}
