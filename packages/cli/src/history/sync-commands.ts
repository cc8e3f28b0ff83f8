/**
 * `truss push`, `truss pull` and `truss clone`: the local history against a server (see sync.ts). The token
 * comes from TRUSS_TOKEN or the account `truss login` stored for the remote's server.
 */
import { existsSync, readdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { UsageError, type CliIo, type Command } from '../command.js'
import { RemoteClient, RemoteError, resolveTarget } from '../remote/client.js'
import { command, parseCommand, reportHistoryError, withRepo } from './commands.js'
import { DEFAULT_BRANCH, HistoryError, Repo } from './repo.js'
import { pull, push } from './sync.js'

const clientFor = (url: string, io: CliIo) => new RemoteClient(resolveTarget({ server: url }, io.env))

/** RemoteErrors are sentences for the user, as HistoryErrors are. */
async function reported(io: CliIo, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof RemoteError) return reportHistoryError(new HistoryError(err.message), io)
    throw err
  }
}

export const pushCommand = command(
  'push',
  'Send a branch’s new commits to a server as versions',
  `Usage: truss push [-C DIR] [REMOTE] [BRANCH]

Send the commits of BRANCH (default: the current branch) that REMOTE (default: origin) lacks, oldest first:
the objects the server does not have, then one version per commit on the project's model named BRANCH
(created when missing), with the commit's message. An interrupted push resumes without resending.
Refused when the model has versions this history has not pulled.
`,
  async (args, io) => {
    const { positionals, dir } = parseCommand(args, {})
    if (positionals.length > 2) throw new UsageError('truss push [REMOTE] [BRANCH]')
    return withRepo(dir, io, (repo) =>
      reported(io, async () => {
        const remote = positionals[0] ?? 'origin'
        const branch = positionals[1] ?? repo.currentBranch()
        await push(repo, clientFor(repo.remote(remote).url, io), io, { remote, branch })
        return 0
      }),
    )
  },
)

export const pullCommand = command(
  'pull',
  'Fetch a model’s new versions as commits (fast-forward, or --merge)',
  `Usage: truss pull [-C DIR] [REMOTE] [BRANCH] [--merge]

Fetch the versions of the model named BRANCH (default: the current branch) that this history lacks, with
their objects, as commits, and fast-forward the branch. When the branch has commits of its own the pull is
refused, naming both heads; --merge then records a commit with both heads as parents (keeping the local
head's object).
`,
  async (args, io) => {
    const { values, positionals, dir } = parseCommand(args, { merge: { type: 'boolean' } })
    if (positionals.length > 2) throw new UsageError('truss pull [REMOTE] [BRANCH]')
    return withRepo(dir, io, (repo) =>
      reported(io, async () => {
        const remote = positionals[0] ?? 'origin'
        const branch = positionals[1] ?? repo.currentBranch()
        await pull(repo, clientFor(repo.remote(remote).url, io), io, {
          remote,
          branch,
          merge: values.merge === true,
        })
        return 0
      }),
    )
  },
)

export const cloneCommand = command(
  'clone',
  'Make a local history from a server project’s model',
  `Usage: truss clone URL --project ID [--model NAME] [DIR]

Create DIR (default: the project's id) with a new history whose remote origin is URL + project, and pull
the model NAME (default main) into the branch of the same name.
`,
  async (args, io) => {
    const { values, positionals } = parseCommand(args, { project: { type: 'string' }, model: { type: 'string' } })
    const [url, target] = positionals
    if (url === undefined || positionals.length > 2) throw new UsageError('truss clone URL --project ID [DIR]')
    if (!/^https?:\/\//.test(url)) throw new UsageError(`URL must be http(s) (got ${JSON.stringify(url)})`)
    const project = values.project
    if (project === undefined || project === '') throw new UsageError('--project is required')
    const branch = values.model ?? DEFAULT_BRANCH
    const dir = resolve(values.C ?? '.', target ?? project)
    if (existsSync(dir) && readdirSync(dir).length > 0) {
      return reportHistoryError(new HistoryError(`${dir} exists and is not empty`), io)
    }
    return reported(io, async () => {
      const client = clientFor(url, io)
      await client.project(project)
      const me = await client.whoami().catch(() => ({ name: 'unknown', email: null }))
      const repo = Repo.init(dir, { name: me.name, ...(me.email ? { email: me.email } : {}) }, branch)
      try {
        repo.writeConfig({ ...repo.config(), remotes: { origin: { url: client.server, project } } })
        const result = await pull(repo, client, io, { remote: 'origin', branch })
        io.stdout(`Cloned ${url} project ${project} model ${branch} into ${dir} (${result.commits} commit(s))\n`)
        return 0
      } catch (err) {
        if (err instanceof HistoryError) return reportHistoryError(err, io)
        throw err
      } finally {
        await repo.close()
      }
    })
  },
)

export const SYNC_COMMANDS: readonly Command[] = [pushCommand, pullCommand, cloneCommand]
