/**
 * The versions module (Speckle "commits"): a named snapshot of a model, pointing at a root object whose
 * whole tree is already stored (DESIGN.md decision 1). Every change writes its activity entry in the same
 * transaction and publishes a hint after commit.
 */
import type { Bus } from '../../adapters/bus/types.js'
import type { Sql, SqlExecutor } from '../../adapters/sql/types.js'
import { BadUserInput, NotFound } from '../../errors.js'
import { commitWithEvents, publishEvents, type EventLogger, type TrussEvent } from '../../events.js'
import { decodeCursor, pageSize, toPage, type Page } from '../../pagination.js'
import { createActivityService, type ActivityService } from '../activity/service.js'
import { newId } from '../../ids.js'
import type { Model, ModelsService } from '../models/service.js'
import type { ObjectsService } from '../objects/service.js'
import {
  countVersionsByModel,
  deleteVersions,
  insertReceipt,
  insertVersion,
  lockVersions,
  moveVersions,
  selectVersion,
  selectVersions,
  selectFirstVersionsOfModels,
  selectSourceApps,
  selectVersionsByIds,
  updateVersionMessage,
  type VersionRow,
} from './repository.js'

export interface Version {
  id: string
  projectId: string
  modelId: string
  /** The root object's id (`referencedObject`). */
  objectId: string
  message: string | null
  sourceApplication: string | null
  totalChildrenCount: number | null
  parents: string[]
  authorId: string | null
  createdAt: Date
}

export interface CreateVersionInput {
  projectId: string
  modelId: string
  objectId: string
  message?: string | null
  sourceApplication?: string | null
  totalChildrenCount?: number | null
  parents?: readonly (string | null)[] | null
  actorId: string | null
}

export interface CreateVersionOptions {
  /**
   * Write the version in the caller's transaction (a job's fenced completion) instead of one of its own.
   * The caller then has stored and checked the object tree itself, hands the model it resolved in that
   * transaction, and publishes `VersionCreated` (`versionCreatedEvent`) after its commit.
   */
  tx: SqlExecutor
  model: Model
}

/** The bus event of a created version, for callers that create it in their own transaction. */
export function versionCreatedEvent(version: Version): TrussEvent {
  return { type: 'VersionCreated', projectId: version.projectId, modelId: version.modelId, versionId: version.id }
}

export interface VersionsService {
  /**
   * Throws `BadUserInput` coded `COMMIT_CREATE_ERROR` when the model is not in the project, or the object or
   * any of its closure children is not stored.
   */
  create(input: CreateVersionInput, options?: CreateVersionOptions): Promise<Version>
  /** Change the message; throws `NotFound('version')`. */
  update(input: {
    projectId: string
    versionId: string
    message: string | null
    actorId: string | null
  }): Promise<Version>
  /** Move versions to the model named `targetModelName`, creating it when missing; returns it. */
  moveToModel(input: {
    projectId: string
    versionIds: readonly string[]
    targetModelName: string
    actorId: string | null
  }): Promise<Model>
  /** Delete versions; throws `NotFound('version')` when any is not in the project (and deletes none). */
  delete(input: { projectId: string; versionIds: readonly string[]; actorId: string | null }): Promise<void>
  /** Record that a user received a version in an application. */
  markReceived(input: {
    projectId: string
    versionId: string
    sourceApplication: string
    message?: string | null
    actorId: string
  }): Promise<void>
  getById(projectId: string, id: string): Promise<Version | null>
  getMany(ids: readonly string[]): Promise<Version[]>
  listForModel(modelId: string, query?: { limit?: number | null; cursor?: string | null }): Promise<Page<Version>>
  listForProject(projectId: string, query?: { limit?: number | null; cursor?: string | null }): Promise<Page<Version>>
  countByModel(modelIds: readonly string[]): Promise<Map<string, number>>
  /**
   * The first page of each model's versions (as `listForModel` without a cursor), in two queries whatever
   * the number of models; a model without versions gets an empty page.
   */
  firstPagesOfModels(modelIds: readonly string[], limit?: number | null): Promise<Map<string, Page<Version>>>
  /** The distinct source applications of each project's versions (`Project.sourceApps`), in one query. */
  sourceAppsOf(projectIds: readonly string[]): Promise<Map<string, string[]>>
}

export interface VersionsServiceDeps {
  sql: Sql
  bus?: Pick<Bus, 'publish'>
  activity?: ActivityService
  models: Pick<ModelsService, 'getById' | 'ensureByName' | 'touch'>
  objects: Pick<ObjectsService, 'hasWholeTree'>
  logger?: EventLogger
}

const MAX_MESSAGE_LENGTH = 65_536
const MAX_SOURCE_APPLICATION_LENGTH = 256

function toVersion(row: VersionRow): Version {
  return {
    id: row.id,
    projectId: row.project_id,
    modelId: row.model_id,
    objectId: row.object_id,
    message: row.message,
    sourceApplication: row.source_application,
    totalChildrenCount: row.total_children_count,
    parents: row.parents,
    authorId: row.author_id,
    createdAt: row.created_at,
  }
}

function createError(message: string): BadUserInput {
  return new BadUserInput(message, { graphqlCode: 'COMMIT_CREATE_ERROR' })
}

function checkLength(value: string | null | undefined, max: number, what: string): string | null {
  if (value === undefined || value === null) return null
  if (value.length > max) throw new BadUserInput(`${what} must be at most ${max} characters`)
  return value
}

export function createVersionsService(deps: VersionsServiceDeps): VersionsService {
  const { sql, models } = deps
  const activity = deps.activity ?? createActivityService({ sql })
  const publish = (events: TrussEvent[]) => publishEvents(deps.bus, events, deps.logger)

  const list = async (
    scope: { column: 'model_id' | 'project_id'; value: string },
    query: { limit?: number | null; cursor?: string | null } = {},
  ) => {
    const size = pageSize(query.limit)
    const { rows, totalCount } = await selectVersions(sql, scope, { limit: size, after: decodeCursor(query.cursor) })
    return toPage(rows, size, totalCount, toVersion)
  }

  return {
    async create(input, options) {
      const message = checkLength(input.message, MAX_MESSAGE_LENGTH, 'A version message')
      const sourceApplication = checkLength(
        input.sourceApplication,
        MAX_SOURCE_APPLICATION_LENGTH,
        'A source application',
      )
      const count = input.totalChildrenCount ?? null
      if (count !== null && (!Number.isInteger(count) || count < 0)) {
        throw createError('totalChildrenCount must be a non-negative integer')
      }
      const model = options?.model ?? (await models.getById(input.projectId, input.modelId))
      if (model === null) throw createError(`Failed to find branch with name or id ${input.modelId}.`)
      if (options === undefined) {
        const tree = await deps.objects.hasWholeTree(input.projectId, input.objectId)
        if (!tree.root) throw createError("Couldn't find commit object")
        if (tree.missing > 0) {
          throw createError(
            `Couldn't find ${tree.missing} of the commit object's children: upload the whole object tree before creating a version`,
          )
        }
      }
      const parents = (input.parents ?? []).filter((p): p is string => typeof p === 'string' && p.length > 0)
      const write = async (tx: SqlExecutor) => {
        const version = await insertVersion(tx, {
          id: newId(),
          projectId: input.projectId,
          modelId: model.id,
          objectId: input.objectId,
          message,
          sourceApplication,
          totalChildrenCount: count,
          parents,
          authorId: input.actorId,
        })
        await models.touch(tx, input.projectId, model.id)
        await activity.record(tx, {
          projectId: input.projectId,
          userId: input.actorId,
          resourceType: 'commit',
          resourceId: version.id,
          actionType: 'commit_create',
          info: {
            id: version.id,
            commit: {
              objectId: input.objectId,
              branchName: model.name,
              message,
              sourceApplication,
              totalChildrenCount: count,
              parents,
            },
          },
        })
        return version
      }
      if (options !== undefined) return toVersion(await write(options.tx))
      const { result: row, events } = await commitWithEvents(sql, write, (row) => [
        { type: 'VersionCreated', projectId: row.project_id, modelId: row.model_id, versionId: row.id },
      ])
      await publish(events)
      return toVersion(row)
    },

    async update(input) {
      const message = checkLength(input.message, MAX_MESSAGE_LENGTH, 'A version message')
      const { result: row, events } = await commitWithEvents(
        sql,
        async (tx) => {
          const [before] = await lockVersions(tx, input.projectId, [input.versionId])
          if (before === undefined) throw new NotFound('version', input.versionId)
          const after = await updateVersionMessage(tx, before.id, message)
          await activity.record(tx, {
            projectId: input.projectId,
            userId: input.actorId,
            resourceType: 'commit',
            resourceId: before.id,
            actionType: 'commit_update',
            info: { old: { message: before.message }, new: { message } },
          })
          return after
        },
        (row) => [{ type: 'VersionUpdated', projectId: row.project_id, modelId: row.model_id, versionId: row.id }],
      )
      await publish(events)
      return toVersion(row)
    },

    async moveToModel(input) {
      const ids = [...new Set(input.versionIds)]
      const { result, events } = await commitWithEvents(
        sql,
        async (tx) => {
          const rows = await lockVersions(tx, input.projectId, ids)
          if (rows.length !== ids.length) {
            const known = new Set(rows.map((r) => r.id))
            throw new NotFound(
              'version',
              ids.find((id) => !known.has(id)),
            )
          }
          const target = await models.ensureByName(tx, {
            projectId: input.projectId,
            name: input.targetModelName,
            actorId: input.actorId,
          })
          await moveVersions(tx, ids, target.model.id)
          await models.touch(tx, input.projectId, target.model.id)
          for (const row of rows) {
            await activity.record(tx, {
              projectId: input.projectId,
              userId: input.actorId,
              resourceType: 'commit',
              resourceId: row.id,
              actionType: 'commit_move',
              info: { originalBranchId: row.model_id, newBranchId: target.model.id },
            })
          }
          return { ...target, moved: rows }
        },
        ({ model, created, moved }) => {
          const events: TrussEvent[] = created
            ? [{ type: 'ModelCreated', projectId: input.projectId, modelId: model.id }]
            : []
          for (const row of moved) {
            events.push({
              type: 'VersionUpdated',
              projectId: input.projectId,
              modelId: model.id,
              versionId: row.id,
              previousModelId: row.model_id,
            })
          }
          return events
        },
      )
      await publish(events)
      return result.model
    },

    async delete(input) {
      const ids = [...new Set(input.versionIds)]
      const { events } = await commitWithEvents(
        sql,
        async (tx) => {
          const rows = await lockVersions(tx, input.projectId, ids)
          if (rows.length !== ids.length) {
            const known = new Set(rows.map((r) => r.id))
            throw new NotFound(
              'version',
              ids.find((id) => !known.has(id)),
            )
          }
          await deleteVersions(tx, ids)
          for (const row of rows) {
            await activity.record(tx, {
              projectId: input.projectId,
              userId: input.actorId,
              resourceType: 'commit',
              resourceId: row.id,
              actionType: 'commit_delete',
              info: { commit: { id: row.id, objectId: row.object_id, branchId: row.model_id } },
            })
          }
          return rows
        },
        (deleted) =>
          deleted.map((row) => ({
            type: 'VersionDeleted' as const,
            projectId: input.projectId,
            modelId: row.model_id,
            versionId: row.id,
          })),
      )
      await publish(events)
    },

    async markReceived(input) {
      const sourceApplication = checkLength(
        input.sourceApplication,
        MAX_SOURCE_APPLICATION_LENGTH,
        'A source application',
      )
      if (!sourceApplication)
        throw new BadUserInput('sourceApplication is required', { graphqlCode: 'COMMIT_RECEIVE_ERROR' })
      const message = checkLength(input.message, MAX_MESSAGE_LENGTH, 'A message')
      const { events } = await commitWithEvents(
        sql,
        async (tx) => {
          const version = await selectVersion(tx, input.projectId, input.versionId)
          if (version === null) throw new NotFound('version', input.versionId)
          await insertReceipt(tx, { versionId: version.id, userId: input.actorId, sourceApplication, message })
          await activity.record(tx, {
            projectId: input.projectId,
            userId: input.actorId,
            resourceType: 'commit',
            resourceId: version.id,
            actionType: 'commit_receive',
            info: { sourceApplication, message },
          })
        },
        () => [
          {
            type: 'VersionReceived',
            projectId: input.projectId,
            versionId: input.versionId,
            userId: input.actorId,
            sourceApplication,
          },
        ],
      )
      await publish(events)
    },

    async getById(projectId, id) {
      const row = await selectVersion(sql, projectId, id)
      return row === null ? null : toVersion(row)
    },

    async getMany(ids) {
      if (ids.length === 0) return []
      return (await selectVersionsByIds(sql, ids)).map(toVersion)
    },

    listForModel: (modelId, query) => list({ column: 'model_id', value: modelId }, query),
    listForProject: (projectId, query) => list({ column: 'project_id', value: projectId }, query),

    async countByModel(modelIds) {
      if (modelIds.length === 0) return new Map()
      return countVersionsByModel(sql, modelIds)
    },

    async sourceAppsOf(projectIds) {
      const apps = new Map<string, string[]>(projectIds.map((id) => [id, []]))
      if (projectIds.length === 0) return apps
      for (const row of await selectSourceApps(sql, projectIds)) apps.get(row.project_id)?.push(row.source_application)
      return apps
    },

    async firstPagesOfModels(modelIds, limit) {
      const size = pageSize(limit)
      const pages = new Map<string, Page<Version>>()
      if (modelIds.length === 0) return pages
      const [counts, rows] = await Promise.all([
        countVersionsByModel(sql, modelIds),
        // limit 0 asks only for the totals.
        size === 0 ? Promise.resolve([]) : selectFirstVersionsOfModels(sql, modelIds, size + 1),
      ])
      const byModel = new Map<string, typeof rows>()
      for (const row of rows) {
        const list = byModel.get(row.model_id)
        if (list === undefined) byModel.set(row.model_id, [row])
        else list.push(row)
      }
      for (const id of modelIds) {
        pages.set(id, toPage(byModel.get(id) ?? [], size, counts.get(id) ?? 0, toVersion))
      }
      return pages
    },
  }
}
