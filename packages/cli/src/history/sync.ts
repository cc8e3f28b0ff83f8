/**
 * push, pull and clone between a local history and a server project, over public REST + GraphQL only (the
 * `RemoteClient`), so Truss and speckle-server take the same path. A branch maps to the project's model of
 * the same name; each commit to one version, linked in refs.db's remote_versions.
 *
 * Push, per commit oldest first: copy the missing objects (copyTree asks the server's diff route once; the
 * transport is made with `diff: false` so it does not ask again), create the version, link it. A push killed
 * after the version was created but before the link finds that version again (same object and message, not
 * linked) and reuses it. Pull builds the commits of the new versions, refuses a diverged branch (or merges it
 * with `--merge`), downloads the objects, then writes commits, links and the branch head in one transaction.
 */
import { copyTree, parseStoredObject, type Transport } from '@truss/core'
import type { RemoteClient, RemoteVersion } from '../remote/client.js'
import type { CliIo } from '../command.js'
import { objectProgress } from './progress.js'
import { HistoryError, commitId, type Commit, type RemoteLink, type Repo } from './repo.js'

const short = (id: string) => id.slice(0, 10)

export interface PushResult {
  commits: number
  objectsSent: number
  seconds: number
}

/** The unlinked commits reachable from `head`, parents before children. */
function unpushed(repo: Repo, head: string, linked: ReadonlyMap<string, string>): Commit[] {
  const out: Commit[] = []
  const seen = new Set<string>()
  const visit = (id: string): void => {
    // Iterative on the first-parent chain so a long history does not overflow the stack.
    const chain: Commit[] = []
    for (let cur: string | undefined = id; cur !== undefined && !seen.has(cur) && !linked.has(cur);) {
      seen.add(cur)
      const c: Commit = repo.getCommit(cur)!
      chain.push(c)
      cur = c.parents[0]
    }
    for (const c of chain.reverse()) {
      for (const p of c.parents.slice(1)) if (!seen.has(p) && !linked.has(p)) visit(p)
      out.push(c)
    }
  }
  visit(head)
  return out
}

function closureSize(json: string, id: string, name: string): number {
  const root = parseStoredObject(json, id, name)
  return root.__closure && typeof root.__closure === 'object' ? Object.keys(root.__closure).length : 0
}

export async function push(
  repo: Repo,
  client: RemoteClient,
  io: CliIo,
  opts: { remote: string; branch: string },
): Promise<PushResult> {
  const started = performance.now()
  const remote = repo.remote(opts.remote)
  const head = repo.head(opts.branch)
  if (head === null) throw new HistoryError(`branch ${opts.branch} has no commits to push`)
  const links = repo.links(opts.remote)
  const linked = new Map(links.map((l) => [l.commitId, l.versionId]))
  const todo = unpushed(repo, head, linked)
  if (todo.length === 0) {
    io.stderr(`Everything up to date (${opts.remote}/${opts.branch} is at ${short(head)})\n`)
    return { commits: 0, objectsSent: 0, seconds: (performance.now() - started) / 1000 }
  }
  const model = await client.ensureModel(remote.project, opts.branch)
  // Versions on the model this history has not linked: ours from a push that died before linking (reused),
  // or someone else's (then the branch must be pulled first).
  const linkedVersions = new Set(links.map((l) => l.versionId))
  const strangers = (await client.versions(remote.project, model.id)).items.filter((v) => !linkedVersions.has(v.id))
  const reusable = new Map<string, RemoteVersion>()
  for (const v of strangers) {
    const key = `${v.referencedObject}\n${v.message ?? ''}`
    if (todo.some((c) => `${c.objectId}\n${c.message}` === key)) reusable.set(key, v)
    else {
      throw new HistoryError(
        `the server's model ${opts.branch} has version ${v.id} (${JSON.stringify(v.message ?? '')}) that this ` +
          `history does not have: run 'truss pull ${opts.remote} ${opts.branch}' first`,
      )
    }
  }
  const objects = repo.objects()
  let sent = 0
  let objectsMoved = 0
  for (const [i, c] of todo.entries()) {
    const rootJson = await objects.getObject(c.objectId)
    if (rootJson === null) throw new HistoryError(`commit ${short(c.id)}: object ${c.objectId} is not in objects.db`)
    const total = closureSize(rootJson, c.objectId, objects.name) + 1
    const progress = objectProgress(io, `pushing ${i + 1}/${todo.length} ${short(c.id)}`)
    const target = client.transport(remote.project, { diff: false })
    let missing = 0
    await copyTree(objects, target, c.objectId, null, {
      onProgress: (p) => {
        missing = p.total ?? missing
        progress.update(p.done, p.total)
      },
    })
    await target.flush()
    sent += missing + 1
    objectsMoved += total
    progress.end(missing + 1)
    const key = `${c.objectId}\n${c.message}`
    const parents = c.parents.map((p) => linked.get(p)).filter((v): v is string => v !== undefined)
    const versionId =
      reusable.get(key)?.id ??
      (await client.createVersion({
        projectId: remote.project,
        modelId: model.id,
        objectId: c.objectId,
        message: c.message,
        sourceApplication: c.sourceApp,
        parents,
        totalChildrenCount: total - 1,
      }))
    reusable.delete(key)
    repo.addCommits([], undefined, [{ remote: opts.remote, commitId: c.id, versionId, modelId: model.id }])
    linked.set(c.id, versionId)
    io.stderr(`${short(c.id)} → version ${versionId}: ${c.message}\n`)
  }
  const seconds = (performance.now() - started) / 1000
  io.stderr(
    `Pushed ${todo.length} commit(s) to ${opts.remote}/${opts.branch}: ${sent.toLocaleString('en-US')} of ` +
      `${objectsMoved.toLocaleString('en-US')} objects sent in ${seconds.toFixed(1)} s\n`,
  )
  return { commits: todo.length, objectsSent: sent, seconds }
}

export interface PullResult {
  status: 'up-to-date' | 'fast-forward' | 'merged' | 'no-model'
  commits: number
  head: string | null
}

/** Whether the closure of `root` is all in `objects` (then nothing needs downloading). */
async function hasTree(objects: Transport, root: string): Promise<boolean> {
  const json = await objects.getObject(root)
  if (json === null) return false
  const root_ = parseStoredObject(json, root, objects.name)
  const ids = root_.__closure && typeof root_.__closure === 'object' ? Object.keys(root_.__closure) : []
  if (ids.length === 0) return true
  const has = await objects.hasObjects(ids)
  return ids.every((id) => has[id])
}

export async function pull(
  repo: Repo,
  client: RemoteClient,
  io: CliIo,
  opts: { remote: string; branch: string; merge?: boolean },
): Promise<PullResult> {
  const remote = repo.remote(opts.remote)
  const model = await client.modelByName(remote.project, opts.branch)
  const localHead = repo.head(opts.branch)
  if (model === null) {
    io.stderr(`The server has no model ${opts.branch} in project ${remote.project}: nothing to pull\n`)
    return { status: 'no-model', commits: 0, head: localHead }
  }
  const versions = (await client.versions(remote.project, model.id)).items
  const links = repo.links(opts.remote)
  const commitOf = new Map(links.map((l) => [l.versionId, l.commitId]))
  const fresh: Commit[] = []
  const newLinks: RemoteLink[] = []
  const byId = new Map<string, Commit>()
  let previous: string | undefined
  for (const v of versions) {
    const known = commitOf.get(v.id)
    if (known !== undefined) {
      previous = known
      continue
    }
    const mapped = v.parents.map((p) => commitOf.get(p))
    const parents =
      v.parents.length > 0 && mapped.every((p) => p !== undefined)
        ? (mapped as string[])
        : previous === undefined
          ? []
          : [previous]
    const fields = {
      parents,
      objectId: v.referencedObject,
      message: v.message ?? '',
      author: v.authorId === null ? 'unknown' : `server user ${v.authorId}`,
      createdAt: new Date(v.createdAt).toISOString(),
      sourceApp: v.sourceApplication ?? 'unknown',
    }
    const c = { id: commitId(fields), ...fields }
    fresh.push(c)
    byId.set(c.id, c)
    newLinks.push({ remote: opts.remote, commitId: c.id, versionId: v.id, modelId: model.id })
    commitOf.set(v.id, c.id)
    previous = c.id
  }
  if (fresh.length === 0) {
    io.stderr(`Already up to date (${opts.remote}/${opts.branch})\n`)
    return { status: 'up-to-date', commits: 0, head: localHead }
  }
  const remoteTip = fresh.at(-1)!
  const lastVersion = versions.at(-1)!
  let head = remoteTip.id
  let status: PullResult['status'] = 'fast-forward'
  let merge: Commit | undefined
  if (localHead !== null && !repo.isAncestor(localHead, remoteTip.id, byId)) {
    const local = repo.getCommit(localHead)!
    if (!opts.merge) {
      throw new HistoryError(
        `branch ${opts.branch} has diverged from ${opts.remote}: local head ${short(local.id)} ` +
          `(${JSON.stringify(local.message)}) and ${opts.remote} head version ${lastVersion.id} ` +
          `(${JSON.stringify(lastVersion.message ?? '')}, commit ${short(remoteTip.id)}); ` +
          `run 'truss pull --merge' to join them in a merge commit`,
      )
    }
    // No object-level merge: the merge commit keeps the local head's object and records both parents.
    const config = repo.config()
    const fields = {
      parents: [local.id, remoteTip.id],
      objectId: local.objectId,
      message: `Merge ${opts.remote}/${opts.branch} (version ${lastVersion.id}) into ${opts.branch}`,
      author: config.user.email ? `${config.user.name} <${config.user.email}>` : config.user.name,
      createdAt: new Date().toISOString(),
      sourceApp: 'truss',
    }
    merge = { id: commitId(fields), ...fields }
    head = merge.id
    status = 'merged'
  }
  const objects = repo.objects()
  const source = client.transport(remote.project)
  for (const [i, c] of fresh.entries()) {
    if (await hasTree(objects, c.objectId)) continue
    const progress = objectProgress(io, `pulling ${i + 1}/${fresh.length} ${short(c.id)}`)
    let done = 0
    await copyTree(source, objects, c.objectId, null, {
      onProgress: (p) => {
        done = p.done
        progress.update(p.done, p.total)
      },
    })
    await objects.flush()
    progress.end(done)
  }
  repo.addCommits(merge ? [...fresh, merge] : fresh, { name: opts.branch, head }, newLinks)
  io.stderr(
    status === 'merged'
      ? `Merged ${fresh.length} new version(s) of ${opts.remote}/${opts.branch}: ${short(head)}\n`
      : `Fast-forwarded ${opts.branch} by ${fresh.length} commit(s) to ${short(head)}\n`,
  )
  return { status, commits: fresh.length, head }
}
