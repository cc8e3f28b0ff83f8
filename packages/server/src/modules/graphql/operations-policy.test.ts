/**
 * Every mutation the schema serves, against the policy end to end: one table names each operation (nested
 * `projectMutations.*`, `modelMutations.*`, … included) with a request aimed at a private project, and each is
 * sent anonymously, by a signed-in stranger holding every scope, by a reviewer (for writes), and by a guest
 * (for server-wide actions guests are refused). A guard fails when the schema gains a mutation the table lacks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getNamedType, isObjectType } from 'graphql'
import { SCOPES } from '../../principal.js'
import { createDomainSchema as createGraphqlSchema } from '../../graphql-schema.js'
import { graphqlHarness, type GraphqlHarness } from './test-utils.js'

interface Ids {
  project: string
  model: string
  version: string
  object: string
  user: string
}

interface Operation {
  doc: string
  vars: (ids: Ids) => Record<string, unknown>
  /** Project-scoped: a stranger is refused. Reviewers too unless `reviewerMay`. */
  project: boolean
  reviewerMay?: boolean
  /** Refused to guests (Speckle's server:user actions). */
  notForGuests?: boolean
}

const OPS: Record<string, Operation> = {
  'projectMutations.create': {
    doc: 'mutation { projectMutations { create(input: { name: "x" }) { id } } }',
    vars: () => ({}),
    project: false,
    notForGuests: true,
  },
  'projectMutations.update': {
    doc: 'mutation($id: ID!) { projectMutations { update(update: { id: $id, name: "y" }) { id } } }',
    vars: (i) => ({ id: i.project }),
    project: true,
  },
  'projectMutations.delete': {
    doc: 'mutation($id: String!) { projectMutations { delete(id: $id) } }',
    vars: (i) => ({ id: i.project }),
    project: true,
  },
  'projectMutations.updateRole': {
    doc: `mutation($p: String!, $u: String!) { projectMutations { updateRole(input: { projectId: $p, userId: $u,
      role: "stream:owner" }) { id } } }`,
    vars: (i) => ({ p: i.project, u: i.user }),
    project: true,
  },
  'projectMutations.leave': {
    doc: 'mutation($id: String!) { projectMutations { leave(id: $id) } }',
    vars: (i) => ({ id: i.project }),
    project: true,
    reviewerMay: true,
  },
  'projectMutations.batchDelete': {
    doc: 'mutation($id: String!) { projectMutations { batchDelete(ids: [$id]) } }',
    vars: (i) => ({ id: i.project }),
    project: true,
  },
  'projectMutations.invites.create': {
    doc: `mutation($p: ID!, $u: String!) { projectMutations { invites { create(projectId: $p, input: { userId: $u }) {
      id } } } }`,
    vars: (i) => ({ p: i.project, u: i.user }),
    project: true,
  },
  'projectMutations.invites.batchCreate': {
    doc: `mutation($p: ID!, $u: String!) { projectMutations { invites { batchCreate(projectId: $p,
      input: [{ userId: $u }]) { id } } } }`,
    vars: (i) => ({ p: i.project, u: i.user }),
    project: true,
  },
  'projectMutations.invites.use': {
    doc: `mutation($p: ID!) { projectMutations { invites { use(input: { projectId: $p, token: "nope", accept: true })
      } } }`,
    vars: (i) => ({ p: i.project }),
    project: false,
  },
  'projectMutations.invites.cancel': {
    doc: 'mutation($p: ID!) { projectMutations { invites { cancel(projectId: $p, inviteId: "nope") { id } } } }',
    vars: (i) => ({ p: i.project }),
    project: true,
  },
  'modelMutations.create': {
    doc: 'mutation($p: ID!) { modelMutations { create(input: { projectId: $p, name: "new" }) { id } } }',
    vars: (i) => ({ p: i.project }),
    project: true,
  },
  'modelMutations.update': {
    doc: 'mutation($p: ID!, $m: ID!) { modelMutations { update(input: { projectId: $p, id: $m, name: "z" }) { id } } }',
    vars: (i) => ({ p: i.project, m: i.model }),
    project: true,
  },
  'modelMutations.delete': {
    doc: 'mutation($p: ID!, $m: ID!) { modelMutations { delete(input: { projectId: $p, id: $m }) } }',
    vars: (i) => ({ p: i.project, m: i.model }),
    project: true,
  },
  'versionMutations.create': {
    doc: `mutation($p: String!, $m: String!, $o: String!) { versionMutations { create(input: { projectId: $p,
      modelId: $m, objectId: $o }) { id } } }`,
    vars: (i) => ({ p: i.project, m: i.model, o: i.object }),
    project: true,
  },
  'versionMutations.update': {
    doc: `mutation($p: ID!, $v: ID!) { versionMutations { update(input: { projectId: $p, versionId: $v,
      message: "m" }) { id } } }`,
    vars: (i) => ({ p: i.project, v: i.version }),
    project: true,
  },
  'versionMutations.delete': {
    doc: 'mutation($p: ID!, $v: ID!) { versionMutations { delete(input: { projectId: $p, versionIds: [$v] }) } }',
    vars: (i) => ({ p: i.project, v: i.version }),
    project: true,
  },
  'versionMutations.moveToModel': {
    doc: `mutation($p: ID!, $v: ID!) { versionMutations { moveToModel(input: { projectId: $p, versionIds: [$v],
      targetModelName: "elsewhere" }) { id } } }`,
    vars: (i) => ({ p: i.project, v: i.version }),
    project: true,
  },
  'versionMutations.markReceived': {
    doc: `mutation($p: String!, $v: String!) { versionMutations { markReceived(input: { projectId: $p,
      versionId: $v, sourceApplication: "test" }) } }`,
    vars: (i) => ({ p: i.project, v: i.version }),
    project: true,
    reviewerMay: true,
  },
  apiTokenCreate: {
    doc: 'mutation { apiTokenCreate(token: { name: "t", scopes: ["streams:read"] }) }',
    vars: () => ({}),
    project: false,
  },
  apiTokenRevoke: { doc: 'mutation { apiTokenRevoke(token: "abcdefghij") }', vars: () => ({}), project: false },
  appTokenCreate: {
    doc: 'mutation { appTokenCreate(token: { name: "t", scopes: ["streams:read"] }) }',
    vars: () => ({}),
    project: false,
  },
  'activeUserMutations.update': {
    doc: 'mutation { activeUserMutations { update(user: { bio: "hi" }) { id } } }',
    vars: () => ({}),
    project: false,
  },
  serverInfoUpdate: {
    doc: 'mutation { serverInfoUpdate(info: { name: "Hacked" }) }',
    vars: () => ({}),
    project: false,
    notForGuests: true,
  },
  userRoleChange: {
    doc: 'mutation($u: String!) { userRoleChange(userRoleInput: { id: $u, role: "server:archived-user" }) }',
    vars: (i) => ({ u: i.user }),
    project: false,
    notForGuests: true,
  },
  serverInviteCreate: {
    doc: 'mutation { serverInviteCreate(input: { email: "someone@example.com" }) }',
    vars: () => ({}),
    project: false,
    notForGuests: true,
  },
  serverInviteBatchCreate: {
    doc: 'mutation { serverInviteBatchCreate(input: [{ email: "someone@example.com" }]) }',
    vars: () => ({}),
    project: false,
    notForGuests: true,
  },
  streamInviteCreate: {
    doc: 'mutation($p: String!, $u: String!) { streamInviteCreate(input: { streamId: $p, userId: $u }) }',
    vars: (i) => ({ p: i.project, u: i.user }),
    project: true,
  },
  streamInviteUse: {
    doc: 'mutation($p: String!) { streamInviteUse(accept: true, streamId: $p, token: "nope") }',
    vars: (i) => ({ p: i.project }),
    project: false,
  },
  streamInviteCancel: {
    doc: 'mutation($p: String!) { streamInviteCancel(streamId: $p, inviteId: "nope") }',
    vars: (i) => ({ p: i.project }),
    project: true,
  },
  streamCreate: {
    doc: 'mutation { streamCreate(stream: { name: "s" }) }',
    vars: () => ({}),
    project: false,
    notForGuests: true,
  },
  streamUpdate: {
    doc: 'mutation($p: String!) { streamUpdate(stream: { id: $p, name: "renamed" }) }',
    vars: (i) => ({ p: i.project }),
    project: true,
  },
  streamDelete: {
    doc: 'mutation($p: String!) { streamDelete(id: $p) }',
    vars: (i) => ({ p: i.project }),
    project: true,
  },
  streamsDelete: {
    doc: 'mutation($p: String!) { streamsDelete(ids: [$p]) }',
    vars: (i) => ({ p: i.project }),
    project: true,
  },
  streamUpdatePermission: {
    doc: `mutation($p: String!, $u: String!) { streamUpdatePermission(permissionParams: { streamId: $p, userId: $u,
      role: "stream:owner" }) }`,
    vars: (i) => ({ p: i.project, u: i.user }),
    project: true,
  },
  streamRevokePermission: {
    doc: `mutation($p: String!, $u: String!) { streamRevokePermission(permissionParams: { streamId: $p,
      userId: $u }) }`,
    vars: (i) => ({ p: i.project, u: i.user }),
    project: true,
  },
  branchCreate: {
    doc: 'mutation($p: String!) { branchCreate(branch: { streamId: $p, name: "b" }) }',
    vars: (i) => ({ p: i.project }),
    project: true,
  },
  branchUpdate: {
    doc: 'mutation($p: String!, $m: String!) { branchUpdate(branch: { streamId: $p, id: $m, name: "c" }) }',
    vars: (i) => ({ p: i.project, m: i.model }),
    project: true,
  },
  branchDelete: {
    doc: 'mutation($p: String!, $m: String!) { branchDelete(branch: { streamId: $p, id: $m }) }',
    vars: (i) => ({ p: i.project, m: i.model }),
    project: true,
  },
  commitCreate: {
    doc: `mutation($p: String!, $o: String!) { commitCreate(commit: { streamId: $p, branchName: "main",
      objectId: $o }) }`,
    vars: (i) => ({ p: i.project, o: i.object }),
    project: true,
  },
  commitUpdate: {
    doc: 'mutation($p: String!, $v: String!) { commitUpdate(commit: { streamId: $p, id: $v, message: "m" }) }',
    vars: (i) => ({ p: i.project, v: i.version }),
    project: true,
  },
  commitReceive: {
    doc: `mutation($p: String!, $v: String!) { commitReceive(input: { streamId: $p, commitId: $v,
      sourceApplication: "test" }) }`,
    vars: (i) => ({ p: i.project, v: i.version }),
    project: true,
    reviewerMay: true,
  },
  commitDelete: {
    doc: 'mutation($p: String!, $v: String!) { commitDelete(commit: { streamId: $p, id: $v }) }',
    vars: (i) => ({ p: i.project, v: i.version }),
    project: true,
  },
  commitsMove: {
    doc: `mutation($p: ID!, $v: String!) { commitsMove(input: { streamId: $p, targetBranch: "elsewhere",
      commitIds: [$v] }) }`,
    vars: (i) => ({ p: i.project, v: i.version }),
    project: true,
  },
  commitsDelete: {
    doc: 'mutation($p: ID!, $v: String!) { commitsDelete(input: { streamId: $p, commitIds: [$v] }) }',
    vars: (i) => ({ p: i.project, v: i.version }),
    project: true,
  },
  objectCreate: {
    doc: `mutation($p: String!) { objectCreate(objectInput: { streamId: $p,
      objects: [{ id: "0123456789abcdef0123456789abcdef", speckle_type: "Base" }] }) }`,
    vars: (i) => ({ p: i.project }),
    project: true,
  },
}

/** Every mutation path the schema serves: `Mutation` fields, descending into `…Mutations` objects. */
function schemaMutations(): string[] {
  const schema = createGraphqlSchema()
  const out: string[] = []
  const walk = (type: ReturnType<typeof schema.getMutationType>, prefix: string) => {
    for (const field of Object.values(type!.getFields())) {
      const named = getNamedType(field.type)
      if (isObjectType(named) && named.name.endsWith('Mutations') && field.args.length === 0) {
        walk(named, `${prefix}${field.name}.`)
      } else out.push(`${prefix}${field.name}`)
    }
  }
  walk(schema.getMutationType(), '')
  return out.sort()
}

// A refusal, and nothing else: permission codes, or NOT_FOUND-family codes that do not reveal the project.
const REFUSED = /^(FORBIDDEN|STREAM_NOT_FOUND|INVITE_NOT_FOUND)$/

describe('every mutation against the policy (pglite)', () => {
  let h: GraphqlHarness
  let ids: Ids
  let stranger: string
  let reviewer: string
  let guest: string

  beforeAll(async () => {
    h = await graphqlHarness('pglite')
    const owner = await h.ctx.newUser()
    const project = await h.ctx.newProject(owner.id, { visibility: 'private' })
    const model = await h.ctx.models.create({ projectId: project.id, name: 'walls', actorId: owner.id })
    const version = await h.ctx.newVersion(project.id, model.id, owner.id)
    const object = await h.ctx.newObjectTree(project.id)
    const strangerUser = await h.ctx.newUser()
    const reviewerUser = await h.ctx.newUser()
    const guestUser = await h.ctx.newUser()
    await h.ctx.users.setServerRole(guestUser.id, 'server:guest')
    await h.ctx.projects.setRole({ projectId: project.id, userId: reviewerUser.id, role: 'stream:reviewer' })
    ids = { project: project.id, model: model.id, version: version.id, object, user: reviewerUser.id }
    stranger = await h.ctx.newToken(strangerUser.id, [...SCOPES])
    reviewer = await h.ctx.newToken(reviewerUser.id, [...SCOPES])
    guest = await h.ctx.newToken(guestUser.id, [...SCOPES])
  })

  afterAll(async () => {
    await h?.close()
  })

  it('lists every mutation the schema serves', () => {
    expect(Object.keys(OPS).sort()).toEqual(schemaMutations())
  })

  const rows = Object.entries(OPS)

  it.each(rows)('%s: refused anonymously with FORBIDDEN', async (_name, op) => {
    const { body } = await h.gql(op.doc, op.vars(ids))
    expect(body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
  })

  it.each(rows.filter(([, op]) => op.project))(
    '%s: refused to a stranger holding every scope, without a hint beyond the project',
    async (_name, op) => {
      const { body } = await h.gql(op.doc, op.vars(ids), stranger)
      expect(body.errors?.[0]?.extensions?.code).toMatch(REFUSED)
    },
  )

  it.each(rows.filter(([, op]) => op.project && !op.reviewerMay))('%s: refused to a reviewer', async (_name, op) => {
    const { body } = await h.gql(op.doc, op.vars(ids), reviewer)
    expect(body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
  })

  it.each(rows.filter(([, op]) => op.notForGuests))('%s: refused to a guest', async (_name, op) => {
    const { body } = await h.gql(op.doc, op.vars(ids), guest)
    expect(body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN')
  })

  it('answers a stranger the same for unknown and known models and versions of a private project', async () => {
    for (const [name, unknown] of [
      ['modelMutations.update', { ...ids, model: 'unknown000' }],
      ['versionMutations.update', { ...ids, version: 'unknown000' }],
      ['commitReceive', { ...ids, version: 'unknown000' }],
    ] as const) {
      const op = OPS[name]!
      const known = await h.gql(op.doc, op.vars(ids), stranger)
      const missing = await h.gql(op.doc, op.vars(unknown), stranger)
      expect(missing.body.errors[0].extensions.code).toBe(known.body.errors[0].extensions.code)
      expect(missing.body.errors[0].message).toBe(known.body.errors[0].message)
    }
  })

  it('left the project as it was', async () => {
    const project = await h.ctx.projects.getById(ids.project)
    expect(project?.name).not.toBe('renamed')
    expect((await h.ctx.versions.getById(ids.project, ids.version))?.message).toBe('a version')
    expect((await h.ctx.projects.team(ids.project)).map((m) => m.role).sort()).toEqual([
      'stream:owner',
      'stream:reviewer',
    ])
  })
})
