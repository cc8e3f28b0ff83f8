/**
 * Projects (Speckle "streams"): a name, a visibility, the users' roles on it and its models (Speckle
 * "branches"). A new project starts with its creator as owner and a model named `main`, as in Speckle.
 */
import type { Sql } from '../../adapters/sql/types.js'
import { BadUserInput, NotFound } from '../../errors.js'
import { newId } from '../auth/ids.js'
import type { Principal } from '../auth/principal.js'
import {
  deleteRole,
  insertModel,
  insertProject,
  selectAccess,
  selectProject,
  upsertRole,
  type ProjectRow,
} from './repository.js'

export const PROJECT_ROLES = ['stream:owner', 'stream:contributor', 'stream:reviewer'] as const
export type ProjectRole = (typeof PROJECT_ROLES)[number]
export const PROJECT_VISIBILITIES = ['public', 'private', 'unlisted'] as const
export type ProjectVisibility = (typeof PROJECT_VISIBILITIES)[number]

/** The model every new project starts with (Speckle's default branch). */
export const DEFAULT_MODEL_NAME = 'main'

export interface Project {
  id: string
  name: string
  description: string | null
  visibility: ProjectVisibility
  createdAt: Date
  updatedAt: Date
}

/** What authorization needs to know about a project and a caller. */
export interface ProjectAccess {
  /** Null when the project does not exist. */
  project: { id: string; name: string; visibility: ProjectVisibility } | null
  /** The caller's role on the project; null for none (or no caller). */
  role: ProjectRole | null
}

export interface CreateProjectInput {
  ownerId: string
  name: string
  description?: string | null
  /** Default `private`. */
  visibility?: ProjectVisibility
}

export interface ProjectsService {
  /** Create the project, its owner's role and its `main` model in one transaction. */
  create(input: CreateProjectInput): Promise<Project>
  getById(projectId: string): Promise<Project | null>
  /** The project and the principal's role on it, in one query. */
  getAccess(projectId: string, principal: Pick<Principal, 'userId'> | null): Promise<ProjectAccess>
  /** Give a user a role on a project, replacing any other. Throws `NotFound` for an unknown project or user. */
  setRole(input: { projectId: string; userId: string; role: ProjectRole }): Promise<void>
  /** Take a user's role away; false when they had none. */
  removeRole(projectId: string, userId: string): Promise<boolean>
}

const MAX_NAME_LENGTH = 512
const MAX_DESCRIPTION_LENGTH = 65_536

export function isProjectVisibility(value: string): value is ProjectVisibility {
  return (PROJECT_VISIBILITIES as readonly string[]).includes(value)
}

export function isProjectRole(value: string): value is ProjectRole {
  return (PROJECT_ROLES as readonly string[]).includes(value)
}

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

export function createProjectsService({ sql }: { sql: Sql }): ProjectsService {
  return {
    async create(input) {
      const name = input.name.trim()
      if (name.length === 0) throw new BadUserInput('A project needs a name')
      if (name.length > MAX_NAME_LENGTH) {
        throw new BadUserInput(`Project name must be at most ${MAX_NAME_LENGTH} characters`)
      }
      const description = input.description ?? null
      if (description !== null && description.length > MAX_DESCRIPTION_LENGTH) {
        throw new BadUserInput(`Project description must be at most ${MAX_DESCRIPTION_LENGTH} characters`)
      }
      const visibility = input.visibility ?? 'private'
      if (!isProjectVisibility(visibility)) {
        throw new BadUserInput(`Visibility must be one of ${PROJECT_VISIBILITIES.join(', ')}`)
      }
      const row = await sql.transaction(async (tx) => {
        const project = await insertProject(tx, { id: newId(), name, description, visibility })
        if (!(await upsertRole(tx, { projectId: project.id, userId: input.ownerId, role: 'stream:owner' }))) {
          throw new NotFound('user', input.ownerId)
        }
        await insertModel(tx, { id: newId(), projectId: project.id, name: DEFAULT_MODEL_NAME, authorId: input.ownerId })
        return project
      })
      return toProject(row)
    },

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
      if (!(await upsertRole(sql, input))) {
        if ((await selectProject(sql, input.projectId)) === null) throw new NotFound('project', input.projectId)
        throw new NotFound('user', input.userId)
      }
    },

    async removeRole(projectId, userId) {
      return deleteRole(sql, projectId, userId)
    },
  }
}
