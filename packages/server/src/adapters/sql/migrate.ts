/**
 * Schema migrations: numbered `NNNN_name.sql` files, applied in order, each in its own transaction,
 * recorded by file name in `schema_migrations`. A file must not BEGIN/COMMIT itself, nor use
 * statements that refuse a transaction (`CREATE INDEX CONCURRENTLY`).
 *
 * Several processes may start at once: each file's transaction first takes a transaction-level
 * advisory lock and re-checks `schema_migrations`, so every file runs once, in order. (A session
 * lock around the whole run would need one connection for all those transactions, which the `Sql`
 * interface does not hand out.)
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Sql, SqlExecutor } from './types.js'

/** `packages/server/migrations`, from `src/adapters/sql` (tests) and `dist/adapters/sql` (built) alike. */
export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations/', import.meta.url))

const FILE_NAME = /^(\d{4})_[A-Za-z0-9_-]+\.sql$/
// Any fixed bigint will do; this one only has to differ from other advisory locks the app takes.
const MIGRATION_LOCK_KEY = '7315020250001'

/** A migration file failed and was rolled back; `file` names it, `cause` is the database's error. */
export class MigrationFailed extends Error {
  readonly code = 'MIGRATION_FAILED'
  constructor(
    readonly file: string,
    cause: unknown,
  ) {
    super(`migration ${file} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
    this.name = 'MigrationFailed'
  }
}

/** Apply the files of `dir` not applied yet; returns the file names applied by this call, in order. */
export async function runMigrations(sql: Sql, dir: string = DEFAULT_MIGRATIONS_DIR): Promise<string[]> {
  const files = await listMigrations(dir)
  await sql.transaction(async (tx) => {
    await lock(tx)
    await tx.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    )
  })
  const done = new Set(
    (await sql.query<{ name: string }>('SELECT name FROM schema_migrations')).rows.map((r) => r.name),
  )
  const applied: string[] = []
  for (const file of files) {
    if (done.has(file)) continue
    if (await applyOnce(sql, dir, file)) applied.push(file)
  }
  return applied
}

async function applyOnce(sql: Sql, dir: string, file: string): Promise<boolean> {
  const text = await readFile(join(dir, file), 'utf8')
  return sql.transaction(async (tx) => {
    await lock(tx)
    // Another process may have applied it while this one waited for the lock.
    const { rows } = await tx.query('SELECT 1 FROM schema_migrations WHERE name = $1', [file])
    if (rows.length > 0) return false
    try {
      await tx.query(text)
    } catch (err) {
      throw new MigrationFailed(file, err)
    }
    await tx.query('INSERT INTO schema_migrations (name) VALUES ($1)', [file])
    return true
  })
}

async function lock(tx: SqlExecutor): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`)
}

/** The migration files in order; a misnamed `.sql` file or a reused number is an error, not skipped. */
export async function listMigrations(dir: string): Promise<string[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (err) {
    throw new Error(`cannot read the migrations folder ${dir}`, { cause: err })
  }
  const files = names.filter((name) => name.endsWith('.sql')).sort()
  const numbers = new Map<string, string>()
  for (const file of files) {
    const number = FILE_NAME.exec(file)?.[1]
    if (number === undefined) throw new Error(`migration ${file} in ${dir} is not named NNNN_name.sql`)
    const other = numbers.get(number)
    if (other) throw new Error(`migrations ${other} and ${file} in ${dir} share the number ${number}`)
    numbers.set(number, file)
  }
  return files
}
