/**
 * Test context for the identity modules: the real services over a real, migrated database (PGlite, or a
 * fresh PostgreSQL database), with `newUser`/`newToken`/`newProject` builders and a query counter.
 */
import { pino } from 'pino'
import { createSql } from '../../../adapters/sql/index.js'
import { runMigrations } from '../../../adapters/sql/migrate.js'
import type { QueryResult, Sql, SqlExecutor } from '../../../adapters/sql/types.js'
import { createTestPostgresDatabase, openTestPglite } from '../../../test-utils/db.js'
import { createActivityService } from '../../activity/service.js'
import {
  createProjectsService,
  type Project,
  type ProjectsService,
  type ProjectVisibility,
} from '../../projects/service.js'
import { createTokensService, type TokensService, type TokensServiceOptions } from '../../tokens/service.js'
import { createUsersService, type User, type UsersService } from '../../users/service.js'
import type { Scope } from '../../../principal.js'

/**
 * A migrated database: in-memory PGlite, or a fresh PostgreSQL database. `dispose()` closes it (and drops
 * the PostgreSQL database).
 */
export async function openDatabase(kind: 'pglite' | 'postgres'): Promise<Sql & { dispose(): Promise<void> }> {
  let sql: Sql
  let drop = async () => {}
  if (kind === 'pglite') {
    sql = await openTestPglite()
  } else {
    const database = await createTestPostgresDatabase()
    drop = database.drop
    sql = await createSql({ databaseUrl: database.url, logger: pino({ level: 'silent' }) })
  }
  try {
    await runMigrations(sql)
  } catch (err) {
    await sql.close()
    await drop()
    throw err
  }
  return Object.assign(sql, {
    async dispose() {
      await sql.close()
      await drop()
    },
  })
}

/** A real `Sql` that records the text of every statement run through it (not through transactions). */
export interface CountingSql extends Sql {
  statements: string[]
}

export function countingSql(sql: Sql): CountingSql {
  const statements: string[] = []
  const record = (text: string) => statements.push(text.replace(/\s+/g, ' ').trim())
  const counted: CountingSql = {
    kind: sql.kind,
    statements,
    query<R>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      record(text)
      return sql.query<R>(text, params)
    },
    copyFrom: (table, columns, rows) => sql.copyFrom(table, columns, rows),
    copyText: (table, columns, source) => sql.copyText(table, columns, source),
    copyOut: (query) => sql.copyOut(query),
    transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      return sql.transaction((tx) =>
        fn({
          query<R>(text: string, params?: readonly unknown[]) {
            record(text)
            return tx.query<R>(text, params)
          },
          copyFrom: (table, columns, rows) => tx.copyFrom(table, columns, rows),
          copyText: (table, columns, source) => tx.copyText(table, columns, source),
        }),
      )
    },
    cursor: (text, params, options) => sql.cursor(text, params, options),
    ping: () => sql.ping(),
    close: () => sql.close(),
  }
  return counted
}

export interface IdentityContext {
  sql: CountingSql
  users: UsersService
  tokens: TokensService
  projects: ProjectsService
  newUser(overrides?: { email?: string; name?: string; password?: string; admin?: boolean }): Promise<User>
  newToken(userId: string, scopes?: Scope[]): Promise<string>
  newProject(ownerId: string, overrides?: { name?: string; visibility?: ProjectVisibility }): Promise<Project>
}

let sequence = 0

export function identityContext(sql: Sql, tokenOptions: Omit<TokensServiceOptions, 'sql'> = {}): IdentityContext {
  const counted = countingSql(sql)
  const tokens = createTokensService({ ...tokenOptions, sql: counted })
  const users = createUsersService({ sql: counted, tokens, activity: createActivityService({ sql: counted }) })
  const projects = createProjectsService({ sql: counted })
  return {
    sql: counted,
    users,
    tokens,
    projects,
    newUser(overrides = {}) {
      sequence += 1
      return users.create({
        email: overrides.email ?? `user${sequence}-${Math.random().toString(36).slice(2, 8)}@example.com`,
        name: overrides.name ?? `User ${sequence}`,
        password: overrides.password ?? 'correct horse battery',
        admin: overrides.admin,
      })
    },
    newToken(userId, scopes = ['streams:read', 'streams:write']) {
      return tokens.create({ userId, name: 'test token', scopes })
    },
    newProject(ownerId, overrides = {}) {
      sequence += 1
      return projects.create({
        ownerId,
        name: overrides.name ?? `Project ${sequence}`,
        visibility: overrides.visibility,
      })
    },
  }
}
