/**
 * What resolvers get: the caller, the services (`GraphqlDeps`), per-request DataLoaders (one query per
 * kind per tick, so lists of models or versions never cost a query per row), and, for subscriptions, the
 * transport's `subscribe(topic)`.
 */
import DataLoader from 'dataloader'
import type { Page } from '../../pagination.js'
import type { ServerInvitesService } from '../accounts/invites.js'
import type { ProjectInvite, ProjectInvitesService } from '../accounts/project-invites.js'
import type { ServerSettingsService } from '../accounts/settings.js'
import type { ActivityService } from '../activity/service.js'
import type { AppsService } from '../apps/service.js'
import type { Principal } from '../../principal.js'
import type { Model, ModelsService, ModelsTreeItem } from '../models/service.js'
import type { ObjectsService } from '../objects/service.js'
import type { Policy } from '../policy/service.js'
import type { Project, ProjectRole, ProjectsService, TeamMember } from '../projects/service.js'
import type { TokensService } from '../tokens/service.js'
import type { User, UsersService } from '../users/service.js'
import type { Version, VersionsService } from '../versions/service.js'
import type { WebhooksService } from '../webhooks/service.js'
import type { BlobsService } from '../blobs/service.js'
import type { FileImportsService } from '../fileimports/service.js'
import type { CommentsService } from '../comments/service.js'
import type { QueryService } from '../query/service.js'
import type { ServerStats } from '../monitor/stats.js'
import type { PresenceService } from '../presence/service.js'

/**
 * Static facts `serverInfo` answers with (from config); what an admin edits (name, company, …) is read live
 * from the server settings.
 */
export interface ServerInfoFacts {
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
  users: Pick<UsersService, 'getById' | 'getMany' | 'update' | 'setServerRole' | 'list'>
  tokens: Pick<TokensService, 'create' | 'createAppToken' | 'revoke' | 'ownerOf' | 'listPersonal' | 'appOf'>
  /** `activeUser.createdApps` / `authorizedApps`. */
  apps: Pick<AppsService, 'get' | 'createdBy' | 'authorizedBy'>
  /** `stream.activity`, `activeUser.activity`. */
  activity: Pick<ActivityService, 'forProject' | 'forUser'>
  /** Project invites (`projectMutations.invites`, `invitedTeam`, `projectInvites`) and server invites. */
  invites: { project: ProjectInvitesService; server: Pick<ServerInvitesService, 'createInvite'> }
  /** Server name, company, description, … (`serverInfo`, `serverInfoUpdate`). */
  settings: Pick<ServerSettingsService, 'get' | 'update'>
  objects: Pick<ObjectsService, 'getObject' | 'streamIds' | 'parseBatch' | 'store'>
  policy: Policy
  serverInfo: ServerInfoFacts
  /** Project webhooks (the webhooks slice); absent where a deployment leaves them out. */
  webhooks?: WebhooksService
  /** Project blobs (the blobs slice). */
  blobs?: Pick<BlobsService, 'get' | 'list'>
  /** File uploads and their conversion (the file-imports slice). */
  fileImports?: FileImportsService
  /** Comment threads (the comments slice). */
  comments?: CommentsService
  /** Filtered reads and diffs of version trees (the query slice). */
  query?: QueryService
  /** The database monitor's figures for admins (the monitor slice). */
  serverStats?: () => Promise<ServerStats>
  /** Live viewer sessions (the presence slice). */
  presence?: PresenceService
}

/** The transport's event source: an async iterable of the bus messages published on `topic`. */
/** A topic's change feed; with `since`, first the events after that seq (a resuming client, realtime/hub.ts). */
export type Subscribe = (topic: string, options?: { since?: number | undefined }) => AsyncIterable<unknown>

export interface Loaders {
  users: DataLoader<string, User | null>
  models: DataLoader<string, Model | null>
  projects: DataLoader<string, Project | null>
  /** The caller's role per project id (null: none, or no caller). */
  roles: DataLoader<string, ProjectRole | null>
  versionCounts: DataLoader<string, number>
  /** First pages (no cursor, no filter) of a model's versions / a project's models; key `firstPageKey`. */
  modelVersions: DataLoader<string, Page<Version>>
  projectModels: DataLoader<string, Page<Model>>
  /** Models by `treeKey(projectId, name)` (case-insensitive names). */
  modelsByName: DataLoader<string, Model | null>
  /** The models tree items below a parent, by `treeKey(projectId, parentName)`. */
  childrenTrees: DataLoader<string, ModelsTreeItem[]>
  /** `Project.sourceApps` by project id. */
  sourceApps: DataLoader<string, string[]>
  /** Project teams (owners first) by project id. */
  teams: DataLoader<string, TeamMember[]>
  /** Pending invites by project id. */
  projectInvites: DataLoader<string, ProjectInvite[]>
}

/** The key of the per-project name loaders: project id and name (ids have no newline). */
export const treeKey = (projectId: string, name: string): string => `${projectId}\n${name}`

function splitTreeKey(key: string): { projectId: string; name: string } {
  const at = key.indexOf('\n')
  return { projectId: key.slice(0, at), name: key.slice(at + 1) }
}

/** The key of a first-page loader: the page size (already clamped by `pageSize`) and the parent's id. */
export const firstPageKey = (limit: number, id: string): string => `${limit}:${id}`

/** One batch call per distinct page size among the keys (a list of models usually asks for one). */
function firstPages<T>(
  load: (ids: readonly string[], limit: number) => Promise<Map<string, Page<T>>>,
): DataLoader<string, Page<T>> {
  return new DataLoader(async (keys) => {
    const bySize = new Map<number, string[]>()
    for (const key of keys) {
      const at = key.indexOf(':')
      const size = Number(key.slice(0, at))
      const ids = bySize.get(size)
      if (ids === undefined) bySize.set(size, [key.slice(at + 1)])
      else ids.push(key.slice(at + 1))
    }
    const pages = new Map<string, Page<T>>()
    await Promise.all(
      [...bySize].map(async ([size, ids]) => {
        for (const [id, page] of await load(ids, size)) pages.set(firstPageKey(size, id), page)
      }),
    )
    return keys.map((key) => pages.get(key) ?? { totalCount: 0, cursor: null, items: [] })
  })
}

export interface GraphqlContext {
  principal: Principal | null
  deps: GraphqlDeps
  loaders: Loaders
  subscribe?: Subscribe
  /** The last seq a resuming subscription's client saw (the realtime transport sets it per operation). */
  resumeFrom?: number
}

function byId<T extends { id: string }>(ids: readonly string[], items: readonly T[]): (T | null)[] {
  const map = new Map(items.map((item) => [item.id, item]))
  return ids.map((id) => map.get(id) ?? null)
}

export function createLoaders(deps: GraphqlDeps, principal: Principal | null): Loaders {
  return {
    users: new DataLoader(async (ids) => byId(ids, await deps.users.getMany(ids))),
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
    modelVersions: firstPages((ids, limit) => deps.versions.firstPagesOfModels(ids, limit)),
    projectModels: firstPages((ids, limit) => deps.models.firstPagesOfProjects(ids, limit)),
    modelsByName: new DataLoader(async (keys) => {
      const pairs = keys.map(splitTreeKey)
      const found = await deps.models.getManyByName(pairs)
      const byKey = new Map(found.map((m) => [treeKey(m.projectId, m.name.toLowerCase()), m]))
      return pairs.map((p) => byKey.get(treeKey(p.projectId, p.name.toLowerCase())) ?? null)
    }),
    childrenTrees: new DataLoader((keys) => deps.models.childrenTrees(keys.map(splitTreeKey))),
    teams: new DataLoader(async (ids) => {
      const teams = await deps.projects.teams(ids)
      return ids.map((id) => teams.get(id) ?? [])
    }),
    projectInvites: new DataLoader(async (ids) => {
      const invites = await deps.invites.project.forProjects(ids)
      return ids.map((id) => invites.get(id) ?? [])
    }),
    sourceApps: new DataLoader(async (ids) => {
      const apps = await deps.versions.sourceAppsOf(ids)
      return ids.map((id) => apps.get(id) ?? [])
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
