/** `activeUserMutations.update(user: { avatar })` with data URLs, over HTTP on PGlite. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { graphqlHarness, type GraphqlHarness } from './test-utils.js'

const UPDATE = 'mutation($user: UserUpdateInput!) { activeUserMutations { update(user: $user) { id avatar } } }'
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52])

describe('GraphQL profile avatar', () => {
  let h: GraphqlHarness
  let token: string

  beforeAll(async () => {
    h = await graphqlHarness()
    token = await h.ctx.newToken((await h.ctx.newUser()).id, ['profile:read'])
  })

  afterAll(async () => {
    await h?.close()
  })

  it('stores a PNG data URL as the avatar and shows it on the user', async () => {
    const avatar = `data:image/png;base64,${PNG.toString('base64')}`
    const { body } = await h.gql(UPDATE, { user: { avatar } }, token)
    expect(body.errors).toBeUndefined()
    expect(body.data.activeUserMutations.update.avatar).toBe(avatar)
    expect((await h.gql('{ activeUser { avatar } }', {}, token)).body.data.activeUser.avatar).toBe(avatar)
  })

  it('refuses SVG, mislabelled and oversized images with BAD_USER_INPUT and keeps the old avatar', async () => {
    const before = (await h.gql('{ activeUser { avatar } }', {}, token)).body.data.activeUser.avatar
    for (const avatar of [
      `data:image/svg+xml;base64,${Buffer.from('<svg/>').toString('base64')}`,
      `data:image/jpeg;base64,${PNG.toString('base64')}`,
      `data:image/png;base64,${Buffer.concat([PNG, Buffer.alloc(200_000)]).toString('base64')}`,
    ]) {
      const { status, body } = await h.gql(UPDATE, { user: { avatar } }, token)
      expect(status).toBe(200)
      expect(body.errors[0].extensions).toEqual({ code: 'BAD_USER_INPUT', statusCode: 400 })
      expect(body.errors[0].message).toMatch(/Avatar/)
    }
    expect((await h.gql('{ activeUser { avatar } }', {}, token)).body.data.activeUser.avatar).toBe(before)
  })
})

describe('GraphQL profile update activity', () => {
  let h: GraphqlHarness

  beforeAll(async () => {
    h = await graphqlHarness()
  })
  afterAll(() => h?.close())

  it("logs Speckle's user_update with the old profile and the new fields, in the user's activity", async () => {
    const user = await h.ctx.newUser({ name: 'Before Name' })
    const token = await h.ctx.newToken(user.id, ['profile:read', 'users:read'])
    const update = 'mutation($user: UserUpdateInput!) { activeUserMutations { update(user: $user) { id } } }'
    expect((await h.gql(update, { user: { name: 'After Name', bio: 'Builds bridges' } }, token)).body.errors).toBe(
      undefined,
    )
    const { body } = await h.gql(
      `{ activeUser { activity(actionType: "user_update") { totalCount
        items { actionType resourceType resourceId streamId userId message info } } } }`,
      {},
      token,
    )
    expect(body.data.activeUser.activity).toEqual({
      totalCount: 1,
      items: [
        {
          actionType: 'user_update',
          resourceType: 'user',
          resourceId: user.id,
          streamId: null,
          userId: user.id,
          message: 'User updated',
          info: {
            old: { name: 'Before Name', company: null, bio: null, avatar: null },
            new: { name: 'After Name', bio: 'Builds bridges' },
          },
        },
      ],
    })
    // A refused update logs nothing.
    await h.gql(update, { user: { name: '' } }, token)
    const after = await h.gql('{ activeUser { activity(actionType: "user_update") { totalCount } } }', {}, token)
    expect(after.body.data.activeUser.activity.totalCount).toBe(1)
  })
})
