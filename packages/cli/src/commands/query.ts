/**
 * `truss query VERSION 'FILTER' [--select a,b] [--csv]`: a version's objects matching a filter, through
 * the server's `POST /api/v1/projects/:p/versions/:v/query`, printed as a table (or CSV).
 */
import { EXIT_FAILURE, EXIT_OK, UsageError, type CliIo, type Command } from '../command.js'

const HELP = `Usage: truss query VERSION [FILTER] [options]

VERSION is a version link (BASE/projects/P/models/M@V) or, with --project, a version id.
FILTER is the query language of docs/server.md, e.g.
  'speckle_type = "Objects.BuiltElements.Wall" and height > 3'

Options:
  --select <paths>    Comma-separated paths to print (default: id and speckle_type)
  --csv               Print CSV instead of a table
  --limit <n>         Most objects to print (default 1000)
  --project <id>      The project, when VERSION is a version id
  --server <url>      The server (TRUSS_SERVER / TRUSS_SERVER_URL)
  --token <token>     A token with streams:read (TRUSS_TOKEN)
`

interface Target {
  server: string
  projectId: string
  versionId: string
}

function parseTarget(version: string, project: string | undefined, server: string | undefined): Target {
  const link = /^(https?:\/\/.+?)\/projects\/([^/]+)\/models\/[^@]+@([^/?#]+)/.exec(version)
  if (link) return { server: link[1]!, projectId: link[2]!, versionId: link[3]! }
  if (!project) throw new UsageError('give a version link, or --project with a version id')
  if (!server) throw new UsageError('give --server (or set TRUSS_SERVER) with a version id')
  return { server: server.replace(/\/$/, ''), projectId: project, versionId: version }
}

function valueAt(data: Record<string, unknown>, path: string): unknown {
  let at: unknown = data
  for (const segment of path.split('.')) {
    if (typeof at !== 'object' || at === null) return undefined
    at = (at as Record<string, unknown>)[segment]
  }
  return at
}

function cell(v: unknown): string {
  if (v === undefined || v === null) return ''
  return typeof v === 'string' ? v : JSON.stringify(v)
}

function csvCell(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

/** Rows as an aligned text table, headers first. */
export function formatTable(headers: readonly string[], rows: readonly string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => Math.min(r[i]!.length, 60))))
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (c.length > 60 ? `${c.slice(0, 59)}…` : c).padEnd(widths[i]!))
      .join('  ')
      .trimEnd()
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n'
}

export function formatCsv(headers: readonly string[], rows: readonly string[][]): string {
  return [headers, ...rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n'
}

interface QueryAnswer {
  items: { id: string; speckleType: string | null; data: Record<string, unknown> }[]
  cursor: string | null
  error?: { message: string; position?: number }
}

async function run(args: string[], io: CliIo): Promise<number> {
  const positional: string[] = []
  const flags: Record<string, string | true> = {}
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === '--csv' || a === '--help' || a === '-h') flags[a.replace(/^-+/, '')] = true
    else if (a.startsWith('--')) {
      const [name, inline] = a.slice(2).split('=', 2) as [string, string | undefined]
      if (!['select', 'limit', 'project', 'server', 'token'].includes(name))
        throw new UsageError(`unknown option --${name}`)
      const value = inline ?? args[++i]
      if (value === undefined) throw new UsageError(`--${name} needs a value`)
      flags[name] = value
    } else positional.push(a)
  }
  if (flags.help || flags.h) {
    io.stdout(HELP)
    return EXIT_OK
  }
  if (positional.length < 1 || positional.length > 2) throw new UsageError('truss query VERSION [FILTER]')
  const str = (k: string) => (typeof flags[k] === 'string' ? (flags[k] as string) : undefined)
  const target = parseTarget(
    positional[0]!,
    str('project'),
    str('server') ?? io.env.TRUSS_SERVER ?? io.env.TRUSS_SERVER_URL,
  )
  const token = str('token') ?? io.env.TRUSS_TOKEN
  const select = (str('select') ?? 'id,speckle_type')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  const max = Number(str('limit') ?? 1000)
  if (!Number.isInteger(max) || max < 1) throw new UsageError('--limit must be a positive integer')

  const rows: string[][] = []
  let cursor: string | null = null
  do {
    const res = await fetch(`${target.server}/api/v1/projects/${target.projectId}/versions/${target.versionId}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ filter: positional[1] ?? null, select, limit: Math.min(1000, max - rows.length), cursor }),
    })
    const body = (await res.json().catch(() => ({}))) as QueryAnswer
    if (!res.ok) {
      const where =
        body.error?.position !== undefined ? `\n  ${positional[1]}\n  ${' '.repeat(body.error.position)}^` : ''
      io.stderr(`truss query: ${body.error?.message ?? `the server answered ${res.status}`}${where}\n`)
      return EXIT_FAILURE
    }
    for (const item of body.items) {
      rows.push(select.map((p) => cell(p === 'id' ? item.id : valueAt(item.data, p))))
    }
    cursor = body.cursor
  } while (cursor !== null && rows.length < max)
  io.stdout(flags.csv ? formatCsv(select, rows) : formatTable(select, rows))
  return EXIT_OK
}

export const queryCommand: Command = {
  name: 'query',
  summary: "Print a version's objects matching a filter, as a table or CSV",
  help: HELP,
  run,
}
