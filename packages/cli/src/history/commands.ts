/**
 * The local history commands (issue 16): init, status, log, branch, switch, tag, commit, diff, remote.
 * Each runs in the current folder or in `-C DIR`; push, pull and clone are in `sync-commands.ts`.
 */
import { userInfo } from 'node:os'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { UsageError, type CliIo, type Command } from '../command.js'
import { diffTrees, formatDiff } from './diff.js'
import { objectProgress } from './progress.js'
import { DEFAULT_BRANCH, HistoryError, Repo, checkRefName, type Commit } from './repo.js'
import { snapshotFile } from './snapshot.js'

type Spec = Record<string, { type: 'string' | 'boolean'; short?: string }>

const DIR_FLAG = { C: { type: 'string' as const, short: 'C' } }
const HELP_FLAG = { help: { type: 'boolean' as const, short: 'h' } }

/** Flags plus positionals; `-C DIR` and `-h` everywhere. */
export function parseCommand<O extends Spec>(args: readonly string[], options: O) {
  try {
    const parsed = parseArgs({
      args: [...args],
      options: { ...options, ...DIR_FLAG, ...HELP_FLAG },
      strict: true,
      allowPositionals: true,
    })
    const values = parsed.values as { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string } & {
      C?: string
      help?: boolean
    }
    return { values, positionals: parsed.positionals, dir: resolve(values.C ?? '.') }
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
}

/** Open the history of `dir`, run `fn`, close it; a HistoryError becomes `truss: <message>`, exit 1. */
export async function withRepo(dir: string, io: CliIo, fn: (repo: Repo) => Promise<number> | number) {
  let repo: Repo
  try {
    repo = Repo.open(dir)
  } catch (err) {
    return reportHistoryError(err, io)
  }
  try {
    return await fn(repo)
  } catch (err) {
    return reportHistoryError(err, io)
  } finally {
    await repo.close()
  }
}

export function reportHistoryError(err: unknown, io: CliIo): number {
  if (!(err instanceof HistoryError)) throw err
  io.stderr(`truss: ${err.message}\n`)
  return 1
}

/** A help-or-run command built from its help text and body. */
export function command(
  name: string,
  summary: string,
  help: string,
  run: (args: string[], io: CliIo) => Promise<number>,
): Command {
  return {
    name,
    summary,
    help,
    run: (args, io) => {
      if (args.includes('-h') || args.includes('--help')) {
        io.stdout(help)
        return Promise.resolve(0)
      }
      return run(args, io)
    },
  }
}

const short = (id: string) => id.slice(0, 10)
const noExtra = (positionals: string[], max: number, usage: string) => {
  if (positionals.length > max)
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[max])} (${usage})`)
}

// ---- init ------------------------------------------------------------------------------------------

export const initCommand = command(
  'init',
  'Start a local history in this folder (.truss/)',
  `Usage: truss init [-C DIR] [--branch NAME] [--user NAME] [--email EMAIL]

Create .truss/ (objects.db, refs.db, config) in the folder. The first branch is main unless --branch says
otherwise; --user defaults to the login name.
`,
  async (args, io) => {
    const { values, positionals, dir } = parseCommand(args, {
      branch: { type: 'string' },
      user: { type: 'string' },
      email: { type: 'string' },
    })
    noExtra(positionals, 0, 'truss init takes no arguments')
    try {
      const user = { name: values.user ?? userInfo().username, ...(values.email ? { email: values.email } : {}) }
      const repo = Repo.init(dir, user, values.branch ?? DEFAULT_BRANCH)
      await repo.close()
    } catch (err) {
      return reportHistoryError(err, io)
    }
    io.stdout(`Initialized an empty Truss history in ${resolve(dir, '.truss')}\n`)
    return 0
  },
)

// ---- status ----------------------------------------------------------------------------------------

export const statusCommand = command(
  'status',
  'Show the current branch, its head and the remotes',
  `Usage: truss status [-C DIR] [--check]

Print the current branch and its head commit, the remotes and what each has been sent. --check also
verifies that every branch and tag names a stored commit whose objects are in objects.db (exit 1 if not).
`,
  async (args, io) => {
    const { values, positionals, dir } = parseCommand(args, { check: { type: 'boolean' } })
    noExtra(positionals, 0, 'truss status takes no arguments')
    return withRepo(dir, io, async (repo) => {
      const config = repo.config()
      const head = repo.head(config.branch)
      const lines = [`On branch ${config.branch}`]
      if (head === null) lines.push('No commits yet')
      else {
        const c = repo.getCommit(head)!
        lines.push(`Head ${short(c.id)} ${c.message} (object ${c.objectId})`)
      }
      for (const [name, r] of Object.entries(config.remotes)) {
        const linked = new Set(repo.links(name).map((l) => l.commitId))
        const unpushed = head === null ? 0 : repo.log(head).filter((c) => !linked.has(c.id)).length
        lines.push(`Remote ${name}: ${r.url} project ${r.project}; ${unpushed} commit(s) not pushed`)
      }
      io.stdout(`${lines.join('\n')}\n`)
      if (values.check) {
        const problems = await repo.check()
        for (const p of problems) io.stderr(`truss: ${p}\n`)
        if (problems.length > 0) return 1
        io.stdout('History is consistent\n')
      }
      return 0
    })
  },
)

// ---- log -------------------------------------------------------------------------------------------

function graphLines(repo: Repo, commits: Commit[]): string[] {
  // Lanes of expected commit ids, one column each, as `git log --graph` draws them (simplified).
  const lanes: string[] = []
  const out: string[] = []
  for (const c of commits) {
    let col = lanes.indexOf(c.id)
    if (col === -1) {
      lanes.push(c.id)
      col = lanes.length - 1
    }
    out.push(`${lanes.map((_, i) => (i === col ? '*' : '|')).join(' ')}  ${describe(c)}`)
    const [first, ...others] = c.parents
    if (first === undefined) lanes.splice(col, 1)
    else if (lanes.includes(first) && lanes.indexOf(first) !== col) lanes.splice(col, 1)
    else lanes[col] = first
    for (const p of others) if (!lanes.includes(p)) lanes.push(p)
    if (others.length > 0) out.push(`${lanes.map((_, i) => (i === col ? '|' : i > col ? '\\' : '|')).join(' ')}`)
  }
  void repo
  return out
}

function describe(c: Commit): string {
  return `${short(c.id)} ${c.createdAt.slice(0, 19).replace('T', ' ')} ${c.author}: ${c.message}${c.parents.length > 1 ? ' (merge)' : ''}`
}

export const logCommand = command(
  'log',
  'List the commits of a branch, newest first',
  `Usage: truss log [-C DIR] [REF] [--graph] [-n COUNT] [--json]

List the commits reachable from REF (default: the current branch), newest first. --graph draws the parent
lines; --json prints one array of commits.
`,
  async (args, io) => {
    const { values, positionals, dir } = parseCommand(args, {
      graph: { type: 'boolean' },
      json: { type: 'boolean' },
      n: { type: 'string', short: 'n' },
    })
    noExtra(positionals, 1, 'truss log takes one ref')
    const limit = values.n === undefined ? Infinity : Number(values.n)
    if (limit !== Infinity && (!Number.isInteger(limit) || limit < 1))
      throw new UsageError(`-n must be a whole number above 0`)
    return withRepo(dir, io, (repo) => {
      const ref = positionals[0] ?? 'HEAD'
      const commits = repo.log(repo.resolve(ref).id, limit)
      if (values.json) io.stdout(`${JSON.stringify(commits, null, 2)}\n`)
      else if (values.graph) io.stdout(`${graphLines(repo, commits).join('\n')}\n`)
      else {
        io.stdout(
          commits
            .map((c) =>
              [
                `commit ${c.id}${c.parents.length > 1 ? `\nMerge: ${c.parents.map(short).join(' ')}` : ''}`,
                `Author: ${c.author}`,
                `Date:   ${c.createdAt}`,
                `Object: ${c.objectId}`,
                '',
                `    ${c.message}`,
                '',
              ].join('\n'),
            )
            .join('\n'),
        )
      }
      return 0
    })
  },
)

// ---- branch, switch, tag ---------------------------------------------------------------------------

export const branchCommand = command(
  'branch',
  'List branches, or create one at the current head',
  `Usage: truss branch [-C DIR] [NAME [START]]

Without NAME, list the branches (* marks the current one). With NAME, create a branch at START (default:
the current head); it does not switch to it.
`,
  async (args, io) => {
    const { positionals, dir } = parseCommand(args, {})
    noExtra(positionals, 2, 'truss branch [NAME [START]]')
    return withRepo(dir, io, (repo) => {
      const current = repo.currentBranch()
      if (positionals[0] === undefined) {
        const branches = repo.branches()
        if (!branches.some((b) => b.name === current)) io.stdout(`* ${current} (no commits yet)\n`)
        for (const b of branches) io.stdout(`${b.name === current ? '*' : ' '} ${b.name} ${short(b.head)}\n`)
        return 0
      }
      const start = repo.resolve(positionals[1] ?? 'HEAD')
      repo.createBranch(positionals[0], start.id)
      io.stdout(`Created branch ${positionals[0]} at ${short(start.id)}\n`)
      return 0
    })
  },
)

export const switchCommand = command(
  'switch',
  'Make another branch the current one',
  `Usage: truss switch [-C DIR] NAME [--create]

Make NAME the current branch. --create (-c) creates it at the current head first. The files in the folder
are not touched: a commit records what you give it.
`,
  async (args, io) => {
    const { values, positionals, dir } = parseCommand(args, { create: { type: 'boolean', short: 'c' } })
    if (positionals.length !== 1) throw new UsageError('give the branch to switch to')
    const name = positionals[0]!
    return withRepo(dir, io, (repo) => {
      if (values.create) repo.createBranch(name, repo.resolve('HEAD').id)
      else if (repo.head(name) === null) {
        throw new HistoryError(`no branch ${JSON.stringify(name)} ('truss switch -c ${name}' creates it)`)
      }
      checkRefName(name, 'branch')
      repo.writeConfig({ ...repo.config(), branch: name })
      io.stdout(`Switched to branch ${name}\n`)
      return 0
    })
  },
)

export const tagCommand = command(
  'tag',
  'List tags, or tag a commit',
  `Usage: truss tag [-C DIR] [NAME [COMMIT]]

Without NAME, list the tags. With NAME, tag COMMIT (a branch, tag or commit id; default: the current head).
`,
  async (args, io) => {
    const { positionals, dir } = parseCommand(args, {})
    noExtra(positionals, 2, 'truss tag [NAME [COMMIT]]')
    return withRepo(dir, io, (repo) => {
      if (positionals[0] === undefined) {
        for (const t of repo.tags()) io.stdout(`${t.name} ${short(t.commit)}\n`)
        return 0
      }
      const target = repo.resolve(positionals[1] ?? 'HEAD')
      repo.createTag(positionals[0], target.id)
      io.stdout(`Tagged ${short(target.id)} as ${positionals[0]}\n`)
      return 0
    })
  },
)

// ---- commit ----------------------------------------------------------------------------------------

export const commitCommand = command(
  'commit',
  'Record a file (IFC, OBJ, STL, glTF, Speckle JSON) or a stored object as a commit',
  `Usage: truss commit [-C DIR] FILE -m MESSAGE
       truss commit [-C DIR] --object ID -m MESSAGE

Convert FILE with the same converters as the server's import (IFC, OBJ, STL, glTF/GLB) or read a Speckle
JSON file (a root object, an array of objects or a map id → object), store its objects in objects.db and
record a commit on the current branch whose parent is the branch's head. --object commits an object that
is already in objects.db. Prints the commit id as the last line.
`,
  async (args, io) => {
    const { values, positionals, dir } = parseCommand(args, {
      message: { type: 'string', short: 'm' },
      object: { type: 'string' },
    })
    const message = values.message
    if (message === undefined || message.trim() === '') throw new UsageError('-m MESSAGE is required')
    if ((positionals.length === 1) === (values.object !== undefined)) {
      throw new UsageError('give either one FILE or --object ID')
    }
    return withRepo(dir, io, async (repo) => {
      const objects = repo.objects()
      let objectId: string
      let sourceApp = 'truss'
      let count: number
      const progress = objectProgress(io, 'storing')
      if (values.object !== undefined) {
        objectId = values.object
        if ((await objects.getObject(objectId)) === null) {
          throw new HistoryError(`object ${objectId} is not in objects.db`)
        }
        count = 1
      } else {
        const file = resolve(positionals[0]!)
        let snapshot
        try {
          snapshot = await snapshotFile(file, objects, (done) => progress.update(done))
        } catch (err) {
          if (err instanceof Error && err.name === 'ImportError') throw new HistoryError(err.message)
          throw err
        }
        for (const w of snapshot.warnings) io.stderr(`warning: ${w}\n`)
        objectId = snapshot.objectId
        sourceApp = snapshot.sourceApp
        count = snapshot.objects
      }
      // Durable objects before the ref that names them.
      await objects.flush()
      if (values.object === undefined) progress.end(count)
      const c = repo.commit({ objectId, message, sourceApp })
      io.stdout(`[${repo.currentBranch()} ${short(c.id)}] ${message}\nobject ${objectId}\n${c.id}\n`)
      return 0
    })
  },
)

// ---- diff ------------------------------------------------------------------------------------------

export const diffCommand = command(
  'diff',
  'Objects added, removed and changed between two commits',
  `Usage: truss diff [-C DIR] A [B] [--json]

Compare the object trees of commits A and B (default B: the current head). Objects with an applicationId
are matched by it (changed when its id differs); others by id. Prints a table, or the full list with --json.
`,
  async (args, io) => {
    const { values, positionals, dir } = parseCommand(args, { json: { type: 'boolean' } })
    if (positionals.length < 1 || positionals.length > 2) throw new UsageError('give one or two commits')
    return withRepo(dir, io, async (repo) => {
      const a = repo.resolve(positionals[0]!)
      const b = repo.resolve(positionals[1] ?? 'HEAD')
      const diff = await diffTrees(repo.objects(), a.objectId, b.objectId)
      io.stdout(values.json ? `${JSON.stringify({ from: a.id, to: b.id, ...diff }, null, 2)}\n` : formatDiff(diff))
      return 0
    })
  },
)

// ---- remote ----------------------------------------------------------------------------------------

export const remoteCommand = command(
  'remote',
  'List, add or remove the servers this history pushes to',
  `Usage: truss remote [-C DIR]
       truss remote add NAME URL --project ID
       truss remote remove NAME

A remote is a server URL and a project id. Each branch is pushed to the project's model of the same name.
`,
  async (args, io) => {
    const { values, positionals, dir } = parseCommand(args, { project: { type: 'string' } })
    const [sub, name, url] = positionals
    return withRepo(dir, io, (repo) => {
      const config = repo.config()
      if (sub === undefined) {
        for (const [n, r] of Object.entries(config.remotes)) io.stdout(`${n}\t${r.url}\tproject ${r.project}\n`)
        return 0
      }
      if (sub === 'add') {
        if (name === undefined || url === undefined) throw new UsageError('truss remote add NAME URL --project ID')
        if (values.project === undefined || values.project === '') throw new UsageError('--project is required')
        if (!/^https?:\/\//.test(url)) throw new UsageError(`URL must be http(s) (got ${JSON.stringify(url)})`)
        checkRefName(name, 'branch')
        if (config.remotes[name]) throw new HistoryError(`remote ${name} already exists`)
        config.remotes[name] = { url: url.replace(/\/+$/, ''), project: values.project }
        repo.writeConfig(config)
        io.stdout(`Added remote ${name}: ${url} project ${values.project}\n`)
        return 0
      }
      if (sub === 'remove') {
        if (name === undefined || !config.remotes[name])
          throw new HistoryError(`no remote named ${JSON.stringify(name)}`)
        delete config.remotes[name]
        repo.writeConfig(config)
        return 0
      }
      throw new UsageError(`unknown subcommand "${sub}" for truss remote (known: add, remove)`)
    })
  },
)

export const HISTORY_COMMANDS: readonly Command[] = [
  initCommand,
  statusCommand,
  logCommand,
  branchCommand,
  switchCommand,
  tagCommand,
  commitCommand,
  diffCommand,
  remoteCommand,
]
