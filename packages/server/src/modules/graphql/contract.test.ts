/**
 * Client contract: the GraphQL operations specklepy and the Speckle .NET SDK send, stored verbatim in
 * fixtures/*.graphql (each names its source), replayed against the app wired as main.ts wires it (auth
 * plugin, then graphqlRoutes) over PGlite. Every answer is checked against the operation's own selection
 * set: each requested field (under its alias) is present, no other key is, non-null fields are not null,
 * and leaves have the JSON type the schema promises — what the clients' deserializers rely on. Then the
 * values that matter are checked.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  GraphQLEnumType,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLScalarType,
  Kind,
  parse,
  subscribe,
  validate,
  type GraphQLOutputType,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql'
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
import { createServerSettingsService, type ServerSettingsService } from '../accounts/settings.js'
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
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url))
const schema = createGraphqlSchema()

function fixture(name: string): string {
  return readFileSync(join(FIXTURES, `${name}.graphql`), 'utf8')
}

type Json = any // eslint-disable-line @typescript-eslint/no-explicit-any

/** Check `value` against `type` and the selection set asked for; returns the problems found (paths). */
function shapeProblems(type: GraphQLOutputType, value: unknown, selection: SelectionSetNode | undefined, path: string) {
  const problems: string[] = []
  const visit = (t: GraphQLOutputType, v: unknown, sel: SelectionSetNode | undefined, at: string): void => {
    if (t instanceof GraphQLNonNull) {
      if (v === null || v === undefined) problems.push(`${at}: null for non-null ${String(t)}`)
      else visit(t.ofType, v, sel, at)
      return
    }
    if (v === null) return
    if (v === undefined) {
      problems.push(`${at}: missing`)
      return
    }
    if (t instanceof GraphQLList) {
      if (!Array.isArray(v)) problems.push(`${at}: not a list`)
      else v.forEach((item, i) => visit(t.ofType, item, sel, `${at}[${i}]`))
      return
    }
    if (t instanceof GraphQLEnumType) {
      if (!t.getValues().some((e) => e.name === v)) problems.push(`${at}: ${String(v)} is not a ${t.name}`)
      return
    }
    if (t instanceof GraphQLScalarType) {
      const ok: Record<string, (x: unknown) => boolean> = {
        String: (x) => typeof x === 'string',
        ID: (x) => typeof x === 'string',
        Int: (x) => Number.isInteger(x),
        Float: (x) => typeof x === 'number',
        Boolean: (x) => typeof x === 'boolean',
        DateTime: (x) => typeof x === 'string' && !Number.isNaN(Date.parse(x)),
        BigInt: (x) => typeof x === 'string' || typeof x === 'number',
        JSONObject: (x) => typeof x === 'object',
      }
      if (!(ok[t.name] ?? (() => true))(v)) problems.push(`${at}: ${JSON.stringify(v)} is not a ${t.name}`)
      return
    }
    if (!(t instanceof GraphQLObjectType) || sel === undefined) return
    if (typeof v !== 'object' || Array.isArray(v)) {
      problems.push(`${at}: not an object`)
      return
    }
    const asked = new Set<string>()
    for (const node of sel.selections) {
      if (node.kind !== Kind.FIELD) continue
      const key = node.alias?.value ?? node.name.value
      asked.add(key)
      const field = t.getFields()[node.name.value]
      if (field === undefined) problems.push(`${at}.${key}: not in the schema`)
      else visit(field.type, (v as Record<string, unknown>)[key], node.selectionSet, `${at}.${key}`)
    }
    for (const key of Object.keys(v)) if (!asked.has(key)) problems.push(`${at}.${key}: not asked for`)
  }
  visit(type, value, selection, path)
  return problems
}

/** The problems of a whole answer `data` for an operation document. */
function answerProblems(query: string, data: unknown): string[] {
  const operation = parse(query).definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION) as
    OperationDefinitionNode | undefined
  if (operation === undefined) return ['no operation']
  const root =
    operation.operation === 'query'
      ? schema.getQueryType()
      : operation.operation === 'mutation'
        ? schema.getMutationType()
        : schema.getSubscriptionType()
  return shapeProblems(new GraphQLNonNull(root!), data, operation.selectionSet, 'data')
}

describe.each(['pglite', 'postgres'] as const)(
  'GraphQL contract: operations specklepy and the .NET SDK send (%s)',
  (kind) => {
    let dir: string
    let sql: Sql & { dispose(): Promise<void> }
    let blobs: BlobStore
    let bus: Bus
    let app: TrussApp
    let ctx: DomainContext
    let deps: GraphqlDeps
    let settings: ServerSettingsService
    let user: User
    let token: string

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'truss-contract-'))
      sql = await openDatabase(kind)
      blobs = await createBlobStore({ dataDir: dir })
      bus = createMemoryBus({ logger: silent })
      ctx = domainContext(sql, bus)
      const config = loadConfig({}, { dataDir: dir })
      app = buildApp({ config, sql, blobs, bus, logger: silent })
      settings = createServerSettingsService({ sql, defaults: { name: 'Contract Hub' } })
      await app.register(authPlugin, { tokens: ctx.tokens })
      deps = {
        projects: ctx.projects,
        models: ctx.models,
        versions: ctx.versions,
        users: ctx.users,
        tokens: ctx.tokens,
        ...accountDeps(sql, ctx, settings, await outboxMailer(dir), config.publicUrl),
        objects: ctx.objects,
        policy: createPolicy({ projects: ctx.projects }),
        settings,
        serverInfo: {
          canonicalUrl: config.publicUrl,
          version: '2.24.0-truss',
          objectSizeLimitBytes: 10,
          objectMultipartUploadSizeLimitBytes: 20,
          blobSizeLimitBytes: 30,
          isEmailEnabled: false,
        },
      }
      await app.register(graphqlRoutes, deps)
      user = await ctx.newUser()
      // What a connector's account carries (WIRE.md: connector apps get these).
      token = await ctx.newToken(user.id, ['streams:read', 'streams:write', 'profile:read', 'profile:email'])
    })

    afterAll(async () => {
      await app?.close()
      await Promise.all([sql?.dispose(), blobs?.close(), bus?.close()])
      await rm(dir, { recursive: true, force: true })
    })

    /** Replay a fixture; the answer must be a 200 without errors, shaped as the operation asked. */
    async function replay(name: string, variables: Record<string, unknown> = {}, bearer: string | null = token) {
      const query = fixture(name)
      const res = await app.inject({
        method: 'POST',
        url: '/graphql',
        headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
        payload: { query, variables },
      })
      const body = res.json() as { data?: Json; errors?: unknown[] }
      expect({ status: res.statusCode, errors: body.errors }).toEqual({ status: 200, errors: undefined })
      expect(answerProblems(query, body.data)).toEqual([])
      return body.data as Json
    }

    it('stores only operations that validate against the schema (queries, mutations and subscriptions)', () => {
      const names = readdirSync(FIXTURES).filter((f) => f.endsWith('.graphql'))
      expect(names.length).toBeGreaterThanOrEqual(30)
      for (const name of names) {
        const text = readFileSync(join(FIXTURES, name), 'utf8')
        expect(text, name).toMatch(/^# Source: specklesystems\/(specklepy|speckle-sharp-sdk)@[0-9a-f]{12} /)
        expect(
          validate(schema, parse(text)).map((e) => e.message),
          name,
        ).toEqual([])
      }
    })

    it('the shape check catches missing, extra, null and mistyped fields', () => {
      const query = fixture('dotnet-model-get')
      expect(answerProblems(query, { data: null })).toEqual(['data.data: null for non-null Project!'])
      const model = {
        id: 'm',
        name: 'n',
        previewUrl: null,
        updatedAt: 'not a date',
        description: null,
        displayName: 'n',
        createdAt: new Date().toISOString(),
        extra: 1,
        author: { avatar: null, bio: null, company: null, id: 'u', name: 'u', role: null },
      }
      expect(answerProblems(query, { data: { data: model } }).sort()).toEqual([
        'data.data.data.author.verified: missing',
        'data.data.data.extra: not asked for',
        'data.data.data.updatedAt: "not a date" is not a DateTime',
      ])
    })

    it('account check: activeUser with serverInfo (.NET AccountFactory), serverInfo (specklepy)', async () => {
      const account = await replay('dotnet-account-check')
      expect(account.activeUser).toEqual({
        id: user.id,
        name: user.name,
        email: user.email,
        company: null,
        avatar: null,
      })
      expect(account.serverInfo).toEqual({
        name: 'Contract Hub',
        company: null,
        description: 'A Speckle-compatible data hub',
        version: '2.24.0-truss',
        migration: null,
      })
      const anonymous = await replay('dotnet-account-check', {}, null)
      expect(anonymous.activeUser).toBeNull()

      const server = (await replay('specklepy-server-get', {}, null)).serverInfo
      expect(server).toMatchObject({ canonicalUrl: expect.any(String), workspaces: { workspacesEnabled: false } })
      expect(server.scopes.map((s: { name: string }) => s.name)).toContain('streams:write')
      expect(server.authStrategies.length).toBeGreaterThan(0)
    })

    it('serverInfo follows the live server settings', async () => {
      await settings.update({ company: 'Acme Engineering', adminContact: 'admin@acme.test', inviteOnly: true })
      const { serverInfo } = await replay('dotnet-account-check')
      expect(serverInfo).toMatchObject({ name: 'Contract Hub', company: 'Acme Engineering' })
      const read = await app.inject({
        method: 'POST',
        url: '/graphql',
        payload: { query: '{ serverInfo { adminContact inviteOnly guestModeEnabled termsOfService } }' },
      })
      expect(read.json()).toEqual({
        data: {
          serverInfo: {
            adminContact: 'admin@acme.test',
            inviteOnly: true,
            guestModeEnabled: false,
            termsOfService: null,
          },
        },
      })
      await settings.update({ company: null, adminContact: null, inviteOnly: false })
    })

    it('active user: get and update (specklepy and .NET send the same shapes)', async () => {
      for (const name of ['specklepy-active-user-get', 'dotnet-active-user-get']) {
        expect((await replay(name)).data).toEqual({
          id: user.id,
          email: user.email,
          name: user.name,
          bio: null,
          company: null,
          avatar: null,
          verified: false,
          role: user.serverRole,
        })
      }
      const avatar = 'data:image/png;base64,iVBORw0KGgo='
      const updated = await replay('dotnet-active-user-update', {
        input: { name: 'Renamed', company: 'Acme', bio: 'Builds things', avatar },
      })
      expect(updated.data.data).toMatchObject({
        id: user.id,
        name: 'Renamed',
        company: 'Acme',
        bio: 'Builds things',
        avatar,
      })
      const partial = await replay('specklepy-active-user-update', { input: { bio: null } })
      expect(partial.data.data).toMatchObject({ name: 'Renamed', company: 'Acme', bio: null, avatar })
      user = (await ctx.users.getById(user.id))!
    })

    it('projects: create, get, update, list (.NET ProjectResource / ActiveUserResource)', async () => {
      const created = (
        await replay('dotnet-project-create', { input: { name: 'Contract', description: 'd', visibility: 'PRIVATE' } })
      ).data.data
      expect(created).toMatchObject({
        name: 'Contract',
        description: 'd',
        visibility: 'PRIVATE',
        role: 'stream:owner',
        allowPublicComments: false,
        sourceApps: [],
        workspaceId: null,
      })
      // The input itself is nullable: a project with defaults.
      expect((await replay('dotnet-project-create', { input: null })).data.data.visibility).toBe('UNLISTED')

      const got = (await replay('dotnet-project-get', { projectId: created.id })).data
      expect(got).toEqual(created)
      const updated = (
        await replay('dotnet-project-update', { input: { id: created.id, name: 'Contract 2', visibility: 'UNLISTED' } })
      ).data.data
      expect(updated).toMatchObject({ id: created.id, name: 'Contract 2', visibility: 'UNLISTED', description: 'd' })

      const mine = (await replay('dotnet-active-user-projects', { limit: 10, filter: { search: 'Contract 2' } })).data
        .data
      expect(mine).toMatchObject({ totalCount: 1, items: [{ id: created.id, name: 'Contract 2' }] })
    })

    it('models and versions: create, get, list, received (.NET Model/VersionResource)', async () => {
      const project = await ctx.newProject(user.id, { visibility: 'private' })
      const model = (
        await replay('dotnet-model-create', { input: { projectId: project.id, name: 'structure/columns' } })
      ).data.data
      expect(model).toMatchObject({
        name: 'structure/columns',
        displayName: 'columns',
        description: null,
        previewUrl: null,
        author: { id: user.id, name: user.name },
      })
      expect((await replay('dotnet-model-get', { projectId: project.id, modelId: model.id })).data.data).toEqual(model)
      const listed = (await replay('dotnet-model-list', { projectId: project.id, modelsLimit: 10 })).data.data
      expect(listed).toMatchObject({ cursor: null, items: expect.arrayContaining([model]) })
      const withModels = (await replay('dotnet-project-get-with-models', { projectId: project.id, modelsLimit: 1 }))
        .data
      expect(withModels.models.items).toHaveLength(1)
      expect(withModels.models.totalCount).toBe(listed.totalCount)

      const objectId = await ctx.newObjectTree(project.id, 3)
      const version = (
        await replay('dotnet-version-create', {
          input: {
            projectId: project.id,
            modelId: model.id,
            objectId,
            message: 'from .NET',
            sourceApplication: 'Revit',
            totalChildrenCount: 3,
          },
        })
      ).data.data
      expect(version).toMatchObject({
        referencedObject: objectId,
        message: 'from .NET',
        sourceApplication: 'Revit',
        previewUrl: expect.stringContaining(`/preview/${project.id}/commits/${version.id}`),
        authorUser: { id: user.id },
      })
      expect((await replay('dotnet-version-get', { projectId: project.id, versionId: version.id })).data.data).toEqual(
        version,
      )
      const versions = (await replay('dotnet-version-list', { projectId: project.id, modelId: model.id, limit: 5 }))
        .data.data.data
      expect(versions).toEqual({ items: [version], cursor: null, totalCount: 1 })
      const withVersions = (
        await replay('dotnet-model-get-with-versions', { projectId: project.id, modelId: model.id, versionsLimit: 5 })
      ).data.data
      expect(withVersions.versions.items).toEqual([version])

      const received = await replay('dotnet-version-received', {
        input: { projectId: project.id, versionId: version.id, sourceApplication: 'Rhino', message: 'got it' },
      })
      expect(received).toEqual({ data: { data: true } })
    })

    it('legacy streams, branches and commits (specklepy before 2.21)', async () => {
      const streamId = (
        await replay('specklepy-legacy-stream-create', {
          stream: { name: 'Legacy', description: 'old', isPublic: false },
        })
      ).streamCreate
      expect(streamId).toMatch(/^[A-Za-z0-9]{10}$/)
      const branchId = (
        await replay('specklepy-legacy-branch-create', { branch: { streamId, name: 'dev', description: 'work' } })
      ).branchCreate
      const objectId = await ctx.newObjectTree(streamId, 2)
      const commitId = (
        await replay('specklepy-legacy-commit-create', {
          commit: {
            streamId,
            branchName: 'dev',
            objectId,
            message: 'py',
            sourceApplication: 'py',
            totalChildrenCount: 2,
          },
        })
      ).commitCreate

      const stream = (await replay('specklepy-legacy-stream-get', { id: streamId, branch_limit: 10, commit_limit: 10 }))
        .stream
      expect(stream).toMatchObject({
        id: streamId,
        name: 'Legacy',
        role: 'stream:owner',
        description: 'old',
        isPublic: false,
        commentCount: 0,
        favoritesCount: 0,
        collaborators: [{ id: user.id, name: user.name, role: 'stream:owner', avatar: user.avatar }],
      })
      expect(stream.branches.items.map((b: { name: string }) => b.name).sort()).toEqual(['dev', 'main'])
      const dev = stream.branches.items.find((b: { name: string }) => b.name === 'dev')
      expect(dev.commits.items).toEqual([
        {
          id: commitId,
          message: 'py',
          authorId: user.id,
          createdAt: expect.any(String),
          authorName: user.name,
          referencedObject: objectId,
          sourceApplication: 'py',
        },
      ])

      const branch = (
        await replay('specklepy-legacy-branch-get', { stream_id: streamId, name: 'dev', commits_limit: 5 })
      ).stream.branch
      expect(branch).toMatchObject({ id: branchId, name: 'dev', description: 'work', commits: { totalCount: 1 } })
      expect(branch.commits.items[0]).toMatchObject({
        id: commitId,
        branchName: 'dev',
        totalChildrenCount: 2,
        parents: [],
      })
      const missing = (
        await replay('specklepy-legacy-branch-get', { stream_id: streamId, name: 'nope', commits_limit: 5 })
      ).stream.branch
      expect(missing).toBeNull()

      const commit = (await replay('specklepy-legacy-commit-get', { stream_id: streamId, commit_id: commitId })).stream
        .commit
      expect(commit).toMatchObject({
        id: commitId,
        message: 'py',
        referencedObject: objectId,
        authorId: user.id,
        authorName: user.name,
        branchName: 'dev',
        sourceApplication: 'py',
        totalChildrenCount: 2,
        parents: [],
      })
      const received = await replay('specklepy-legacy-commit-received', {
        receivedInput: { streamId, commitId, sourceApplication: 'Grasshopper', message: 'received' },
      })
      expect(received).toEqual({ commitReceive: true })
    })

    it('subscriptions: the .NET projectVersionsUpdated document delivers a message of its shape', async () => {
      const project = await ctx.newProject(user.id)
      const main = (await ctx.models.getByName(project.id, 'main'))!
      const query = fixture('dotnet-sub-project-versions-updated')
      const stream = (await subscribe({
        schema,
        document: parse(query),
        variableValues: { id: project.id },
        contextValue: createGraphqlContext(deps, await ctx.tokens.verify(token), busSubscribe(bus)),
      })) as AsyncGenerator<{ data?: Json; errors?: unknown[] }>
      const next = stream.next()
      await new Promise((r) => setTimeout(r, 20)) // let the subscription become active
      const version = await ctx.newVersion(project.id, main.id, user.id, 'live')
      const { value } = await next
      await stream.return(undefined)
      expect(value.errors).toBeUndefined()
      expect(answerProblems(query, value.data)).toEqual([])
      expect(value.data.data).toMatchObject({
        id: version.id,
        modelId: main.id,
        type: 'CREATED',
        version: { id: version.id, message: 'live', authorUser: { id: user.id } },
      })
    })

    it('tokens: specklepy creates and revokes a personal token', async () => {
      const admin = await ctx.newToken(user.id, ['streams:read', 'profile:read', 'tokens:write'])
      const created = (
        await replay(
          'specklepy-token-create',
          { token: { name: 'py', scopes: ['streams:read'], lifespan: 3_600_000 } },
          admin,
        )
      ).apiTokenCreate
      expect(created).toMatch(/^[A-Za-z0-9]{42}$/)
      expect(await ctx.tokens.verify(created)).not.toBeNull()
      expect(await replay('specklepy-token-revoke', { token: created }, admin)).toEqual({ apiTokenRevoke: true })
      expect(await ctx.tokens.verify(created)).toBeNull()
    })
  },
)
