import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Sql } from '../../adapters/sql/types.js'
import { BadUserInput, NotFound } from '../../errors.js'
import { openDatabase } from '../auth/test-utils/identity.js'
import { domainContext, recordingBus, type DomainContext, type RecordingBus } from '../../test-utils/domain.js'
import type { User } from '../users/service.js'
import { displayName } from './service.js'

describe('models service (pglite)', () => {
  let sql: Sql & { dispose(): Promise<void> }
  let bus: RecordingBus
  let ctx: DomainContext
  let owner: User

  beforeAll(async () => {
    sql = await openDatabase('pglite')
    bus = recordingBus()
    ctx = domainContext(sql, bus)
    owner = await ctx.newUser()
  })
  afterAll(() => sql?.dispose())

  it('creates hierarchical models beside main, with activity and an event', async () => {
    const project = await ctx.newProject(owner.id)
    bus.clear()
    const model = await ctx.models.create({
      projectId: project.id,
      name: ' structure/columns ',
      description: 'Columns',
      actorId: owner.id,
    })
    expect(model).toMatchObject({ name: 'structure/columns', description: 'Columns', authorId: owner.id })
    expect(displayName(model.name)).toBe('columns')
    expect(await ctx.models.getByName(project.id, 'STRUCTURE/Columns')).toEqual(model)
    expect((await ctx.models.getByName(project.id, 'main'))?.name).toBe('main')
    expect(bus.published).toContainEqual({
      topic: `project:${project.id}`,
      event: { type: 'ModelCreated', projectId: project.id, modelId: model.id },
    })
    const log = await ctx.activity.forProject(project.id)
    expect(log.items[0]).toMatchObject({ actionType: 'branch_create', resourceId: model.id, userId: owner.id })
  })

  it('refuses a duplicate name (any case) with BRANCH_CREATE_ERROR and bad names with BRANCH_NAME_ERROR', async () => {
    const project = await ctx.newProject(owner.id)
    await expect(ctx.models.create({ projectId: project.id, name: 'Main', actorId: owner.id })).rejects.toMatchObject({
      graphqlCode: 'BRANCH_CREATE_ERROR',
      message: 'A branch with this name already exists',
    })
    for (const name of ['', '/a', '#a', '$a', 'a//b', 'a,b']) {
      await expect(ctx.models.create({ projectId: project.id, name, actorId: owner.id })).rejects.toMatchObject({
        graphqlCode: 'BRANCH_NAME_ERROR',
      })
    }
    const count = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM activity WHERE project_id = $1', [
      project.id,
    ])
    expect(count.rows[0]!.n).toBe(1) // stream_create only: failed creates left no activity
  })

  it('renames, describes and deletes, recording before and after', async () => {
    const project = await ctx.newProject(owner.id)
    const model = await ctx.models.create({ projectId: project.id, name: 'a', actorId: owner.id })
    const renamed = await ctx.models.update({ projectId: project.id, id: model.id, name: 'b/c', actorId: owner.id })
    expect(renamed).toMatchObject({ name: 'b/c', description: null })
    const described = await ctx.models.update({
      projectId: project.id,
      id: model.id,
      description: 'd',
      actorId: owner.id,
    })
    expect(described).toMatchObject({ name: 'b/c', description: 'd' })
    await expect(
      ctx.models.update({ projectId: project.id, id: model.id, name: 'main', actorId: owner.id }),
    ).rejects.toMatchObject({ graphqlCode: 'BRANCH_UPDATE_ERROR' })
    const log = await ctx.activity.forProject(project.id, { actionType: 'branch_update' })
    expect(log.items.map((a) => a.info)).toEqual([
      { old: { name: 'b/c', description: null }, new: { description: 'd' } },
      { old: { name: 'a', description: null }, new: { name: 'b/c' } },
    ])
    await ctx.models.delete({ projectId: project.id, id: model.id, actorId: owner.id })
    expect(await ctx.models.getById(project.id, model.id)).toBeNull()
    await expect(ctx.models.delete({ projectId: project.id, id: model.id, actorId: owner.id })).rejects.toThrow(
      NotFound,
    )
    const other = await ctx.newProject(owner.id)
    const main = await ctx.models.getByName(other.id, 'main')
    await expect(ctx.models.update({ projectId: project.id, id: main!.id, name: 'x', actorId: null })).rejects.toThrow(
      NotFound,
    )
  })

  it('walks 1,000 models 25 at a time without skipping or repeating', async () => {
    const project = await ctx.newProject(owner.id)
    await sql.query(
      `INSERT INTO models (id, project_id, name, updated_at)
       SELECT 'm' || lpad(i::text, 9, '0'), $1, 'model ' || i, now() - ((i % 7) || ' seconds')::interval
       FROM generate_series(1, 999) AS i`,
      [project.id],
    )
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const page = await ctx.models.list(project.id, { limit: 25, cursor })
      expect(page.totalCount).toBe(1000)
      seen.push(...page.items.map((m) => m.id))
      cursor = page.cursor
      pages += 1
    } while (cursor !== null)
    expect(pages).toBe(40)
    expect(seen).toHaveLength(1000)
    expect(new Set(seen).size).toBe(1000)
  })

  it('answers the first pages of many projects at once, as list does', async () => {
    const busy = await ctx.newProject(owner.id)
    const bare = await ctx.newProject(owner.id)
    await sql.query(
      `INSERT INTO models (id, project_id, name, updated_at)
       SELECT 'f' || lpad(i::text, 9, '0'), $1, 'model ' || i, now() - ((i % 3) || ' seconds')::interval
       FROM generate_series(1, 12) AS i`,
      [busy.id],
    )
    await sql.query('DELETE FROM models WHERE project_id = $1', [bare.id])
    const ids = [busy.id, bare.id, 'nosuchproj']
    for (const limit of [0, 1, 5, 25]) {
      const pages = await ctx.models.firstPagesOfProjects(ids, limit)
      for (const id of ids) expect(pages.get(id)).toEqual(await ctx.models.list(id, { limit }))
    }
  })

  it('filters by search, ids, excludeIds and versions', async () => {
    const project = await ctx.newProject(owner.id)
    const a = await ctx.models.create({ projectId: project.id, name: 'arch/walls', actorId: owner.id })
    const b = await ctx.models.create({ projectId: project.id, name: 'struct/beams', actorId: owner.id })
    await ctx.newVersion(project.id, b.id, owner.id)
    const names = async (filter: Parameters<typeof ctx.models.list>[1]) =>
      (await ctx.models.list(project.id, filter)).items.map((m) => m.name).sort()
    expect(await names({ search: 'ARCH' })).toEqual(['arch/walls'])
    expect(await names({ search: '%' })).toEqual([])
    expect(await names({ ids: [a.id, b.id] })).toEqual(['arch/walls', 'struct/beams'])
    expect(await names({ excludeIds: [a.id] })).toEqual(['main', 'struct/beams'])
    expect(await names({ onlyWithVersions: true })).toEqual(['struct/beams'])
    expect(await names({ sourceApps: ['tes'] })).toEqual(['struct/beams'])
    expect(await names({ contributors: ['nobody0000'] })).toEqual([])
  })

  it('refuses a cursor it did not make', async () => {
    const project = await ctx.newProject(owner.id)
    await expect(ctx.models.list(project.id, { cursor: 'not-a-cursor' })).rejects.toThrow(BadUserInput)
  })
})
