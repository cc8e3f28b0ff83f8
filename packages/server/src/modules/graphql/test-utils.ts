/**
 * A GraphQL test app wired as main.ts wires it (auth plugin, then graphqlRoutes) over PGlite and the real
 * services, with `gql(query, variables, token)` answering `{ status, body }`.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { createBlobStore } from '../../adapters/blobs/index.js'
import type { BlobStore } from '../../adapters/blobs/types.js'
import { createMemoryBus } from '../../adapters/bus/index.js'
import type { Bus } from '../../adapters/bus/types.js'
import type { Sql } from '../../adapters/sql/types.js'
import { buildApp, type TrussApp } from '../../app.js'
import { loadConfig } from '../../config.js'
import { createServerSchema } from '../../graphql-schema.js'
import { domainContext, type DomainContext } from '../../test-utils/domain.js'
import { createOutboxMailer } from '../../adapters/mail/index.js'
import type { Mailer } from '../../adapters/mail/types.js'
import { createServerInvitesService, type ServerInvitesService } from '../accounts/invites.js'
import { createProjectInvitesService, type ProjectInvitesService } from '../accounts/project-invites.js'
import { accountsRoutes } from '../accounts/rest.js'
import { createAccountsService } from '../accounts/service.js'
import { createServerSettingsService, type ServerSettingsService } from '../accounts/settings.js'
import { createAppsService, type AppsService } from '../apps/service.js'
import { authPlugin } from '../auth/plugin.js'
import { countingSql, openDatabase } from '../auth/test-utils/identity.js'
import { createPolicy } from '../policy/service.js'
import type { GraphqlDeps } from './context.js'
import { graphqlRoutes } from './rest.js'

export type Json = any // eslint-disable-line @typescript-eslint/no-explicit-any

/** The GraphQL deps beyond the project domain's: apps, activity and invites (mail to `mailer`). */
export function accountDeps(
  sql: Sql,
  ctx: DomainContext,
  settings: ServerSettingsService,
  mailer: Mailer,
  publicUrl: string,
): Pick<GraphqlDeps, 'activity'> & {
  apps: AppsService
  invites: { server: ServerInvitesService; project: ProjectInvitesService }
} {
  const server = createServerInvitesService({ sql, users: ctx.users, mailer, settings, publicUrl })
  return {
    apps: createAppsService({ sql, tokens: ctx.tokens }),
    activity: ctx.activity,
    invites: {
      server,
      project: createProjectInvitesService({
        sql,
        activity: ctx.activity,
        users: ctx.users,
        projects: ctx.projects,
        serverInvites: server,
        mailer,
        settings,
        publicUrl,
      }),
    },
  }
}

/** A mailer writing `.eml` files to `<dir>/outbox`. */
export function outboxMailer(dir: string): Promise<Mailer> {
  return createOutboxMailer({ dataDir: dir, from: 'Truss <no-reply@truss.test>', logger: pino({ level: 'silent' }) })
}

export interface GraphqlHarness {
  /** The app, for requests `gql` does not make (cookies, other routes). */
  app: TrussApp
  ctx: DomainContext
  /** The folder the outbox mailer writes `outbox/*.eml` to. */
  dir: string
  deps: GraphqlDeps
  sql: Sql
  /** Every statement the services ran (outside transactions too), oldest first. */
  statements: string[]
  gql(query: string, variables?: Record<string, unknown>, token?: string): Promise<{ status: number; body: Json }>
  close(): Promise<void>
}

export interface GraphqlHarnessOptions {
  /** Also serve the account routes (`/auth/local/login`, `/auth/logout`, …) with the built-in apps. */
  accountRoutes?: boolean
  /** `PUBLIC_URL`; default the config's. */
  publicUrl?: string
  /** Services of module slices (webhooks, …), built over the harness's database and domain. */
  moduleDeps?: (ctx: DomainContext, sql: Sql) => Partial<GraphqlDeps>
}

export async function graphqlHarness(
  kind: 'pglite' | 'postgres' = 'pglite',
  options: GraphqlHarnessOptions = {},
): Promise<GraphqlHarness> {
  const silent = pino({ level: 'silent' })
  const dir = await mkdtemp(join(tmpdir(), 'truss-graphql-'))
  const sql = await openDatabase(kind)
  let blobs: BlobStore | undefined
  let bus: Bus | undefined
  let app: TrussApp | undefined
  let mailer: Mailer | undefined
  const close = async () => {
    await app?.close()
    await Promise.all([sql.dispose(), blobs?.close(), bus?.close(), mailer?.close()])
    await rm(dir, { recursive: true, force: true })
  }
  try {
    blobs = await createBlobStore({ dataDir: dir })
    bus = createMemoryBus({ logger: silent })
    const counted = countingSql(sql)
    const ctx = domainContext(counted, bus)
    const config = loadConfig({}, { dataDir: dir, ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}) })
    app = buildApp({ config, sql, blobs, bus, logger: silent })
    await app.register(authPlugin, { tokens: ctx.tokens, allowedOrigins: [config.publicUrl] })
    const settings = createServerSettingsService({ sql, defaults: { name: 'Truss test' } })
    mailer = await outboxMailer(dir)
    const account = accountDeps(counted, ctx, settings, mailer, config.publicUrl)
    const deps: GraphqlDeps = {
      projects: ctx.projects,
      models: ctx.models,
      versions: ctx.versions,
      users: ctx.users,
      tokens: ctx.tokens,
      ...account,
      objects: ctx.objects,
      policy: createPolicy({ projects: ctx.projects }),
      settings,
      serverInfo: {
        canonicalUrl: config.publicUrl,
        version: 'dev',
        objectSizeLimitBytes: 10,
        objectMultipartUploadSizeLimitBytes: 20,
        blobSizeLimitBytes: 30,
        isEmailEnabled: false,
      },
      ...options.moduleDeps?.(ctx, counted),
    }
    await app.register(graphqlRoutes, { ...deps, schema: createServerSchema() })
    if (options.accountRoutes === true) {
      await account.apps.ensureBuiltInApps(config.publicUrl)
      const accounts = createAccountsService({
        sql,
        users: ctx.users,
        mailer,
        settings,
        invites: account.invites.server,
        publicUrl: config.publicUrl,
      })
      const generous = [{ limit: 10_000, windowSeconds: 60 }]
      await app.register(accountsRoutes, {
        accounts,
        apps: account.apps,
        tokens: ctx.tokens,
        bus,
        publicUrl: config.publicUrl,
        rateLimits: { login: generous, register: generous, mail: generous },
      })
    }
    const server = app
    return {
      app: server,
      ctx,
      dir,
      deps,
      sql,
      statements: counted.statements,
      async gql(query, variables = {}, token) {
        const res = await server.inject({
          method: 'POST',
          url: '/graphql',
          headers: token ? { authorization: `Bearer ${token}` } : {},
          payload: { query, variables },
        })
        return { status: res.statusCode, body: res.json() }
      },
      close,
    }
  } catch (err) {
    await close()
    throw err
  }
}

export const ALL_SCOPES = [
  'streams:read',
  'streams:write',
  'profile:read',
  'profile:email',
  'tokens:read',
  'tokens:write',
  'apps:read',
  'users:invite',
] as const
