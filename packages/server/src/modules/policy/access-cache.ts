/**
 * Per-node memory of project access for the change feed's per-event checks (DESIGN.md decision 9): each
 * held project's visibility and the roles of the users who asked, so deciding whether a subscriber may
 * still see an event costs no query. The change feed keeps it true: a held project listens to its own
 * topic, and `ProjectUpdated`, `ProjectRoleChanged` and `ProjectDeleted` drop what they change the moment
 * they reach the node, before any subscriber handles the events published after them. The next check reads
 * the database again (one query for the project, one per user whose role changed).
 *
 * Only a project someone holds, and whose feed is live, is remembered: without the feed nothing would tell
 * the cache it went stale, so such checks read the database every time.
 */
import type { TrussEvent } from '../../events.js'
import type { Principal } from '../../principal.js'
import type { ProjectAccess, ProjectRole } from '../projects/service.js'
import { decideProject, type AccessDecision, type ProjectAction } from './service.js'

/** A project's change feed as `watch` opened it. */
export interface AccessFeed {
  ready: Promise<void>
  stop(): void
}

export interface ProjectAccessCacheDeps {
  /** The project and `principal`'s role (null: the project only); `ProjectsService.getAccess`. */
  loadAccess(projectId: string, principal: Pick<Principal, 'userId'> | null): Promise<ProjectAccess>
  /**
   * Call `onEvent` synchronously with every event of the project's topic as it reaches this node, and
   * `onEnded` if that stops; null when this node cannot (then nothing is remembered for the project).
   */
  watch(projectId: string, onEvent: (event: unknown) => void, onEnded: () => void): AccessFeed | null
  /** Roles remembered per project before the oldest are forgotten. Default 100,000. */
  maxRolesPerProject?: number
}

export interface AccessHold {
  /** Resolves once the project's feed is live (or known to be unavailable). */
  ready: Promise<void>
  /** Give the hold back; the last one forgets the project and stops its feed. Idempotent. */
  release(): void
}

export interface ProjectAccessCache {
  /** Remember `projectId` while the hold lasts (subscribers hold the project they listen to). */
  hold(projectId: string): AccessHold
  /** The project's change counter: pass it to `remember` for an access read started now. */
  epoch(projectId: string): number
  /** Keep an access read started at `epoch` (dropped if a change arrived meanwhile). */
  remember(projectId: string, principal: Pick<Principal, 'userId'>, access: ProjectAccess, epoch: number): void
  /** Decide from memory; a miss reads the database once (concurrent misses for one user share the read). */
  decide(principal: Principal, projectId: string, action: ProjectAction): AccessDecision | Promise<AccessDecision>
  stats(): { projects: number; roles: number; loads: number }
}

type ProjectHalf = ProjectAccess['project']

interface Entry {
  holders: number
  /** Bumped by every change event: a read that started before a change is not kept. */
  epoch: number
  /** False until the feed is live, and again once it stopped. */
  trusted: boolean
  feed: AccessFeed | null
  /** Undefined: not known. */
  project: ProjectHalf | undefined
  roles: Map<string, ProjectRole | null>
  projectLoad: Promise<ProjectHalf> | null
  roleLoads: Map<string, Promise<ProjectAccess>>
}

export const DEFAULT_MAX_ROLES_PER_PROJECT = 100_000

export function createProjectAccessCache(deps: ProjectAccessCacheDeps): ProjectAccessCache {
  const maxRoles = deps.maxRolesPerProject ?? DEFAULT_MAX_ROLES_PER_PROJECT
  const entries = new Map<string, Entry>()
  let loads = 0

  function observe(entry: Entry, message: unknown): void {
    const event = message as Partial<TrussEvent> | null
    switch (event?.type) {
      case 'ProjectUpdated':
        entry.project = undefined
        entry.epoch += 1
        return
      case 'ProjectRoleChanged':
        if (typeof event.userId === 'string') entry.roles.delete(event.userId)
        else entry.roles.clear()
        entry.epoch += 1
        return
      case 'ProjectDeleted':
        entry.project = undefined
        entry.roles.clear()
        entry.epoch += 1
        return
    }
  }

  function distrust(entry: Entry): void {
    entry.trusted = false
    entry.project = undefined
    entry.roles.clear()
    entry.epoch += 1
  }

  function keepRole(entry: Entry, userId: string, role: ProjectRole | null): void {
    if (entry.roles.size >= maxRoles && !entry.roles.has(userId)) {
      // Maps iterate in insertion order: forget the oldest.
      entry.roles.delete(entry.roles.keys().next().value as string)
    }
    entry.roles.set(userId, role)
  }

  function loadProject(entry: Entry, projectId: string): Promise<ProjectHalf> {
    if (entry.projectLoad) return entry.projectLoad
    const epoch = entry.epoch
    loads += 1
    const load = deps.loadAccess(projectId, null).then(
      ({ project }) => {
        if (entry.projectLoad === load) entry.projectLoad = null
        if (entry.trusted && entry.epoch === epoch) entry.project = project
        return project
      },
      (error: unknown) => {
        if (entry.projectLoad === load) entry.projectLoad = null
        throw error
      },
    )
    entry.projectLoad = load
    return load
  }

  function loadRole(entry: Entry, projectId: string, userId: string): Promise<ProjectAccess> {
    const pending = entry.roleLoads.get(userId)
    if (pending) return pending
    const epoch = entry.epoch
    loads += 1
    const settle = () => {
      if (entry.roleLoads.get(userId) === load) entry.roleLoads.delete(userId)
    }
    const load = deps.loadAccess(projectId, { userId }).then(
      (access) => {
        settle()
        if (entry.trusted && entry.epoch === epoch) {
          keepRole(entry, userId, access.role)
          entry.project ??= access.project
        }
        return access
      },
      (error: unknown) => {
        settle()
        throw error
      },
    )
    entry.roleLoads.set(userId, load)
    return load
  }

  return {
    hold(projectId) {
      let entry = entries.get(projectId)
      if (entry === undefined) {
        const created: Entry = {
          holders: 0,
          epoch: 0,
          trusted: false,
          feed: null,
          project: undefined,
          roles: new Map(),
          projectLoad: null,
          roleLoads: new Map(),
        }
        created.feed = deps.watch(
          projectId,
          (event) => observe(created, event),
          () => distrust(created),
        )
        if (created.feed !== null) {
          const feed = created.feed
          void feed.ready.then(
            () => {
              // Still the feed of a held entry (and did not end while starting): from now on, memory is true.
              if (entries.get(projectId) === created && created.feed === feed) created.trusted = true
            },
            () => distrust(created),
          )
        }
        entries.set(projectId, created)
        entry = created
      }
      const held = entry
      held.holders += 1
      let released = false
      return {
        ready: held.feed === null ? Promise.resolve() : held.feed.ready.catch(() => undefined),
        release() {
          if (released) return
          released = true
          held.holders -= 1
          if (held.holders > 0) return
          if (entries.get(projectId) === held) entries.delete(projectId)
          const feed = held.feed
          held.feed = null
          distrust(held)
          feed?.stop()
        },
      }
    },

    epoch(projectId) {
      return entries.get(projectId)?.epoch ?? 0
    },

    remember(projectId, principal, access, epoch) {
      const entry = entries.get(projectId)
      if (entry === undefined || !entry.trusted || entry.epoch !== epoch) return
      entry.project = access.project
      keepRole(entry, principal.userId, access.role)
    },

    decide(principal, projectId, action) {
      const entry = entries.get(projectId)
      if (entry === undefined || !entry.trusted) {
        loads += 1
        return deps.loadAccess(projectId, principal).then((access) => decideProject(principal, access, action))
      }
      const project = entry.project
      const role = entry.roles.get(principal.userId)
      if (project !== undefined && role !== undefined) return decideProject(principal, { project, role }, action)
      // A role read answers the project too; the project alone is one read shared by every user.
      if (role === undefined) {
        return loadRole(entry, projectId, principal.userId).then((access) => decideProject(principal, access, action))
      }
      return loadProject(entry, projectId).then((loaded) => decideProject(principal, { project: loaded, role }, action))
    },

    stats() {
      let roles = 0
      for (const entry of entries.values()) roles += entry.roles.size
      return { projects: entries.size, roles, loads }
    },
  }
}
