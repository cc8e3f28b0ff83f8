/**
 * `userRoleChange(userRoleInput: { id, role })`, Speckle's admin mutation for a user's server role, over HTTP
 * on a real database: admins only, never leaving the server without an admin, guests only in guest mode, and
 * the new role applying to the user's already-verified (cached) tokens on the next request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { User } from '../users/service.js'
import { ALL_SCOPES, graphqlHarness, type GraphqlHarness } from './test-utils.js'

const CHANGE = 'mutation($input: UserRoleInput!) { userRoleChange(userRoleInput: $input) }'
const ME = '{ activeUser { id role } }'

describe.each(['pglite', 'postgres'] as const)('userRoleChange (%s)', (kind) => {
  let h: GraphqlHarness
  let admin: User
  let adminToken: string

  beforeAll(async () => {
    h = await graphqlHarness(kind)
    admin = await h.ctx.newUser()
    expect(admin.serverRole).toBe('server:admin')
    adminToken = await h.ctx.newToken(admin.id, ['server:setup', 'profile:read'])
  })
  afterAll(() => h?.close())

  // `null`: anonymous.
  const change = (id: string, role: string, token: string | null = adminToken) =>
    h.gql(CHANGE, { input: { id, role } }, token ?? undefined)

  it("changes a user's role; the user's cached token carries the new role on its next request", async () => {
    const user = await h.ctx.newUser()
    const token = await h.ctx.newToken(user.id, ['profile:read'])
    expect((await h.gql(ME, {}, token)).body.data.activeUser.role).toBe('server:user')
    expect((await change(user.id, 'server:admin')).body).toEqual({ data: { userRoleChange: true } })
    expect((await h.gql(ME, {}, token)).body.data.activeUser.role).toBe('server:admin')
    expect((await h.ctx.users.getById(user.id))?.serverRole).toBe('server:admin')
  })

  it('archives a user: their token, verified a moment ago, is refused at once', async () => {
    const user = await h.ctx.newUser()
    const project = await h.ctx.newProject(user.id)
    const token = await h.ctx.newToken(user.id, [...ALL_SCOPES])
    const read = `{ project(id: "${project.id}") { id } }`
    expect((await h.gql(read, {}, token)).body.data.project.id).toBe(project.id)
    expect((await change(user.id, 'server:archived-user')).body.data.userRoleChange).toBe(true)
    const after = await h.gql(read, {}, token)
    expect(after.body.errors[0].extensions.code).toBe('FORBIDDEN')
    const create = await h.gql('mutation { projectMutations { create(input: { name: "x" }) { id } } }', {}, token)
    expect(create.body.errors[0].extensions.code).toBe('FORBIDDEN')
  })

  it('refuses non-admins, admins without server:setup, and anonymous callers', async () => {
    const target = await h.ctx.newUser()
    const member = await h.ctx.newUser()
    const memberToken = await h.ctx.newToken(member.id, ['server:setup', 'profile:read'])
    const adminNoSetup = await h.ctx.newToken(admin.id, ['profile:read', 'streams:read'])
    for (const token of [memberToken, adminNoSetup, null]) {
      const { body } = await change(target.id, 'server:admin', token)
      expect(body.errors[0].extensions.code).toBe('FORBIDDEN')
    }
    expect((await h.ctx.users.getById(target.id))?.serverRole).toBe('server:user')
  })

  it('never demotes the last admin, but demotes an admin while another remains', async () => {
    const { rows } = await h.sql.query<{ id: string }>(`SELECT id FROM users WHERE server_role = 'server:admin'`)
    // Leave exactly one admin: the first.
    for (const { id } of rows.filter((r) => r.id !== admin.id)) await h.ctx.users.setServerRole(id, 'server:user')
    const refused = await change(admin.id, 'server:user')
    expect(refused.body.errors[0].extensions.code).toBe('BAD_USER_INPUT')
    expect(refused.body.errors[0].message).toMatch(/last admin/)
    expect((await h.ctx.users.getById(admin.id))?.serverRole).toBe('server:admin')
    const second = await h.ctx.newUser()
    expect((await change(second.id, 'server:admin')).body.data.userRoleChange).toBe(true)
    expect((await change(admin.id, 'server:user')).body.data.userRoleChange).toBe(true)
    // `admin` is now a user: its token no longer changes roles; the second admin restores it.
    expect((await change(second.id, 'server:user')).body.errors[0].extensions.code).toBe('FORBIDDEN')
    const secondToken = await h.ctx.newToken(second.id, ['server:setup'])
    expect((await change(second.id, 'server:user', secondToken)).body.errors[0].extensions.code).toBe('BAD_USER_INPUT')
    expect((await change(admin.id, 'server:admin', secondToken)).body.data.userRoleChange).toBe(true)
  })

  it('gives the guest role only when the server allows guests', async () => {
    const user = await h.ctx.newUser()
    const refused = await change(user.id, 'server:guest')
    expect(refused.body.errors[0].extensions.code).toBe('BAD_USER_INPUT')
    expect(refused.body.errors[0].message).toBe('Guest role is not enabled')
    await h.deps.settings.update({ name: 'Truss test', guestModeEnabled: true })
    try {
      expect((await change(user.id, 'server:guest')).body.data.userRoleChange).toBe(true)
      expect((await h.ctx.users.getById(user.id))?.serverRole).toBe('server:guest')
    } finally {
      await h.deps.settings.update({ name: 'Truss test', guestModeEnabled: false })
    }
  })

  it('answers BAD_USER_INPUT for an unknown role and NOT_FOUND for an unknown user', async () => {
    const user = await h.ctx.newUser()
    expect((await change(user.id, 'server:emperor')).body.errors[0].extensions.code).toBe('BAD_USER_INPUT')
    expect((await change('nobody00000', 'server:user')).body.errors[0].extensions.code).toBe('NOT_FOUND_ERROR')
  })
})
