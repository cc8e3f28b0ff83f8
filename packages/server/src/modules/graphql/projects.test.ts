/**
 * The project surface beyond create/read/update: the models tree (`modelsTree`, `modelChildrenTree`,
 * `Model.childrenTree`), `modelByName`, `sourceApps`, `priorityIds`, and the batch mutations (current
 * `batchDelete`, legacy `streamsDelete`, `commitsMove`, `commitsDelete`), over HTTP on PGlite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Model } from '../models/service.js'
import type { User } from '../users/service.js'
import { ALL_SCOPES, graphqlHarness, type GraphqlHarness, type Json } from './test-utils.js'

describe.each(['pglite', 'postgres'] as const)('GraphQL projects, models trees and batch mutations (%s)', (kind) => {
  let h: GraphqlHarness
  let owner: User
  let token: string
  let strangerToken: string

  beforeAll(async () => {
    h = await graphqlHarness(kind)
    owner = await h.ctx.newUser()
    token = await h.ctx.newToken(owner.id, [...ALL_SCOPES])
    strangerToken = await h.ctx.newToken((await h.ctx.newUser()).id, [...ALL_SCOPES])
  })

  afterAll(async () => {
    await h?.close()
  })

  async function projectWithModels(names: string[]): Promise<{ projectId: string; models: Map<string, Model> }> {
    const project = await h.ctx.newProject(owner.id, { visibility: 'private' })
    const models = new Map<string, Model>()
    for (const name of names) {
      models.set(name, await h.ctx.models.create({ projectId: project.id, name, actorId: owner.id }))
    }
    return { projectId: project.id, models }
  }

  const TREE = `query($id: String!, $limit: Int!, $cursor: String, $filter: ProjectModelsTreeFilter) {
    project(id: $id) { modelsTree(limit: $limit, cursor: $cursor, filter: $filter) {
      totalCount cursor items { id name fullName hasChildren updatedAt model { id name }
        children { name fullName hasChildren model { id } children { fullName } } } } } }`

  it('answers the top level of the models tree, nesting segments under parents that need not exist', async () => {
    // `main` (created with the project, no versions) is left out, as Speckle does.
    const { projectId, models } = await projectWithModels(['structure/columns', 'structure/beams/steel', 'arch'])
    const { body } = await h.gql(TREE, { id: projectId, limit: 10 }, token)
    expect(body.errors).toBeUndefined()
    const tree = body.data.project.modelsTree
    expect(tree.totalCount).toBe(2)
    expect(tree.cursor).toBeNull()
    const byName = Object.fromEntries(tree.items.map((i: Json) => [i.name, i]))
    expect(Object.keys(byName).sort()).toEqual(['arch', 'structure'])
    expect(byName.arch).toMatchObject({
      id: `${projectId}-arch`,
      fullName: 'arch',
      hasChildren: false,
      model: { id: models.get('arch')!.id },
      children: [],
    })
    expect(byName.structure.model).toBeNull()
    expect(byName.structure.hasChildren).toBe(true)
    const children = Object.fromEntries(byName.structure.children.map((c: Json) => [c.name, c]))
    expect(children.columns).toMatchObject({
      fullName: 'structure/columns',
      hasChildren: false,
      model: { id: models.get('structure/columns')!.id },
    })
    expect(children.beams).toMatchObject({
      fullName: 'structure/beams',
      hasChildren: true,
      model: null,
      children: [{ fullName: 'structure/beams/steel' }],
    })
  })

  it('pages the top level most recently updated first, and keeps a main that has versions', async () => {
    const { projectId, models } = await projectWithModels(['a', 'b', 'c'])
    const main = (await h.ctx.models.getByName(projectId, 'main'))!
    await h.ctx.newVersion(projectId, main.id, owner.id)
    await h.ctx.newVersion(projectId, models.get('b')!.id, owner.id)
    const first = (await h.gql(TREE, { id: projectId, limit: 2 }, token)).body.data.project.modelsTree
    expect(first.totalCount).toBe(4)
    expect(first.items.map((i: Json) => i.name)).toEqual(['b', 'main'])
    const second = (await h.gql(TREE, { id: projectId, limit: 2, cursor: first.cursor }, token)).body.data.project
      .modelsTree
    expect(second.items.map((i: Json) => i.name)).toEqual(['c', 'a'])
    expect(second.cursor).toBeNull()
  })

  it('answers a flat page of matching models when filtering the tree', async () => {
    const { projectId, models } = await projectWithModels(['site/walls', 'site/walls/inner', 'roof'])
    await h.ctx.newVersion(projectId, models.get('roof')!.id, owner.id)
    const search = (await h.gql(TREE, { id: projectId, limit: 10, filter: { search: 'walls' } }, token)).body.data
      .project.modelsTree
    expect(search.items.map((i: Json) => [i.name, i.fullName, i.hasChildren])).toEqual([
      ['inner', 'site/walls/inner', false],
      ['walls', 'site/walls', true],
    ])
    // Versions made by newVersion say sourceApplication 'test'.
    const apps = (await h.gql(TREE, { id: projectId, limit: 10, filter: { sourceApps: ['TEST'] } }, token)).body.data
      .project.modelsTree
    expect(apps.items.map((i: Json) => i.fullName)).toEqual(['roof'])
    const nobody = (await h.gql(TREE, { id: projectId, limit: 10, filter: { contributors: ['nobody0000'] } }, token))
      .body.data.project.modelsTree
    expect(nobody).toEqual({ totalCount: 0, cursor: null, items: [] })
  })

  it('answers modelChildrenTree, Model.childrenTree and modelByName', async () => {
    const { projectId, models } = await projectWithModels(['Site', 'Site/walls', 'Site/floors/slab'])
    const { body } = await h.gql(
      `query($id: String!, $modelId: String!) { project(id: $id) {
         modelChildrenTree(fullName: "site/") { name fullName hasChildren }
         model(id: $modelId) { childrenTree { name } }
         modelByName(name: "site/WALLS") { id projectId }
         missing: modelByName(name: "nope") { id } } }`,
      { id: projectId, modelId: models.get('Site')!.id },
      token,
    )
    expect(body.data).toBeNull()
    expect(body.errors[0]).toMatchObject({ path: ['project', 'missing'], extensions: { code: 'BRANCH_NOT_FOUND' } })
    const ok = await h.gql(
      `query($id: String!, $modelId: String!) { project(id: $id) {
         modelChildrenTree(fullName: "site/") { name fullName hasChildren }
         model(id: $modelId) { childrenTree { name } }
         modelByName(name: "site/WALLS") { id projectId } } }`,
      { id: projectId, modelId: models.get('Site')!.id },
      token,
    )
    const project = ok.body.data.project
    expect(project.modelChildrenTree.map((i: Json) => [i.name, i.fullName, i.hasChildren]).sort()).toEqual([
      ['floors', 'site/floors', true],
      ['walls', 'site/walls', false],
    ])
    expect(project.model.childrenTree.map((i: Json) => i.name).sort()).toEqual(['floors', 'walls'])
    expect(project.modelByName).toEqual({ id: models.get('Site/walls')!.id, projectId })
  })

  it('answers sourceApps and puts priority versions first', async () => {
    const { projectId, models } = await projectWithModels(['m'])
    const modelId = models.get('m')!.id
    const v1 = await h.ctx.newVersion(projectId, modelId, owner.id, 'one')
    await h.ctx.newVersion(projectId, modelId, owner.id, 'two')
    const objectId = await h.ctx.newObjectTree(projectId, 1)
    await h.ctx.versions.create({ projectId, modelId, objectId, sourceApplication: 'Rhino7', actorId: owner.id })
    const { body } = await h.gql(
      `query($id: String!, $m: String!, $p: [String!]) { project(id: $id) { sourceApps
         model(id: $m) { first: versions(limit: 2, filter: { priorityIds: $p }) { totalCount items { message } }
           only: versions(filter: { priorityIds: $p, priorityIdsOnly: true }) { totalCount items { id } } } } }`,
      { id: projectId, m: modelId, p: [v1.id] },
      token,
    )
    expect(body.data.project.sourceApps).toEqual(['Rhino7', 'test'])
    expect(body.data.project.model.first.totalCount).toBe(3)
    expect(body.data.project.model.first.items.map((v: Json) => v.message)).toEqual(['one', null, 'two'])
    expect(body.data.project.model.only).toEqual({ totalCount: 1, items: [{ id: v1.id }] })
  })

  it('moves and deletes commits in batches (legacy commitsMove, commitsDelete)', async () => {
    const { projectId, models } = await projectWithModels(['from'])
    const from = models.get('from')!.id
    const a = await h.ctx.newVersion(projectId, from, owner.id)
    const b = await h.ctx.newVersion(projectId, from, owner.id)
    const moved = await h.gql(
      'mutation($i: CommitsMoveInput!) { commitsMove(input: $i) }',
      { i: { streamId: projectId, targetBranch: 'to/here', commitIds: [a.id, b.id] } },
      token,
    )
    expect(moved.body).toEqual({ data: { commitsMove: true } })
    const target = (await h.ctx.models.getByName(projectId, 'to/here'))!
    expect((await h.ctx.versions.listForModel(target.id)).totalCount).toBe(2)
    const unknown = await h.gql(
      'mutation($i: CommitsDeleteInput!) { commitsDelete(input: $i) }',
      { i: { streamId: projectId, commitIds: [a.id, 'missing000'] } },
      token,
    )
    expect(unknown.body.errors[0].extensions.code).toBe('COMMIT_NOT_FOUND')
    expect(await h.ctx.versions.getById(projectId, a.id)).not.toBeNull()
    const empty = await h.gql(
      'mutation($i: CommitsDeleteInput!) { commitsDelete(input: $i) }',
      { i: { streamId: projectId, commitIds: [] } },
      token,
    )
    expect(empty.body.errors[0].extensions.code).toBe('BAD_USER_INPUT')
    const stranger = await h.gql(
      'mutation($i: CommitsDeleteInput!) { commitsDelete(input: $i) }',
      { i: { streamId: projectId, commitIds: [a.id] } },
      strangerToken,
    )
    expect(stranger.body.errors[0].extensions.code).toBe('FORBIDDEN')
    const deleted = await h.gql(
      'mutation($i: CommitsDeleteInput!) { commitsDelete(input: $i) }',
      { i: { streamId: projectId, commitIds: [a.id, b.id] } },
      token,
    )
    expect(deleted.body).toEqual({ data: { commitsDelete: true } })
    expect((await h.ctx.versions.listForModel(target.id)).totalCount).toBe(0)
  })

  it('batchDelete deletes only projects the admin owns; streamsDelete lets an admin delete any', async () => {
    const admin = owner // the first user of the database is the server admin
    expect(admin.serverRole).toBe('server:admin')
    const member = await h.ctx.newUser()
    const memberToken = await h.ctx.newToken(member.id, [...ALL_SCOPES])
    const mine = await h.ctx.newProject(admin.id)
    const theirs = await h.ctx.newProject(member.id, { visibility: 'private' })
    const BATCH = 'mutation($ids: [String!]!) { projectMutations { batchDelete(ids: $ids) } }'

    const byMember = await h.gql(BATCH, { ids: [theirs.id] }, memberToken)
    expect(byMember.body.errors[0].extensions.code).toBe('FORBIDDEN')
    const notOwner = await h.gql(BATCH, { ids: [mine.id, theirs.id] }, token)
    expect(notOwner.body.errors[0].extensions.code).toBe('FORBIDDEN')
    expect(await h.ctx.projects.getById(mine.id)).not.toBeNull()
    expect((await h.gql(BATCH, { ids: [] }, token)).body.errors[0].extensions.code).toBe('BAD_USER_INPUT')
    expect((await h.gql(BATCH, { ids: [mine.id] }, token)).body.data).toEqual({
      projectMutations: { batchDelete: true },
    })
    expect(await h.ctx.projects.getById(mine.id)).toBeNull()

    const legacy = await h.gql('mutation($ids: [String!]) { streamsDelete(ids: $ids) }', { ids: [theirs.id] }, token)
    expect(legacy.body).toEqual({ data: { streamsDelete: true } })
    expect(await h.ctx.projects.getById(theirs.id)).toBeNull()
    const refused = await h.gql('mutation { streamsDelete(ids: ["x"]) }', {}, memberToken)
    expect(refused.body.errors[0].extensions.code).toBe('FORBIDDEN')
  })

  it('answers lists of projects with their teams, invites, source apps and trees in batched queries', async () => {
    const user = await h.ctx.newUser()
    const userToken = await h.ctx.newToken(user.id, [...ALL_SCOPES])
    const mate = await h.ctx.newUser()
    for (let i = 0; i < 4; i++) {
      const project = await h.ctx.newProject(user.id)
      await h.ctx.projects.setRole({ projectId: project.id, userId: mate.id, role: 'stream:contributor' })
      for (const name of ['a/b', 'a/c', 'd'])
        await h.ctx.models.create({ projectId: project.id, name, actorId: user.id })
      await h.ctx.newVersion(project.id, (await h.ctx.models.getByName(project.id, 'd'))!.id, user.id)
    }
    h.statements.length = 0
    const { body } = await h.gql(
      `{ activeUser { projects(limit: 10) { items { id team { role user { name } } invitedTeam { title } sourceApps
          modelsTree { items { fullName model { id } children { fullName model { id } } } } } } } }`,
      {},
      userToken,
    )
    expect(body.errors).toBeUndefined()
    const items = body.data.activeUser.projects.items
    expect(items).toHaveLength(4)
    for (const item of items) {
      expect(item.team.map((m: Json) => m.role)).toEqual(['stream:owner', 'stream:contributor'])
      expect(item.sourceApps).toEqual(['test'])
      expect(item.modelsTree.items.find((i: Json) => i.fullName === 'a').children).toHaveLength(2)
    }
    const count = (pattern: RegExp) => h.statements.filter((s) => pattern.test(s)).length
    expect(count(/FROM project_roles WHERE project_id = ANY/)).toBe(1)
    expect(count(/FROM project_invites/)).toBe(1)
    expect(count(/SELECT DISTINCT project_id, source_application/)).toBe(1)
    // The active user, then every team member of every project.
    expect(count(/FROM users/)).toBe(2)
    // Trees cost queries per project, never per item: its top level, then one per level below.
    expect(count(/tree_parts/)).toBe(4 * 2)
    expect(count(/AS p\(project_id, name\)/)).toBeLessThanOrEqual(4 * 2)
  })

  it('refuses the tree of a private project to a stranger and of an unknown one with STREAM_NOT_FOUND', async () => {
    const { projectId } = await projectWithModels(['x'])
    const stranger = await h.gql(TREE, { id: projectId, limit: 5 }, strangerToken)
    expect(stranger.body.errors[0].extensions.code).toBe('FORBIDDEN')
    const unknown = await h.gql(TREE, { id: 'missing000', limit: 5 }, token)
    expect(unknown.body.errors[0].extensions.code).toBe('STREAM_NOT_FOUND')
    const badCursor = await h.gql(TREE, { id: projectId, limit: 5, cursor: 'nope' }, token)
    expect(badCursor.body.errors[0].extensions.code).toBe('BAD_USER_INPUT')
  })
})
