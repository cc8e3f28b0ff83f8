/**
 * `truss receive LINK|OBJECT_ID`: download a version's (or an object's) tree through the SDK into the local
 * cache (SQLite in the CLI's data folder; what is already there is not downloaded again). `--out` writes
 * the tree as the SDK deserializes it: detached children resolved in place, DataChunks joined, every object
 * keeping its `id`. Without `--out`, prints a summary.
 */
import { writeFileSync } from 'node:fs'
import { SQLiteTransport, receive } from '@truss/core'
import { UsageError, type Command } from '../command.js'
import { cliDataPath } from '../remote/accounts.js'
import { TARGET_FLAGS, TARGET_HELP, parseCommandArgs } from '../remote/args.js'
import { RemoteClient, RemoteError, explainTransportError, resolveTarget } from '../remote/client.js'
import { objectProgress } from '../remote/progress.js'

const HELP = `Usage: truss receive <link | object-id> [--project <id>] [--out <file.json>]

Download a model from a server into the local cache.

<link> is a version's link as 'truss send' prints it, SERVER/projects/P/models/M@V, or a model's,
SERVER/projects/P/models/M (its latest version). An object id needs --project (and the server from
--server, the environment or 'truss login').

Options:
  --project <id>      The project (for an object id)
  --out <file.json>   Write the received tree as JSON (children resolved in place) instead of a summary
${TARGET_HELP}
`

export interface ParsedLink {
  server: string
  projectId: string
  modelId: string
  versionId: string | undefined
}

/** `BASE/projects/P/models/M[@V]`; null when `text` is not such a link. */
export function parseLink(text: string): ParsedLink | null {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return null
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null
  const m = /^(.*?)\/projects\/([^/]+)\/models\/([^/]+)\/?$/.exec(url.pathname)
  if (!m) return null
  const [modelId, versionId] = decodeURIComponent(m[3]!).split('@') as [string, string | undefined]
  if (modelId.includes(',')) throw new UsageError('the link names several models; give a link to one')
  return {
    server: `${url.origin}${m[1]}`,
    projectId: decodeURIComponent(m[2]!),
    modelId,
    versionId: versionId === '' ? undefined : versionId,
  }
}

export const receiveCommand: Command = {
  name: 'receive',
  summary: 'Download a version (by link) or an object into the local cache; --out writes it as JSON',
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      ...TARGET_FLAGS,
      project: { type: 'string' },
      out: { type: 'string' },
    })
    if (values.help) {
      io.stdout(HELP)
      return 0
    }
    if (positionals.length !== 1) throw new UsageError('give exactly one link or object id')
    const what = positionals[0]!
    const link = parseLink(what)
    let projectId: string
    let objectId: string
    let client: RemoteClient
    if (link !== null) {
      client = new RemoteClient(resolveTarget({ server: values.server ?? link.server, token: values.token }, io.env))
      projectId = link.projectId
      if (link.versionId !== undefined) {
        objectId = (await client.version(projectId, link.versionId)).referencedObject
      } else {
        await client.model(projectId, link.modelId)
        const latest = (await client.versions(projectId, link.modelId, { limit: 1 })).items[0]
        if (latest === undefined) throw new RemoteError(`model ${link.modelId} has no versions yet`)
        objectId = latest.referencedObject
      }
    } else if (/^[0-9a-f]{32}$/i.test(what)) {
      if (values.project === undefined) throw new UsageError('an object id needs --project')
      client = new RemoteClient(resolveTarget({ server: values.server, token: values.token }, io.env))
      projectId = values.project
      objectId = what
      await client.project(projectId)
    } else {
      throw new UsageError(
        `${JSON.stringify(what)} is neither a link (SERVER/projects/P/models/M[@V]) nor an object id (32 hex digits)`,
      )
    }
    const cache = new SQLiteTransport({ basePath: cliDataPath(io.env) })
    try {
      const progress = objectProgress(io, 'downloading')
      let downloaded = 0
      let fetched = false
      let base
      try {
        base = await receive(objectId, {
          remote: client.transport(projectId),
          local: cache,
          onProgress: (p) => {
            if (p.stage !== 'download') return
            downloaded = p.done
            fetched = true
            progress.update(p.done, p.total)
          },
        })
      } catch (err) {
        if (err instanceof Error && /was not found on the server|was not found in transport/.test(err.message)) {
          throw new RemoteError(`object ${objectId} not found in project ${projectId}`)
        }
        throw explainTransportError(err, client.server, projectId)
      }
      if (fetched) progress.finish(downloaded)
      else io.stderr(`${objectId} was whole in the local cache; nothing downloaded\n`)
      const rootJson = (await cache.getObject(objectId))!
      const root = JSON.parse(rootJson) as Record<string, unknown>
      const closure = root.__closure
      const objects = 1 + (closure && typeof closure === 'object' ? Object.keys(closure).length : 0)
      if (values.out !== undefined) {
        try {
          writeFileSync(values.out, `${JSON.stringify(base)}\n`)
        } catch (err) {
          throw new RemoteError(
            `cannot write ${values.out}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
          )
        }
        io.stderr(`wrote ${objects} objects of ${objectId} to ${values.out}\n`)
        io.stdout(`${values.out}\n`)
        return 0
      }
      io.stdout(
        [
          `id: ${objectId}`,
          `speckle_type: ${String(root.speckle_type)}`,
          `totalChildrenCount: ${typeof root.totalChildrenCount === 'number' ? root.totalChildrenCount : 'unknown'}`,
          `objects: ${objects}`,
          '',
        ].join('\n'),
      )
      return 0
    } finally {
      await cache.close()
    }
  },
}
