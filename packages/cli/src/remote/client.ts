/**
 * The CLI's client for a Truss (or speckle-server) instance: which server and token to use, a few public
 * GraphQL calls (projects, models, versions) with errors turned into sentences, and the SDK's
 * `ServerTransport` for the objects. Only public API (GraphQL + REST), so it works against speckle-server.
 */
import { ServerTransport, TransportError } from '@truss/core'
import { UsageError } from '../command.js'
import { findAccount, normalizeServer } from './accounts.js'

export interface RemoteTarget {
  server: string
  token: string | undefined
}

/**
 * flags > env (TRUSS_SERVER, then TRUSS_SERVER_URL; TRUSS_TOKEN) > the account stored by `truss login` (the
 * default one, or the one for that server). Throws UsageError when no server is known.
 */
export function resolveTarget(
  flags: { server?: string; token?: string },
  env: Record<string, string | undefined>,
): RemoteTarget {
  const given = flags.server ?? nonEmpty(env.TRUSS_SERVER) ?? nonEmpty(env.TRUSS_SERVER_URL)
  const account = findAccount(env, given)
  const server = given ?? account?.server
  if (server === undefined) {
    throw new UsageError("no server: pass --server, set TRUSS_SERVER, or run 'truss login URL' first")
  }
  if (!/^https?:\/\/[^/]/.test(server)) {
    throw new UsageError(`the server must be an http(s) URL (got ${JSON.stringify(server)})`)
  }
  const token = flags.token ?? nonEmpty(env.TRUSS_TOKEN) ?? account?.token
  return { server: normalizeServer(server), token }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value
}

/** A failure the user can act on; the CLI prints the message and exits 1. */
export class RemoteError extends Error {
  override readonly name = 'RemoteError'
}

export interface RemoteVersion {
  id: string
  referencedObject: string
  message: string | null
  sourceApplication: string | null
  createdAt: string
  authorId: string | null
  parents: string[]
}

interface GraphQLError {
  message: string
  extensions?: { code?: string; scope?: string }
}

const VERSION_FIELDS = 'id referencedObject message sourceApplication createdAt parents authorUser { id }'

interface VersionNode {
  id: string
  referencedObject: string
  message: string | null
  sourceApplication: string | null
  createdAt: string
  parents: (string | null)[] | null
  authorUser: { id: string } | null
}

function toVersion(v: VersionNode): RemoteVersion {
  return {
    id: v.id,
    referencedObject: v.referencedObject,
    message: v.message,
    sourceApplication: v.sourceApplication,
    createdAt: v.createdAt,
    authorId: v.authorUser?.id ?? null,
    parents: (v.parents ?? []).filter((p): p is string => typeof p === 'string'),
  }
}

/** Why a fetch failed, in the words of the system (`ECONNREFUSED`, `ENOTFOUND`, …). */
function networkReason(err: unknown): string {
  let e: unknown = err
  while (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code
    if (typeof code === 'string') return code
    if (e.cause === undefined) return e.message
    e = e.cause
  }
  return String(err)
}

/** Turn an SDK transport failure into the sentence a user acts on. */
export function explainTransportError(err: unknown, server: string, project: string): unknown {
  if (!(err instanceof TransportError)) return err
  if (err.status === 401 || err.status === 403) {
    return new RemoteError(`the token was rejected by ${server}, or may not write to project ${project}`)
  }
  if (err.status === 404) return new RemoteError(`project ${project} not found or not visible with this token`)
  if (err.status === undefined) {
    return new RemoteError(`could not reach ${server}: ${networkReason(err.cause)}`)
  }
  return new RemoteError(err.message)
}

export class RemoteClient {
  readonly server: string
  private readonly token: string | undefined
  private readonly fetchImpl: typeof fetch

  constructor(target: RemoteTarget, opts: { fetch?: typeof fetch } = {}) {
    this.server = normalizeServer(target.server)
    this.token = target.token
    this.fetchImpl = opts.fetch ?? globalThis.fetch.bind(globalThis)
  }

  /**
   * POST a query to `/graphql`. Errors become `RemoteError`s in words; the variables `projectId`,
   * `modelId`/`name` and `versionId` name what was not found.
   */
  gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    return this.request<T>(query, variables, variables)
  }

  /** `gql` with the names for error messages given apart from the variables. */
  private async request<T>(
    query: string,
    variables: Record<string, unknown>,
    context: Record<string, unknown>,
  ): Promise<T> {
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (this.token) headers.authorization = `Bearer ${this.token}`
    let res: Response
    try {
      res = await this.fetchImpl(`${this.server}/graphql`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ query, variables }),
      })
    } catch (err) {
      throw new RemoteError(`could not reach ${this.server}: ${networkReason(err)}`)
    }
    const text = await res.text()
    let body: { data?: unknown; errors?: GraphQLError[] } | undefined
    try {
      body = JSON.parse(text) as typeof body
    } catch {
      body = undefined
    }
    if (res.status === 401 || res.status === 403) {
      throw new RemoteError(
        this.token
          ? `the token was rejected by ${this.server}`
          : `${this.server} needs a token (--token or 'truss login')`,
      )
    }
    if (body === undefined || typeof body !== 'object' || body === null) {
      throw new RemoteError(
        `${this.server}/graphql answered ${res.status} without JSON: is this a Truss or Speckle server?`,
      )
    }
    const errors = body.errors ?? []
    if (errors.length > 0) throw this.explain(errors[0]!, context)
    if (!res.ok || body.data === undefined || body.data === null) {
      throw new RemoteError(`${this.server}/graphql answered ${res.status} with no data`)
    }
    return body.data as T
  }

  private explain(error: GraphQLError, variables: Record<string, unknown>): RemoteError {
    const code = error.extensions?.code
    const project = typeof variables.projectId === 'string' ? variables.projectId : undefined
    if (code === 'STREAM_NOT_FOUND' || code === 'PROJECT_NOT_FOUND') {
      return new RemoteError(`project ${project ?? ''} not found or not visible with this token`.replace('  ', ' '))
    }
    if (code === 'FORBIDDEN' || code === 'UNAUTHORIZED_ACCESS_ERROR') {
      if (error.extensions?.scope) {
        return new RemoteError(`the token lacks the scope ${error.extensions.scope} on ${this.server}`)
      }
      if (project !== undefined) return new RemoteError(`project ${project} not found or not visible with this token`)
      return new RemoteError(`${this.server} refused: ${error.message}`)
    }
    if (code === 'BRANCH_NOT_FOUND') {
      const model = variables.modelId ?? variables.name
      return new RemoteError(`model ${String(model ?? '')} not found in project ${project ?? '?'}`)
    }
    if (code === 'COMMIT_NOT_FOUND') {
      return new RemoteError(`version ${String(variables.versionId ?? '')} not found in project ${project ?? '?'}`)
    }
    return new RemoteError(`${this.server}: ${error.message}${code ? ` (${code})` : ''}`)
  }

  async whoami(): Promise<{ id: string; name: string; email: string | null }> {
    const data = await this.gql<{ activeUser: { id: string; name: string; email: string | null } | null }>(
      'query { activeUser { id name email } }',
    )
    if (data.activeUser === null) {
      throw new RemoteError(
        this.token ? `the token was rejected by ${this.server}` : `${this.server} needs a token to say who you are`,
      )
    }
    return data.activeUser
  }

  async project(projectId: string): Promise<{ id: string; name: string }> {
    const data = await this.gql<{ project: { id: string; name: string } }>(
      'query($projectId: String!) { project(id: $projectId) { id name } }',
      { projectId },
    )
    return data.project
  }

  async modelByName(projectId: string, name: string): Promise<{ id: string; name: string } | null> {
    try {
      const data = await this.gql<{ project: { modelByName: { id: string; name: string } | null } }>(
        'query($projectId: String!, $name: String!) { project(id: $projectId) { modelByName(name: $name) { id name } } }',
        { projectId, name },
      )
      return data.project.modelByName
    } catch (err) {
      if (err instanceof RemoteError && err.message.startsWith('model ')) return null
      throw err
    }
  }

  async ensureModel(projectId: string, name: string): Promise<{ id: string; name: string }> {
    const found = await this.modelByName(projectId, name)
    if (found !== null) return found
    const data = await this.request<{ modelMutations: { create: { id: string; name: string } } }>(
      'mutation($input: CreateModelInput!) { modelMutations { create(input: $input) { id name } } }',
      { input: { projectId, name } },
      { projectId, name },
    )
    return data.modelMutations.create
  }

  async model(projectId: string, modelId: string): Promise<{ id: string; name: string }> {
    const data = await this.gql<{ project: { model: { id: string; name: string } } }>(
      'query($projectId: String!, $modelId: String!) { project(id: $projectId) { model(id: $modelId) { id name } } }',
      { projectId, modelId },
    )
    return data.project.model
  }

  /**
   * The model's versions. Without `limit` or `cursor`, every page is read and the whole history is
   * returned oldest first (`cursor` null). With either, one page as the server pages it: newest first,
   * `cursor` for the next (older) page, null at the end.
   */
  async versions(
    projectId: string,
    modelId: string,
    opts: { limit?: number; cursor?: string | null } = {},
  ): Promise<{ items: RemoteVersion[]; cursor: string | null; totalCount: number }> {
    const page = async (limit: number, cursor: string | null) => {
      const data = await this.gql<{
        project: { model: { versions: { totalCount: number; cursor: string | null; items: VersionNode[] } } }
      }>(
        `query($projectId: String!, $modelId: String!, $limit: Int!, $cursor: String) {
          project(id: $projectId) { model(id: $modelId) { versions(limit: $limit, cursor: $cursor) {
            totalCount cursor items { ${VERSION_FIELDS} } } } } }`,
        { projectId, modelId, limit, cursor },
      )
      const v = data.project.model.versions
      return { items: v.items.map(toVersion), cursor: v.cursor, totalCount: v.totalCount }
    }
    if (opts.limit !== undefined || (opts.cursor !== undefined && opts.cursor !== null)) {
      return page(opts.limit ?? 25, opts.cursor ?? null)
    }
    const all: RemoteVersion[] = []
    let cursor: string | null = null
    let totalCount = 0
    for (;;) {
      const p = await page(100, cursor)
      totalCount = p.totalCount
      all.push(...p.items)
      if (p.cursor === null || p.items.length === 0) break
      cursor = p.cursor
    }
    return { items: all.reverse(), cursor: null, totalCount }
  }

  async version(projectId: string, versionId: string): Promise<RemoteVersion & { modelId: string }> {
    const data = await this.gql<{ project: { version: VersionNode & { model: { id: string } } } }>(
      `query($projectId: String!, $versionId: String!) { project(id: $projectId) { version(id: $versionId) {
        ${VERSION_FIELDS} model { id } } } }`,
      { projectId, versionId },
    )
    const v = data.project.version
    return { ...toVersion(v), modelId: v.model.id }
  }

  /** Create a version pointing at an uploaded object; resolves to its id. */
  async createVersion(input: {
    projectId: string
    modelId: string
    objectId: string
    message?: string
    sourceApplication?: string
    parents?: string[]
    totalChildrenCount?: number
  }): Promise<string> {
    const data = await this.request<{ versionMutations: { create: { id: string } } }>(
      'mutation($input: CreateVersionInput!) { versionMutations { create(input: $input) { id } } }',
      { input: { sourceApplication: 'truss-cli', ...input } },
      input,
    )
    return data.versionMutations.create.id
  }

  /** The SDK's transport for this server's object routes in `projectId`. */
  transport(projectId: string, opts: { diff?: boolean } = {}): ServerTransport {
    return new ServerTransport({
      serverUrl: this.server,
      projectId,
      token: this.token,
      diff: opts.diff,
      fetch: this.fetchImpl,
    })
  }
}
