/**
 * The activity log through Speckle's legacy fields: `stream.activity` and `activeUser.activity` (time
 * cursor, before/after window, actionType filter), over HTTP on PGlite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { User } from '../users/service.js'
import { graphqlHarness, type GraphqlHarness, type Json } from './test-utils.js'

const STREAM = `query($id: String!, $limit: Int!, $cursor: DateTime, $before: DateTime, $after: DateTime, $type: String) {
  stream(id: $id) { activity(limit: $limit, cursor: $cursor, before: $before, after: $after, actionType: $type) {
    totalCount cursor items { id actionType streamId userId resourceId resourceType message time info } } } }`

describe.each(['pglite', 'postgres'] as const)('GraphQL activity (%s)', (kind) => {
  let h: GraphqlHarness
  let owner: User
  let token: string
  let projectId: string
  let versionId: string

  beforeAll(async () => {
    h = await graphqlHarness(kind)
    owner = await h.ctx.newUser()
    token = await h.ctx.newToken(owner.id, ['streams:read', 'streams:write', 'users:read'])
    projectId = (await h.ctx.newProject(owner.id, { visibility: 'private' })).id
    const model = await h.ctx.models.create({ projectId, name: 'walls', actorId: owner.id })
    versionId = (await h.ctx.newVersion(projectId, model.id, owner.id)).id
  })

  afterAll(async () => {
    await h?.close()
  })

  const page = async (vars: Record<string, unknown>, bearer = token) =>
    h.gql(STREAM, { id: projectId, limit: 25, ...vars }, bearer)

  it('lists a stream’s activity newest first, with Speckle’s fields', async () => {
    const { body } = await page({})
    expect(body.errors).toBeUndefined()
    const activity = body.data.stream.activity
    expect(activity.totalCount).toBe(3)
    expect(activity.cursor).toBeNull()
    expect(activity.items.map((a: Json) => a.actionType)).toEqual(['commit_create', 'branch_create', 'stream_create'])
    expect(activity.items[0]).toMatchObject({
      streamId: projectId,
      userId: owner.id,
      resourceId: versionId,
      resourceType: 'commit',
      message: 'Commit created',
    })
  })

  it('pages with the last item’s time as cursor and filters by action type and window', async () => {
    const first = (await page({ limit: 2 })).body.data.stream.activity
    expect(first.items).toHaveLength(2)
    expect(first.cursor).toBe(first.items[1].time)
    const rest = (await page({ limit: 2, cursor: first.cursor })).body.data.stream.activity
    expect(rest.items.map((a: Json) => a.actionType)).toEqual(['stream_create'])
    expect(rest.totalCount).toBe(3)
    expect(rest.cursor).toBeNull()

    const commits = (await page({ type: 'commit_create' })).body.data.stream.activity
    expect(commits.totalCount).toBe(1)
    const all = (await page({})).body.data.stream.activity.items
    const window = (await page({ after: all[2].time, before: all[0].time })).body.data.stream.activity
    expect(window.items.map((a: Json) => a.actionType)).toEqual(['branch_create'])
    expect(window.totalCount).toBe(1)
  })

  it('refuses bad arguments and strangers with coded errors', async () => {
    expect((await page({ type: 'made_up' })).body.errors[0].extensions.code).toBe('BAD_USER_INPUT')
    expect((await page({ limit: -1 })).body.errors[0].extensions.code).toBe('BAD_USER_INPUT')
    const stranger = await h.ctx.newToken((await h.ctx.newUser()).id, ['streams:read', 'users:read'])
    const refused = await page({}, stranger)
    expect(refused.body.data.stream).toBeNull()
    expect(refused.body.errors[0].extensions.code).toBe('FORBIDDEN')
  })

  it('needs a streams:read token of a non-guest even on a public project (Speckle’s stream.activity rule)', async () => {
    const publicId = (await h.ctx.newProject((await h.ctx.newUser()).id, { visibility: 'public' })).id
    const query = (bearer?: string) =>
      h.gql('query($id: String!) { stream(id: $id) { id activity { totalCount } } }', { id: publicId }, bearer)
    const anonymous = await query()
    // The stream itself stays readable anonymously; its activity does not.
    expect(anonymous.body.data.stream).toEqual({ id: publicId, activity: null })
    expect(anonymous.body.errors[0]).toMatchObject({
      message: 'You are not logged in to this server',
      extensions: { code: 'FORBIDDEN' },
    })

    const stranger = (await h.ctx.newUser()).id
    const reader = await query(await h.ctx.newToken(stranger, ['streams:read']))
    expect(reader.body.errors).toBeUndefined()
    expect(reader.body.data.stream.activity.totalCount).toBe(1)
    const noScope = await query(await h.ctx.newToken(stranger, ['profile:read']))
    expect(noScope.body.errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', scope: 'streams:read' })
    const guest = (await h.ctx.newUser()).id
    await h.ctx.users.setServerRole(guest, 'server:guest')
    const asGuest = await query(await h.ctx.newToken(guest, ['streams:read', 'users:read']))
    expect(asGuest.body.errors[0].extensions.code).toBe('FORBIDDEN')
    const ownActivity = await h.gql(
      '{ activeUser { activity { totalCount } } }',
      {},
      await h.ctx.newToken(guest, ['streams:read', 'users:read']),
    )
    expect(ownActivity.body.errors[0].extensions.code).toBe('FORBIDDEN')
  })

  it('answers the active user’s own activity with users:read, and refuses without it', async () => {
    const { body } = await h.gql(
      '{ activeUser { activity(limit: 10) { totalCount items { actionType } } } }',
      {},
      token,
    )
    expect(body.data.activeUser.activity.totalCount).toBe(3)
    const weak = await h.ctx.newToken(owner.id, ['streams:read', 'profile:read'])
    const refused = await h.gql('{ activeUser { id activity { totalCount } } }', {}, weak)
    expect(refused.body.errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', scope: 'users:read' })
  })
})
