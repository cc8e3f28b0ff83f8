/** `truss jobs list|retry`: see the background job queue and put dead jobs back, on the server's database. */
import { parseArgs } from 'node:util'
import { isJobKind, JOB_KINDS, loadConfig, openJobQueue, type Job, type JobQueue, type JobStatus } from '@truss/server'
import { UsageError, type CliIo, type Command } from '../command.js'
import { DATABASE_HELP, parseFlags } from './identity.js'

const STATUSES: readonly JobStatus[] = ['queued', 'running', 'succeeded', 'dead']

const HELP = `Usage: truss jobs list [--kind <kind>] [--status <status>] [--limit <n>] [--json]
       truss jobs retry <job-id>

See the background job queue (webhook deliveries, file imports, preview renders) and retry dead jobs.

  list     Newest jobs first: id, kind, status, attempts, when it runs next, the last error
             --kind <kind>       ${Object.keys(JOB_KINDS).join(', ')}
             --status <status>   ${STATUSES.join(', ')}
             --limit <n>         at most n jobs (default 50, at most 500)
             --json              one JSON object per line instead of a table
  retry    Put a dead job back in the queue, to run now with its attempts reset

${DATABASE_HELP}
`

async function withQueue<T>(dataDir: string | undefined, io: CliIo, fn: (queue: JobQueue) => Promise<T>): Promise<T> {
  const config = loadConfig(io.env, dataDir === undefined ? {} : { dataDir })
  try {
    const { queue, close } = await openJobQueue({ databaseUrl: config.databaseUrl, dataDir: config.dataDir })
    try {
      return await fn(queue)
    } finally {
      await close()
    }
  } catch (err) {
    throw explainDenied(err, config.databaseUrl)
  }
}

/** PostgreSQL's insufficient_privilege (42501) alone does not say whose rights are missing, or what to do. */
function explainDenied(err: unknown, databaseUrl: string | undefined): unknown {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined
  if (code !== '42501' || databaseUrl === undefined || !(err instanceof Error)) return err
  const user = decodeURIComponent(new URL(databaseUrl).username) || 'of DATABASE_URL'
  return new Error(
    `the database user ${user} may not use the job queue (${err.message}); ` +
      "run truss jobs with the server's DATABASE_URL",
    { cause: err },
  )
}

function ago(date: Date | null, now: number): string {
  if (date === null) return ''
  const s = Math.round((date.getTime() - now) / 1000)
  const abs = Math.abs(s)
  const text = abs < 120 ? `${abs}s` : abs < 7200 ? `${Math.round(abs / 60)}m` : `${Math.round(abs / 3600)}h`
  return s > 0 ? `in ${text}` : `${text} ago`
}

/** A time that has passed, read from the database clock: never "in 1s" because the clocks differ a little. */
const past = (date: Date, now: number): Date => (date.getTime() > now ? new Date(now) : date)

export function formatJobs(jobs: readonly Job[], now = Date.now()): string {
  if (jobs.length === 0) return 'No jobs.\n'
  const rows = jobs.map((j) => [
    j.id,
    j.kind,
    j.status,
    `${j.attempts}/${j.maxAttempts}`,
    j.status === 'queued' ? ago(j.runAt, now) : ago(past(j.finishedAt ?? j.updatedAt, now), now),
    (j.lastError ?? '').replace(/\s+/g, ' ').slice(0, 80),
  ])
  const header = ['ID', 'KIND', 'STATUS', 'ATTEMPTS', 'WHEN', 'LAST ERROR']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  return `${[line(header), ...rows.map(line)].join('\n')}\n`
}

async function list(args: string[], io: CliIo): Promise<number> {
  const values = parseFlags(args, {
    kind: { type: 'string' },
    status: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
    'data-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help) {
    io.stdout(HELP)
    return 0
  }
  if (values.kind !== undefined && !isJobKind(values.kind)) {
    throw new UsageError(
      `--kind must be one of ${Object.keys(JOB_KINDS).join(', ')} (got ${JSON.stringify(values.kind)})`,
    )
  }
  if (values.status !== undefined && !(STATUSES as readonly string[]).includes(values.status)) {
    throw new UsageError(`--status must be one of ${STATUSES.join(', ')} (got ${JSON.stringify(values.status)})`)
  }
  let limit = 50
  if (values.limit !== undefined) {
    if (!/^\d+$/.test(values.limit) || Number(values.limit) < 1 || Number(values.limit) > 500) {
      throw new UsageError(`--limit must be a whole number from 1 to 500 (got ${JSON.stringify(values.limit)})`)
    }
    limit = Number(values.limit)
  }
  const jobs = await withQueue(values['data-dir'], io, (queue) =>
    queue.list({ kind: values.kind, status: values.status as JobStatus | undefined, limit }),
  )
  if (values.json) {
    for (const job of jobs) io.stdout(`${JSON.stringify(job)}\n`)
  } else {
    io.stdout(formatJobs(jobs))
  }
  return 0
}

async function retry(args: string[], io: CliIo): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args,
      options: { 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    })
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
  if (parsed.values.help) {
    io.stdout(HELP)
    return 0
  }
  if (parsed.positionals.length !== 1) throw new UsageError('truss jobs retry takes one job id')
  const id = parsed.positionals[0]!
  const job = await withQueue(parsed.values['data-dir'], io, (queue) => queue.retry(id))
  io.stdout(`Job ${job.id} (${job.kind}) is queued again: ${job.maxAttempts} attempts from now\n`)
  return 0
}

export const jobsCommand: Command = {
  name: 'jobs',
  summary: 'List background jobs and retry dead ones',
  help: HELP,
  async run(args, io) {
    const [name, ...rest] = args
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      if (name === undefined) throw new UsageError('truss jobs needs a subcommand: list, retry')
      io.stdout(HELP)
      return 0
    }
    if (name === 'list') return list(rest, io)
    if (name === 'retry') return retry(rest, io)
    throw new UsageError(`unknown subcommand "${name}" for truss jobs (known: list, retry)`)
  },
}
