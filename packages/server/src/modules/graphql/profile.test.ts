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
