/**
 * `truss worker`: the background workers without the API. Opens the same adapters as the server (so a
 * worker needs the same DATABASE_URL, REDIS_URL, S3_* and SMTP_URL), builds the services, and runs the
 * chosen worker groups until closed. With `port` set it answers `GET /metrics` (this process's job
 * outcomes and durations, plus the queue read from the database) and `GET /healthz`.
 */
import { createServer, type Server } from 'node:http'
import { createRequire } from 'node:module'
import { pino, type Logger } from 'pino'
import { createBlobStore } from './adapters/blobs/index.js'
import { createBus } from './adapters/bus/index.js'
import { createMailer } from './adapters/mail/index.js'
import { createSql, DataDirInUse } from './adapters/sql/index.js'
import { runMigrations } from './adapters/sql/migrate.js'
import type { Config } from './config.js'
import type { WorkerGroup } from './jobs/kinds.js'
import { createJobQueue, type JobQueue } from './jobs/queue.js'
import { StartupError } from './main.js'
import { createMetrics } from './modules/metrics/index.js'
import { createServices } from './services.js'
import { registerQueueMetrics, startWorkers, type WorkerSet } from './workers.js'

const TRUSS_VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version

export interface StartWorkerOptions {
  logger?: Logger
  /** Groups to run; default `config.workerGroups`. */
  groups?: readonly WorkerGroup[]
  /** Serve /metrics and /healthz on this port of `config.host` (0 picks one); none when undefined. */
  metricsPort?: number
}

export interface RunningWorker {
  workers: WorkerSet
  logger: Logger
  /** Where /metrics is served, when a port was given. */
  metricsUrl?: string
  close(): Promise<void>
}

export async function startWorker(config: Config, options: StartWorkerOptions = {}): Promise<RunningWorker> {
  const logger = options.logger ?? pino({ name: 'truss-worker', level: config.logLevel })
  const closers: { name: string; close(): Promise<void> }[] = []
  const closeAll = async () => {
    for (const c of closers.splice(0).reverse()) {
      await c.close().catch((err: unknown) => logger.error({ err, adapter: c.name }, 'failed to close'))
    }
  }
  try {
    let sql
    try {
      sql = await createSql({
        databaseUrl: config.databaseUrl,
        dataDir: config.dataDir,
        logger: logger.child({ adapter: 'sql' }),
      })
    } catch (err) {
      if (err instanceof DataDirInUse) {
        throw new StartupError(
          `${err.message}: the embedded database serves one process, so a separate worker needs PostgreSQL ` +
            `(set DATABASE_URL for the server and its workers), or run the workers inside 'truss serve'`,
          { cause: err },
        )
      }
      throw new StartupError(`cannot open the database: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      })
    }
    const db = sql
    closers.push({ name: 'sql', close: () => db.close() })
    await runMigrations(sql)
    const blobs = await createBlobStore({ dataDir: config.dataDir, s3: config.s3 })
    closers.push({ name: 'blobs', close: () => blobs.close() })
    const bus = await createBus({ redisUrl: config.redisUrl, logger: logger.child({ adapter: 'bus' }) })
    if (config.redisUrl === undefined) {
      // Jobs still run (they go through the database), but the live events they cause would stay here.
      logger.warn(
        "REDIS_URL is not set: subscribers of the server will not hear of this worker's import progress " +
          'or previews until they read again; set REDIS_URL for the server and its workers',
      )
    }
    closers.push({ name: 'bus', close: () => bus.close() })
    const mailer = await createMailer({
      dataDir: config.dataDir,
      smtpUrl: config.smtpUrl,
      from: config.emailFrom,
      logger: logger.child({ adapter: 'mail' }),
    })
    closers.push({ name: 'mail', close: () => mailer.close() })

    const metrics = createMetrics()
    const adapters = { sql, blobs, bus, mailer }
    const services = createServices(config, adapters, metrics, logger)
    const jobMetrics = registerQueueMetrics(metrics, adapters)
    const workers = await startWorkers({
      config,
      adapters,
      services,
      metrics,
      jobMetrics,
      logger,
      version: TRUSS_VERSION,
      groups: options.groups,
    })
    closers.push({ name: 'workers', close: () => workers.close() })

    let metricsUrl: string | undefined
    if (options.metricsPort !== undefined) {
      const server: Server = createServer((req, res) => {
        if (req.method === 'GET' && req.url === '/metrics') {
          metrics.registry.metrics().then(
            (text) => {
              res.writeHead(200, { 'content-type': metrics.registry.contentType })
              res.end(text)
            },
            (err: unknown) => {
              logger.warn({ err }, 'could not render metrics')
              res.writeHead(503, { 'content-type': 'application/json' })
              res.end(JSON.stringify({ error: 'metrics are unavailable' }))
            },
          )
          return
        }
        if (req.method === 'GET' && req.url === '/healthz') {
          res.writeHead(200, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ status: 'ok', groups: workers.groups, workerId: workers.runner?.workerId ?? null }))
          return
        }
        res.writeHead(404, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: 'not found: this worker serves GET /metrics and GET /healthz' }))
      })
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(options.metricsPort, config.host, () => resolve())
      })
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : options.metricsPort
      metricsUrl = `http://${config.host}:${port}/metrics`
      closers.push({ name: 'metrics', close: () => new Promise<void>((resolve) => server.close(() => resolve())) })
    }
    logger.info({ groups: workers.groups, metricsUrl }, 'Truss worker running')
    let closing: Promise<void> | undefined
    return {
      workers,
      logger,
      metricsUrl,
      close: () => (closing ??= closeAll()),
    }
  } catch (err) {
    await closeAll()
    throw err
  }
}

/** The job queue on the server's database, for admin commands (`truss jobs`); `close()` releases it. */
export async function openJobQueue(options: {
  databaseUrl?: string
  dataDir: string
}): Promise<{ queue: JobQueue; close(): Promise<void> }> {
  const sql = await createSql({ ...options, logger: pino({ level: 'silent' }) })
  try {
    await runMigrations(sql)
  } catch (err) {
    await sql.close()
    throw err
  }
  return { queue: createJobQueue({ sql }), close: () => sql.close() }
}
