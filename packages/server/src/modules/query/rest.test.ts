import { createHash, randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ALL_SCOPES, graphqlHarness, type GraphqlHarness, type Json } from '../graphql/test-utils.js'
import type { Version } from '../versions/service.js'
import { queryRoutes } from './rest.js'
import { createQueryService } from './service.js'

const hexId = () => randomBytes(16).toString('hex')

describe.each(['pglite', 'postgres'] as const)('version queries over HTTP and GraphQL on %s', (kind) => {
  let h: GraphqlHarness
  let ownerToken: string
  let noScopeToken: string
  let strangerToken: string
  let version: Version
  let earlier: Version
  let otherVersion: Version

  async function tree(projectId: string, heights: number[]): Promise<string> {
    const rows = heights.map((height, i) => {
      // Content-addressed as real ids are: the same object in two versions has one id.
      const id = createHash('md5').update(`${projectId}:${i}:${height}`).digest('hex')
      return {
        id,
        json: JSON.stringify({ id, speckle_type: 'Wall', applicationId: `w${i}`, height, name: `Wall ${i}` }),
      }
    })
    const rootId = hexId()
    const closure = Object.fromEntries(rows.map((r) => [r.id, 1]))
    rows.push({ id: rootId, json: JSON.stringify({ id: rootId, speckle_type: 'Base', __closure: closure }) })
    await h.ctx.objects.store(projectId, rows)
    return rootId
  }

  beforeAll(async () => {
    h = await graphqlHarness(kind, {
      moduleDeps: (ctx, sql) => ({ query: createQueryService({ sql, objects: ctx.objects }) }),
    })
    await h.app.register(queryRoutes, {
      query: h.deps.query!,
      versions: h.ctx.versions,
      requireRead: (request, projectId) => h.deps.policy.requireProject(request.principal, projectId, 'read'),
    })
    const owner = await h.ctx.newUser()
    const stranger = await h.ctx.newUser()
    ownerToken = await h.ctx.newToken(owner.id, [...ALL_SCOPES])
    noScopeToken = await h.ctx.newToken(owner.id, ['profile:read'])
    strangerToken = await h.ctx.newToken(stranger.id, [...ALL_SCOPES])
    const project = await h.ctx.newProject(owner.id, { visibility: 'private' })
    const other = await h.ctx.newProject(owner.id, { visibility: 'private' })
    const model = await h.ctx.models.create({ projectId: project.id, name: 'query-model', actorId: owner.id })
    const otherModel = await h.ctx.models.create({ projectId: other.id, name: 'query-model', actorId: owner.id })
    const create = async (projectId: string, modelId: string, heights: number[]) =>
      h.ctx.versions.create({ projectId, modelId, objectId: await tree(projectId, heights), actorId: owner.id })
    earlier = await create(project.id, model.id, [1, 2, 3])
    version = await create(project.id, model.id, [1, 2, 4, 5])
    otherVersion = await create(other.id, otherModel.id, [9])
  }, 60_000)

  afterAll(async () => {
    await h?.close()
  })

  const post = (path: string, body: unknown, token?: string, accept?: string) =>
    h.app.inject({
      method: 'POST',
      url: path,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(accept ? { accept } : {}) },
      payload: body as Json,
    })
  const queryUrl = (v: Version) => `/api/v1/projects/${v.projectId}/versions/${v.id}/query`

  it('answers filtered, masked objects with a count', async () => {
    const res = await post(queryUrl(version), { filter: 'height > 1', select: ['height'], count: true }, ownerToken)
    expect(res.statusCode).toBe(200)
    const body = res.json()
    expect(body.totalCount).toBe(3)
    expect(body.items.map((o: Json) => o.data.height).sort()).toEqual([2, 4, 5])
    expect(body.items[0].data).toEqual({ height: expect.any(Number) })
  })

  it('streams every match as NDJSON', async () => {
    const res = await post(queryUrl(version), { filter: "speckle_type = 'Wall'" }, ownerToken, 'application/x-ndjson')
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toContain('application/x-ndjson')
    expect(res.body.trim().split('\n')).toHaveLength(4)
  })

  it('refuses a bad filter with 400 naming the position', async () => {
    const res = await post(queryUrl(version), { filter: 'height >> 3' }, ownerToken)
    expect(res.statusCode).toBe(400)
    expect(res.json().error).toMatchObject({ code: 'BAD_USER_INPUT', position: 8 })
  })

  it('needs a token with streams:read for a private project, and 404s for another project’s version', async () => {
    expect((await post(queryUrl(version), {})).statusCode).toBe(401)
    expect((await post(queryUrl(version), {}, noScopeToken)).statusCode).toBe(403)
    expect([403, 404]).toContain((await post(queryUrl(version), {}, strangerToken)).statusCode)
    const crossed = `/api/v1/projects/${version.projectId}/versions/${otherVersion.id}/query`
    expect((await post(crossed, {}, ownerToken)).statusCode).toBe(404)
  })

  it('diffs two versions over REST and GraphQL', async () => {
    const res = await post(
      `/api/v1/projects/${version.projectId}/versions/${version.id}/diff`,
      { against: earlier.id },
      ownerToken,
    )
    expect(res.statusCode).toBe(200)
    // w2 changed (3 → 4), w3 added; the versions' roots are left out.
    expect(res.json()).toMatchObject({ added: 1, removed: 0, changed: 1, unchanged: 2 })

    const gql = await h.gql(
      `query ($p: String!, $v: String!, $a: String!) { project(id: $p) { version(id: $v) {
         objects(filter: "height >= 4", select: ["name"], limit: 1) { totalCount cursor items { id speckleType data } }
         diff(against: $a, kinds: [changed]) { changed items { kind id previousId applicationId } }
       } } }`,
      { p: version.projectId, v: version.id, a: earlier.id },
      ownerToken,
    )
    expect(gql.body.errors).toBeUndefined()
    const v = gql.body.data.project.version
    expect(v.objects.totalCount).toBe(2)
    expect(v.objects.items).toHaveLength(1)
    expect(v.objects.cursor).not.toBeNull()
    expect(v.diff.items).toEqual([
      { kind: 'changed', id: expect.any(String), previousId: expect.any(String), applicationId: 'w2' },
    ])
  })

  it('answers a bad filter in GraphQL with BAD_USER_INPUT and its position', async () => {
    const gql = await h.gql(
      `query ($p: String!, $v: String!) { project(id: $p) { version(id: $v) { objects(filter: "(height > 1") { cursor } } } }`,
      { p: version.projectId, v: version.id },
      ownerToken,
    )
    expect(gql.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', position: 11 })
  })
})
