/**
 * The models module (Speckle "branches"): named, hierarchical (`structure/columns`) groups of versions in a
 * project. Names are unique per project whatever their case; every change writes its activity entry in the
 * same transaction and publishes a hint after commit.
 */
import type { Bus } from '../../adapters/bus/types.js'
import type { Sql, SqlExecutor } from '../../adapters/sql/types.js'
import { BadUserInput, NotFound, toDomainError } from '../../errors.js'
import { commitWithEvents, publishEvents, type EventLogger, type TrussEvent } from '../../events.js'
import { decodeCursor, pageSize, toPage, type Page } from '../../pagination.js'
import { createActivityService, type ActivityService } from '../activity/service.js'
import { newId } from '../../ids.js'
import type { ProjectsService } from '../projects/service.js'
import {
  deleteModel,
  insertModel,
  lockModel,
  selectFirstModelsOfProjects,
  selectModel,
  selectModelByName,
  selectModels,
  selectHaveChildren,
  selectModelsByIds,
  selectModelsByNames,
  selectTreeLevels,
  selectTreeTopLevel,
  touchModel,
  updateModel,
  type ModelFilter,
  type ModelRow,
} from './repository.js'

export type { ModelFilter } from './repository.js'

export interface Model {
  id: string
  projectId: string
  /** The full path, `structure/columns`. */
  name: string
  description: string | null
  authorId: string | null
  createdAt: Date
  updatedAt: Date
}

export interface CreateModelInput {
  projectId: string
  name: string
  description?: string | null
  actorId: string | null
}

export interface UpdateModelInput {
  projectId: string
  id: string
  name?: string | null
  description?: string | null
  actorId: string | null
}

/**
 * One item of Speckle's models tree: a name segment. `foo/bar` makes an item `foo` (with children) at the
 * top level even when no model is named `foo`; `model` is then null.
 */
export interface ModelsTreeItem {
  /** `<projectId>-<fullName>`, as Speckle. */
  id: string
  projectId: string
  /** The segment (`bar`). */
  name: string
  /** The path to it (`foo/bar`). */
  fullName: string
  /** The latest change among the models at or below it. */
  updatedAt: Date
  hasChildren: boolean
}

export interface ModelsTreeQuery {
  limit?: number | null
  cursor?: string | null
  /** Any of these switches to Speckle's filtered tree: a flat page of matching models, any depth. */
  search?: string | null
  sourceApps?: readonly string[] | null
  contributors?: readonly string[] | null
}

export interface ModelsService {
  /** Throws `BadUserInput` coded `BRANCH_NAME_ERROR` for a bad name, `BRANCH_CREATE_ERROR` for a taken one. */
  create(input: CreateModelInput): Promise<Model>
  /** Throws `NotFound('model')`, or `BadUserInput` coded `BRANCH_UPDATE_ERROR` for a taken name. */
  update(input: UpdateModelInput): Promise<Model>
  /** Delete a model and its versions; throws `NotFound('model')` when it is not in the project. */
  delete(input: { projectId: string; id: string; actorId: string | null }): Promise<void>
  getById(projectId: string, id: string): Promise<Model | null>
  /** Case-insensitive, as Speckle looks branches up. */
  getByName(projectId: string, name: string): Promise<Model | null>
  getMany(ids: readonly string[]): Promise<Model[]>
  list(projectId: string, query?: ModelFilter & { limit?: number | null; cursor?: string | null }): Promise<Page<Model>>
  /**
   * The first page of each project's models (as `list` without filter or cursor), in two queries whatever
   * the number of projects; a project without models gets an empty page.
   */
  firstPagesOfProjects(projectIds: readonly string[], limit?: number | null): Promise<Map<string, Page<Model>>>
  /** Models by (project, name) pairs, names case-insensitive, in one query. */
  getManyByName(pairs: readonly { projectId: string; name: string }[]): Promise<Model[]>
  /**
   * The top level of the project's models tree, most recently updated first (a lone `main` without versions
   * is left out, as Speckle does, unless filtering).
   */
  tree(projectId: string, query?: ModelsTreeQuery): Promise<Page<ModelsTreeItem>>
  /**
   * The items directly below each (project, parent name) pair, in one query; answers in the order asked.
   */
  childrenTrees(parents: readonly { projectId: string; name: string }[]): Promise<ModelsTreeItem[][]>
  /** The model named `name`, created (with its activity entry) inside `db` when missing. */
  ensureByName(
    db: SqlExecutor,
    input: { projectId: string; name: string; actorId: string | null },
  ): Promise<{ model: Model; created: boolean }>
  /** Mark the model and its project changed (a version was added or moved), inside the caller's transaction. */
  touch(db: SqlExecutor, projectId: string, modelId: string): Promise<void>
}

export interface ModelsServiceDeps {
  sql: Sql
  bus?: Pick<Bus, 'publish'>
  activity?: ActivityService
  projects?: Pick<ProjectsService, 'touch'>
  logger?: EventLogger
}

export const MAX_MODEL_NAME_LENGTH = 512
const MAX_DESCRIPTION_LENGTH = 65_536

/** Speckle's branch name rules: no leading `/`, `#` or `$`, no `//`, no `,`. */
export function validModelName(raw: string): string {
  const name = raw.trim()
  const bad =
    name.length === 0 ||
    name.length > MAX_MODEL_NAME_LENGTH ||
    /^[/#$]/.test(name) ||
    name.includes('//') ||
    name.includes(',') ||
    name.endsWith('/')
  if (bad) {
    throw new BadUserInput(
      `Bad name for a model: "${raw}". Names must be 1-${MAX_MODEL_NAME_LENGTH} characters, must not start with /, # or $, and must not contain // or commas`,
      { graphqlCode: 'BRANCH_NAME_ERROR' },
    )
  }
  return name
}

function validDescription(description: string | null | undefined): string | null {
  if (description === undefined || description === null) return null
  if (description.length > MAX_DESCRIPTION_LENGTH) {
    throw new BadUserInput(`Model description must be at most ${MAX_DESCRIPTION_LENGTH} characters`)
  }
  return description
}

export function toModel(row: ModelRow): Model {
  return {
    id: row.id,
    projectId: row.project_id,
    name: row.name,
    description: row.description,
    authorId: row.author_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

/** The last segment of a hierarchical name (`columns` for `structure/columns`). */
export function displayName(name: string): string {
  return name.split('/').at(-1) ?? name
}

function treeItem(
  projectId: string,
  fullName: string,
  name: string,
  updatedAt: Date,
  hasChildren: boolean,
): ModelsTreeItem {
  return { id: `${projectId}-${fullName}`, projectId, name, fullName, updatedAt, hasChildren }
}

/** A parent name as Speckle reads it: trimmed of spaces and slashes. */
function cleanParent(name: string): string {
  return name.trim().replace(/^\/+|\/+$/g, '')
}

function isUniqueViolation(err: unknown): boolean {
  return toDomainError(err).code === 'CONFLICT'
}

export function createModelsService(deps: ModelsServiceDeps): ModelsService {
  const { sql } = deps
  const activity = deps.activity ?? createActivityService({ sql })
  const publish = (events: TrussEvent[]) => publishEvents(deps.bus, events, deps.logger)

  async function insertWithActivity(
    db: SqlExecutor,
    input: { projectId: string; name: string; description: string | null; actorId: string | null },
  ): Promise<ModelRow> {
    const row = await insertModel(db, { id: newId(), authorId: input.actorId, ...input })
    await activity.record(db, {
      projectId: input.projectId,
      userId: input.actorId,
      resourceType: 'branch',
      resourceId: row.id,
      actionType: 'branch_create',
      info: { branch: { id: row.id, name: row.name, description: row.description } },
    })
    await deps.projects?.touch(db, input.projectId)
    return row
  }

  return {
    async create(input) {
      const name = validModelName(input.name)
      const description = validDescription(input.description)
      let row: ModelRow
      try {
        row = (
          await commitWithEvents(
            sql,
            (tx) => insertWithActivity(tx, { projectId: input.projectId, name, description, actorId: input.actorId }),
            (row) => [{ type: 'ModelCreated', projectId: row.project_id, modelId: row.id }],
          )
        ).result
      } catch (err) {
        if (isUniqueViolation(err)) {
          throw new BadUserInput('A branch with this name already exists', {
            graphqlCode: 'BRANCH_CREATE_ERROR',
            cause: err,
          })
        }
        throw err
      }
      await publish([{ type: 'ModelCreated', projectId: row.project_id, modelId: row.id }])
      return toModel(row)
    },

    async update(input) {
      const changes: { name?: string; description?: string | null } = {}
      if (input.name !== undefined && input.name !== null) changes.name = validModelName(input.name)
      if (input.description !== undefined && input.description !== null) {
        changes.description = validDescription(input.description)
      }
      let row: ModelRow
      try {
        row = (
          await commitWithEvents(
            sql,
            async (tx) => {
              const before = await lockModel(tx, input.projectId, input.id)
              if (before === null) throw new NotFound('model', input.id)
              const after = (await updateModel(tx, input.projectId, input.id, changes))!
              await activity.record(tx, {
                projectId: input.projectId,
                userId: input.actorId,
                resourceType: 'branch',
                resourceId: input.id,
                actionType: 'branch_update',
                info: { old: { name: before.name, description: before.description }, new: changes },
              })
              await deps.projects?.touch(tx, input.projectId)
              return after
            },
            () => [{ type: 'ModelUpdated', projectId: input.projectId, modelId: input.id }],
          )
        ).result
      } catch (err) {
        if (isUniqueViolation(err)) {
          throw new BadUserInput('A branch with this name already exists', {
            graphqlCode: 'BRANCH_UPDATE_ERROR',
            cause: err,
          })
        }
        throw err
      }
      await publish([{ type: 'ModelUpdated', projectId: input.projectId, modelId: input.id }])
      return toModel(row)
    },

    async delete(input) {
      await commitWithEvents(
        sql,
        async (tx) => {
          const before = await lockModel(tx, input.projectId, input.id)
          if (before === null) throw new NotFound('model', input.id)
          await deleteModel(tx, input.projectId, input.id)
          await activity.record(tx, {
            projectId: input.projectId,
            userId: input.actorId,
            resourceType: 'branch',
            resourceId: input.id,
            actionType: 'branch_delete',
            info: { branch: { id: before.id, name: before.name } },
          })
          await deps.projects?.touch(tx, input.projectId)
        },
        () => [{ type: 'ModelDeleted', projectId: input.projectId, modelId: input.id }],
      )
      await publish([{ type: 'ModelDeleted', projectId: input.projectId, modelId: input.id }])
    },

    async getById(projectId, id) {
      const row = await selectModel(sql, projectId, id)
      return row === null ? null : toModel(row)
    },

    async getByName(projectId, name) {
      const row = await selectModelByName(sql, projectId, name.trim())
      return row === null ? null : toModel(row)
    },

    async getMany(ids) {
      if (ids.length === 0) return []
      return (await selectModelsByIds(sql, ids)).map(toModel)
    },

    async list(projectId, query = {}) {
      const size = pageSize(query.limit)
      const { rows, totalCount } = await selectModels(
        sql,
        projectId,
        { ...query, search: query.search?.trim() || null },
        { limit: size, after: decodeCursor(query.cursor) },
      )
      return toPage(rows, size, totalCount, toModel)
    },

    async firstPagesOfProjects(projectIds, limit) {
      const size = pageSize(limit)
      const pages = new Map<string, Page<Model>>()
      if (projectIds.length === 0) return pages
      const { rows, counts } = await selectFirstModelsOfProjects(sql, projectIds, size + 1)
      const byProject = new Map<string, typeof rows>()
      for (const row of rows) {
        const list = byProject.get(row.project_id)
        if (list === undefined) byProject.set(row.project_id, [row])
        else list.push(row)
      }
      for (const id of projectIds) pages.set(id, toPage(byProject.get(id) ?? [], size, counts.get(id) ?? 0, toModel))
      return pages
    },

    async getManyByName(pairs) {
      if (pairs.length === 0) return []
      const rows = await selectModelsByNames(
        sql,
        pairs.map((p) => p.projectId),
        pairs.map((p) => p.name),
      )
      return rows.map(toModel)
    },

    async tree(projectId, query = {}) {
      const size = pageSize(query.limit)
      const filtering =
        Boolean(query.search?.trim()) || (query.sourceApps?.length ?? 0) > 0 || (query.contributors?.length ?? 0) > 0
      if (filtering) {
        const { rows, totalCount } = await selectModels(
          sql,
          projectId,
          { search: query.search?.trim() || null, sourceApps: query.sourceApps, contributors: query.contributors },
          { limit: size, after: decodeCursor(query.cursor) },
        )
        const deeper = await selectHaveChildren(
          sql,
          projectId,
          rows.map((r) => r.name),
        )
        return toPage(rows, size, totalCount, (r) =>
          treeItem(projectId, r.name, displayName(r.name), r.updated_at, deeper.has(r.name)),
        )
      }
      const { rows, totalCount } = await selectTreeTopLevel(sql, projectId, {
        limit: size,
        after: decodeCursor(query.cursor),
      })
      return toPage(
        rows.map((r) => ({ ...r, id: r.part })),
        size,
        totalCount,
        (r) => treeItem(projectId, r.part, r.part, r.updated_at, r.has_children),
      )
    },

    async childrenTrees(parents) {
      const asked = parents.map((p) => ({ projectId: p.projectId, name: cleanParent(p.name) }))
      const wanted = asked.filter((p) => p.name !== '')
      if (wanted.length === 0) return asked.map(() => [])
      const levels = new Map<string, ModelsTreeItem[]>()
      const key = (projectId: string, name: string) => `${projectId}\n${name.toLowerCase()}`
      const rows = await selectTreeLevels(
        sql,
        wanted.map((p) => p.projectId),
        wanted.map((p) => p.name),
      )
      for (const r of rows) {
        const item = treeItem(r.project_id, `${r.parent}/${r.part}`, r.part, r.updated_at, r.has_children)
        const list = levels.get(key(r.project_id, r.parent))
        if (list === undefined) levels.set(key(r.project_id, r.parent), [item])
        else list.push(item)
      }
      return asked.map((p) => (p.name === '' ? [] : (levels.get(key(p.projectId, p.name)) ?? [])))
    },

    async ensureByName(db, input) {
      const name = validModelName(input.name)
      const existing = await selectModelByName(db, input.projectId, name)
      if (existing !== null) return { model: toModel(existing), created: false }
      const row = await insertWithActivity(db, {
        projectId: input.projectId,
        name,
        description: null,
        actorId: input.actorId,
      })
      return { model: toModel(row), created: true }
    },

    async touch(db, projectId, modelId) {
      await touchModel(db, modelId)
      await deps.projects?.touch(db, projectId)
    },
  }
}
