import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Sql } from '../../adapters/sql/types.js'
import { BadUserInput, NotFound } from '../../errors.js'
import { identityContext, openDatabase, type IdentityContext } from '../auth/test-utils/identity.js'
import type { User } from '../users/service.js'
import type { ProjectVisibility } from './service.js'

describe.each(['pglite', 'postgres'] as const)('projects service (%s)', (kind) => {
  let sql: Sql & { dispose(): Promise<void> }
  let ctx: IdentityContext
  let owner: User
  let other: User

  beforeAll(async () => {
    sql = await openDatabase(kind)
    ctx = identityContext(sql)
    owner = await ctx.newUser()
    other = await ctx.newUser()
  })
  afterAll(() => sql?.dispose())

  const count = async (table: string, projectId: string) =>
    (await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE project_id = $1`, [projectId]))
      .rows[0].n

  it('creates a private project with its owner and a model named main', async () => {
    const project = await ctx.projects.create({ ownerId: owner.id, name: ' Tower A ', description: 'Level 1-40' })
    expect(project).toMatchObject({ name: 'Tower A', description: 'Level 1-40', visibility: 'private' })
    expect(project.id).toMatch(/^[A-Za-z0-9]{10}$/)
    expect(await ctx.projects.getById(project.id)).toEqual(project)
    const roles = await sql.query('SELECT user_id, role FROM project_roles WHERE project_id = $1', [project.id])
    expect(roles.rows).toEqual([{ user_id: owner.id, role: 'stream:owner' }])
    const models = await sql.query<{ id: string; name: string; author_id: string }>(
      'SELECT id, name, author_id FROM models WHERE project_id = $1',
      [project.id],
    )
    expect(models.rows).toEqual([{ id: expect.stringMatching(/^[A-Za-z0-9]{10}$/), name: 'main', author_id: owner.id }])
  })

  it.each(['public', 'unlisted', 'private'] as ProjectVisibility[])('creates a %s project', async (visibility) => {
    expect((await ctx.newProject(owner.id, { visibility })).visibility).toBe(visibility)
  })

  it('creates nothing when the owner does not exist', async () => {
    const before = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM projects')
    await expect(ctx.projects.create({ ownerId: 'nobody0000', name: 'Orphan' })).rejects.toThrow(NotFound)
    const after = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM projects')
    expect(after.rows[0].n).toBe(before.rows[0].n)
  })

  it('refuses an empty name and an unknown visibility', async () => {
    await expect(ctx.projects.create({ ownerId: owner.id, name: '  ' })).rejects.toThrow(BadUserInput)
    await expect(
      ctx.projects.create({ ownerId: owner.id, name: 'X', visibility: 'secret' as ProjectVisibility }),
    ).rejects.toThrow(BadUserInput)
  })

  it('reads a project and the caller’s role in one query', async () => {
    const project = await ctx.newProject(owner.id, { visibility: 'public' })
    const before = ctx.sql.statements.length
    const access = await ctx.projects.getAccess(project.id, { userId: owner.id })
    expect(ctx.sql.statements.length - before).toBe(1)
    expect(access).toEqual({
      project: { id: project.id, name: project.name, visibility: 'public' },
      role: 'stream:owner',
    })
    expect(await ctx.projects.getAccess(project.id, { userId: other.id })).toEqual({ ...access, role: null })
    expect(await ctx.projects.getAccess(project.id, null)).toEqual({ ...access, role: null })
    expect(await ctx.projects.getAccess('missing000', { userId: owner.id })).toEqual({ project: null, role: null })
  })

  it('gives, changes and takes away roles', async () => {
    const project = await ctx.newProject(owner.id)
    await ctx.projects.setRole({ projectId: project.id, userId: other.id, role: 'stream:reviewer' })
    expect((await ctx.projects.getAccess(project.id, { userId: other.id })).role).toBe('stream:reviewer')
    await ctx.projects.setRole({ projectId: project.id, userId: other.id, role: 'stream:contributor' })
    expect((await ctx.projects.getAccess(project.id, { userId: other.id })).role).toBe('stream:contributor')
    expect(await ctx.projects.removeRole(project.id, other.id)).toBe(true)
    expect(await ctx.projects.removeRole(project.id, other.id)).toBe(false)
    expect((await ctx.projects.getAccess(project.id, { userId: other.id })).role).toBeNull()
  })

  it('refuses roles on unknown projects or for unknown users with NotFound', async () => {
    const project = await ctx.newProject(owner.id)
    await expect(
      ctx.projects.setRole({ projectId: 'missing000', userId: other.id, role: 'stream:reviewer' }),
    ).rejects.toThrow(/Project missing000 not found/)
    await expect(
      ctx.projects.setRole({ projectId: project.id, userId: 'nobody0000', role: 'stream:reviewer' }),
    ).rejects.toThrow(/User nobody0000 not found/)
  })

  it('removes roles and models with the project, and roles with the user', async () => {
    const leaving = await ctx.newUser()
    const project = await ctx.newProject(owner.id)
    await ctx.projects.setRole({ projectId: project.id, userId: leaving.id, role: 'stream:contributor' })
    await sql.query('DELETE FROM users WHERE id = $1', [leaving.id])
    expect(await count('project_roles', project.id)).toBe(1)
    await sql.query('DELETE FROM projects WHERE id = $1', [project.id])
    expect(await count('project_roles', project.id)).toBe(0)
    expect(await count('models', project.id)).toBe(0)
  })

  it('keeps model names unique within a project', async () => {
    const project = await ctx.newProject(owner.id)
    await expect(
      sql.query("INSERT INTO models (id, project_id, name) VALUES ('dupmain001', $1, 'main')", [project.id]),
    ).rejects.toMatchObject({ code: '23505' })
  })
})
