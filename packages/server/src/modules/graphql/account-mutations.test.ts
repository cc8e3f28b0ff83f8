/**
 * The account mutations over HTTP (auth plugin, then graphqlRoutes, over PGlite): `serverInfoUpdate`,
 * `activeUserMutations.update`, `apiTokenRevoke` — each one's validation and coded refusals — and the
 * batched user loader (one users query per request, however many users an answer names).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBlobStore } from '../../adapters/blobs/index.js'
import type { BlobStore } from '../../adapters/blobs/types.js'
import { createMemoryBus } from '../../adapters/bus/index.js'
import type { Bus } from '../../adapters/bus/types.js'
import type { Sql } from '../../adapters/sql/types.js'
import { buildApp, type TrussApp } from '../../app.js'
import { loadConfig } from '../../config.js'
import { domainContext, recordingBus, type DomainContext } from '../../test-utils/domain.js'
import { createServerSettingsService, type ServerSettingsService } from '../accounts/settings.js'
import { authPlugin } from '../auth/plugin.js'
import { openDatabase } from '../auth/test-utils/identity.js'
import { createPolicy } from '../policy/service.js'
import type { User } from '../users/service.js'
import { graphqlRoutes } from './rest.js'
import { accountDeps, outboxMailer } from './test-utils.js'

const silent = pino({ level: 'silent' })
type Json = any // eslint-disable-line @typescript-eslint/no-explicit-any

describe.each(['pglite', 'postgres'] as const)('account mutations over GraphQL (%s)', (kind) => {
  let dir: string
  let sql: Sql & { dispose(): Promise<void> }
  let blobs: BlobStore
  let bus: Bus
  let app: TrussApp
  let ctx: DomainContext
  let settings: ServerSettingsService
  let admin: User
  let member: User
  let adminSetup: string
  let adminNoSetup: string
  let memberSetup: string
  let memberToken: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'truss-account-mutations-'))
    sql = await openDatabase(kind)
    blobs = await createBlobStore({ dataDir: dir })
    bus = createMemoryBus({ logger: silent })
    ctx = domainContext(sql, recordingBus())
    const config = loadConfig({}, { dataDir: dir })
    app = buildApp({ config, sql, blobs, bus, logger: silent })
    settings = createServerSettingsService({ sql, defaults: { name: 'Before' } })
    await app.register(authPlugin, { tokens: ctx.tokens })
    await app.register(graphqlRoutes, {
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
        version: 'dev',
        objectSizeLimitBytes: 1,
        objectMultipartUploadSizeLimitBytes: 1,
        blobSizeLimitBytes: 1,
        isEmailEnabled: false,
      },
    })
    admin = await ctx.newUser({ admin: true })
    member = await ctx.newUser()
    adminSetup = await ctx.newToken(admin.id, ['server:setup', 'profile:read'])
    adminNoSetup = await ctx.newToken(admin.id, ['profile:read', 'streams:read'])
    memberSetup = await ctx.newToken(member.id, ['server:setup', 'profile:read'])
    memberToken = await ctx.newToken(member.id, ['streams:read', 'streams:write', 'profile:read', 'tokens:write'])
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
    return { status: res.statusCode, body: res.json() as { data?: Json; errors?: Json[] } }
  }

  describe('serverInfoUpdate', () => {
    const UPDATE = 'mutation($info: ServerInfoUpdateInput!) { serverInfoUpdate(info: $info) }'
    const READ = '{ serverInfo { name company description adminContact termsOfService inviteOnly guestModeEnabled } }'

    it('lets an admin with server:setup change the settings serverInfo reads; null clears text, leaves flags', async () => {
      const changed = await gql(
        UPDATE,
        {
          info: {
            name: '  Acme Hub ',
            company: 'Acme',
            description: 'Models',
            adminContact: 'ops@acme.test',
            termsOfService: 'Be nice',
            inviteOnly: true,
            guestModeEnabled: true,
          },
        },
        adminSetup,
      )
      expect(changed.body).toEqual({ data: { serverInfoUpdate: true } })
      expect((await gql(READ)).body.data.serverInfo).toEqual({
        name: 'Acme Hub',
        company: 'Acme',
        description: 'Models',
        adminContact: 'ops@acme.test',
        termsOfService: 'Be nice',
        inviteOnly: true,
        guestModeEnabled: true,
      })
      await gql(UPDATE, { info: { name: 'Acme Hub', company: null, termsOfService: '', inviteOnly: null } }, adminSetup)
      expect((await gql(READ)).body.data.serverInfo).toMatchObject({
        company: null,
        termsOfService: null,
        description: 'Models',
        inviteOnly: true,
        guestModeEnabled: true,
      })
      expect((await settings.get()).name).toBe('Acme Hub')
    })

    it('refuses anyone but an admin holding server:setup, with Speckle’s codes', async () => {
      const info = { name: 'Hijacked' }
      const noScope = await gql(UPDATE, { info }, adminNoSetup)
      expect(noScope.body.data).toEqual({ serverInfoUpdate: null })
      expect(noScope.body.errors![0].extensions).toEqual({ code: 'FORBIDDEN', statusCode: 403, scope: 'server:setup' })
      const notAdmin = await gql(UPDATE, { info }, memberSetup)
      expect(notAdmin.body.errors![0].extensions).toEqual({ code: 'FORBIDDEN', statusCode: 403 })
      const anonymous = await gql(UPDATE, { info })
      expect(anonymous.body.errors![0]).toMatchObject({
        message: 'You are not logged in to this server',
        extensions: { code: 'FORBIDDEN' },
      })
      expect((await settings.get()).name).not.toBe('Hijacked')
    })

    it('validates the input: a name, bounded lengths, known fields', async () => {
      for (const info of [
        { name: '' },
        { name: '   ' },
        { name: 'x'.repeat(513) },
        { name: 'ok', description: 'x'.repeat(10_001) },
      ]) {
        const res = await gql(UPDATE, { info }, adminSetup)
        expect(res.status).toBe(200)
        expect(res.body.errors![0].extensions, JSON.stringify(info).slice(0, 40)).toEqual({
          code: 'BAD_USER_INPUT',
          statusCode: 400,
        })
      }
      const unnamed = await gql(UPDATE, { info: { company: 'x' } }, adminSetup)
      expect(unnamed.status).toBe(400)
      expect(unnamed.body.errors![0].extensions.code).toBe('BAD_USER_INPUT')
      const unknown = await gql(UPDATE, { info: { name: 'x', canonicalUrl: 'http://evil' } }, adminSetup)
      expect(unknown.status).toBe(400)
      expect((await settings.get()).name).toBe('Acme Hub')
    })
  })

  describe('activeUserMutations.update', () => {
    const UPDATE =
      'mutation($user: UserUpdateInput!) { activeUserMutations { update(user: $user) { id name company bio avatar } } }'

    it('changes only the caller’s own profile, trimming and clearing', async () => {
      const res = await gql(
        UPDATE,
        { user: { name: ' Member ', company: 'Acme', avatar: 'https://img.test/a.png' } },
        memberToken,
      )
      expect(res.body).toEqual({
        data: {
          activeUserMutations: {
            update: { id: member.id, name: 'Member', company: 'Acme', bio: null, avatar: 'https://img.test/a.png' },
          },
        },
      })
      const cleared = await gql(UPDATE, { user: { company: '', avatar: null } }, memberToken)
      expect(cleared.body.data.activeUserMutations.update).toMatchObject({
        name: 'Member',
        company: null,
        avatar: null,
      })
      expect((await ctx.users.getById(admin.id))!.name).toBe(admin.name)
    })

    it('refuses bad input and callers without a profile scope, with codes, changing nothing', async () => {
      for (const user of [{ name: '' }, { name: null }, { bio: 'x'.repeat(2001) }, { avatar: 'javascript:alert(1)' }]) {
        const res = await gql(UPDATE, { user }, memberToken)
        expect(res.body.data).toBeNull()
        expect(res.body.errors![0].extensions).toEqual({ code: 'BAD_USER_INPUT', statusCode: 400 })
      }
      const email = await gql(UPDATE, { user: { email: 'new@example.com' } }, memberToken)
      expect(email.status).toBe(400)
      const noScope = await gql(UPDATE, { user: { name: 'X' } }, await ctx.newToken(member.id, ['streams:read']))
      expect(noScope.body.errors![0].extensions).toEqual({ code: 'FORBIDDEN', statusCode: 403, scope: 'profile:read' })
      const anonymous = await gql(UPDATE, { user: { name: 'X' } })
      expect(anonymous.body.errors![0].extensions.code).toBe('FORBIDDEN')
      const archived = await ctx.newUser()
      const archivedToken = await ctx.newToken(archived.id, ['profile:read'])
      await sql.query(`UPDATE users SET server_role = 'server:archived-user' WHERE id = $1`, [archived.id])
      ctx.tokens.forget([archivedToken.slice(0, 10)])
      const refused = await gql(UPDATE, { user: { name: 'X' } }, archivedToken)
      expect(refused.body.errors![0].extensions).toEqual({ code: 'FORBIDDEN', statusCode: 403 })
      expect((await ctx.users.getById(member.id))!.name).toBe('Member')
    })
  })

  describe('apiTokenRevoke', () => {
    const REVOKE = 'mutation($token: String!) { apiTokenRevoke(token: $token) }'

    it('revokes any of the caller’s own tokens, by id or by token (a Bearer prefix is dropped)', async () => {
      const [a, b] = [await ctx.newToken(member.id), await ctx.newToken(member.id)]
      expect((await gql(REVOKE, { token: a.slice(0, 10) }, memberToken)).body).toEqual({
        data: { apiTokenRevoke: true },
      })
      expect((await gql(REVOKE, { token: `Bearer ${b}` }, memberToken)).body).toEqual({
        data: { apiTokenRevoke: true },
      })
      expect(await ctx.tokens.verify(a)).toBeNull()
      expect(await ctx.tokens.verify(b)).toBeNull()
    })

    it('says "not found" for someone else’s token, a revoked one and an unknown id; refuses malformed input', async () => {
      const theirs = await ctx.newToken(admin.id)
      const gone = await ctx.newToken(member.id)
      await ctx.tokens.revoke(gone.slice(0, 10))
      for (const token of [theirs, gone.slice(0, 10), 'nothing000']) {
        const res = await gql(REVOKE, { token }, memberToken)
        expect(res.body.data).toBeNull()
        expect(res.body.errors![0].extensions).toEqual({ code: 'NOT_FOUND_ERROR', statusCode: 404 })
      }
      expect(await ctx.tokens.verify(theirs)).not.toBeNull()
      for (const token of ['', 'short', 'x'.repeat(43), 'abc!def123']) {
        const res = await gql(REVOKE, { token }, memberToken)
        expect(res.body.errors![0].extensions).toEqual({ code: 'BAD_USER_INPUT', statusCode: 400 })
      }
    })

    it('needs tokens:write; revoking the token in use ends the session', async () => {
      const weak = await ctx.newToken(member.id, ['streams:read'])
      const other = await ctx.newToken(member.id)
      const refused = await gql(REVOKE, { token: other }, weak)
      expect(refused.body.errors![0].extensions).toEqual({ code: 'FORBIDDEN', statusCode: 403, scope: 'tokens:write' })
      const self = await ctx.newToken(member.id, ['tokens:write'])
      expect((await gql(REVOKE, { token: self }, self)).body).toEqual({ data: { apiTokenRevoke: true } })
      expect((await gql('{ activeUser { id } }', {}, self)).status).toBe(403)
    })
  })

  it('reads the users an answer names in batches, not one query per user', async () => {
    const project = await ctx.newProject(member.id, { visibility: 'private' })
    const main = (await ctx.models.getByName(project.id, 'main'))!
    const others = [await ctx.newUser(), await ctx.newUser(), await ctx.newUser()]
    for (const other of others) {
      await ctx.projects.setRole({
        projectId: project.id,
        userId: other.id,
        role: 'stream:contributor',
        actorId: member.id,
      })
      await ctx.newVersion(project.id, main.id, other.id)
    }
    const before = ctx.sql.statements.length
    const res = await gql(
      `query($id: String!) { project(id: $id) { team { user { name } }
         models { items { author { name } versions { items { authorUser { name } } } } } versions { items { authorUser { id } } } } }`,
      { id: project.id },
      memberToken,
    )
    expect(res.body.errors).toBeUndefined()
    expect(res.body.data.project.team).toHaveLength(4)
    const userReads = ctx.sql.statements.slice(before).filter((s) => /\bFROM users\b/.test(s) && !/JOIN users/.test(s))
    // One batch per round of loading (the team and the versions arrive from different queries), never one
    // per user: four users, at most two reads, each for a set of ids.
    expect(userReads.length).toBeLessThanOrEqual(2)
    for (const read of userReads) expect(read).toContain('= ANY(')
  })
})
