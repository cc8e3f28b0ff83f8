/**
 * Invites through GraphQL: `projectMutations.invites { create batchCreate use cancel }`, `project.invitedTeam`,
 * `activeUser.projectInvites`, `projectInvite`, `serverInviteCreate` / `serverInviteBatchCreate`, with the
 * mail they send (the outbox mailer), over HTTP on PGlite.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { User } from '../users/service.js'
import { ALL_SCOPES, graphqlHarness, type GraphqlHarness, type Json } from './test-utils.js'

const CREATE = `mutation($p: ID!, $i: ProjectInviteCreateInput!) { projectMutations { invites {
  create(projectId: $p, input: $i) { id invitedTeam { inviteId title role user { id } invitedBy { id } token } } } } }`
const BATCH = `mutation($p: ID!, $i: [ProjectInviteCreateInput!]!) { projectMutations { invites {
  batchCreate(projectId: $p, input: $i) { id invitedTeam { title } } } } }`
const USE = `mutation($i: ProjectInviteUseInput!) { projectMutations { invites { use(input: $i) } } }`
const MY_INVITES = `{ activeUser { projectInvites { inviteId projectId projectName streamName role token invitedBy { id } } } }`

describe.each(['pglite', 'postgres'] as const)('GraphQL invites (%s)', (kind) => {
  let h: GraphqlHarness
  let owner: User
  let ownerToken: string

  beforeAll(async () => {
    h = await graphqlHarness(kind)
    owner = await h.ctx.newUser({ name: 'Olga Owner' })
    ownerToken = await h.ctx.newToken(owner.id, [...ALL_SCOPES])
  })

  afterAll(async () => {
    await h?.close()
  })

  async function mails(): Promise<string[]> {
    const folder = join(h.dir, 'outbox')
    const names = await readdir(folder).catch(() => [] as string[])
    return Promise.all(names.sort().map((n) => readFile(join(folder, n), 'utf8')))
  }

  async function member(name: string) {
    const user = await h.ctx.newUser({ name })
    return { user, token: await h.ctx.newToken(user.id, ['streams:read', 'streams:write', 'profile:read']) }
  }

  it('invites a registered user, who sees the invite with its token and accepts it', async () => {
    const project = await h.ctx.newProject(owner.id, { name: 'Bridge', visibility: 'private' })
    const bob = await member('Bob Builder')
    const created = await h.gql(
      CREATE,
      { p: project.id, i: { userId: bob.user.id, role: 'stream:reviewer' } },
      ownerToken,
    )
    expect(created.body.errors).toBeUndefined()
    const team = created.body.data.projectMutations.invites.create.invitedTeam
    expect(team).toEqual([
      {
        inviteId: expect.any(String),
        title: 'Bob Builder',
        role: 'stream:reviewer',
        user: { id: bob.user.id },
        invitedBy: { id: owner.id },
        token: null,
      },
    ])
    expect((await mails()).some((m) => m.includes(bob.user.email) && m.includes('Bridge'))).toBe(true)

    const mine = (await h.gql(MY_INVITES, {}, bob.token)).body.data.activeUser.projectInvites
    expect(mine).toEqual([
      {
        inviteId: team[0].inviteId,
        projectId: project.id,
        projectName: 'Bridge',
        streamName: 'Bridge',
        role: 'stream:reviewer',
        token: expect.stringMatching(/^[A-Za-z0-9]{42}$/),
        invitedBy: { id: owner.id },
      },
    ])
    const token = mine[0].token as string
    const looked = await h.gql(
      'query($p: String!, $t: String) { projectInvite(projectId: $p, token: $t) { inviteId title } }',
      { p: project.id, t: token },
    )
    expect(looked.body.data.projectInvite).toEqual({ inviteId: team[0].inviteId, title: 'Bob Builder' })

    // Someone else holding the token cannot use it.
    const eve = await member('Eve')
    const stolen = await h.gql(USE, { i: { projectId: project.id, token, accept: true } }, eve.token)
    expect(stolen.body.errors[0].extensions.code).toBe('INVITE_NOT_FOUND')

    const used = await h.gql(USE, { i: { projectId: project.id, token, accept: true } }, bob.token)
    expect(used.body).toEqual({ data: { projectMutations: { invites: { use: true } } } })
    const role = await h.gql(`{ project(id: "${project.id}") { role } }`, {}, bob.token)
    expect(role.body.data.project.role).toBe('stream:reviewer')
    expect((await h.gql(MY_INVITES, {}, bob.token)).body.data.activeUser.projectInvites).toEqual([])
    const again = await h.gql(USE, { i: { projectId: project.id, token, accept: true } }, bob.token)
    expect(again.body.errors[0].extensions.code).toBe('INVITE_NOT_FOUND')
    // Sending and accepting are in the project's activity, as Speckle logs them.
    const log = (await h.ctx.activity.forProject(project.id)).items.map((a) => [a.actionType, a.userId, a.info])
    expect(log.slice(0, 2)).toEqual([
      ['stream_permissions_invite_accepted', bob.user.id, { inviterUser: owner.id, role: 'stream:reviewer' }],
      ['stream_invite_sent', owner.id, { targetId: bob.user.id, targetEmail: null, role: 'stream:reviewer' }],
    ])
  })

  it('invites an address without an account through a server invite, and declines and cancels', async () => {
    const project = await h.ctx.newProject(owner.id, { visibility: 'private' })
    const carol = await member('Carol')
    const batch = await h.gql(
      BATCH,
      { p: project.id, i: [{ email: 'New.Person@Example.com' }, { userId: carol.user.id }] },
      ownerToken,
    )
    expect(batch.body.errors).toBeUndefined()
    expect(batch.body.data.projectMutations.invites.batchCreate.invitedTeam.map((i: Json) => i.title)).toEqual([
      'new.person@example.com',
      'Carol',
    ])
    expect((await mails()).some((m) => m.includes('new.person@example.com') && m.includes('/authn/register'))).toBe(
      true,
    )
    const carolToken = (await h.gql(MY_INVITES, {}, carol.token)).body.data.activeUser.projectInvites[0].token
    const declined = await h.gql(USE, { i: { projectId: project.id, token: carolToken, accept: false } }, carol.token)
    expect(declined.body.data.projectMutations.invites.use).toBe(true)
    expect((await h.ctx.projects.rolesOf(carol.user.id, [project.id])).size).toBe(0)
    const log = (await h.ctx.activity.forProject(project.id)).items.map((a) => [a.actionType, a.userId, a.info])
    expect(log.slice(0, 3)).toEqual([
      ['stream_invite_declined', carol.user.id, { targetId: carol.user.id, inviterId: owner.id }],
      ['stream_invite_sent', owner.id, { targetId: carol.user.id, targetEmail: null, role: 'stream:contributor' }],
      [
        'stream_invite_sent',
        owner.id,
        { targetId: null, targetEmail: 'new.person@example.com', role: 'stream:contributor' },
      ],
    ])

    const pending = (await h.gql(`{ project(id: "${project.id}") { invitedTeam { inviteId } } }`, {}, ownerToken)).body
      .data.project.invitedTeam
    expect(pending).toHaveLength(1)
    const CANCEL = `mutation($p: ID!, $i: String!) { projectMutations { invites { cancel(projectId: $p, inviteId: $i) {
      invitedTeam { inviteId } } } } }`
    const cancelled = await h.gql(CANCEL, { p: project.id, i: pending[0].inviteId }, ownerToken)
    expect(cancelled.body.data.projectMutations.invites.cancel.invitedTeam).toEqual([])
    const twice = await h.gql(CANCEL, { p: project.id, i: pending[0].inviteId }, ownerToken)
    expect(twice.body.errors[0].extensions.code).toBe('INVITE_NOT_FOUND')
  })

  it('invites an address as a guest when the server allows guests, never as an owner; admins only by admins', async () => {
    const project = await h.ctx.newProject(owner.id, { visibility: 'private' })
    const invite = async (input: Json, token = ownerToken) =>
      (await h.gql(CREATE, { p: project.id, i: input }, token)).body
    const serverRoleOf = async (email: string) =>
      (await h.sql.query<{ server_role: string }>('SELECT server_role FROM server_invites WHERE email = $1', [email]))
        .rows[0]?.server_role
    const off = await invite({ email: 'guest.off@example.com', serverRole: 'server:guest', role: 'stream:reviewer' })
    expect(off.errors[0]).toMatchObject({
      message: 'Guest mode is not enabled on this server',
      extensions: { code: 'INVITE_CREATE_ERROR' },
    })
    await h.deps.settings.update({ name: 'Truss test', guestModeEnabled: true })
    try {
      const ok = await invite({ email: 'guest.on@example.com', serverRole: 'server:guest', role: 'stream:reviewer' })
      expect(ok.errors).toBeUndefined()
      expect(await serverRoleOf('guest.on@example.com')).toBe('server:guest')
      const owner = await invite({ email: 'guest.owner@example.com', serverRole: 'server:guest', role: 'stream:owner' })
      expect(owner.errors[0].message).toBe('Guest users cannot be owners of projects')
      // A registered guest cannot be invited as an owner either.
      const guest = await member('Gus Guest')
      await h.ctx.users.setServerRole(guest.user.id, 'server:guest')
      const guestOwner = await invite({ userId: guest.user.id, role: 'stream:owner' })
      expect(guestOwner.errors[0].extensions.code).toBe('INVITE_CREATE_ERROR')
    } finally {
      await h.deps.settings.update({ name: 'Truss test', guestModeEnabled: false })
    }
    // `owner` is the first user (an admin): it may invite admins; a plain user owning a project may not.
    expect((await invite({ email: 'new.admin@example.com', serverRole: 'server:admin' })).errors).toBeUndefined()
    expect(await serverRoleOf('new.admin@example.com')).toBe('server:admin')
    const plain = await member('Pat Plain')
    const own = await h.ctx.newProject(plain.user.id)
    const plainToken = await h.ctx.newToken(plain.user.id, [...ALL_SCOPES])
    const refused = await h.gql(
      CREATE,
      { p: own.id, i: { email: 'wannabe@example.com', serverRole: 'server:admin' } },
      plainToken,
    )
    expect(refused.body.errors[0].message).toBe('Only server admins can assign the admin server role')
  })

  it('refuses bad invites with coded errors', async () => {
    const project = await h.ctx.newProject(owner.id, { visibility: 'private' })
    const dan = await member('Dan')
    const code = async (input: Json, token = ownerToken, projectId = project.id) =>
      (await h.gql(CREATE, { p: projectId, i: input }, token)).body.errors?.[0]?.extensions
    expect((await code({ userId: dan.user.id }))?.code).toBeUndefined()
    expect((await code({ userId: dan.user.id }))?.code).toBe('INVITE_CREATE_ERROR')
    expect((await code({ userId: owner.id }))?.code).toBe('INVITE_CREATE_ERROR')
    expect((await code({ email: 'x@example.com', role: 'stream:boss' }))?.code).toBe('INVITE_CREATE_ERROR')
    expect((await code({ email: 'x@example.com', userId: dan.user.id }))?.code).toBe('INVITE_CREATE_ERROR')
    expect((await code({}))?.code).toBe('INVITE_CREATE_ERROR')
    expect((await code({ email: 'x@example.com', serverRole: 'server:emperor' }))?.code).toBe('INVITE_CREATE_ERROR')
    expect((await code({ email: 'x@example.com', serverRole: 'server:guest' }))?.code).toBe('INVITE_CREATE_ERROR')
    expect((await code({ email: 'not an email' }))?.code).toBe('BAD_USER_INPUT')
    expect((await code({ userId: 'nobody0000' }))?.code).toBe('NOT_FOUND_ERROR')
    expect((await code({ email: 'y@example.com' }, ownerToken, 'missing000'))?.code).toBe('STREAM_NOT_FOUND')
    // A contributor is no owner; a token without users:invite says which scope it lacks.
    await h.ctx.projects.setRole({ projectId: project.id, userId: dan.user.id, role: 'stream:contributor' })
    const danInvite = await h.ctx.newToken(dan.user.id, ['streams:read', 'streams:write', 'users:invite'])
    expect((await code({ email: 'z@example.com' }, danInvite))?.code).toBe('FORBIDDEN')
    expect(await code({ email: 'z@example.com' }, dan.token)).toMatchObject({
      code: 'FORBIDDEN',
      scope: 'users:invite',
    })
    // Contributors see pending invites; reviewers do not.
    expect((await h.gql(`{ project(id: "${project.id}") { invitedTeam { title } } }`, {}, dan.token)).body.errors).toBe(
      undefined,
    )
    await h.ctx.projects.setRole({ projectId: project.id, userId: dan.user.id, role: 'stream:reviewer' })
    const reviewer = await h.gql(`{ project(id: "${project.id}") { invitedTeam { title } } }`, {}, dan.token)
    expect(reviewer.body.errors[0].extensions.code).toBe('FORBIDDEN')
    const badUse = await h.gql(USE, { i: { projectId: project.id, token: 'x', accept: true } }, dan.token)
    expect(badUse.body.errors[0].extensions.code).toBe('INVITE_NOT_FOUND')
  })

  it('speaks the legacy stream invite API over the same invites', async () => {
    const project = await h.ctx.newProject(owner.id, { name: 'Legacy', visibility: 'private' })
    const fay = await member('Fay')
    const created = await h.gql(
      'mutation($i: StreamInviteCreateInput!) { streamInviteCreate(input: $i) }',
      { i: { streamId: project.id, userId: fay.user.id, message: 'hi' } },
      ownerToken,
    )
    expect(created.body).toEqual({ data: { streamInviteCreate: true } })
    const pending = await h.gql(
      `{ stream(id: "${project.id}") { pendingCollaborators { inviteId streamName role user { id } } } }`,
      {},
      ownerToken,
    )
    const [invite] = pending.body.data.stream.pendingCollaborators
    expect(invite).toMatchObject({ streamName: 'Legacy', role: 'stream:contributor', user: { id: fay.user.id } })
    const mine = (await h.gql('{ streamInvites { inviteId token } }', {}, fay.token)).body.data.streamInvites
    expect(mine).toEqual([{ inviteId: invite.inviteId, token: expect.any(String) }])
    const byStream = await h.gql(`{ streamInvite(streamId: "${project.id}") { inviteId } }`, {}, fay.token)
    expect(byStream.body.data.streamInvite).toEqual({ inviteId: invite.inviteId })
    const used = await h.gql(
      'mutation($s: String!, $t: String!) { streamInviteUse(accept: true, streamId: $s, token: $t) }',
      { s: project.id, t: mine[0].token },
      fay.token,
    )
    expect(used.body).toEqual({ data: { streamInviteUse: true } })
    expect((await h.ctx.projects.rolesOf(fay.user.id, [project.id])).get(project.id)).toBe('stream:contributor')
    // Only owners see pending collaborators; cancelling an unknown invite is coded.
    const contributorView = await h.gql(
      `{ stream(id: "${project.id}") { pendingCollaborators { id } } }`,
      {},
      fay.token,
    )
    expect(contributorView.body.errors[0].extensions.code).toBe('FORBIDDEN')
    const cancel = await h.gql(
      `mutation { streamInviteCancel(streamId: "${project.id}", inviteId: "${invite.inviteId}") }`,
      {},
      ownerToken,
    )
    expect(cancel.body.errors[0].extensions.code).toBe('INVITE_NOT_FOUND')
  })

  it('sends server invites, refusing registered addresses and callers without users:invite', async () => {
    const SERVER = 'mutation($i: ServerInviteCreateInput!) { serverInviteCreate(input: $i) }'
    const sent = await h.gql(SERVER, { i: { email: 'Guest.One@example.com' } }, ownerToken)
    expect(sent.body).toEqual({ data: { serverInviteCreate: true } })
    expect((await mails()).some((m) => m.includes('guest.one@example.com'))).toBe(true)
    const batch = await h.gql(
      'mutation($i: [ServerInviteCreateInput!]!) { serverInviteBatchCreate(input: $i) }',
      { i: [{ email: 'a@example.com' }, { email: 'b@example.com' }] },
      ownerToken,
    )
    expect(batch.body).toEqual({ data: { serverInviteBatchCreate: true } })
    const taken = await h.gql(SERVER, { i: { email: owner.email } }, ownerToken)
    expect(taken.body.errors[0].extensions.code).toBe('INVITE_CREATE_ERROR')
    const bad = await h.gql(SERVER, { i: { email: 'nope' } }, ownerToken)
    expect(bad.body.errors[0].extensions.code).toBe('BAD_USER_INPUT')
    const erin = await member('Erin')
    const refused = await h.gql(SERVER, { i: { email: 'c@example.com' } }, erin.token)
    expect(refused.body.errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', scope: 'users:invite' })
  })
})
