/**
 * Databases for tests: a fresh PostgreSQL database per suite, and fast PGlite instances.
 *
 * PGlite's initdb takes 3–7 s here, so it runs once per machine and PGlite version: its data folder
 * is dumped to a tarball in the OS temp folder, and every test instance starts from that tarball
 * (`loadDataDir`, ≈ 0.5 s, in memory or into a new data folder).
 */
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { rename, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { pino } from 'pino'
import { createPgliteSql } from '../adapters/sql/pglite.js'
import type { Sql } from '../adapters/sql/types.js'

/** A database on it that tests may create databases from (DEVELOPERS.md: trust auth on 127.0.0.1). */
const TEST_POSTGRES_URL = process.env.TRUSS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** A new, empty database `truss_t_<random>`; `drop()` removes it even while connections remain. */
export async function createTestPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `truss_t_${randomBytes(6).toString('hex')}`
  await onAdminConnection((client) => client.query(`CREATE DATABASE ${name}`))
  const url = new URL(TEST_POSTGRES_URL)
  url.pathname = `/${name}`
  return {
    url: url.href,
    drop: () => onAdminConnection((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  }
}

async function onAdminConnection(fn: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL })
  await client.connect()
  try {
    await fn(client)
  } finally {
    await client.end()
  }
}

/** An in-memory PGlite `Sql` (in its worker), ready in about half a second once the template exists. */
export async function openTestPglite(options: { dataDir?: string } = {}): Promise<Sql> {
  return createPgliteSql({
    dataDir: options.dataDir,
    loadDataDir: await pgliteTemplate(),
    logger: pino({ level: 'silent' }),
  })
}

let template: Promise<string> | undefined

/** Path of the initdb tarball for the installed PGlite version, made on first use. */
export function pgliteTemplate(): Promise<string> {
  template ??= makeTemplate()
  return template
}

async function makeTemplate(): Promise<string> {
  const path = join(tmpdir(), `truss-pglite-template-${pgliteVersion()}.tar`)
  if (existsSync(path)) return path
  const db = await PGlite.create()
  try {
    const dump = await db.dumpDataDir('none')
    // Write then rename: a test process starting meanwhile sees the whole file or none.
    const draft = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`
    await writeFile(draft, new Uint8Array(await dump.arrayBuffer()))
    await rename(draft, path)
  } finally {
    await db.close()
  }
  return path
}

function pgliteVersion(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite')
  const manifest = JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { version: string }
  return manifest.version
}
