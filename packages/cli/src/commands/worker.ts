/** `truss worker`: run background workers (webhooks, imports, previews, monitor) without the API. */

import {
  ConfigError,
  handleShutdownSignals,
  loadConfig,
  startWorker,
  StartupError,
  WORKER_GROUPS,
  type ConfigFlags,
} from '@truss/server'
import { EXIT_FAILURE, UsageError, type Command } from '../command.js'
import { parseFlags, parsePort } from './identity.js'

const HELP = `Usage: truss worker [options]

Run Truss's background workers in their own process: webhook delivery, file imports, preview
rendering and the database monitor. Run as many as the load needs, on any machine that reaches the
same database: each job runs once, and a job of a worker that dies is taken over when its lease ends.
Start the server with 'truss serve --no-workers' when workers run separately.

Options:
  --only <groups>     Comma-separated worker groups to run (TRUSS_WORKER_GROUPS; default all):
                      ${WORKER_GROUPS.join(', ')}
  --port <n>          Serve GET /metrics and GET /healthz on this port (0 picks one; default none)
  --data-dir <path>   Data folder (TRUSS_DATA_DIR; default ./.truss)
  -h, --help          Show this help

Environment: the server's (DATABASE_URL, REDIS_URL, S3_*, SMTP_URL, PUBLIC_URL, LOG_LEVEL), and
  TRUSS_JOBS_LEASE_SECONDS      how long a claimed job stays this worker's without renewal (default 30)
  TRUSS_JOBS_POLL_SECONDS       how often idle workers look for jobs (default 2; bus hints wake them sooner)
  TRUSS_WEBHOOKS_ALLOW_PRIVATE  1 to deliver webhooks to loopback and private addresses
  TRUSS_WEBHOOKS_DISABLE_AFTER_FAILURES  failed deliveries in a row that disable a webhook (default 20)
  TRUSS_DB_MONITOR_INTERVAL_SECONDS      seconds between database readings (default 30)

The embedded database (no DATABASE_URL) serves one process: with it, run the workers inside
'truss serve' instead.
`

export function parseWorkerArgs(
  args: readonly string[],
): { help: true } | { help: false; flags: ConfigFlags; metricsPort?: number } {
  const values = parseFlags(args, {
    only: { type: 'string' },
    port: { type: 'string' },
    'data-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) return { help: true }
  const flags: ConfigFlags = {}
  if (values.only !== undefined) {
    const names = values.only
      .split(',')
      .map((v) => v.trim().toLowerCase())
      .filter((v) => v !== '')
    const unknown = names.filter((n) => !(WORKER_GROUPS as readonly string[]).includes(n))
    if (names.length === 0 || unknown.length > 0) {
      throw new UsageError(
        `--only ${names.length === 0 ? 'names no worker group' : `names unknown worker group(s) ${unknown.join(', ')}`}; use ${WORKER_GROUPS.join(', ')}`,
      )
    }
    flags.workerGroups = names as ConfigFlags['workerGroups']
  }
  if (values['data-dir'] !== undefined) flags.dataDir = values['data-dir']
  let metricsPort: number | undefined
  if (values.port !== undefined) {
    metricsPort = parsePort(values.port)
  }
  return { help: false, flags, metricsPort }
}

export const workerCommand: Command = {
  name: 'worker',
  summary: 'Run background workers (webhooks, imports, previews, monitor)',
  help: HELP,
  async run(args, io) {
    const parsed = parseWorkerArgs(args)
    if (parsed.help) {
      io.stdout(HELP)
      return 0
    }
    let worker
    try {
      worker = await startWorker(loadConfig(io.env, parsed.flags), { metricsPort: parsed.metricsPort })
    } catch (err) {
      if (err instanceof ConfigError || err instanceof StartupError) {
        io.stderr(`truss: ${err.message}\n`)
        return EXIT_FAILURE
      }
      throw err
    }
    const running = worker
    io.stdout(
      `Truss worker running: ${running.workers.groups.join(', ')}` +
        `${running.metricsUrl ? ` (metrics at ${running.metricsUrl})` : ''}\n`,
    )
    return new Promise<number>((resolve) => {
      const stop = handleShutdownSignals(running, {
        signals: io.signals,
        logger: running.logger,
        exit: (code) => {
          stop()
          resolve(code)
        },
      })
    })
  },
}
