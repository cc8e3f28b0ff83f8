/**
 * The services of one Truss process, built from its adapters: what `truss serve` puts behind its routes and
 * what `truss worker` runs its jobs with. Each module is a function of its dependencies returning a
 * service; building them has no side effects beyond the built-in apps row.
 */
import type { Logger } from 'pino'
import type { BlobStore } from './adapters/blobs/types.js'
import type { Bus } from './adapters/bus/types.js'
import type { Mailer } from './adapters/mail/types.js'
import type { Sql } from './adapters/sql/types.js'
import { mbToBytes, type Config } from './config.js'
import { createJobQueue, type JobQueue } from './jobs/index.js'
import {
  createAccountsService,
  createProjectInvitesService,
  createServerInvitesService,
  createServerSettingsService,
} from './modules/accounts/index.js'
import { createActivityService } from './modules/activity/service.js'
import { createAppsService } from './modules/apps/index.js'
import type { Metrics } from './modules/metrics/index.js'
import { createModelsService } from './modules/models/service.js'
import { createObjectsService } from './modules/objects/service.js'
import { createPolicy } from './modules/policy/service.js'
import { createProjectsService } from './modules/projects/service.js'
import { createTokensService } from './modules/tokens/service.js'
import { createUsersService } from './modules/users/service.js'
import { createVersionsService } from './modules/versions/service.js'
import { createWebhooksService } from './modules/webhooks/service.js'
import { createBlobsService } from './modules/blobs/service.js'
import { createFileImportsService } from './modules/fileimports/service.js'
import { createPreviewsService } from './modules/previews/service.js'
import { createCommentsService } from './modules/comments/service.js'
import { createQueryService } from './modules/query/service.js'

export interface Adapters {
  sql: Sql
  blobs: BlobStore
  bus: Bus
  mailer: Mailer
}

export function createServices(config: Config, adapters: Adapters, metrics: Metrics, logger: Logger) {
  const { sql, bus, mailer } = adapters
  const blobs = createBlobsService({ sql, blobs: adapters.blobs })
  const jobs: JobQueue = createJobQueue({ sql, bus, logger: logger.child({ module: 'jobs' }) })
  const tokens = createTokensService({ sql, bus })
  const activity = createActivityService({ sql })
  const users = createUsersService({ sql, tokens, activity })
  const objects = createObjectsService({
    sql,
    metrics,
    maxObjectBytes: mbToBytes(config.maxObjectSizeMb),
    maxConcurrentUploads: config.maxConcurrentUploads,
  })
  const projects = createProjectsService({ sql, bus, activity, objects, logger })
  const models = createModelsService({ sql, bus, activity, projects, logger })
  const versions = createVersionsService({ sql, bus, activity, models, objects, logger })
  const policy = createPolicy({ projects })
  const apps = createAppsService({ sql, tokens })
  const settings = createServerSettingsService({ sql, defaults: { name: config.serverName } })
  const invites = createServerInvitesService({ sql, users, mailer, settings, publicUrl: config.publicUrl })
  const accounts = createAccountsService({ sql, users, mailer, settings, invites, publicUrl: config.publicUrl })
  const projectInvites = createProjectInvitesService({
    sql,
    activity,
    users,
    projects,
    serverInvites: invites,
    mailer,
    settings,
    publicUrl: config.publicUrl,
  })
  const webhooks = createWebhooksService({ sql, jobs })
  // Work that must commit with the change that causes it: a webhook event per matching webhook.
  activity.addSink(webhooks.recordActivity)
  // …and a preview render per new version.
  const previews = createPreviewsService({ sql, jobs })
  activity.addSink(previews.recordActivity)
  const fileImports = createFileImportsService({ sql, jobs, bus, logger })
  const comments = createCommentsService({
    sql,
    bus,
    mailer,
    projects,
    models,
    versions,
    objects,
    users,
    blobs,
    publicUrl: config.publicUrl,
    logger: logger.child({ module: 'comments' }),
  })
  const query = createQueryService({ sql, objects })
  return {
    comments,
    query,
    blobs,
    fileImports,
    previews,
    jobs,
    tokens,
    activity,
    users,
    objects,
    projects,
    models,
    versions,
    policy,
    apps,
    settings,
    invites,
    accounts,
    projectInvites,
    webhooks,
  }
}

export type Services = ReturnType<typeof createServices>
