/** `truss serve`: run the server until SIGTERM/SIGINT, then shut down gracefully. */

import {
  ConfigError,
  handleShutdownSignals,
  loadConfig,
  startServer,
  StartupError,
  type ConfigFlags,
} from '@truss/server'
import { EXIT_FAILURE, UsageError, type Command } from '../command.js'
import { parseFlags } from './identity.js'

const HELP = `Usage: truss serve [options]

Run the Truss server. With no other settings everything lives in the data folder: an embedded
PostgreSQL (PGlite) database, blobs on disk and outgoing mail as .eml files.

Options:
  --port <n>          TCP port to listen on (PORT; default 3000; 0 picks a free port)
  --host <address>    Interface to listen on (HOST; default 127.0.0.1, 0.0.0.0 for all)
  --data-dir <path>   Data folder (TRUSS_DATA_DIR; default ./.truss)
  --no-workers        Do not run background workers in this process (run 'truss worker' instead)
  -h, --help          Show this help

Environment:
  PUBLIC_URL          URL users reach the server at (default http://<host>:<port>)
  DATABASE_URL        postgres://… to use PostgreSQL instead of the embedded database
  REDIS_URL           redis://… to share bus, cache and rate limits between several servers
  S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION, S3_FORCE_PATH_STYLE
                      store blobs in an S3-compatible bucket instead of the data folder
  SMTP_URL, EMAIL_FROM
                      send mail through SMTP instead of writing it to the outbox folder
  LOG_LEVEL           fatal, error, warn, info (default), debug, trace or silent
  SERVER_NAME         display name of this server
  MAX_OBJECT_UPLOAD_FILE_SIZE_MB, MAX_OBJECT_SIZE_MB, MAX_REQUEST_BODY_SIZE_MB, FILE_SIZE_LIMIT_MB
                      size limits in MB (default 100 each)
  SHUTDOWN_TIMEOUT_SECONDS
                      how long in-flight requests may run after SIGTERM (default 10)
`

/** Turn `truss serve` arguments into config flags; throws `UsageError` on anything it does not know. */
export function parseServeArgs(args: readonly string[]): { help: true } | { help: false; flags: ConfigFlags } {
  const values = parseFlags(args, {
    port: { type: 'string' },
    host: { type: 'string' },
    'data-dir': { type: 'string' },
    'no-workers': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) return { help: true }

  const flags: ConfigFlags = {}
  if (values.port !== undefined) {
    if (!/^\d+$/.test(values.port)) {
      throw new UsageError(`--port must be a whole number from 0 to 65535 (got ${JSON.stringify(values.port)})`)
    }
    flags.port = Number(values.port)
  }
  if (values.host !== undefined) flags.host = values.host
  if (values['data-dir'] !== undefined) flags.dataDir = values['data-dir']
  if (values['no-workers']) flags.workers = false
  return { help: false, flags }
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Run the Truss server',
  help: HELP,
  async run(args, io) {
    const parsed = parseServeArgs(args)
    if (parsed.help) {
      io.stdout(HELP)
      return 0
    }
    let server
    try {
      server = await startServer(loadConfig(io.env, parsed.flags))
    } catch (err) {
      if (err instanceof ConfigError || err instanceof StartupError) {
        io.stderr(`truss: ${err.message}\n`)
        return EXIT_FAILURE
      }
      throw err
    }
    const running = server
    io.stdout(`Truss listening on ${running.url}\n`)
    return new Promise<number>((resolve) => {
      const stop = handleShutdownSignals(running, {
        signals: io.signals,
        logger: running.app.log,
        exit: (code) => {
          stop()
          resolve(code)
        },
      })
    })
  },
}
