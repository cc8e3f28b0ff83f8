import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Sql } from '../../adapters/sql/types.js'
import { BadUserInput, NotFound } from '../../errors.js'
import { domainContext, recordingBus, type DomainContext, type RecordingBus } from '../../test-utils/domain.js'
import { openDatabase } from '../auth/test-utils/identity.js'
import type { User } from '../users/service.js'

describe('projects: update, delete, listing and collaborators (pglite)', () => {
  let sql: Sql & { dispose(): Promise<void> }
  let bus: RecordingBus
  let ctx: DomainContext
  let owner: User
  let other: User

  beforeAll(async () => {
    sql = await openDatabase('pglite')
    bus = recordingBus()
    ctx = domainContext(sql, bus)
    owner = await ctx.newUser()
    other = await ctx.newUser()
  })
  afterAll(() => sql?.dispose())

  it('updates name, description and visibility, logging before and after', async () => {
    const project = await ctx.newProject(owner.id, { name: 'Before' })
    bus.clear()
    const updated = await ctx.projects.update({
      id: project.id,
      actorId: owner.id,
      name: 'After',
      visibility: 'public',
    })
    expect(updated).toMatchObject({ name: 'After', visibility: 'public', description: null })
    expect(updated.updatedAt.getTime()).toBeGreaterThanOrEqual(project.updatedAt.getTime())
    expect(bus.published.map((p) => p.event)).toEqual([{ type: 'ProjectUpdated', projectId: project.id }])
    const [entry] = (await ctx.activity.forProject(project.id, { actionType: 'stream_update' })).items
    expect(entry!.info).toEqual({
      old: { name: 'Before', description: null, visibility: 'private' },
      new: { name: 'After', visibility: 'public' },
    })
    await expect(ctx.projects.update({ id: 'missing000', actorId: null, name: 'x' })).rejects.toThrow(NotFound)
    await expect(ctx.projects.update({ id: project.id, actorId: null, name: ' ' })).rejects.toThrow(BadUserInput)
  })

  it('creates a project without a model when asked, as projectMutations.create does', async () => {
    const project = await ctx.projects.create({ ownerId: owner.id, name: 'bare', withDefaultModel: false })
    expect((await ctx.models.list(project.id)).totalCount).toBe(0)
  })

  it('deletes a project, telling each member', async () => {
    const project = await ctx.newProject(owner.id)
    await ctx.projects.setRole({ projectId: project.id, userId: other.id, role: 'stream:reviewer', actorId: owner.id })
    bus.clear()
    expect(await ctx.projects.delete(project.id, owner.id)).toBe(true)
    expect(await ctx.projects.delete(project.id, owner.id)).toBe(false)
    expect(bus.published.map((p) => p.topic).sort()).toEqual(
      [`project:${project.id}`, `user:${owner.id}`, `user:${other.id}`].sort(),
    )
    const log = await ctx.activity.forProject(project.id, { actionType: 'stream_delete' })
    expect(log.totalCount).toBe(1)
  })

  it('lists a user’s projects with search, role filter and cursor paging', async () => {
    const user = await ctx.newUser()
    const made = []
    for (let i = 0; i < 6; i++) made.push(await ctx.projects.create({ ownerId: user.id, name: `Listing ${i}` }))
    const shared = await ctx.newProject(owner.id, { name: 'Shared tower' })
    await ctx.projects.setRole({ projectId: shared.id, userId: user.id, role: 'stream:contributor' })
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page = await ctx.projects.listForUser(user.id, { limit: 4, cursor })
      expect(page.totalCount).toBe(7)
      seen.push(...page.items.map((p) => p.id))
      cursor = page.cursor
    } while (cursor)
    expect(new Set(seen).size).toBe(7)
    const search = await ctx.projects.listForUser(user.id, { search: 'tower' })
    expect(search.items.map((p) => [p.name, p.role])).toEqual([['Shared tower', 'stream:contributor']])
    const owned = await ctx.projects.listForUser(user.id, { onlyWithRoles: ['stream:owner'] })
    expect(owned.totalCount).toBe(6)
  })

  it('keeps the last owner: cannot leave or be demoted until another owner exists', async () => {
    const project = await ctx.newProject(owner.id)
    await expect(
      ctx.projects.setRole({ projectId: project.id, userId: owner.id, role: 'stream:contributor' }),
    ).rejects.toThrow(/at least one owner/)
    await expect(ctx.projects.removeRole(project.id, owner.id)).rejects.toThrow(BadUserInput)
    await ctx.projects.setRole({ projectId: project.id, userId: other.id, role: 'stream:owner', actorId: owner.id })
    await ctx.projects.setRole({ projectId: project.id, userId: owner.id, role: 'stream:reviewer', actorId: owner.id })
    expect(await ctx.projects.team(project.id)).toEqual([
      { userId: other.id, role: 'stream:owner' },
      { userId: owner.id, role: 'stream:reviewer' },
    ])
    expect(await ctx.projects.removeRole(project.id, owner.id, owner.id)).toBe(true)
    const log = await ctx.activity.forProject(project.id)
    expect(log.items.map((a) => a.actionType)).toEqual([
      'stream_permissions_remove',
      'stream_permissions_add',
      'stream_permissions_add',
      'stream_create',
    ])
    expect((await ctx.projects.rolesOf(other.id, [project.id, 'missing000'])).get(project.id)).toBe('stream:owner')
  })
})
