/**
 * Projects (Speckle "streams"): a name, a visibility, the users' roles on it and its models (Speckle
 * "branches"). A new project starts with its creator as owner and a model named `main`, as in Speckle.
 */
import type { Bus } from '../../adapters/bus/types.js'
import type { Sql, SqlExecutor } from '../../adapters/sql/types.js'
import { BadUserInput, NotFound } from '../../errors.js'
import { commitWithEvents, publishEvents, type EventLogger, type TrussEvent } from '../../events.js'
import { decodeCursor, pageSize, toPage, type Page } from '../../pagination.js'
import { createActivityService, type ActivityService } from '../activity/service.js'
import { newId } from '../../ids.js'
import type { Principal } from '../../principal.js'
import {
  deleteProject,
  deleteRole,
  insertModel,
  insertProject,
  lockOwners,
  lockProject,
  selectAccess,
  selectProject,
  selectProjectsByIds,
  selectProjectsOfUser,
  selectRolesOfUser,
  selectTeam,
  selectTeams,
  touchProject,
  updateProject,
  upsertRole,
  type ProjectRow,
} from './repository.js'
import {
  isProjectRole,
  isProjectVisibility,
  PROJECT_ROLES,
  PROJECT_VISIBILITIES,
  type Project,
  type ProjectAccess,
  type ProjectRole,
  type ProjectVisibility,
  type ProjectWithRole,
  type TeamMember,
} from './types.js'

export {
  isProjectRole,
  isProjectVisibility,
  PROJECT_ROLES,
  PROJECT_VISIBILITIES,
  type Project,
  type ProjectAccess,
  type ProjectRole,
  type ProjectVisibility,
  type ProjectWithRole,
  type TeamMember,
} from './types.js'

/** The model every new project starts with (Speckle's default branch). */
export const DEFAULT_MODEL_NAME = 'main'

export interface CreateProjectInput {
  ownerId: string
  name: string
  description?: string | null
  /** Default `private`. */
  visibility?: ProjectVisibility
  /** Create the `main` model too (default true; Speckle's `projectMutations.create` does not). */
  withDefaultModel?: boolean
}

export interface UpdateProjectInput {
  id: string
  /** Who changes it (recorded in the activity log). */
  actorId: string | null
  name?: string | null
  description?: string | null
  visibility?: ProjectVisibility | null
}

export interface SetRoleInput {
  projectId: string
  userId: string
  role: ProjectRole
  /** Who grants it (recorded in the activity log); null for the system (CLI, tests). */
  actorId?: string | null
  /**
   * The role comes from accepting an invite: logged as `stream_permissions_invite_accepted` by the invitee,
   * and `consumeInvite` (deleting the invite) runs in the same transaction.
   */
  fromInvite?: { inviterId: string; consumeInvite(tx: SqlExecutor): Promise<void> } | null
}

export interface UserProjectsQuery {
  limit?: number | null
  cursor?: string | null
  /** Case-insensitive substring of the name or description. */
  search?: string | null
  onlyWithRoles?: readonly string[] | null
}

export interface ProjectsService {
  /** Create the project, its owner's role and its `main` model in one transaction. */
  create(input: CreateProjectInput): Promise<Project>
  getById(projectId: string): Promise<Project | null>
  /** The project and the principal's role on it, in one query. */
  getAccess(projectId: string, principal: Pick<Principal, 'userId'> | null): Promise<ProjectAccess>
  getMany(projectIds: readonly string[]): Promise<Project[]>
  /** Change name, description or visibility (fields left undefined or null stay). Throws `NotFound`. */
  update(input: UpdateProjectInput): Promise<Project>
  /** Delete the project with its roles, models, versions and objects; false when it did not exist. */
  delete(projectId: string, actorId: string | null): Promise<boolean>
  /** The projects a user has a role on, most recently updated first. */
  listForUser(userId: string, query?: UserProjectsQuery): Promise<Page<ProjectWithRole>>
  /** Everyone with a role on the project, owners first. */
  team(projectId: string): Promise<TeamMember[]>
  /** The teams of several projects in one query (every id gets a list). */
  teams(projectIds: readonly string[]): Promise<Map<string, TeamMember[]>>
  /** The user's role on each of the projects that they have one on. */
  rolesOf(userId: string, projectIds: readonly string[]): Promise<Map<string, ProjectRole>>
  /**
   * Give a user a role on a project, replacing any other. Throws `NotFound` for an unknown project or user,
   * `BadUserInput` when that would leave the project without an owner.
   */
  setRole(input: SetRoleInput): Promise<void>
  /** Take a user's role away; false when they had none. Refuses to remove the last owner. */
  removeRole(projectId: string, userId: string, actorId?: string | null): Promise<boolean>
  /** Mark the project changed (a model or version changed), inside the caller's transaction. */
  touch(db: SqlExecutor, projectId: string): Promise<void>
}

export interface ProjectsServiceDeps {
  sql: Sql
  /** Where change hints go after commit; omitted, nothing is published. */
  bus?: Pick<Bus, 'publish'>
  activity?: ActivityService
  /** Deletes a deleted project's objects (they have no foreign key to the project). */
  objects?: { deleteProjectObjects(projectId: string): Promise<number> }
  logger?: EventLogger
}

const MAX_NAME_LENGTH = 512
const MAX_DESCRIPTION_LENGTH = 65_536

function toProject(row: ProjectRow): Project {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    visibility: row.visibility,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

function validName(raw: string): string {
  const name = raw.trim()
  if (name.length === 0) throw new BadUserInput('A project needs a name')
  if (name.length > MAX_NAME_LENGTH) {
    throw new BadUserInput(`Project name must be at most ${MAX_NAME_LENGTH} characters`)
  }
  return name
}

function validDescription(description: string | null): string | null {
  if (description !== null && description.length > MAX_DESCRIPTION_LENGTH) {
    throw new BadUserInput(`Project description must be at most ${MAX_DESCRIPTION_LENGTH} characters`)
  }
  return description
}

function validVisibility(visibility: string): ProjectVisibility {
  if (!isProjectVisibility(visibility)) {
    throw new BadUserInput(`Visibility must be one of ${PROJECT_VISIBILITIES.join(', ')}`)
  }
  return visibility
}

/** A project must keep an owner; Speckle refuses to revoke or demote the last one. */
class LastOwner extends BadUserInput {
  constructor() {
    super('A project must keep at least one owner: make someone else owner first')
  }
}

export function createProjectsService(deps: ProjectsServiceDeps): ProjectsService {
  const { sql } = deps
  const activity = deps.activity ?? createActivityService({ sql })
  const publish = (events: TrussEvent[]) => publishEvents(deps.bus, events, deps.logger)

  return {
    async create(input) {
      const name = validName(input.name)
      const description = validDescription(input.description ?? null)
      const visibility = validVisibility(input.visibility ?? 'private')
      const { result: row, events } = await commitWithEvents(
        sql,
        async (tx) => {
          const project = await insertProject(tx, { id: newId(), name, description, visibility })
          if (!(await upsertRole(tx, { projectId: project.id, userId: input.ownerId, role: 'stream:owner' }))) {
            throw new NotFound('user', input.ownerId)
          }
          if (input.withDefaultModel !== false) {
            await insertModel(tx, {
              id: newId(),
              projectId: project.id,
              name: DEFAULT_MODEL_NAME,
              authorId: input.ownerId,
            })
          }
          await activity.record(tx, {
            projectId: project.id,
            userId: input.ownerId,
            resourceType: 'stream',
            resourceId: project.id,
            actionType: 'stream_create',
            info: { stream: { id: project.id, name, description, visibility } },
          })
          return project
        },
        (project) => [{ type: 'ProjectCreated', projectId: project.id, userId: input.ownerId }],
      )
      await publish(events)
      return toProject(row)
    },

    async getMany(projectIds) {
      if (projectIds.length === 0) return []
      return (await selectProjectsByIds(sql, projectIds)).map(toProject)
    },

    async update(input) {
      const changes: { name?: string; description?: string | null; visibility?: ProjectVisibility } = {}
      if (input.name !== undefined && input.name !== null) changes.name = validName(input.name)
      if (input.description !== undefined && input.description !== null) {
        changes.description = validDescription(input.description)
      }
      if (input.visibility !== undefined && input.visibility !== null) {
        changes.visibility = validVisibility(input.visibility)
      }
      const { result: row, events } = await commitWithEvents(
        sql,
        async (tx) => {
          const before = await lockProject(tx, input.id)
          if (before === null) throw new NotFound('project', input.id)
          const after = await updateProject(tx, input.id, changes)
          if (after === null) throw new NotFound('project', input.id)
          await activity.record(tx, {
            projectId: input.id,
            userId: input.actorId,
            resourceType: 'stream',
            resourceId: input.id,
            actionType: 'stream_update',
            info: {
              old: { name: before.name, description: before.description, visibility: before.visibility },
              new: changes,
            },
          })
          return after
        },
        () => [{ type: 'ProjectUpdated', projectId: input.id }],
      )
      await publish(events)
      return toProject(row)
    },

    async delete(projectId, actorId) {
      const { result: members, events } = await commitWithEvents(
        sql,
        async (tx) => {
          const project = await lockProject(tx, projectId)
          if (project === null) return null
          const team = await selectTeam(tx, projectId)
          // Recorded while the project still exists, so activity sinks (webhooks) see what it had.
          await activity.record(tx, {
            projectId,
            userId: actorId,
            resourceType: 'stream',
            resourceId: projectId,
            actionType: 'stream_delete',
            info: { stream: { id: project.id, name: project.name } },
          })
          await deleteProject(tx, projectId)
          return team.map((m) => m.user_id)
        },
        (members): TrussEvent[] => (members === null ? [] : [{ type: 'ProjectDeleted', projectId, userIds: members }]),
      )
      if (members === null) return false
      // After commit: the objects are unreachable once the project row is gone, so a crash here leaves
      // garbage, never a project missing its objects.
      await deps.objects?.deleteProjectObjects(projectId)
      await publish(events)
      return true
    },

    async listForUser(userId, query = {}) {
      const size = pageSize(query.limit)
      const roles = (query.onlyWithRoles ?? []).filter(isProjectRole)
      const { rows, totalCount } = await selectProjectsOfUser(sql, userId, {
        limit: size,
        after: decodeCursor(query.cursor),
        search: query.search?.trim() || null,
        roles,
      })
      return toPage(rows, size, totalCount, (row) => ({ ...toProject(row), role: row.role }))
    },

    async team(projectId) {
      return (await selectTeam(sql, projectId)).map((r) => ({ userId: r.user_id, role: r.role }))
    },

    async teams(projectIds) {
      const teams = new Map<string, TeamMember[]>(projectIds.map((id) => [id, []]))
      if (projectIds.length === 0) return teams
      for (const r of await selectTeams(sql, projectIds))
        teams.get(r.project_id)?.push({ userId: r.user_id, role: r.role })
      return teams
    },

    async rolesOf(userId, projectIds) {
      const roles = new Map<string, ProjectRole>()
      if (projectIds.length === 0) return roles
      for (const row of await selectRolesOfUser(sql, userId, projectIds)) roles.set(row.project_id, row.role)
      return roles
    },

    touch: touchProject,

    async getById(projectId) {
      const row = await selectProject(sql, projectId)
      return row === null ? null : toProject(row)
    },

    async getAccess(projectId, principal) {
      const row = await selectAccess(sql, projectId, principal?.userId ?? null)
      if (row === null) return { project: null, role: null }
      return { project: { id: row.id, name: row.name, visibility: row.visibility }, role: row.role }
    },

    async setRole(input) {
      if (!isProjectRole(input.role)) throw new BadUserInput(`Role must be one of ${PROJECT_ROLES.join(', ')}`)
      const { result: changed, events } = await commitWithEvents(
        sql,
        async (tx) => {
          if ((await lockProject(tx, input.projectId)) === null) throw new NotFound('project', input.projectId)
          const owners = await lockOwners(tx, input.projectId)
          if (input.role !== 'stream:owner' && owners.length === 1 && owners[0] === input.userId) throw new LastOwner()
          if (!(await upsertRole(tx, input))) throw new NotFound('user', input.userId)
          const invite = input.fromInvite ?? null
          if (invite !== null) await invite.consumeInvite(tx)
          await activity.record(
            tx,
            invite === null
              ? {
                  projectId: input.projectId,
                  userId: input.actorId ?? null,
                  resourceType: 'user',
                  resourceId: input.userId,
                  actionType: 'stream_permissions_add',
                  info: { targetUser: input.userId, role: input.role },
                }
              : {
                  projectId: input.projectId,
                  userId: input.userId,
                  resourceType: 'user',
                  resourceId: input.userId,
                  actionType: 'stream_permissions_invite_accepted',
                  info: { inviterUser: invite.inviterId, role: input.role },
                },
          )
          return true
        },
        (): TrussEvent[] => [
          {
            type: 'ProjectRoleChanged',
            projectId: input.projectId,
            userId: input.userId,
            role: input.role,
            actorId: input.actorId ?? null,
          },
        ],
      )
      if (changed) await publish(events)
    },

    async removeRole(projectId, userId, actorId = null) {
      const { result: removed, events } = await commitWithEvents(
        sql,
        async (tx) => {
          if ((await lockProject(tx, projectId)) === null) return false
          const owners = await lockOwners(tx, projectId)
          if (owners.length === 1 && owners[0] === userId) throw new LastOwner()
          if (!(await deleteRole(tx, projectId, userId))) return false
          await activity.record(tx, {
            projectId,
            userId: actorId,
            resourceType: 'user',
            resourceId: userId,
            actionType: 'stream_permissions_remove',
            info: { targetUser: userId },
          })
          return true
        },
        (removed): TrussEvent[] =>
          removed ? [{ type: 'ProjectRoleChanged', projectId, userId, role: null, actorId }] : [],
      )
      await publish(events)
      return removed
    },
  }
}
