/**
 * Server configuration: read once from the environment and CLI flags, validated by one zod schema that
 * is also the one source of defaults. Nothing else in the server reads `process.env`.
 */
import { resolve } from 'node:path'
import { z } from 'zod'
import { isWorkerGroup, WORKER_GROUPS, type WorkerGroup } from './jobs/kinds.js'
import { parseObjectsRateLimits, type ObjectsRateLimits } from './modules/objects/rate-limit.js'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** How each setting is named outside the code, whether its value may be shown, and how to fix a bad one. */
interface FieldMeta {
  env?: string
  flag?: string
  secret?: boolean
  fix: string
}

const FIELDS = {
  port: { env: 'PORT', flag: '--port', fix: 'use a TCP port from 0 to 65535 (0 picks a free port), e.g. 3000' },
  host: { env: 'HOST', flag: '--host', fix: 'use an interface address such as 127.0.0.1 or 0.0.0.0' },
  dataDir: { env: 'TRUSS_DATA_DIR', flag: '--data-dir', fix: 'use a writable folder, e.g. ./.truss' },
  publicUrl: { env: 'PUBLIC_URL', fix: 'use the URL users reach the server at, e.g. https://truss.example.com' },
  databaseUrl: {
    env: 'DATABASE_URL',
    secret: true,
    fix: 'use postgres://user:password@host:5432/database, or unset it to use the embedded database',
  },
  redisUrl: {
    env: 'REDIS_URL',
    secret: true,
    fix: 'use redis://[:password@]host:6379[/db] (or rediss:// for TLS), or unset it to run in-process',
  },
  s3Endpoint: { env: 'S3_ENDPOINT', fix: 'use the http(s) URL of the S3-compatible service, e.g. http://minio:9000' },
  s3Bucket: { env: 'S3_BUCKET', fix: 'use the name of an existing bucket' },
  s3AccessKey: { env: 'S3_ACCESS_KEY', secret: true, fix: 'use the access key id of the S3 credentials' },
  s3SecretKey: { env: 'S3_SECRET_KEY', secret: true, fix: 'use the secret access key of the S3 credentials' },
  s3Region: { env: 'S3_REGION', fix: 'use a region name such as us-east-1' },
  s3ForcePathStyle: { env: 'S3_FORCE_PATH_STYLE', fix: 'use true or false' },
  smtpUrl: {
    env: 'SMTP_URL',
    secret: true,
    fix: 'use smtp://user:password@host:587 (or smtps:// for TLS), or unset it to write mail to the outbox folder',
  },
  emailFrom: { env: 'EMAIL_FROM', fix: 'use a sender address, e.g. "Truss <no-reply@example.com>"' },
  logLevel: { env: 'LOG_LEVEL', fix: `use one of ${LOG_LEVELS.join(', ')}` },
  serverName: { env: 'SERVER_NAME', fix: 'use a short display name' },
  maxObjectUploadFileSizeMb: { env: 'MAX_OBJECT_UPLOAD_FILE_SIZE_MB', fix: 'use a size in MB, e.g. 100' },
  maxObjectSizeMb: { env: 'MAX_OBJECT_SIZE_MB', fix: 'use a size in MB, e.g. 100' },
  maxRequestBodySizeMb: { env: 'MAX_REQUEST_BODY_SIZE_MB', fix: 'use a size in MB, e.g. 100' },
  objectsGzipLevel: {
    env: 'OBJECTS_GZIP_LEVEL',
    fix: 'use auto, 0 (stored, no compression), 1 (fastest) to 9 (smallest)',
  },
  objectsRateLimits: {
    env: 'TRUSS_OBJECTS_RATE_LIMITS',
    fix: 'use off, or rules per action such as upload=6/s,400/min;download=3/s,200/min;diff=10/s,1000/min',
  },
  fileSizeLimitMb: { env: 'FILE_SIZE_LIMIT_MB', fix: 'use a size in MB, e.g. 100' },
  fileImportLimitMb: { env: 'TRUSS_FILE_IMPORT_LIMIT_MB', fix: 'use a size in MB, e.g. 500' },
  disableFileUploads: { env: 'DISABLE_FILE_UPLOADS', fix: 'use true or false' },
  webDir: { env: 'TRUSS_WEB_DIR', fix: 'use the folder of a built web app (packages/web/dist), or unset it' },
  shutdownTimeoutSeconds: { env: 'SHUTDOWN_TIMEOUT_SECONDS', fix: 'use a number of seconds, e.g. 10' },
  outboxRetentionSeconds: { env: 'TRUSS_OUTBOX_RETENTION', fix: 'use a number of seconds, e.g. 86400' },
  presenceTtlSeconds: { env: 'TRUSS_PRESENCE_TTL_SECONDS', fix: 'use a number of seconds, e.g. 24' },
  httpIdleTimeoutSeconds: { env: 'HTTP_IDLE_TIMEOUT_SECONDS', fix: 'use a number of seconds, e.g. 120' },
  maxConcurrentUploads: { env: 'MAX_CONCURRENT_UPLOADS', fix: 'use a whole number of uploads, e.g. 4' },
  workers: { flag: '--no-workers', fix: 'pass --no-workers to run without in-process workers' },
  workerGroups: {
    env: 'TRUSS_WORKER_GROUPS',
    flag: '--only',
    fix: `use a comma-separated list of ${WORKER_GROUPS.join(', ')}`,
  },
  jobsLeaseSeconds: { env: 'TRUSS_JOBS_LEASE_SECONDS', fix: 'use a number of seconds, e.g. 30' },
  jobsPollSeconds: { env: 'TRUSS_JOBS_POLL_SECONDS', fix: 'use a number of seconds, e.g. 2' },
  webhooksAllowPrivate: { env: 'TRUSS_WEBHOOKS_ALLOW_PRIVATE', fix: 'use 1 (allow loopback and private targets) or 0' },
  webhooksDisableAfterFailures: {
    env: 'TRUSS_WEBHOOKS_DISABLE_AFTER_FAILURES',
    fix: 'use a whole number of failed deliveries in a row, e.g. 20',
  },
  dbMonitorIntervalSeconds: { env: 'TRUSS_DB_MONITOR_INTERVAL_SECONDS', fix: 'use a number of seconds, e.g. 30' },
} satisfies Record<string, FieldMeta>

type FieldName = keyof typeof FIELDS

const urlWithProtocols = (protocols: readonly string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol)
      } catch {
        return false
      }
    },
    { error: `must be a ${protocols.map((p) => `${p}//`).join(' or ')} URL` },
  )

const sizeMb = z.coerce.number({ error: 'must be a number' }).positive('must be more than 0')

const booleanText = z.preprocess(
  (value) => {
    if (typeof value !== 'string') return value
    const text = value.trim().toLowerCase()
    if (['true', '1', 'yes', 'on'].includes(text)) return true
    if (['false', '0', 'no', 'off'].includes(text)) return false
    return value
  },
  z.boolean({ error: 'must be true or false' }),
)

const configSchema = z
  .strictObject({
    port: z.coerce
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .min(0, 'must be at least 0')
      .max(65535, 'must be at most 65535')
      .default(3000),
    host: z.string().trim().min(1, 'must not be empty').default('127.0.0.1'),
    dataDir: z.string().trim().min(1, 'must not be empty').default('./.truss'),
    /** Canonical URL used in emails and links; defaults to `http://<host>:<port>`. */
    publicUrl: urlWithProtocols(['http:', 'https:']).optional(),
    databaseUrl: urlWithProtocols(['postgres:', 'postgresql:']).optional(),
    redisUrl: urlWithProtocols(['redis:', 'rediss:']).optional(),
    s3Endpoint: urlWithProtocols(['http:', 'https:']).optional(),
    s3Bucket: z.string().trim().min(1, 'must not be empty').optional(),
    s3AccessKey: z.string().min(1, 'must not be empty').optional(),
    s3SecretKey: z.string().min(1, 'must not be empty').optional(),
    s3Region: z.string().trim().min(1, 'must not be empty').default('us-east-1'),
    s3ForcePathStyle: booleanText.default(true),
    smtpUrl: urlWithProtocols(['smtp:', 'smtps:']).optional(),
    emailFrom: z.string().trim().min(3, 'must be an email address').optional(),
    logLevel: z.enum(LOG_LEVELS, { error: 'is not a log level' }).default('info'),
    serverName: z.string().trim().min(1, 'must not be empty').default('Truss'),
    // Speckle's defaults (WIRE.md "Limits"); Truss accepts at least as much.
    maxObjectUploadFileSizeMb: sizeMb.default(100),
    maxObjectSizeMb: sizeMb.default(100),
    maxRequestBodySizeMb: sizeMb.default(100),
    /**
     * gzip level of object downloads. `auto`: 0 (gzip framing, stored blocks) for clients on this machine
     * that did not come through a proxy, where compressing only burns CPU on both ends; level 1 otherwise.
     */
    objectsGzipLevel: z
      .string()
      .trim()
      .default('auto')
      .transform((value, ctx): 'auto' | number => {
        if (value === 'auto') return value
        const level = Number(value)
        if (value !== '' && Number.isInteger(level) && level >= 0 && level <= 9) return level
        ctx.addIssue({ code: 'custom', message: 'must be auto or a whole number from 0 to 9' })
        return z.NEVER
      }),
    /** Per-token limits of the object routes (`off`, or e.g. `upload=6/s,400/min;download=3/s`). */
    objectsRateLimits: z
      .union([z.string(), z.custom<ObjectsRateLimits>((v) => typeof v === 'object' && v !== null)])
      .default('')
      .transform((value, ctx): ObjectsRateLimits => {
        if (typeof value !== 'string') return value
        try {
          return parseObjectsRateLimits(value)
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) })
          return z.NEVER
        }
      }),
    fileSizeLimitMb: sizeMb.default(100),
    /** Largest file `POST /api/file/...` takes for import (Speckle refuses files over 100 MB). */
    fileImportLimitMb: sizeMb.default(500),
    /** Turn the file-upload route off (Speckle's DISABLE_FILE_UPLOADS). */
    disableFileUploads: booleanText.default(false),
    /** The built web app served at `/`; default the `@truss/web` package's `dist` when it is installed. */
    webDir: z.string().trim().min(1, 'must not be empty').optional(),
    shutdownTimeoutSeconds: z.coerce.number({ error: 'must be a number' }).positive('must be more than 0').default(10),
    /** Change-feed events older than this are pruned; a client resuming from before them gets RESUME_RESET. */
    outboxRetentionSeconds: z.coerce
      .number({ error: 'must be a number' })
      .min(60, 'must be at least 60')
      .default(86_400),
    /** A viewer session without a heartbeat for this long is gone (clients heartbeat every third of it). */
    presenceTtlSeconds: z.coerce.number({ error: 'must be a number' }).min(0.2, 'must be at least 0.2').default(24),
    /**
     * A connection on which nothing moved (no byte read or written) for this long is closed: a client that
     * stalls mid-upload or stops reading a download does not hold its upload slot or database work forever.
     * WebSocket connections are exempt (they have their own keep-alive).
     */
    httpIdleTimeoutSeconds: z.coerce.number({ error: 'must be a number' }).positive('must be more than 0').default(120),
    /** Object uploads loading into the database at once; the rest wait with their bodies unread. */
    maxConcurrentUploads: z.coerce
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .positive('must be at least 1')
      .default(4),
    /** Run background workers in this process (`--no-workers` turns them off). */
    workers: booleanText.default(true),
    /** The worker groups this process runs (`truss worker --only webhooks,imports`); default all. */
    workerGroups: z
      .union([z.string(), z.array(z.string())])
      .default([...WORKER_GROUPS])
      .transform((value, ctx): WorkerGroup[] => {
        const names = (Array.isArray(value) ? value : value.split(','))
          .map((v) => v.trim().toLowerCase())
          .filter((v) => v !== '')
        const unknown = names.filter((n) => !isWorkerGroup(n))
        if (names.length === 0 || unknown.length > 0) {
          ctx.addIssue({
            code: 'custom',
            message:
              names.length === 0 ? 'names no worker group' : `names unknown worker group(s) ${unknown.join(', ')}`,
          })
          return z.NEVER
        }
        return [...new Set(names)] as WorkerGroup[]
      }),
    /** A claimed job is another worker's to take when its lease is not renewed for this long. */
    jobsLeaseSeconds: z.coerce.number({ error: 'must be a number' }).min(2, 'must be at least 2').default(30),
    /** Idle workers look at the jobs table this often (bus hints wake them sooner). */
    jobsPollSeconds: z.coerce.number({ error: 'must be a number' }).positive('must be more than 0').default(2),
    /** Deliver webhooks to loopback, private, link-local and metadata addresses (tests, closed networks). */
    webhooksAllowPrivate: booleanText.default(false),
    /** Failed deliveries in a row after which a webhook is disabled and its owners are mailed. */
    webhooksDisableAfterFailures: z.coerce
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .positive('must be at least 1')
      .default(20),
    dbMonitorIntervalSeconds: z.coerce.number({ error: 'must be a number' }).min(1, 'must be at least 1').default(30),
  })
  .superRefine((c, ctx) => {
    // S3 is all-or-nothing: a bucket needs credentials; credentials or an endpoint need a bucket.
    const s3Set = c.s3Bucket !== undefined || c.s3Endpoint !== undefined
    const credentialsSet = c.s3AccessKey !== undefined || c.s3SecretKey !== undefined
    if (!s3Set && !credentialsSet) return
    const required: FieldName[] = ['s3Bucket', 's3AccessKey', 's3SecretKey']
    const given = (['s3Endpoint', 's3Bucket', 's3AccessKey', 's3SecretKey'] as const)
      .filter((name) => c[name] !== undefined)
      .map((name) => FIELDS[name].env)
    for (const name of required) {
      if (c[name] === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `is required when ${given.join(', ')} ${given.length === 1 ? 'is' : 'are'} set (S3 storage needs S3_BUCKET, S3_ACCESS_KEY and S3_SECRET_KEY; S3_ENDPOINT is optional for AWS)`,
        })
      }
    }
  })
  .transform(({ s3Endpoint, s3Bucket, s3AccessKey, s3SecretKey, s3Region, s3ForcePathStyle, ...rest }) => ({
    ...rest,
    dataDir: resolve(rest.dataDir),
    publicUrl: (rest.publicUrl ?? defaultPublicUrl(rest.host, rest.port)).replace(/\/+$/, ''),
    s3:
      s3Bucket !== undefined && s3AccessKey !== undefined && s3SecretKey !== undefined
        ? {
            endpoint: s3Endpoint,
            bucket: s3Bucket,
            region: s3Region,
            accessKeyId: s3AccessKey,
            secretAccessKey: s3SecretKey,
            forcePathStyle: s3ForcePathStyle,
          }
        : undefined,
  }))

/** Validated server configuration. */
export type Config = z.output<typeof configSchema>
export type S3Config = NonNullable<Config['s3']>
/** Settings given as CLI flags (or programmatically); they win over the environment. */
export type ConfigFlags = Partial<Omit<Config, 's3'>>

/** Refused configuration; the message names each variable and its fix, never a secret value. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  constructor(readonly problems: readonly string[]) {
    super(
      problems.length === 1
        ? `invalid configuration: ${problems[0]}`
        : `invalid configuration:\n  ${problems.join('\n  ')}`,
    )
  }
}

export function defaultPublicUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}

export function mbToBytes(mb: number): number {
  return Math.floor(mb * 1024 * 1024)
}

/**
 * Build the config from environment variables and flags (flags win). Empty variables count as unset.
 * Throws `ConfigError` naming each bad variable and how to fix it.
 */
export function loadConfig(env: Record<string, string | undefined>, flags: ConfigFlags = {}): Config {
  const input: Record<string, unknown> = {}
  const fromFlag = new Set<string>()
  for (const [name, meta] of Object.entries(FIELDS) as [FieldName, FieldMeta][]) {
    const value = meta.env === undefined ? undefined : env[meta.env]
    if (value !== undefined && value.trim() !== '') input[name] = value
  }
  for (const [name, value] of Object.entries(flags)) {
    if (value === undefined) continue
    input[name] = value
    fromFlag.add(name)
  }

  const parsed = configSchema.safeParse(input)
  if (parsed.success) return parsed.data

  const secrets = Object.entries(FIELDS)
    .filter(([, meta]) => 'secret' in meta && meta.secret)
    .map(([name]) => input[name])
    .filter((value): value is string => typeof value === 'string' && value.length > 0)
  const problems = parsed.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') return `unknown setting(s) ${issue.keys.join(', ')}`
    const name = String(issue.path[0] ?? '')
    const meta: FieldMeta | undefined = name in FIELDS ? FIELDS[name as FieldName] : undefined
    if (meta === undefined) return issue.message
    const label = fromFlag.has(name) && meta.flag !== undefined ? meta.flag : (meta.env ?? meta.flag ?? name)
    const value = input[name]
    const shown = !meta.secret && value !== undefined ? ` (got ${JSON.stringify(value)})` : ''
    return `${label} ${issue.message}${shown}; ${meta.fix}`
  })
  // Belt and braces: a secret must never reach a log or a terminal, whatever a message says.
  throw new ConfigError(problems.map((p) => secrets.reduce((text, secret) => text.split(secret).join('***'), p)))
}
