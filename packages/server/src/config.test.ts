import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig, mbToBytes } from './config.js'
import { DEFAULT_OBJECTS_RATE_LIMITS, NO_OBJECTS_RATE_LIMITS } from './modules/objects/rate-limit.js'

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

describe('loadConfig', () => {
  it('applies the documented defaults when nothing is set', () => {
    const config = loadConfig({})
    expect(config).toEqual({
      port: 3000,
      host: '127.0.0.1',
      dataDir: resolve('./.truss'),
      publicUrl: 'http://127.0.0.1:3000',
      databaseUrl: undefined,
      redisUrl: undefined,
      s3: undefined,
      smtpUrl: undefined,
      emailFrom: undefined,
      logLevel: 'info',
      serverName: 'Truss',
      maxObjectUploadFileSizeMb: 100,
      maxObjectSizeMb: 100,
      maxRequestBodySizeMb: 100,
      objectsGzipLevel: 'auto',
      objectsRateLimits: DEFAULT_OBJECTS_RATE_LIMITS,
      fileSizeLimitMb: 100,
      fileImportLimitMb: 500,
      disableFileUploads: false,
      shutdownTimeoutSeconds: 10,
      outboxRetentionSeconds: 86_400,
      presenceTtlSeconds: 24,
      httpIdleTimeoutSeconds: 120,
      maxConcurrentUploads: 4,
      workers: true,
      workerGroups: ['webhooks', 'imports', 'previews', 'monitor'],
      jobsLeaseSeconds: 30,
      jobsPollSeconds: 2,
      webhooksAllowPrivate: false,
      webhooksDisableAfterFailures: 20,
      dbMonitorIntervalSeconds: 30,
    })
  })

  it('reads every variable from the environment', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      TRUSS_DATA_DIR: '/var/lib/truss',
      PUBLIC_URL: 'https://truss.example.com/',
      DATABASE_URL: 'postgres://truss:pw@db:5432/truss',
      REDIS_URL: 'redis://cache:6379',
      S3_ENDPOINT: 'http://minio:9000',
      S3_BUCKET: 'truss',
      S3_ACCESS_KEY: 'AKIA',
      S3_SECRET_KEY: 'shh',
      S3_REGION: 'eu-west-1',
      S3_FORCE_PATH_STYLE: 'false',
      SMTP_URL: 'smtp://mail:25',
      EMAIL_FROM: 'Truss <no-reply@example.com>',
      LOG_LEVEL: 'debug',
      SERVER_NAME: 'Site hub',
      MAX_OBJECT_UPLOAD_FILE_SIZE_MB: '200',
      MAX_OBJECT_SIZE_MB: '50',
      MAX_REQUEST_BODY_SIZE_MB: '0.5',
      FILE_SIZE_LIMIT_MB: '1000',
      SHUTDOWN_TIMEOUT_SECONDS: '3',
      HTTP_IDLE_TIMEOUT_SECONDS: '30',
      MAX_CONCURRENT_UPLOADS: '8',
      OBJECTS_GZIP_LEVEL: '1',
      TRUSS_WORKER_GROUPS: 'Imports, previews',
      TRUSS_JOBS_LEASE_SECONDS: '15',
      TRUSS_JOBS_POLL_SECONDS: '0.5',
      TRUSS_WEBHOOKS_ALLOW_PRIVATE: '1',
      TRUSS_WEBHOOKS_DISABLE_AFTER_FAILURES: '5',
      TRUSS_DB_MONITOR_INTERVAL_SECONDS: '60',
      UNRELATED_VARIABLE: 'ignored',
    })
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      dataDir: '/var/lib/truss',
      publicUrl: 'https://truss.example.com',
      databaseUrl: 'postgres://truss:pw@db:5432/truss',
      redisUrl: 'redis://cache:6379',
      s3: {
        endpoint: 'http://minio:9000',
        bucket: 'truss',
        region: 'eu-west-1',
        accessKeyId: 'AKIA',
        secretAccessKey: 'shh',
        forcePathStyle: false,
      },
      smtpUrl: 'smtp://mail:25',
      emailFrom: 'Truss <no-reply@example.com>',
      logLevel: 'debug',
      serverName: 'Site hub',
      maxObjectUploadFileSizeMb: 200,
      maxObjectSizeMb: 50,
      maxRequestBodySizeMb: 0.5,
      fileSizeLimitMb: 1000,
      shutdownTimeoutSeconds: 3,
      httpIdleTimeoutSeconds: 30,
      maxConcurrentUploads: 8,
      objectsGzipLevel: 1,
      workerGroups: ['imports', 'previews'],
      jobsLeaseSeconds: 15,
      jobsPollSeconds: 0.5,
      webhooksAllowPrivate: true,
      webhooksDisableAfterFailures: 5,
      dbMonitorIntervalSeconds: 60,
    })
    expect(mbToBytes(config.maxRequestBodySizeMb)).toBe(512 * 1024)
  })

  it('lets flags win over the environment and derives the public URL from them', () => {
    const config = loadConfig({ PORT: '8080', HOST: '0.0.0.0' }, { port: 4000, host: '::1', workers: false })
    expect(config.port).toBe(4000)
    expect(config.host).toBe('::1')
    expect(config.workers).toBe(false)
    expect(config.publicUrl).toBe('http://[::1]:4000')
  })

  it('treats empty variables as unset', () => {
    const config = loadConfig({ PORT: '', DATABASE_URL: '  ' })
    expect(config.port).toBe(3000)
    expect(config.databaseUrl).toBeUndefined()
  })

  it('accepts S3 without an endpoint (AWS) and defaults region and path style', () => {
    const config = loadConfig({ S3_BUCKET: 'b', S3_ACCESS_KEY: 'k', S3_SECRET_KEY: 's' })
    expect(config.s3).toEqual({
      endpoint: undefined,
      bucket: 'b',
      region: 'us-east-1',
      accessKeyId: 'k',
      secretAccessKey: 's',
      forcePathStyle: true,
    })
  })

  it('refuses a bad port, naming the variable, the value and the fix', () => {
    const err = errorOf(() => loadConfig({ PORT: 'eighty' }))
    expect(err.message).toContain('PORT must be a number (got "eighty")')
    expect(err.message).toContain('e.g. 3000')
    expect(errorOf(() => loadConfig({ PORT: '70000' })).message).toContain('PORT must be at most 65535')
  })

  it('names the flag when the bad value came from a flag', () => {
    expect(errorOf(() => loadConfig({}, { port: -1 })).message).toContain('--port must be at least 0')
  })

  it('refuses unknown worker groups, naming them and the known ones', () => {
    expect(() => loadConfig({ TRUSS_WORKER_GROUPS: 'webhooks,mailroom' })).toThrow(
      /TRUSS_WORKER_GROUPS names unknown worker group\(s\) mailroom .*webhooks, imports, previews, monitor/,
    )
    expect(() => loadConfig({}, { workerGroups: [] })).toThrow(/--only names no worker group/)
  })

  it('lists every problem at once', () => {
    const err = errorOf(() => loadConfig({ LOG_LEVEL: 'loud', MAX_OBJECT_SIZE_MB: '0', S3_FORCE_PATH_STYLE: 'maybe' }))
    expect(err.problems).toHaveLength(3)
    expect(err.message).toContain('LOG_LEVEL is not a log level (got "loud"); use one of fatal, error')
    expect(err.message).toContain('MAX_OBJECT_SIZE_MB must be more than 0')
    expect(err.message).toContain('S3_FORCE_PATH_STYLE must be true or false')
  })

  it('reads OBJECTS_GZIP_LEVEL as auto or 0 to 9, default auto', () => {
    expect(loadConfig({}).objectsGzipLevel).toBe('auto')
    expect(loadConfig({ OBJECTS_GZIP_LEVEL: 'auto' }).objectsGzipLevel).toBe('auto')
    expect(loadConfig({ OBJECTS_GZIP_LEVEL: '0' }).objectsGzipLevel).toBe(0)
    expect(loadConfig({ OBJECTS_GZIP_LEVEL: '6' }).objectsGzipLevel).toBe(6)
    for (const bad of ['10', '-1', '1.5', 'fast']) {
      expect(errorOf(() => loadConfig({ OBJECTS_GZIP_LEVEL: bad })).message).toContain('OBJECTS_GZIP_LEVEL must be')
    }
  })

  it('reads TRUSS_OBJECTS_RATE_LIMITS as off or rules per action, keeping the defaults of actions left out', () => {
    expect(loadConfig({ TRUSS_OBJECTS_RATE_LIMITS: 'off' }).objectsRateLimits).toEqual(NO_OBJECTS_RATE_LIMITS)
    expect(
      loadConfig({ TRUSS_OBJECTS_RATE_LIMITS: 'upload=6/s, 400/min; download=3/s,200/10min; diff=off' })
        .objectsRateLimits,
    ).toEqual({
      upload: [
        { limit: 6, windowSeconds: 1 },
        { limit: 400, windowSeconds: 60 },
      ],
      download: [
        { limit: 3, windowSeconds: 1 },
        { limit: 200, windowSeconds: 600 },
      ],
      diff: [],
    })
    expect(loadConfig({ TRUSS_OBJECTS_RATE_LIMITS: 'diff=10/s' }).objectsRateLimits.upload).toEqual(
      DEFAULT_OBJECTS_RATE_LIMITS.upload,
    )
    for (const [bad, says] of [
      ['uploads=6/s', '"uploads" is not one of upload, download, diff'],
      ['upload', '"upload" needs rules'],
      ['upload=6/fortnight', '"6/fortnight" is not a rule'],
      ['upload=0/s', '"0/s" is not a rule'],
    ] as const) {
      const message = errorOf(() => loadConfig({ TRUSS_OBJECTS_RATE_LIMITS: bad })).message
      expect(message).toContain(`TRUSS_OBJECTS_RATE_LIMITS ${says}`)
      expect(message).toContain('use off, or rules per action')
    }
  })

  it('reads HTTP_IDLE_TIMEOUT_SECONDS and MAX_CONCURRENT_UPLOADS, refusing values that make no sense', () => {
    const config = loadConfig({ HTTP_IDLE_TIMEOUT_SECONDS: '2.5', MAX_CONCURRENT_UPLOADS: '12' })
    expect([config.httpIdleTimeoutSeconds, config.maxConcurrentUploads]).toEqual([2.5, 12])
    expect(errorOf(() => loadConfig({ HTTP_IDLE_TIMEOUT_SECONDS: '0' })).message).toContain(
      'HTTP_IDLE_TIMEOUT_SECONDS must be more than 0',
    )
    for (const bad of ['0', '1.5', 'many']) {
      expect(errorOf(() => loadConfig({ MAX_CONCURRENT_UPLOADS: bad })).message).toContain(
        'MAX_CONCURRENT_UPLOADS must be',
      )
    }
  })

  it('refuses unknown flags', () => {
    const flags = { colour: 'red' } as unknown as Parameters<typeof loadConfig>[1]
    expect(errorOf(() => loadConfig({}, flags)).message).toContain('unknown setting(s) colour')
  })

  it('refuses a DATABASE_URL that is not postgres without echoing its password', () => {
    const err = errorOf(() => loadConfig({ DATABASE_URL: 'mysql://admin:hunter2-secret@db/truss' }))
    expect(err.message).toContain('DATABASE_URL must be a postgres:// or postgresql:// URL')
    expect(err.message).toContain('postgres://user:password@host:5432/database')
    expect(err.message).not.toContain('hunter2')
    expect(err.message).not.toContain('admin')
  })

  it('never echoes REDIS_URL, SMTP_URL or S3 keys', () => {
    const err = errorOf(() =>
      loadConfig({ REDIS_URL: 'http://:redis-pass@cache', SMTP_URL: 'mail:smtp-pass', S3_SECRET_KEY: 'topsecret' }),
    )
    expect(err.message).toContain('REDIS_URL must be a redis:// or rediss:// URL')
    expect(err.message).toContain('SMTP_URL must be a smtp:// or smtps:// URL')
    expect(err.message).not.toMatch(/redis-pass|smtp-pass|topsecret/)
  })

  it('refuses half an S3 configuration, naming what is missing and what was set', () => {
    const err = errorOf(() => loadConfig({ S3_BUCKET: 'truss', S3_ACCESS_KEY: 'AKIA-visible-secret' }))
    expect(err.problems).toHaveLength(1)
    expect(err.message).toContain('S3_SECRET_KEY is required when S3_BUCKET, S3_ACCESS_KEY are set')
    expect(err.message).not.toContain('AKIA-visible-secret')

    const noBucket = errorOf(() => loadConfig({ S3_ENDPOINT: 'http://minio:9000' }))
    expect(noBucket.problems.map((p) => p.split(' ')[0])).toEqual(['S3_BUCKET', 'S3_ACCESS_KEY', 'S3_SECRET_KEY'])
  })

  it('refuses a PUBLIC_URL that is not http(s)', () => {
    expect(errorOf(() => loadConfig({ PUBLIC_URL: 'truss.example.com' })).message).toContain(
      'PUBLIC_URL must be a http:// or https:// URL (got "truss.example.com")',
    )
  })
})
