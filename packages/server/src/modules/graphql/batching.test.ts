/**
 * Lists of lists cost a fixed number of queries, whatever their length (no N+1): the queries of the GraphQL
 * benchmark (docs/benchmarks.md "GraphQL") answered for a project with few models and with many.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ALL_SCOPES, graphqlHarness, type GraphqlHarness } from './test-utils.js'

const QUERIES = {
  legacyBranches: `query($id: String!) { stream(id: $id) { branches(limit: 100) { totalCount items { id name
    commits(limit: 1) { items { id referencedObject } } } } } }`,
  modelsWithVersions: `query($id: String!) { project(id: $id) { models(limit: 25) { totalCount cursor items { id name
    versions(limit: 1) { totalCount items { id message createdAt referencedObject } } } } } }`,
}

describe('batched lists', () => {
  let h: GraphqlHarness

  beforeAll(async () => {
    h = await graphqlHarness()
  })

  afterAll(async () => {
    await h?.close()
  })

  async function statementsFor(models: number, query: string): Promise<number> {
    const user = await h.ctx.newUser()
    const token = await h.ctx.newToken(user.id, [...ALL_SCOPES])
    const project = await h.ctx.newProject(user.id)
    for (let i = 0; i < models; i++) {
      const model = await h.ctx.models.create({ projectId: project.id, name: `m${i}`, actorId: user.id })
      await h.ctx.newVersion(project.id, model.id, user.id)
    }
    h.statements.length = 0
    const { body } = await h.gql(query, { id: project.id }, token)
    expect(body.errors).toBeUndefined()
    return h.statements.length
  }

  it.each(Object.entries(QUERIES))('answers %s with as many queries for 12 models as for 2', async (_name, query) => {
    expect(await statementsFor(12, query)).toBe(await statementsFor(2, query))
  })
})
