/**
 * Start-up and shut-down: config → adapters → migrations → app (+ module routes) → listen; and the
 * graceful shutdown that stops accepting, lets in-flight requests finish (bounded), then closes adapters.
 */
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import type { FastifyPluginAsync } from 'fastify'
import { pino, type Logger } from 'pino'
import { createBlobStore } from './adapters/blobs/index.js'
import { createBus } from './adapters/bus/index.js'
import { createMailer } from './adapters/mail/index.js'
import { createSql, DataDirInUse } from './adapters/sql/index.js'
import { runMigrations } from './adapters/sql/migrate.js'
import { buildApp, type TrussApp } from './app.js'
import { defaultPublicUrl, mbToBytes, type Config } from './config.js'
import { authPlugin, sessionCookieOfUpgrade } from './modules/auth/plugin.js'
import { createMetrics } from './modules/metrics/index.js'
import { objectsRoutes } from './modules/objects/rest.js'
import { blobRoutes } from './modules/blobs/rest.js'
import { fileImportRoutes } from './modules/fileimports/rest.js'
import { registerPreviewRoutes } from './modules/previews/routes.js'
import { queryRoutes } from './modules/query/rest.js'
import { projectObjectStats } from './modules/monitor/stats.js'
import { createDatabaseMonitor } from './workers/monitor/index.js'
import { Registry } from 'prom-client'
import { subscribeTokenRevocations, TOKENS_REVOKED_TOPIC } from './modules/tokens/service.js'
import { createServerSchema } from './graphql-schema.js'
import { createGraphqlContext, graphqlRoutes, type GraphqlDeps } from './modules/graphql/index.js'
import {
  attachRealtimeGateway,
  createOutboxReader,
  createOutboxTailer,
  createRealtimeHub,
  startOutboxPruning,
} from './modules/realtime/index.js'
import { projectTopic, userTopic } from './events.js'
import { registerRealtimeMetrics } from './modules/realtime/metrics.js'
import { accountsRoutes } from './modules/accounts/index.js'
import { createPresenceService, createPresenceStore } from './modules/presence/index.js'
import { createServices } from './services.js'
import { registerQueueMetrics, startWorkers } from './workers.js'

/** The release `serverInfo.version` reports: this package's version. */
const TRUSS_VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version

export interface StartServerOptions {
  /** Defaults to pino JSON lines on stdout at `config.logLevel`. */
  logger?: Logger
  /** Extra routes registered after the modules (embedding, tests). */
  routes?: FastifyPluginAsync
}

export interface RunningServer {
  /** Where the server listens (the actual port when `port` was 0). */
  url: string
  /** The configuration in effect (port and default public URL resolved when `port` was 0). */
  config: Config
  app: TrussApp
  /** Stop accepting, finish in-flight requests (at most `shutdownTimeoutSeconds`), close adapters. Idempotent. */
  close(): Promise<void>
}

/** Start-up failed for a reason the operator can fix; the message says how. */
export class StartupError extends Error {
  override readonly name = 'StartupError'
}

interface Closable {
  name: string
  close(): Promise<void>
}

export async function startServer(config: Config, options: StartServerOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? pino({ name: 'truss', level: config.logLevel })
  config = await resolvePort(config)
  const opened: Closable[] = []
  const open = async <T extends { close(): Promise<void> }>(name: AdapterName, make: () => Promise<T>): Promise<T> => {
    let adapter: T
    try {
      adapter = await make()
    } catch (err) {
      throw adapterError(name, err, config)
    }
    opened.push({ name, close: () => adapter.close() })
    return adapter
  }

  try {
    const sql = await open('sql', () =>
      createSql({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger: logger.child({ adapter: 'sql' }) }),
    )
    const applied = await runMigrations(sql)
    if (applied.length > 0) logger.info({ migrations: applied }, 'applied migrations')
    const blobs = await open('blobs', () => createBlobStore({ dataDir: config.dataDir, s3: config.s3 }))
    const bus = await open('bus', () =>
      createBus({ redisUrl: config.redisUrl, logger: logger.child({ adapter: 'bus' }) }),
    )
    const mailer = await open('mail', () =>
      createMailer({
        dataDir: config.dataDir,
        smtpUrl: config.smtpUrl,
        from: config.emailFrom,
        logger: logger.child({ adapter: 'mail' }),
      }),
    )
    logger.info({ sql: sql.kind, blobs: blobs.kind, bus: bus.kind, mail: mailer.kind }, 'adapters ready')

    const metrics = createMetrics()
    const app = buildApp({ config, logger, sql, blobs, bus, metrics })

    // ── Module routes ─────────────────────────────────────────────────────────────────────────────────
    // Each module is a function of its dependencies returning a service; its rest.ts plugin takes the service.
    // The auth plugin comes first: its hook must see every route.
    const adapters = { sql, blobs, bus, mailer }
    const services = createServices(config, adapters, metrics, logger)
    const { tokens, objects, projects, models, versions, users, policy, apps, settings, accounts } = services
    const { activity, invites, projectInvites, webhooks } = services
    await subscribeTokenRevocations(bus, tokens)
    await apps.ensureBuiltInApps(config.publicUrl)
    const jobMetrics = registerQueueMetrics(metrics, adapters)

    await app.register(authPlugin, { tokens, allowedOrigins: [config.publicUrl] })
    await app.register(accountsRoutes, { accounts, apps, tokens, bus, publicUrl: config.publicUrl })
    await app.register(objectsRoutes, {
      objects,
      metrics,
      maxPartBytes: mbToBytes(config.maxObjectUploadFileSizeMb),
      gzipLevel: config.objectsGzipLevel,
      bus,
      rateLimits: config.objectsRateLimits,
      authorize: (request, projectId, mode) => policy.authorizeProject(request.principal, projectId, mode),
    })
    await app.register(blobRoutes, {
      blobs: services.blobs,
      limitBytes: mbToBytes(config.fileSizeLimitMb),
      authorize: (request, projectId, mode) => policy.authorizeProject(request.principal, projectId, mode),
    })
    if (!config.disableFileUploads) {
      await app.register(fileImportRoutes, {
        blobs: services.blobs,
        fileImports: services.fileImports,
        limitBytes: mbToBytes(config.fileImportLimitMb),
        authorize: (request, projectId, mode) => policy.authorizeProject(request.principal, projectId, mode),
      })
    }
    await app.register(queryRoutes, {
      query: services.query,
      versions,
      requireRead: (request, projectId) => policy.requireProject(request.principal, projectId, 'read'),
    })
    await app.register(registerPreviewRoutes, {
      authorize: (request, projectId) => policy.authorizeProject(request.principal, projectId, 'read'),
      projects,
      models,
      versions,
      objects,
      previews: services.previews,
      requestRender: (projectId, objectId) => services.previews.requestRender(projectId, objectId),
    })
    // Admin statistics read on demand, on a registry of their own (the worker's monitor exports the gauges).
    const statsMonitor = createDatabaseMonitor({ sql, registry: new Registry(), logger })
    // Presence keeps its sessions where the bus keeps its state: in process, or in Redis with TTLs.
    const presenceLogger = logger.child({ module: 'presence' })
    const presenceStore = await open('bus', () =>
      createPresenceStore({ redisUrl: config.redisUrl, ttlSeconds: config.presenceTtlSeconds, logger: presenceLogger }),
    )
    const presence = createPresenceService({
      store: presenceStore,
      bus,
      ttlSeconds: config.presenceTtlSeconds,
      logger: presenceLogger,
    })
    presence.start()
    opened.push({ name: 'presence', close: () => presence.close() })
    const graphqlDeps: GraphqlDeps = {
      blobs: services.blobs,
      fileImports: services.fileImports,
      comments: services.comments,
      query: services.query,
      presence,
      serverStats: async () => ({
        database: await statsMonitor.collect(),
        projects: await projectObjectStats(sql),
        jobs: await services.jobs.depth(),
      }),
      projects,
      models,
      versions,
      users,
      tokens,
      apps,
      activity,
      invites: { project: projectInvites, server: invites },
      objects,
      policy,
      settings,
      webhooks,
      serverInfo: {
        canonicalUrl: config.publicUrl,
        version: TRUSS_VERSION,
        objectSizeLimitBytes: mbToBytes(config.maxObjectSizeMb),
        objectMultipartUploadSizeLimitBytes: mbToBytes(config.maxObjectUploadFileSizeMb),
        blobSizeLimitBytes: mbToBytes(config.fileSizeLimitMb),
        isEmailEnabled: config.smtpUrl !== undefined,
      },
    }
    const schema = createServerSchema()
    await app.register(graphqlRoutes, { ...graphqlDeps, schema, devPage: true })
    // Subscriptions: this node tails the outbox itself (the change feed, with seqs for resume) and fans each
    // topic out to its own sockets; ephemeral topics (presence) come straight from the bus.
    const realtimeLogger = logger.child({ module: 'realtime' })
    const tailer = createOutboxTailer({ reader: createOutboxReader(sql), nudges: bus, logger: realtimeLogger })
    await tailer.start()
    const pruning = startOutboxPruning({ sql, retentionSeconds: config.outboxRetentionSeconds, logger: realtimeLogger })
    const feedTopic = (topic: string) => topic.startsWith(projectTopic('')) || topic.startsWith(userTopic(''))
    const hub = createRealtimeHub({
      bus,
      sourceOf: (topic) => (feedTopic(topic) ? tailer : bus),
      replay: (topic, since) => tailer.replay(topic, since),
      logger: realtimeLogger,
    })
    opened.push({
      name: 'realtime',
      close: async () => {
        await hub.close()
        await pruning.close()
        await tailer.close()
      },
    })
    const ownOrigins: ReadonlySet<string> = new Set([new URL(config.publicUrl).origin])
    const gateway = attachRealtimeGateway(app, {
      schema,
      verifyToken: (token) => tokens.verify(token),
      buildContext: (principal) => createGraphqlContext(graphqlDeps, principal, hub.subscribe),
      keepAliveSeconds: 10,
      // The web app's sockets sign in with its session cookie, from this site only.
      sessionToken: (request) => sessionCookieOfUpgrade(request, ownOrigins),
      resumeContext: (context, since) => ({ ...context, resumeFrom: since }),
      mayConnect: (principal) => principal.serverRole !== 'server:archived-user',
      logger: realtimeLogger,
    })
    registerRealtimeMetrics(metrics.registry, gateway, hub, tailer)
    // A revoked token, or a user whose role changed (archived), on any node: check its sockets here again.
    await bus.subscribe(TOKENS_REVOKED_TOPIC, (message) => {
      const { tokenIds = [], userIds = [] } = (message ?? {}) as { tokenIds?: unknown[]; userIds?: unknown[] }
      // After subscribeTokenRevocations' handler has dropped the cached tokens.
      setImmediate(() => {
        void gateway
          .recheck((p) => tokenIds.includes(p.tokenId) || userIds.includes(p.userId))
          .catch((err: unknown) => realtimeLogger.warn({ err }, 'checking realtime connections again failed'))
      })
    })
    // ──────────────────────────────────────────────────────────────────────────────────────────────────
    // Workers in this process unless `--no-workers` (then `truss worker` runs them).
    if (config.workers) {
      const workers = await startWorkers({
        config,
        adapters,
        services,
        metrics,
        jobMetrics,
        logger,
        version: TRUSS_VERSION,
      })
      opened.push({ name: 'workers', close: () => workers.close() })
    }

    if (options.routes) await app.register(options.routes)

    try {
      await app.listen({ port: config.port, host: config.host })
    } catch (err) {
      await app.close().catch(() => undefined)
      throw listenError(err, config)
    }
    const url = defaultPublicUrl(config.host, config.port)
    logger.info({ url, publicUrl: config.publicUrl, workers: config.workers }, 'Truss listening')

    let closing: Promise<void> | undefined
    const close = () => {
      closing ??= (async () => {
        await closeApp(app, config.shutdownTimeoutSeconds, logger)
        await closeAll(opened, config.shutdownTimeoutSeconds, logger)
        logger.info('Truss stopped')
      })()
      return closing
    }
    return { url, config, app, close }
  } catch (err) {
    await closeAll(opened, config.shutdownTimeoutSeconds, logger)
    throw err
  }
}

/**
 * With port 0 the kernel picks a free port; pick it before building the app so the configuration (and the
 * default `PUBLIC_URL` that links are built from) states the real port.
 */
async function resolvePort(config: Config): Promise<Config> {
  if (config.port !== 0) return config
  const port = await new Promise<number>((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen({ port: 0, host: config.host }, () => {
      const address = probe.address()
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
  const publicUrl =
    config.publicUrl === defaultPublicUrl(config.host, 0) ? defaultPublicUrl(config.host, port) : config.publicUrl
  return { ...config, port, publicUrl }
}

type AdapterName = 'sql' | 'blobs' | 'bus' | 'mail'

/** Which settings choose each adapter, for messages that say what to check. */
function adapterSettings(name: AdapterName, config: Config): string {
  switch (name) {
    case 'sql':
      return config.databaseUrl ? 'the database at DATABASE_URL' : `the embedded database in ${config.dataDir}`
    case 'blobs':
      return config.s3 ? 'the S3 bucket (S3_*)' : `the blob folder in ${config.dataDir}`
    case 'bus':
      return config.redisUrl ? 'Redis at REDIS_URL' : 'the in-process bus'
    case 'mail':
      return config.smtpUrl ? 'the SMTP server at SMTP_URL' : `the mail outbox in ${config.dataDir}`
  }
}

/** Adapter failures at start-up become messages naming the setting; the adapters' own words are kept. */
function adapterError(name: AdapterName, err: unknown, config: Config): unknown {
  if (err instanceof DataDirInUse) {
    return new StartupError(
      `${err.message}; stop that server first, or pass --data-dir (TRUSS_DATA_DIR) to use another folder`,
      { cause: err },
    )
  }
  if (!(err instanceof Error)) return err
  // The adapters' configuration errors already say what failed, and name the setting to check.
  if ('variable' in err && typeof err.variable === 'string') {
    return new StartupError(`${err.message}; check ${err.variable}`, { cause: err })
  }
  return new StartupError(`cannot open ${adapterSettings(name, config)}: ${err.message}`, { cause: err })
}

function listenError(err: unknown, config: Config): unknown {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined
  if (code === 'EADDRINUSE') {
    return new StartupError(
      `port ${config.port} on ${config.host} is already in use; stop the other server or pass --port (PORT) to use another`,
      { cause: err },
    )
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
    return new StartupError(
      `cannot listen on host ${config.host}; pass --host (HOST) with an address of this machine`,
      {
        cause: err,
      },
    )
  }
  if (code === 'EACCES') {
    return new StartupError(`no permission to listen on port ${config.port}; use a port above 1023`, { cause: err })
  }
  return err
}

/** Stop accepting and wait for in-flight requests; past the timeout, cut the remaining connections. */
async function closeApp(app: TrussApp, timeoutSeconds: number, logger: Logger): Promise<void> {
  const timer = setTimeout(() => {
    logger.warn({ timeoutSeconds }, 'requests still running at the shutdown timeout; closing their connections')
    app.server.closeAllConnections()
  }, timeoutSeconds * 1000)
  // Connections that finish a request after close() began become idle but stay open until their keep-alive
  // timeout; close those as they appear.
  const sweep = setInterval(() => app.server.closeIdleConnections(), 100)
  try {
    await app.close()
  } finally {
    clearTimeout(timer)
    clearInterval(sweep)
  }
}

/** Close adapters in reverse order of opening; each gets the timeout, and one failing does not stop the rest. */
async function closeAll(opened: Closable[], timeoutSeconds: number, logger: Logger): Promise<void> {
  for (const adapter of opened.splice(0).reverse()) {
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        adapter.close(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`did not close within ${timeoutSeconds} s`)), timeoutSeconds * 1000)
        }),
      ])
    } catch (err) {
      logger.error({ adapter: adapter.name, err }, 'adapter failed to close')
    } finally {
      clearTimeout(timer)
    }
  }
}

/** What `handleShutdownSignals` needs from `process` (an EventEmitter in tests). */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: () => void): unknown
  removeListener(signal: NodeJS.Signals, listener: () => void): unknown
}

/**
 * On SIGTERM or SIGINT: close the server, then `exit(0)` (or `exit(1)` if closing threw). A second signal
 * while closing exits at once with 1. Returns a function that removes the handlers.
 */
export function handleShutdownSignals(
  server: Pick<RunningServer, 'close'>,
  options: { signals?: SignalSource; exit: (code: number) => void; logger: Pick<Logger, 'info' | 'warn' | 'error'> },
): () => void {
  const { exit, logger } = options
  const source: SignalSource = options.signals ?? process
  let shuttingDown = false
  const handlers = (['SIGTERM', 'SIGINT'] as const).map((signal) => {
    const handler = () => {
      if (shuttingDown) {
        logger.warn({ signal }, 'second signal while shutting down; exiting now')
        exit(1)
        return
      }
      shuttingDown = true
      logger.info({ signal }, 'shutting down')
      server.close().then(
        () => exit(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed')
          exit(1)
        },
      )
    }
    source.on(signal, handler)
    return [signal, handler] as const
  })
  return () => {
    for (const [signal, handler] of handlers) source.removeListener(signal, handler)
  }
}
