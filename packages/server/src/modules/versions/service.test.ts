import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Sql } from '../../adapters/sql/types.js'
import { NotFound } from '../../errors.js'
import { domainContext, recordingBus, type DomainContext, type RecordingBus } from '../../test-utils/domain.js'
import { openDatabase } from '../auth/test-utils/identity.js'
import type { Model } from '../models/service.js'
import type { Project } from '../projects/service.js'
import type { User } from '../users/service.js'

describe.each(['pglite', 'postgres'] as const)('versions service (%s)', (kind) => {
  let sql: Sql & { dispose(): Promise<void> }
  let bus: RecordingBus
  let ctx: DomainContext
  let owner: User
  let project: Project
  let main: Model

  beforeAll(async () => {
    sql = await openDatabase(kind)
    bus = recordingBus()
    ctx = domainContext(sql, bus)
    owner = await ctx.newUser()
    project = await ctx.newProject(owner.id)
    main = (await ctx.models.getByName(project.id, 'main'))!
  })
  afterAll(() => sql?.dispose())

  it('creates a version of a stored tree, with its activity in the same transaction and an event after', async () => {
    const objectId = await ctx.newObjectTree(project.id, 3)
    bus.clear()
    const version = await ctx.versions.create({
      projectId: project.id,
      modelId: main.id,
      objectId,
      message: 'first',
      sourceApplication: 'Revit2024',
      totalChildrenCount: 3,
      parents: ['abc'],
      actorId: owner.id,
    })
    expect(version).toMatchObject({
      projectId: project.id,
      modelId: main.id,
      objectId,
      message: 'first',
      sourceApplication: 'Revit2024',
      totalChildrenCount: 3,
      parents: ['abc'],
      authorId: owner.id,
    })
    expect(await ctx.versions.getById(project.id, version.id)).toEqual(version)
    expect(bus.published).toEqual([
      {
        topic: `project:${project.id}`,
        event: { type: 'VersionCreated', projectId: project.id, modelId: main.id, versionId: version.id },
      },
    ])
    const log = await ctx.activity.forUser(owner.id, { actionType: 'commit_create', limit: 1 })
    expect(log.items[0]).toMatchObject({ resourceType: 'commit', resourceId: version.id, projectId: project.id })
    const model = await ctx.models.getById(project.id, main.id)
    expect(model!.updatedAt.getTime()).toBeGreaterThanOrEqual(main.updatedAt.getTime())
  })

  it('refuses an unknown object, an incomplete tree and an unknown model with COMMIT_CREATE_ERROR', async () => {
    const partial = await ctx.newObjectTree(project.id, 3, { skipChildren: 2 })
    const base = { projectId: project.id, modelId: main.id, actorId: owner.id }
    await expect(ctx.versions.create({ ...base, objectId: 'f'.repeat(32) })).rejects.toMatchObject({
      graphqlCode: 'COMMIT_CREATE_ERROR',
      message: "Couldn't find commit object",
    })
    await expect(ctx.versions.create({ ...base, objectId: partial })).rejects.toMatchObject({
      graphqlCode: 'COMMIT_CREATE_ERROR',
      message: expect.stringMatching(/Couldn't find 2 of the commit object's children/),
    })
    const whole = await ctx.newObjectTree(project.id)
    await expect(ctx.versions.create({ ...base, modelId: 'missing000', objectId: whole })).rejects.toMatchObject({
      graphqlCode: 'COMMIT_CREATE_ERROR',
      message: 'Failed to find branch with name or id missing000.',
    })
    // The object of another project does not count.
    const other = await ctx.newProject(owner.id)
    const otherMain = await ctx.models.getByName(other.id, 'main')
    await expect(
      ctx.versions.create({ projectId: other.id, modelId: otherMain!.id, objectId: whole, actorId: owner.id }),
    ).rejects.toMatchObject({ graphqlCode: 'COMMIT_CREATE_ERROR' })
  })

  it('edits the message, moves between models (creating the target) and deletes', async () => {
    const v1 = await ctx.newVersion(project.id, main.id, owner.id)
    const v2 = await ctx.newVersion(project.id, main.id, owner.id)
    const edited = await ctx.versions.update({ projectId: project.id, versionId: v1.id, message: 'new', actorId: null })
    expect(edited.message).toBe('new')
    bus.clear()
    const target = await ctx.versions.moveToModel({
      projectId: project.id,
      versionIds: [v1.id, v2.id],
      targetModelName: 'moved/here',
      actorId: owner.id,
    })
    expect(target.name).toBe('moved/here')
    expect(bus.published.map((p) => p.event.type)).toEqual(['ModelCreated', 'VersionUpdated', 'VersionUpdated'])
    expect((await ctx.versions.listForModel(target.id)).items.map((v) => v.id).sort()).toEqual([v1.id, v2.id].sort())
    await expect(
      ctx.versions.delete({ projectId: project.id, versionIds: [v1.id, 'missing000'], actorId: owner.id }),
    ).rejects.toThrow(NotFound)
    expect(await ctx.versions.getById(project.id, v1.id)).not.toBeNull()
    await ctx.versions.delete({ projectId: project.id, versionIds: [v1.id, v2.id], actorId: owner.id })
    expect(await ctx.versions.getById(project.id, v1.id)).toBeNull()
    const log = await ctx.activity.forProject(project.id, { actionType: 'commit_delete' })
    expect(log.totalCount).toBe(2)
  })

  it('marks a version received', async () => {
    const v = await ctx.newVersion(project.id, main.id, owner.id)
    await ctx.versions.markReceived({
      projectId: project.id,
      versionId: v.id,
      sourceApplication: 'Rhino',
      message: 'got it',
      actorId: owner.id,
    })
    const receipts = await sql.query(
      'SELECT user_id, source_application, message FROM version_receipts WHERE version_id = $1',
      [v.id],
    )
    expect(receipts.rows).toEqual([{ user_id: owner.id, source_application: 'Rhino', message: 'got it' }])
    await expect(
      ctx.versions.markReceived({
        projectId: project.id,
        versionId: 'missing000',
        sourceApplication: 'R',
        actorId: owner.id,
      }),
    ).rejects.toThrow(NotFound)
  })

  it('pages a model’s versions newest first', async () => {
    const model = await ctx.models.create({ projectId: project.id, name: 'paged', actorId: owner.id })
    const made = []
    for (let i = 0; i < 7; i++) made.push((await ctx.newVersion(project.id, model.id, owner.id)).id)
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page = await ctx.versions.listForModel(model.id, { limit: 3, cursor })
      expect(page.totalCount).toBe(7)
      seen.push(...page.items.map((v) => v.id))
      cursor = page.cursor
    } while (cursor)
    expect(seen).toEqual(made.reverse())
    expect((await ctx.versions.countByModel([model.id])).get(model.id)).toBe(7)
  })

  it('answers the first pages of many models at once, as listForModel does', async () => {
    const a = await ctx.models.create({ projectId: project.id, name: 'first-a', actorId: owner.id })
    const b = await ctx.models.create({ projectId: project.id, name: 'first-b', actorId: owner.id })
    const empty = await ctx.models.create({ projectId: project.id, name: 'first-empty', actorId: owner.id })
    for (let i = 0; i < 3; i++) await ctx.newVersion(project.id, a.id, owner.id)
    await ctx.newVersion(project.id, b.id, owner.id)
    const ids = [a.id, b.id, empty.id, 'nosuchmodel']
    for (const limit of [0, 1, 2, 5]) {
      const pages = await ctx.versions.firstPagesOfModels(ids, limit)
      for (const id of ids) expect(pages.get(id)).toEqual(await ctx.versions.listForModel(id, { limit }))
    }
    // The cursor of a batched first page continues where listForModel's would.
    const first = (await ctx.versions.firstPagesOfModels([a.id], 2)).get(a.id)!
    const rest = await ctx.versions.listForModel(a.id, { limit: 2, cursor: first.cursor })
    expect([...first.items, ...rest.items].map((v) => v.id)).toEqual(
      (await ctx.versions.listForModel(a.id, { limit: 10 })).items.map((v) => v.id),
    )
  })

  it('deletes versions with their model, and everything with the project', async () => {
    const p = await ctx.newProject(owner.id)
    const m = await ctx.models.getByName(p.id, 'main')
    const v = await ctx.newVersion(p.id, m!.id, owner.id)
    expect(await ctx.projects.delete(p.id, owner.id)).toBe(true)
    expect(await ctx.versions.getById(p.id, v.id)).toBeNull()
    const objects = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM objects WHERE project_id = $1', [
      p.id,
    ])
    expect(objects.rows[0]!.n).toBe(0)
  })
})
