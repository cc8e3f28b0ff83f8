/**
 * Test context for the project domain: the identity context plus the real activity, models, versions and
 * objects services over the same migrated database, and a bus that records what was published.
 */
import { randomBytes } from 'node:crypto'
import type { Bus } from '../adapters/bus/types.js'
import type { Sql } from '../adapters/sql/types.js'
import { JOBS_TOPIC, type TrussEvent } from '../events.js'
import { createActivityService, type ActivityService } from '../modules/activity/service.js'
import { identityContext, type IdentityContext } from '../modules/auth/test-utils/identity.js'
import { createModelsService, type ModelsService } from '../modules/models/service.js'
import { createObjectsService, type ObjectsService } from '../modules/objects/service.js'
import { createProjectsService, type ProjectsService } from '../modules/projects/service.js'
import { createVersionsService, type Version, type VersionsService } from '../modules/versions/service.js'

/**
 * Collects published events; `publish` is the only part of the bus the services use. Job-worker hints
 * (JOBS_TOPIC) are counted apart: they are not events.
 */
export interface RecordingBus extends Pick<Bus, 'publish'> {
  published: { topic: string; event: TrussEvent }[]
  jobHints: number
  clear(): void
}

export function recordingBus(): RecordingBus {
  const published: { topic: string; event: TrussEvent }[] = []
  const bus: RecordingBus = {
    published,
    jobHints: 0,
    async publish(topic, message) {
      if (topic === JOBS_TOPIC) bus.jobHints++
      else published.push({ topic, event: message as TrussEvent })
    },
    clear() {
      published.length = 0
      bus.jobHints = 0
    },
  }
  return bus
}

export interface DomainContext extends Omit<IdentityContext, 'projects'> {
  bus: Pick<Bus, 'publish'>
  projects: ProjectsService
  activity: ActivityService
  models: ModelsService
  versions: VersionsService
  objects: ObjectsService
  /** Store a root with `children` leaf children (its `__closure` lists them); resolves to the root id. */
  newObjectTree(projectId: string, children?: number, options?: { skipChildren?: number }): Promise<string>
  newVersion(projectId: string, modelId: string, authorId: string, message?: string): Promise<Version>
}

const hexId = () => randomBytes(16).toString('hex')

export function domainContext(sql: Sql, bus: Pick<Bus, 'publish'> = recordingBus()): DomainContext {
  const identity = identityContext(sql)
  const db = identity.sql
  const activity = createActivityService({ sql: db })
  const objects = createObjectsService({ sql: db, maxObjectBytes: 10 * 1024 * 1024 })
  const projects = createProjectsService({ sql: db, bus, activity, objects })
  const models = createModelsService({ sql: db, bus, activity, projects })
  const versions = createVersionsService({ sql: db, bus, activity, models, objects })
  const ctx: DomainContext = {
    ...identity,
    bus,
    projects,
    activity,
    models,
    versions,
    objects,
    newProject(ownerId, overrides = {}) {
      return projects.create({
        ownerId,
        name: overrides.name ?? `Project ${hexId().slice(0, 6)}`,
        visibility: overrides.visibility,
      })
    },
    async newObjectTree(projectId, children = 2, options = {}) {
      const childIds = Array.from({ length: children }, hexId)
      const rootId = hexId()
      const closure = Object.fromEntries(childIds.map((id) => [id, 1]))
      const rows = childIds
        .slice(options.skipChildren ?? 0)
        .map((id) => ({ id, json: JSON.stringify({ id, speckle_type: 'Base' }) }))
      rows.push({ id: rootId, json: JSON.stringify({ id: rootId, speckle_type: 'Base', __closure: closure }) })
      await objects.store(projectId, rows)
      return rootId
    },
    async newVersion(projectId, modelId, authorId, message = 'a version') {
      const objectId = await ctx.newObjectTree(projectId)
      return versions.create({ projectId, modelId, objectId, message, actorId: authorId, sourceApplication: 'test' })
    },
  }
  return ctx
}
