/**
 * What resolvers get: the caller, the services (`GraphqlDeps`), per-request DataLoaders (one query per
 * kind per tick, so lists of models or versions never cost a query per row), and, for subscriptions, the
 * transport's `subscribe(topic)`.
 */
import DataLoader from 'dataloader'
import type { Principal } from '../auth/principal.js'
import type { Model, ModelsService } from '../models/service.js'
import type { ObjectsService } from '../objects/service.js'
import type { Policy } from '../policy/service.js'
import type { Project, ProjectRole, ProjectsService } from '../projects/service.js'
import type { TokensService } from '../tokens/service.js'
import type { User, UsersService } from '../users/service.js'
import type { VersionsService } from '../versions/service.js'

/** Static facts `serverInfo` answers with (from config). */
export interface ServerInfoFacts {
  name: string
  company?: string | null
  description?: string | null
  adminContact?: string | null
  termsOfService?: string | null
  inviteOnly?: boolean
  guestModeEnabled?: boolean
  /** The public URL (`PUBLIC_URL`), for `canonicalUrl` and preview links. */
  canonicalUrl: string
  version: string
  objectSizeLimitBytes: number
  objectMultipartUploadSizeLimitBytes: number
  blobSizeLimitBytes: number
  isEmailEnabled: boolean
}

export interface GraphqlDeps {
  projects: ProjectsService
  models: ModelsService
  versions: VersionsService
  users: Pick<UsersService, 'getById'> & { getMany?(ids: readonly string[]): Promise<User[]> }
  tokens: Pick<TokensService, 'create' | 'revoke'>
  objects: Pick<ObjectsService, 'getObject'>
  policy: Policy
  serverInfo: ServerInfoFacts
}

/** The transport's event source: an async iterable of the bus messages published on `topic`. */
export type Subscribe = (topic: string) => AsyncIterable<unknown>

export interface Loaders {
  users: DataLoader<string, User | null>
  models: DataLoader<string, Model | null>
  projects: DataLoader<string, Project | null>
  /** The caller's role per project id (null: none, or no caller). */
  roles: DataLoader<string, ProjectRole | null>
  versionCounts: DataLoader<string, number>
}

export interface GraphqlContext {
  principal: Principal | null
  deps: GraphqlDeps
  loaders: Loaders
  subscribe?: Subscribe
}

function byId<T extends { id: string }>(ids: readonly string[], items: readonly T[]): (T | null)[] {
  const map = new Map(items.map((item) => [item.id, item]))
  return ids.map((id) => map.get(id) ?? null)
}

export function createLoaders(deps: GraphqlDeps, principal: Principal | null): Loaders {
  return {
    users: new DataLoader(async (ids) => {
      if (deps.users.getMany) return byId(ids, await deps.users.getMany(ids))
      // Without a batch lookup, at least each distinct id is read once per request.
      return Promise.all(ids.map((id) => deps.users.getById(id)))
    }),
    models: new DataLoader(async (ids) => byId(ids, await deps.models.getMany(ids))),
    projects: new DataLoader(async (ids) => byId(ids, await deps.projects.getMany(ids))),
    roles: new DataLoader(async (ids) => {
      if (principal === null) return ids.map(() => null)
      const roles = await deps.projects.rolesOf(principal.userId, ids)
      return ids.map((id) => roles.get(id) ?? null)
    }),
    versionCounts: new DataLoader(async (ids) => {
      const counts = await deps.versions.countByModel(ids)
      return ids.map((id) => counts.get(id) ?? 0)
    }),
  }
}

/** A fresh context per request (loaders cache only within it). */
export function createGraphqlContext(
  deps: GraphqlDeps,
  principal: Principal | null,
  subscribe?: Subscribe,
): GraphqlContext {
  return { principal, deps, loaders: createLoaders(deps, principal), subscribe }
}
