/**
 * SQL adapter: PostgreSQL when `DATABASE_URL` is set, else embedded PGlite in `<data-dir>/db` (run
 * in a worker thread). Both speak PostgreSQL and return the same JS types: int8 and numeric as
 * strings, `date` as 'YYYY-MM-DD', timestamps as Date, json/jsonb parsed, arrays as arrays, bytea as
 * Uint8Array (a Buffer under PostgreSQL).
 */
import { join } from 'node:path'
import { pino, type Logger } from 'pino'
import { createPgliteSql } from './pglite.js'
import { createPostgresSql } from './postgres.js'
import type { Sql } from './types.js'

export * from './types.js'
export { sqlLiteral } from './shared.js'
export { createPgliteSql, DataDirInUse, type PgliteSqlOptions } from './pglite.js'
export { createPostgresSql, type PostgresSqlOptions } from './postgres.js'
export { DEFAULT_MIGRATIONS_DIR, MigrationFailed, runMigrations } from './migrate.js'

export async function createSql(options: {
  databaseUrl?: string
  dataDir?: string
  poolSize?: number
  logger?: Logger
}): Promise<Sql> {
  const logger = options.logger ?? pino({ name: 'sql' })
  if (options.databaseUrl) {
    return createPostgresSql({ url: options.databaseUrl, poolSize: options.poolSize, logger })
  }
  return createPgliteSql({ dataDir: options.dataDir === undefined ? undefined : join(options.dataDir, 'db'), logger })
}
