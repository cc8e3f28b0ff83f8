/**
 * `admin.userList`: the server admin's list of users (Speckle's admin query), newest first, searchable by
 * name or email, paged by cursor, and refused to everyone but admins with `server:setup`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { graphqlHarness, type GraphqlHarness } from './test-utils.js'

const LIST = `query($q: String, $c: String, $l: Int!) { admin { userList(query: $q, cursor: $c, limit: $l) {
  totalCount cursor items { id name email role verified }
} } }`

describe.each(['pglite', 'postgres'] as const)('admin.userList (%s)', (kind) => {
  let h: GraphqlHarness
  let adminToken: string
  const ids: string[] = []

  beforeAll(async () => {
    h = await graphqlHarness(kind)
    const admin = await h.ctx.newUser({ name: 'Root Admin', email: 'root@example.com' })
    adminToken = await h.ctx.newToken(admin.id, ['server:setup', 'profile:read', 'profile:email'])
    ids.push(admin.id)
    for (let i = 0; i < 7; i++) {
      const u = await h.ctx.newUser({ name: `Builder ${i}`, email: `builder${i}@site_${i % 2}.example.com` })
      ids.push(u.id)
    }
  })
  afterAll(() => h?.close())

  it('pages through every user newest first, each once', async () => {
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const { body } = await h.gql(LIST, { l: 3, c: cursor }, adminToken)
      expect(body.errors).toBeUndefined()
      const page = body.data.admin.userList
      expect(page.totalCount).toBe(8)
      seen.push(...page.items.map((u: { id: string }) => u.id))
      cursor = page.cursor
      pages++
    } while (cursor && pages < 10)
    expect(seen).toEqual([...ids].reverse())
  })

  it('finds users by name or email, treating % and _ literally', async () => {
    const byName = await h.gql(LIST, { q: 'builder 3', l: 25 }, adminToken)
    expect(byName.body.data.admin.userList.items.map((u: { name: string }) => u.name)).toEqual(['Builder 3'])
    const byEmail = await h.gql(LIST, { q: 'SITE_1', l: 25 }, adminToken)
    expect(byEmail.body.data.admin.userList.totalCount).toBe(3)
    const wildcard = await h.gql(LIST, { q: '%', l: 25 }, adminToken)
    expect(wildcard.body.data.admin.userList.totalCount).toBe(0)
    const first = byName.body.data.admin.userList.items[0]
    expect(first).toMatchObject({ email: 'builder3@site_1.example.com', role: 'server:user' })
  })

  it('refuses non-admins and anonymous callers, and a cursor it did not give', async () => {
    const member = await h.ctx.newUser()
    const memberToken = await h.ctx.newToken(member.id, ['server:setup', 'profile:read'])
    for (const token of [memberToken, undefined]) {
      const { body } = await h.gql(LIST, { l: 5 }, token)
      expect(body.errors[0].extensions.code).toBe('FORBIDDEN')
    }
    const bad = await h.gql(LIST, { l: 5, c: 'not-a-cursor' }, adminToken)
    expect(bad.body.errors[0].extensions.code).toBe('BAD_USER_INPUT')
  })
})
