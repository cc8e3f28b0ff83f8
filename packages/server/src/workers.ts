/**
 * The background workers of one process (DESIGN.md decision 4): a job runner with the handlers of the
 * chosen worker groups (webhooks, imports, previews) and the database monitor. `truss serve` starts them
 * in-process unless `--no-workers`; `truss worker [--only …]` runs them alone. Every group is safe to run
 * in any number of processes at once: jobs are claimed with SKIP LOCKED and a lease.
 */
import type { Logger } from 'pino'
import type { Config } from './config.js'
import {
  checkJobHandlers,
  createJobRunner,
  JOB_KINDS,
  registerJobMetrics,
  type AnyJobHandler,
  type JobMetrics,
  type JobRunner,
  type WorkerGroup,
} from './jobs/index.js'
import type { Metrics } from './modules/metrics/index.js'
import { createWebhookDeliveryHandler } from './modules/webhooks/delivery.js'
import { createFileImportJobHandler, type Convert } from './modules/fileimports/job.js'
import { mbToBytes } from './config.js'
import { importFile } from '@truss/import'
import { createPreviewJobHandler } from './modules/previews/job.js'
import { createPreviewRenderer, type PreviewRenderer } from './modules/previews/renderer.js'
import type { Adapters, Services } from './services.js'
import { createDatabaseMonitor, type DatabaseMonitor } from './workers/monitor/index.js'

export interface WorkerSetOptions {
  config: Config
  adapters: Adapters
  services: Services
  metrics: Metrics
  /** The job metrics already registered on `metrics.registry` (one set per registry). */
  jobMetrics: JobMetrics
  logger: Logger
  version: string
  /** Groups to run; default `config.workerGroups`. */
  groups?: readonly WorkerGroup[]
}

export interface WorkerSet {
  groups: readonly WorkerGroup[]
  runner: JobRunner | null
  monitor: DatabaseMonitor | null
  /** Stop claiming, let running jobs finish (bounded), give the rest back; stop the monitor. */
  close(): Promise<void>
}

/** Every job handler this build has, by the kind it runs. */
export function jobHandlers(
  options: Omit<WorkerSetOptions, 'groups' | 'jobMetrics' | 'metrics'>,
  renderer: Pick<PreviewRenderer, 'render'> = lazyRenderer(options.logger),
): AnyJobHandler[] {
  const { config, adapters, services, logger, version } = options
  return [
    createWebhookDeliveryHandler({
      sql: adapters.sql,
      projects: services.projects,
      users: services.users,
      mailer: adapters.mailer,
      serverInfo: async () => ({ ...(await services.settings.get()), canonicalUrl: config.publicUrl, version }),
      publicUrl: config.publicUrl,
      allowPrivate: config.webhooksAllowPrivate,
      disableAfterFailures: config.webhooksDisableAfterFailures,
      logger: logger.child({ worker: 'webhooks' }),
    }),
    createFileImportJobHandler({
      sql: adapters.sql,
      blobs: services.blobs,
      fileImports: services.fileImports,
      objects: services.objects,
      models: services.models,
      versions: services.versions,
      bus: adapters.bus,
      convert: convertWithTrussImport,
      limitBytes: mbToBytes(config.fileImportLimitMb),
      logger: logger.child({ worker: 'imports' }),
    }),
    createPreviewJobHandler({ sql: adapters.sql, objects: services.objects, renderer }),
  ]
}

/** A renderer whose browser starts at the first render (a process that renders nothing never launches it). */
function lazyRenderer(logger: Logger): PreviewRenderer {
  return createPreviewRenderer({ logger: logger.child({ worker: 'previews' }) })
}

/** `@truss/import` behind the job's converter interface. */
const convertWithTrussImport: Convert = async (input, options) =>
  importFile(
    {
      path: input.path,
      fileName: input.fileName,
      fileType: input.fileType as Parameters<typeof importFile>[0]['fileType'],
    },
    { signal: options.signal },
  )

/** Job metrics are registered once per registry, by whoever serves it (server or worker). */
export function registerQueueMetrics(metrics: Metrics, adapters: Adapters): JobMetrics {
  return registerJobMetrics(metrics.registry, adapters.sql)
}

export async function startWorkers(options: WorkerSetOptions): Promise<WorkerSet> {
  const { config, adapters, metrics, logger } = options
  const groups = options.groups ?? config.workerGroups
  const jobGroups = new Set(groups.filter((g) => g !== 'monitor'))
  // One browser for every preview render of this process, launched at the first one.
  const renderer = lazyRenderer(logger)
  const handlers = jobHandlers(options, renderer).filter((h) => jobGroups.has(JOB_KINDS[h.kind].group))
  // Start-up check: every kind of every group run has exactly one handler.
  checkJobHandlers(handlers, [...jobGroups])

  const runner =
    handlers.length === 0
      ? null
      : createJobRunner({
          sql: adapters.sql,
          bus: adapters.bus,
          logger: logger.child({ module: 'jobs' }),
          handlers,
          leaseSeconds: config.jobsLeaseSeconds,
          pollSeconds: config.jobsPollSeconds,
          metrics: options.jobMetrics,
          stopTimeoutSeconds: config.shutdownTimeoutSeconds,
        })
  await runner?.start()
  const monitor = groups.includes('monitor')
    ? createDatabaseMonitor({
        sql: adapters.sql,
        registry: metrics.registry,
        logger,
        intervalSeconds: config.dbMonitorIntervalSeconds,
      })
    : null
  monitor?.start()
  logger.info({ groups, kinds: handlers.map((h) => h.kind), workerId: runner?.workerId }, 'workers started')
  return {
    groups,
    runner,
    monitor,
    async close() {
      await Promise.all([runner?.stop(), monitor?.stop()])
      await renderer.close()
    },
  }
}
