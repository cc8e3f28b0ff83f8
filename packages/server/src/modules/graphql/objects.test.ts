/**
 * `project.object` / `stream.object` with `children` (depth, cursor, select, query, orderBy) and
 * `objectCreate`, over HTTP on PGlite.
 */
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { User } from '../users/service.js'
import { ALL_SCOPES, graphqlHarness, type GraphqlHarness, type Json } from './test-utils.js'

const hex = (n: number) => n.toString(16).padStart(32, '0')

describe.each(['pglite', 'postgres'] as const)('GraphQL objects (%s)', (kind) => {
  let h: GraphqlHarness
  let owner: User
  let token: string
  let readToken: string
  let strangerToken: string
  let projectId: string
  const rootId = 'f'.repeat(32)

  beforeAll(async () => {
    h = await graphqlHarness(kind)
    owner = await h.ctx.newUser()
    token = await h.ctx.newToken(owner.id, [...ALL_SCOPES])
    readToken = await h.ctx.newToken(owner.id, ['streams:read'])
    strangerToken = await h.ctx.newToken((await h.ctx.newUser()).id, [...ALL_SCOPES])
    projectId = (await h.ctx.newProject(owner.id, { visibility: 'private' })).id
    // A root with 6 direct children (depth 1) and 2 grandchildren (depth 2).
    const children = [1, 2, 3, 4, 5, 6].map((i) => ({
      id: hex(i),
      speckle_type: i % 2 === 0 ? 'Objects.Wall' : 'Objects.Beam',
      height: i * 10,
      name: `el-${i}`,
      parameters: { level: i <= 3 ? 'L1' : 'L2' },
    }))
    const grandchildren = [7, 8].map((i) => ({ id: hex(i), speckle_type: 'Base', height: i * 10 }))
    const closure = Object.fromEntries([...children.map((c) => [c.id, 1]), ...grandchildren.map((c) => [c.id, 2])])
    const root = { id: rootId, speckle_type: 'Base', __closure: closure }
    await h.ctx.objects.store(
      projectId,
      [...children, ...grandchildren, root].map((o) => ({ id: o.id, json: JSON.stringify(o) })),
    )
  })

  afterAll(async () => {
    await h?.close()
  })

  const CHILDREN = `query($p: String!, $id: String!, $limit: Int!, $depth: Int!, $cursor: String, $select: [String],
      $query: [JSONObject!], $orderBy: JSONObject) {
    project(id: $p) { object(id: $id) { id speckleType totalChildrenCount
      children(limit: $limit, depth: $depth, cursor: $cursor, select: $select, query: $query, orderBy: $orderBy) {
        totalCount cursor objects { id speckleType data } } } } }`

  async function children(vars: Record<string, unknown>, bearer = readToken) {
    return h.gql(CHILDREN, { p: projectId, id: rootId, limit: 100, depth: 50, ...vars }, bearer)
  }

  it('answers an object with its fields, and null for an unknown one', async () => {
    const { body } = await h.gql(
      `query($p: String!) { project(id: $p) { object(id: "${rootId}") { id speckleType totalChildrenCount createdAt data } }
         stream(id: $p) { object(id: "${'0'.repeat(32)}") { id } } }`,
      { p: projectId },
      readToken,
    )
    expect(body.errors).toBeUndefined()
    expect(body.data.project.object).toMatchObject({ id: rootId, speckleType: 'Base', totalChildrenCount: 8 })
    expect(body.data.project.object.data.__closure[hex(7)]).toBe(2)
    expect(body.data.stream.object).toBeNull()
  })

  it('pages children by id with the last id as cursor; totalCount is the closure size', async () => {
    const first = await children({ limit: 3 })
    const page1 = first.body.data.project.object.children
    expect(page1.totalCount).toBe(8)
    expect(page1.objects.map((o: Json) => o.id)).toEqual([hex(1), hex(2), hex(3)])
    expect(page1.cursor).toBe(hex(3))
    const rest = (await children({ limit: 100, cursor: page1.cursor })).body.data.project.object.children
    expect(rest.objects.map((o: Json) => o.id)).toEqual([4, 5, 6, 7, 8].map(hex))
    const end = (await children({ cursor: hex(8) })).body.data.project.object.children
    expect(end).toEqual({ totalCount: 8, cursor: null, objects: [] })
  })

  it('keeps children whose closure depth is below depth (direct children need depth 2)', async () => {
    const direct = (await children({ depth: 2 })).body.data.project.object.children
    expect(direct.objects.map((o: Json) => o.id)).toEqual([1, 2, 3, 4, 5, 6].map(hex))
    const none = (await children({ depth: 1 })).body.data.project.object.children
    expect(none.objects).toEqual([])
  })

  it('selects fields of data by path, nesting dotted paths', async () => {
    const { body } = await children({ limit: 1, select: ['height', 'parameters.level', 'missing'] })
    expect(body.data.project.object.children.objects[0]).toEqual({
      id: hex(1),
      speckleType: 'Objects.Beam',
      data: { height: 10, parameters: { level: 'L1' }, missing: null },
    })
  })

  it('filters with query clauses (and/or), orders, and pages with an opaque cursor', async () => {
    const query = [
      { field: 'speckle_type', operator: '=', value: 'Objects.Wall' },
      { field: 'height', operator: '>=', value: 40 },
    ]
    const walls = (await children({ query, orderBy: { field: 'height', direction: 'desc' }, limit: 1 })).body.data
      .project.object.children
    expect(walls.totalCount).toBe(2)
    expect(walls.objects.map((o: Json) => o.data.height)).toEqual([60])
    expect(walls.cursor).toEqual(expect.any(String))
    const next = (
      await children({ query, orderBy: { field: 'height', direction: 'desc' }, limit: 1, cursor: walls.cursor })
    ).body.data.project.object.children
    expect(next.objects.map((o: Json) => o.data.height)).toEqual([40])
    const either = (
      await children({
        query: [
          { field: 'height', operator: '<', value: 20 },
          { field: 'parameters.level', operator: '=', value: 'L2', verb: 'or' },
        ],
        select: ['name'],
        orderBy: { field: 'name' },
      })
    ).body.data.project.object.children
    expect(either.totalCount).toBe(4)
    expect(either.cursor).toBeNull()
    // The sort field joins the selection, as in Speckle.
    expect(either.objects.map((o: Json) => o.data)).toEqual([
      { name: 'el-1' },
      { name: 'el-4' },
      { name: 'el-5' },
      { name: 'el-6' },
    ])
  })

  it('refuses bad children arguments with BAD_USER_INPUT', async () => {
    for (const vars of [
      { query: [{ field: 'height', operator: 'LIKE', value: 1 }] },
      { query: [{ field: 'height; drop', operator: '=', value: 1 }] },
      { query: [{ field: 'height', operator: '=', value: { a: 1 } }] },
      { orderBy: { field: 'height', direction: 'sideways' } },
      { orderBy: { field: 'height' }, cursor: 'not-a-cursor' },
      { select: [''] },
      { limit: -1 },
    ]) {
      const { status, body } = await children(vars)
      expect(status).toBe(200)
      expect(body.errors?.[0]?.extensions?.code, JSON.stringify(vars)).toBe('BAD_USER_INPUT')
    }
  })

  it('does not reveal objects of a private project to a stranger', async () => {
    const { body } = await children({}, strangerToken)
    expect(body.data).toBeNull()
    expect(body.errors[0].extensions.code).toBe('FORBIDDEN')
  })

  it('objectCreate stores objects under their id or an MD5 of their JSON and answers the ids in order', async () => {
    const withId = { id: 'a'.repeat(32), speckle_type: 'Base', x: 1 }
    const withoutId = { speckle_type: 'Base', y: 2 }
    const { body } = await h.gql(
      'mutation($o: ObjectCreateInput!) { objectCreate(objectInput: $o) }',
      { o: { streamId: projectId, objects: [withId, withoutId] } },
      token,
    )
    const md5 = createHash('md5').update(JSON.stringify(withoutId)).digest('hex')
    expect(body).toEqual({ data: { objectCreate: [withId.id, md5] } })
    const read = await h.gql(
      `query($p: String!) { stream(id: $p) { object(id: "${md5}") { id data } } }`,
      { p: projectId },
      token,
    )
    expect(read.body.data.stream.object).toEqual({ id: md5, data: { ...withoutId, id: md5 } })
  })

  it('objectCreate refuses readers, strangers, unknown projects and bad objects with coded errors', async () => {
    const create = (streamId: string, objects: unknown[], bearer: string) =>
      h.gql('mutation($o: ObjectCreateInput!) { objectCreate(objectInput: $o) }', { o: { streamId, objects } }, bearer)
    const reader = await create(projectId, [{ id: 'b'.repeat(32) }], readToken)
    expect(reader.body.errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', scope: 'streams:write' })
    expect((await create(projectId, [{ a: 1 }], strangerToken)).body.errors[0].extensions.code).toBe('FORBIDDEN')
    expect((await create('missing000', [{ a: 1 }], token)).body.errors[0].extensions.code).toBe('STREAM_NOT_FOUND')
    expect((await create(projectId, [{ id: 'not-hex' }], token)).body.errors[0].extensions.code).toBe('BAD_USER_INPUT')
    expect((await create(projectId, [[1, 2]], token)).body.errors[0].extensions.code).toBe('BAD_USER_INPUT')
  })
})
