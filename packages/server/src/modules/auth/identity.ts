/**
 * The identity services on their own, for admin commands (`truss users|tokens|projects create`): opens the
 * database the server uses, runs migrations, and builds the users, tokens and projects services.
 */
import { pino, type Logger } from 'pino'
import { createSql } from '../../adapters/sql/index.js'
import { runMigrations } from '../../adapters/sql/migrate.js'
import type { Sql } from '../../adapters/sql/types.js'
import { createActivityService } from '../activity/service.js'
import { createProjectsService, type ProjectsService } from '../projects/service.js'
import { createTokensService, type TokensService } from '../tokens/service.js'
import { createUsersService, type UsersService } from '../users/service.js'

export interface IdentityServices {
  users: UsersService
  tokens: TokensService
  projects: ProjectsService
}

export interface OpenIdentityOptions {
  /** postgres://…; PGlite in `<dataDir>/db` when absent. */
  databaseUrl?: string
  dataDir: string
  /** Defaults to warnings and errors on stderr, so stdout stays the command's answer. */
  logger?: Logger
}

/** The identity services over an `Sql`. */
export function createIdentityServices(sql: Sql): IdentityServices {
  const tokens = createTokensService({ sql })
  const users = createUsersService({ sql, tokens, activity: createActivityService({ sql }) })
  return { users, tokens, projects: createProjectsService({ sql }) }
}

/** Open the database (migrated) and the identity services; `close()` closes the database. */
export async function openIdentity(
  options: OpenIdentityOptions,
): Promise<IdentityServices & { close(): Promise<void> }> {
  const logger = options.logger ?? pino({ name: 'truss', level: 'warn' }, pino.destination(2))
  const sql = await createSql({ databaseUrl: options.databaseUrl, dataDir: options.dataDir, logger })
  try {
    await runMigrations(sql)
  } catch (err) {
    await sql.close()
    throw err
  }
  return { ...createIdentityServices(sql), close: () => sql.close() }
}
