/**
 * The GraphQL API through HTTP, on the app wired as main.ts will (auth plugin first, then graphqlRoutes),
 * over PGlite; and the subscription resolvers driven by a memory bus.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse, subscribe } from 'graphql'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBlobStore } from '../../adapters/blobs/index.js'
import type { BlobStore } from '../../adapters/blobs/types.js'
import { createMemoryBus } from '../../adapters/bus/index.js'
import type { Bus } from '../../adapters/bus/types.js'
import type { Sql } from '../../adapters/sql/types.js'
import { buildApp, type TrussApp } from '../../app.js'
import { loadConfig } from '../../config.js'
import { domainContext, type DomainContext } from '../../test-utils/domain.js'
import { createServerSettingsService } from '../accounts/settings.js'
import { authPlugin } from '../auth/plugin.js'
import { openDatabase } from '../auth/test-utils/identity.js'
import { createPolicy } from '../policy/service.js'
import type { User } from '../users/service.js'
import { createGraphqlContext, type GraphqlDeps } from './context.js'
import { graphqlRoutes } from './rest.js'
import { accountDeps, outboxMailer } from './test-utils.js'
import { createDomainSchema as createGraphqlSchema } from '../../graphql-schema.js'
import { busSubscribe } from './subscriptions.js'

const silent = pino({ level: 'silent' })

describe('GraphQL over HTTP', () => {
  let dir: string
  let sql: Sql & { dispose(): Promise<void> }
  let blobs: BlobStore
  let bus: Bus
  let app: TrussApp
  let ctx: DomainContext
  let deps: GraphqlDeps
  let owner: User
  let ownerToken: string
  let readToken: string
  let strangerToken: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'truss-graphql-'))
    sql = await openDatabase('pglite')
    blobs = await createBlobStore({ dataDir: dir })
    bus = createMemoryBus({ logger: silent })
    ctx = domainContext(sql, bus)
    const config = loadConfig({}, { dataDir: dir })

    // ── the wiring handed to main.ts ──
    app = buildApp({ config, sql, blobs, bus, logger: silent })
    const policy = createPolicy({ projects: ctx.projects })
    await app.register(authPlugin, { tokens: ctx.tokens })
    deps = {
      projects: ctx.projects,
      models: ctx.models,
      versions: ctx.versions,
      users: ctx.users,
      tokens: ctx.tokens,
      ...accountDeps(
        sql,
        ctx,
        createServerSettingsService({ sql, defaults: { name: 'Truss test' } }),
        await outboxMailer(dir),
        config.publicUrl,
      ),
      objects: ctx.objects,
      policy,
      settings: createServerSettingsService({ sql, defaults: { name: 'Truss test' } }),
      serverInfo: {
        canonicalUrl: config.publicUrl,
        version: 'dev',
        objectSizeLimitBytes: 10,
        objectMultipartUploadSizeLimitBytes: 20,
        blobSizeLimitBytes: 30,
        isEmailEnabled: false,
      },
    }
    await app.register(graphqlRoutes, { ...deps, devPage: true })

    owner = await ctx.newUser()
    ownerToken = await ctx.newToken(owner.id, [
      'streams:read',
      'streams:write',
      'profile:read',
      'profile:email',
      'tokens:write',
    ])
    readToken = await ctx.newToken(owner.id, ['streams:read', 'profile:read'])
    strangerToken = await ctx.newToken((await ctx.newUser()).id, ['streams:read', 'streams:write', 'profile:read'])
  })

  afterAll(async () => {
    await app?.close()
    await Promise.all([sql?.dispose(), blobs?.close(), bus?.close()])
    await rm(dir, { recursive: true, force: true })
  })

  async function gql(query: string, variables: Record<string, unknown> = {}, token?: string) {
    const res = await app.inject({
      method: 'POST',
      url: '/graphql',
      headers: token ? { authorization: `Bearer ${token}` } : {},
      payload: { query, variables },
    })
    return { status: res.statusCode, body: res.json() as { data?: Record<string, any>; errors?: any[] } } // eslint-disable-line @typescript-eslint/no-explicit-any
  }

  it('answers serverInfo without a token, and activeUser null', async () => {
    const { status, body } = await gql(
      '{ serverInfo { name version configuration { objectSizeLimitBytes } } activeUser { id } }',
    )
    expect(status).toBe(200)
    expect(body).toEqual({
      data: {
        serverInfo: { name: 'Truss test', version: 'dev', configuration: { objectSizeLimitBytes: 10 } },
        activeUser: null,
      },
    })
  })

  it('answers activeUser for a token', async () => {
    const { body } = await gql('{ activeUser { id name email role } }', {}, ownerToken)
    expect(body.data!.activeUser).toEqual({ id: owner.id, name: owner.name, email: owner.email, role: 'server:admin' })
  })

  it('creates a project, a model and a version, and reads them back', async () => {
    const created = await gql(
      'mutation($input: ProjectCreateInput) { projectMutations { create(input: $input) { id name visibility role } } }',
      { input: { name: 'Tower', visibility: 'PRIVATE' } },
      ownerToken,
    )
    const project = created.body.data!.projectMutations.create
    expect(project).toMatchObject({ name: 'Tower', visibility: 'PRIVATE', role: 'stream:owner' })

    const model = await gql(
      'mutation($input: CreateModelInput!) { modelMutations { create(input: $input) { id name displayName author { id } } } }',
      { input: { projectId: project.id, name: 'structure/columns' } },
      ownerToken,
    )
    expect(model.body.data!.modelMutations.create).toMatchObject({
      name: 'structure/columns',
      displayName: 'columns',
      author: { id: owner.id },
    })
    const modelId = model.body.data!.modelMutations.create.id

    const dup = await gql(
      'mutation($input: CreateModelInput!) { modelMutations { create(input: $input) { id } } }',
      { input: { projectId: project.id, name: 'Structure/Columns' } },
      ownerToken,
    )
    expect(dup.status).toBe(200)
    expect(dup.body.errors![0].extensions).toMatchObject({ code: 'BRANCH_CREATE_ERROR', statusCode: 400 })

    const missing = await gql(
      'mutation($input: CreateVersionInput!) { versionMutations { create(input: $input) { id } } }',
      { input: { projectId: project.id, modelId, objectId: 'f'.repeat(32) } },
      ownerToken,
    )
    expect(missing.body.errors![0]).toMatchObject({
      message: "Couldn't find commit object",
      extensions: { code: 'COMMIT_CREATE_ERROR' },
    })

    const objectId = await ctx.newObjectTree(project.id, 2)
    const version = await gql(
      `mutation($input: CreateVersionInput!) { versionMutations { create(input: $input) {
         id referencedObject message sourceApplication totalChildrenCount parents authorUser { id } model { id } } } }`,
      {
        input: {
          projectId: project.id,
          modelId,
          objectId,
          message: 'hi',
          sourceApplication: 'py',
          totalChildrenCount: 2,
        },
      },
      ownerToken,
    )
    expect(version.body.data!.versionMutations.create).toMatchObject({
      referencedObject: objectId,
      message: 'hi',
      sourceApplication: 'py',
      totalChildrenCount: 2,
      parents: [],
      authorUser: { id: owner.id },
      model: { id: modelId },
    })

    const read = await gql(
      `query($id: String!) { project(id: $id) { id team { id role user { id } }
         models(limit: 10) { totalCount cursor items { name versionCount versions { totalCount items { id referencedObject } } } } } }`,
      { id: project.id },
      readToken,
    )
    expect(read.body.data!.project.team).toEqual([{ id: owner.id, role: 'stream:owner', user: { id: owner.id } }])
    expect(read.body.data!.project.models).toEqual({
      totalCount: 1,
      cursor: null,
      items: [
        {
          name: 'structure/columns',
          versionCount: 1,
          versions: { totalCount: 1, items: [{ id: expect.any(String), referencedObject: objectId }] },
        },
      ],
    })

    const mine = await gql(
      '{ activeUser { projects(limit: 5) { totalCount numberOfHidden items { id } } } }',
      {},
      ownerToken,
    )
    expect(mine.body.data!.activeUser.projects.items.map((p: { id: string }) => p.id)).toContain(project.id)
  })

  it('answers Speckle’s codes: not found, forbidden with scope, anonymous, validation', async () => {
    const project = await ctx.newProject(owner.id)
    const unknown = await gql('{ project(id: "missing000") { id } }', {}, ownerToken)
    expect(unknown.status).toBe(200)
    expect(unknown.body.data).toBeNull()
    expect(unknown.body.errors![0].extensions).toEqual({ code: 'STREAM_NOT_FOUND', statusCode: 404 })

    const legacy = await gql('{ stream(id: "missing000") { id } }', {}, ownerToken)
    expect(legacy.body.data).toEqual({ stream: null })

    const stranger = await gql(`{ project(id: "${project.id}") { id } }`, {}, strangerToken)
    expect(stranger.body.errors![0].extensions).toMatchObject({ code: 'FORBIDDEN', statusCode: 403 })

    const anonymous = await gql(`{ project(id: "${project.id}") { id } }`)
    expect(anonymous.body.errors![0]).toMatchObject({
      message: 'You are not logged in to this server',
      extensions: { code: 'FORBIDDEN' },
    })

    const scope = await gql(
      `mutation { modelMutations { create(input: { projectId: "${project.id}", name: "x" }) { id } } }`,
      {},
      readToken,
    )
    expect(scope.body.errors![0].extensions).toEqual({ code: 'FORBIDDEN', statusCode: 403, scope: 'streams:write' })

    const model = await gql(`{ project(id: "${project.id}") { model(id: "missing000") { id } } }`, {}, ownerToken)
    expect(model.body.errors![0].extensions.code).toBe('BRANCH_NOT_FOUND')
    const version = await gql(`{ project(id: "${project.id}") { version(id: "missing000") { id } } }`, {}, ownerToken)
    expect(version.body.errors![0].extensions.code).toBe('COMMIT_NOT_FOUND')

    const invalid = await gql('{ project(id: "x") { nope } }', {}, ownerToken)
    expect(invalid.status).toBe(400)
    expect(invalid.body.errors![0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED')

    const badVariables = await gql('query($id: String!) { project(id: $id) { id } }', {}, ownerToken)
    expect(badVariables.status).toBe(400)
    expect(badVariables.body.errors![0].extensions.code).toBe('BAD_USER_INPUT')
  })

  it('refuses queries that are too deep or too costly with a coded 400', async () => {
    const deep = `{ project(id: "x") { model(id: "y") { ${'versions { items { model { '.repeat(5)} id ${'} } } '.repeat(5)} } } }`
    const res = await gql(deep, {}, ownerToken)
    expect(res.status).toBe(400)
    expect(res.body.errors![0].extensions).toEqual({ code: 'GRAPHQL_VALIDATION_FAILED', reason: 'QUERY_TOO_DEEP' })
    const costly = await gql(
      '{ project(id: "x") { models(limit: 1000) { items { versions(limit: 1000) { items { id } } } } } }',
      {},
      ownerToken,
    )
    expect(costly.body.errors![0].extensions.reason).toBe('QUERY_TOO_COMPLEX')
  })

  it('speaks the legacy API over the same records', async () => {
    const created = await gql('mutation { streamCreate(stream: { name: "Legacy", isPublic: false }) }', {}, ownerToken)
    const streamId = created.body.data!.streamCreate as string
    const branch = await gql(
      `mutation { branchCreate(branch: { streamId: "${streamId}", name: "dev", description: "d" }) }`,
      {},
      ownerToken,
    )
    const branchId = branch.body.data!.branchCreate as string
    const objectId = await ctx.newObjectTree(streamId, 1)
    const commit = await gql(
      `mutation($c: CommitCreateInput!) { commitCreate(commit: $c) }`,
      { c: { streamId, branchName: 'dev', objectId, message: 'm', totalChildrenCount: 1, parents: [] } },
      ownerToken,
    )
    const commitId = commit.body.data!.commitCreate as string
    expect(commitId).toMatch(/^[A-Za-z0-9]{10}$/)
    const unknownBranch = await gql(
      `mutation($c: CommitCreateInput!) { commitCreate(commit: $c) }`,
      { c: { streamId, branchName: 'nope', objectId } },
      ownerToken,
    )
    expect(unknownBranch.body.errors![0].extensions.code).toBe('COMMIT_CREATE_ERROR')
    const read = await gql(
      `{ stream(id: "${streamId}") { id isPublic role branch(name: "dev") { id commits { totalCount items { id referencedObject branchName authorId } } }
         main: branch { name } none: branch(name: "nope") { id } branches { totalCount } commit(id: "${commitId}") { id streamName } } }`,
      {},
      ownerToken,
    )
    expect(read.body.data!.stream).toMatchObject({
      isPublic: false,
      role: 'stream:owner',
      branch: {
        id: branchId,
        commits: {
          totalCount: 1,
          items: [{ id: commitId, referencedObject: objectId, branchName: 'dev', authorId: owner.id }],
        },
      },
      main: { name: 'main' },
      none: null,
      branches: { totalCount: 2 },
      commit: { id: commitId, streamName: 'Legacy' },
    })
    // Ids are interchangeable between the APIs.
    const current = await gql(
      `{ project(id: "${streamId}") { model(id: "${branchId}") { version(id: "${commitId}") { id } } } }`,
      {},
      ownerToken,
    )
    expect(current.body.data!.project.model.version.id).toBe(commitId)
    expect(
      (
        await gql(
          `mutation { commitReceive(input: { streamId: "${streamId}", commitId: "${commitId}", sourceApplication: "R" }) }`,
          {},
          ownerToken,
        )
      ).body.data,
    ).toEqual({ commitReceive: true })
    expect(
      (
        await gql(
          `mutation { commitUpdate(commit: { streamId: "${streamId}", id: "${commitId}", message: "n", newBranchName: "moved" }) }`,
          {},
          ownerToken,
        )
      ).body.data,
    ).toEqual({ commitUpdate: true })
    expect(
      (await gql(`mutation { commitDelete(commit: { streamId: "${streamId}", id: "${commitId}" }) }`, {}, ownerToken))
        .body.data,
    ).toEqual({ commitDelete: true })
    expect(
      (await gql(`mutation { branchDelete(branch: { streamId: "${streamId}", id: "${branchId}" }) }`, {}, ownerToken))
        .body.data,
    ).toEqual({ branchDelete: true })
    expect(
      (await gql(`mutation { streamUpdate(stream: { id: "${streamId}", name: "Renamed" }) }`, {}, ownerToken)).body
        .data,
    ).toEqual({ streamUpdate: true })
    expect((await gql(`mutation { streamDelete(id: "${streamId}") }`, {}, ownerToken)).body.data).toEqual({
      streamDelete: true,
    })
  })

  it('serves the development page at GET /graphql', async () => {
    const res = await app.inject({ url: '/graphql' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/text\/html/)
  })

  it('streams projectVersionsUpdated and commitCreated from bus events', async () => {
    const project = await ctx.newProject(owner.id)
    const main = (await ctx.models.getByName(project.id, 'main'))!
    const principal = (await ctx.tokens.verify(ownerToken))!
    const schema = createGraphqlSchema()
    const contextValue = createGraphqlContext(deps, principal, busSubscribe(bus))
    const current = (await subscribe({
      schema,
      document: parse(
        `subscription($id: String!) { projectVersionsUpdated(id: $id) { id type modelId version { id message } } }`,
      ),
      variableValues: { id: project.id },
      contextValue,
    })) as AsyncGenerator<{ data?: Record<string, unknown> }>
    const legacy = (await subscribe({
      schema,
      document: parse(`subscription($id: String!) { commitCreated(streamId: $id) }`),
      variableValues: { id: project.id },
      contextValue,
    })) as AsyncGenerator<{ data?: Record<string, unknown> }>
    const nextCurrent = current.next()
    const nextLegacy = legacy.next()
    await new Promise((r) => setTimeout(r, 20)) // let both subscriptions become active
    const version = await ctx.newVersion(project.id, main.id, owner.id, 'live')
    expect((await nextCurrent).value.data).toEqual({
      projectVersionsUpdated: {
        id: version.id,
        type: 'CREATED',
        modelId: main.id,
        version: { id: version.id, message: 'live' },
      },
    })
    expect((await nextLegacy).value.data!.commitCreated).toMatchObject({
      id: version.id,
      streamId: project.id,
      branchName: 'main',
      objectId: version.objectId,
      authorId: owner.id,
    })
    await current.return(undefined)
    await legacy.return(undefined)
    const stranger = (await ctx.tokens.verify(strangerToken))!
    const refused = await subscribe({
      schema,
      document: parse(`subscription($id: String!) { projectVersionsUpdated(id: $id) { id } }`),
      variableValues: { id: project.id },
      contextValue: createGraphqlContext(deps, stranger, busSubscribe(bus)),
    })
    expect((refused as { errors?: { message: string }[] }).errors?.[0]?.message).toMatch(/access/)
  })
})
