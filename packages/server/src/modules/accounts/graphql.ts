/**
 * The accounts slice: what the server says about itself (`serverInfo`, edited by `serverInfoUpdate`) and
 * invites (to a project, `PendingStreamCollaborator`, and to the server). The legacy slice's `streamInvite*`
 * fields use the invite functions exported here.
 */
import { BadUserInput, Conflict, Forbidden, NotFound } from '../../errors.js'
import { SCOPES } from '../../principal.js'
import type { GraphqlContext } from '../graphql/context.js'
import {
  authorize,
  authorizeLoaded,
  limitedUser,
  loadProject,
  obj,
  required,
  scopeItem,
  str,
  type Args,
} from '../graphql/helpers.js'
import type { ResolverMap } from '../graphql/resolvers.js'
import type { GraphqlSlice } from '../graphql/schema.js'
import { requireServer } from '../policy/service.js'
import type { Project } from '../projects/service.js'
import type { User } from '../users/service.js'
import type { ProjectInvite } from './project-invites.js'

const typeDefs = /* GraphQL */ `
  type ServerInfo {
    name: String!
    company: String
    description: String
    adminContact: String
    canonicalUrl: String
    termsOfService: String
    inviteOnly: Boolean
    guestModeEnabled: Boolean!
    version: String
    scopes: [Scope!]!
    serverRoles: [ServerRoleItem!]!
    authStrategies: [AuthStrategy!]!
    configuration: ServerConfiguration!
    migration: ServerMigration
    automateUrl: String
    workspaces: ServerWorkspacesInfo!
  }
  type ServerWorkspacesInfo {
    workspacesEnabled: Boolean!
  }
  type Scope {
    name: String!
    description: String!
  }
  type ServerRoleItem {
    id: String!
    title: String!
  }
  type AuthStrategy {
    id: String!
    name: String!
    icon: String!
    url: String!
    color: String
  }
  type ServerConfiguration {
    objectSizeLimitBytes: Int!
    objectMultipartUploadSizeLimitBytes: Int!
    blobSizeLimitBytes: Int!
    isEmailEnabled: Boolean!
  }
  type ServerMigration {
    movedFrom: String
    movedTo: String
  }

  input ServerInfoUpdateInput {
    name: String!
    company: String
    description: String
    adminContact: String
    termsOfService: String
    inviteOnly: Boolean
    guestModeEnabled: Boolean
  }

  type PendingStreamCollaborator {
    id: String!
    inviteId: String!
    projectId: String!
    projectName: String!
    streamId: String!
    streamName: String!
    title: String!
    role: String!
    invitedBy: LimitedUser!
    user: LimitedUser
    token: String
  }
  type ProjectInviteMutations {
    create(projectId: ID!, input: ProjectInviteCreateInput!): Project!
    batchCreate(projectId: ID!, input: [ProjectInviteCreateInput!]!): Project!
    use(input: ProjectInviteUseInput!): Boolean!
    cancel(projectId: ID!, inviteId: String!): Project!
  }
  input ProjectInviteCreateInput {
    email: String
    userId: String
    role: String
    serverRole: String
  }
  input ProjectInviteUseInput {
    projectId: ID!
    token: String!
    accept: Boolean!
  }
  input ServerInviteCreateInput {
    email: String!
    message: String
    serverRole: String
  }

  extend type Query {
    serverInfo: ServerInfo!
    projectInvite(projectId: String!, token: String): PendingStreamCollaborator
  }

  extend type User {
    projectInvites: [PendingStreamCollaborator!]!
  }

  extend type Project {
    invitedTeam: [PendingStreamCollaborator!]
  }

  extend type ProjectMutations {
    invites: ProjectInviteMutations!
  }

  extend type Mutation {
    serverInfoUpdate(info: ServerInfoUpdateInput!): Boolean
    serverInviteCreate(input: ServerInviteCreateInput!): Boolean!
    serverInviteBatchCreate(input: [ServerInviteCreateInput!]!): Boolean!
  }
`

/** Speckle's `PendingStreamCollaborator`; the token only for the invitee. */
export function pendingCollaborator(ctx: GraphqlContext, invite: ProjectInvite) {
  const projectName = async () => (await ctx.loaders.projects.load(invite.projectId))?.name ?? ''
  const invitee = async () => (invite.userId === null ? null : ctx.loaders.users.load(invite.userId))
  return {
    id: invite.id,
    inviteId: invite.id,
    projectId: invite.projectId,
    streamId: invite.projectId,
    projectName,
    streamName: projectName,
    title: async () => (await invitee())?.name ?? invite.email ?? '',
    role: invite.role,
    invitedBy: async () => limitedUser(await ctx.loaders.users.load(invite.inviterId)),
    user: async () => limitedUser(await invitee()),
    token: async () => {
      if (ctx.principal === null) return null
      if (invite.userId === ctx.principal.userId) return invite.token
      const me = await ctx.loaders.users.load(ctx.principal.userId)
      return me !== null && me.verified && me.email === invite.email ? invite.token : null
    },
  }
}

export function inviteInputs(v: unknown): Args[] {
  const inputs = Array.isArray(v) ? v.map(obj) : [obj(v)]
  if (inputs.length === 0 || inputs.length > 100) throw new BadUserInput('Invite between 1 and 100 people at once')
  return inputs
}

/**
 * Invite each input to the project (owners, `users:invite`), in order; the first refused stops the batch, the
 * invites before it stay.
 */
export async function inviteToProject(ctx: GraphqlContext, projectId: string, inputs: Args[]) {
  const principal = requireServer(ctx.principal, 'inviteUsers')
  await authorize(ctx, projectId, 'manage')
  for (const input of inputs) {
    await ctx.deps.invites.project.create({
      projectId,
      inviterId: principal.userId,
      email: str(input.email),
      userId: str(input.userId),
      role: str(input.role),
      serverRole: str(input.serverRole),
    })
  }
  ctx.loaders.projectInvites.clear(projectId)
  return loadProject(ctx, projectId)
}

async function inviteToServer(ctx: GraphqlContext, inputs: Args[]): Promise<boolean> {
  const principal = requireServer(ctx.principal, 'inviteUsers')
  const emails = inputs.map((input) => ({ email: required(input.email, 'email'), serverRole: str(input.serverRole) }))
  for (const { email, serverRole } of emails) {
    try {
      await ctx.deps.invites.server.createInvite({ email, inviterId: principal.userId, serverRole })
    } catch (err) {
      if (err instanceof Conflict) throw new BadUserInput(err.message, { graphqlCode: 'INVITE_CREATE_ERROR' })
      throw err
    }
  }
  return true
}

/** The caller's pending invites. */
export async function myInvites(ctx: GraphqlContext, me: User) {
  return (await ctx.deps.invites.project.forUser(me)).map((i) => pendingCollaborator(ctx, i))
}

/**
 * `projectInvite` / `streamInvite`: with a token, whoever holds it may look (as Speckle, before signing up);
 * without, the caller's own invite to the project.
 */
export async function lookupInvite(ctx: GraphqlContext, projectId: string, token: string | null) {
  if (token) {
    const invite = await ctx.deps.invites.project.find(projectId, token)
    return invite === null ? null : pendingCollaborator(ctx, invite)
  }
  if (ctx.principal === null) return null
  const me = await ctx.loaders.users.load(ctx.principal.userId)
  if (me === null) return null
  const invite = (await ctx.deps.invites.project.forUser(me)).find((i) => i.projectId === projectId)
  return invite === undefined ? null : pendingCollaborator(ctx, invite)
}

/** Accept or decline an invite meant for the caller. */
export async function useInvite(ctx: GraphqlContext, projectId: string, token: string, accept: unknown) {
  const principal = requireServer(ctx.principal, 'useInvite')
  if (typeof accept !== 'boolean') throw new BadUserInput('accept is required')
  const me = await ctx.loaders.users.load(principal.userId)
  if (me === null) throw new NotFound('user', principal.userId)
  await ctx.deps.invites.project.use({ projectId, token, accept, user: me })
  ctx.loaders.roles.clear(projectId)
  ctx.loaders.teams.clear(projectId)
  ctx.loaders.projectInvites.clear(projectId)
  return true
}

/** Withdraw an invite (project owners, `users:invite`). */
export async function cancelInvite(ctx: GraphqlContext, projectId: string, inviteId: string) {
  requireServer(ctx.principal, 'inviteUsers')
  await authorize(ctx, projectId, 'manage')
  await ctx.deps.invites.project.cancel({ projectId, inviteId })
  ctx.loaders.projectInvites.clear(projectId)
}

function resolvers(): ResolverMap {
  return {
    Query: {
      serverInfo: async (_p: unknown, _a: Args, ctx: GraphqlContext) => {
        const info = ctx.deps.serverInfo
        // Read per request: an admin's `serverInfoUpdate` shows on the next query, on every node.
        const settings = await ctx.deps.settings.get()
        return {
          ...info,
          ...settings,
          scopes: SCOPES.map(scopeItem),
          serverRoles: [
            { id: 'server:admin', title: 'Admin' },
            { id: 'server:user', title: 'User' },
            { id: 'server:guest', title: 'Guest' },
            { id: 'server:archived-user', title: 'Archived' },
          ],
          authStrategies: [{ id: 'local', name: 'Local', icon: 'TODO', url: '/auth/local', color: null }],
          configuration: info,
          migration: null,
          automateUrl: null,
          workspaces: { workspacesEnabled: false },
        }
      },
      projectInvite: (_p: unknown, args: Args, ctx: GraphqlContext) =>
        lookupInvite(ctx, required(args.projectId, 'projectId'), str(args.token)),
    },
    User: {
      projectInvites: (u: User, _a: Args, ctx: GraphqlContext) => {
        if (ctx.principal?.userId !== u.id) throw new Forbidden('You can only see your own invites')
        requireServer(ctx.principal, 'readOwnInvites')
        return myInvites(ctx, u)
      },
    },
    Project: {
      invitedTeam: async (p: Project, _a: Args, ctx: GraphqlContext) => {
        await authorizeLoaded(ctx, p, 'readInvites')
        return (await ctx.loaders.projectInvites.load(p.id)).map((i) => pendingCollaborator(ctx, i))
      },
    },
    ProjectMutations: {
      invites: () => ({}),
    },
    ProjectInviteMutations: {
      create: (_p: unknown, args: Args, ctx: GraphqlContext) =>
        inviteToProject(ctx, required(args.projectId, 'projectId'), inviteInputs(args.input)),
      batchCreate: (_p: unknown, args: Args, ctx: GraphqlContext) =>
        inviteToProject(ctx, required(args.projectId, 'projectId'), inviteInputs(args.input ?? [])),
      use: (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const input = obj(args.input)
        return useInvite(ctx, required(input.projectId, 'projectId'), required(input.token, 'token'), input.accept)
      },
      cancel: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const projectId = required(args.projectId, 'projectId')
        await cancelInvite(ctx, projectId, required(args.inviteId, 'inviteId'))
        return loadProject(ctx, projectId)
      },
    },
    Mutation: {
      serverInfoUpdate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        requireServer(ctx.principal, 'manageServer')
        const input = obj(args.info)
        // Text fields: absent leaves them, null or '' clears them; null flags leave them.
        const text = (key: string) => (input[key] === undefined ? undefined : str(input[key]))
        const flag = (key: string) => (typeof input[key] === 'boolean' ? input[key] : undefined)
        await ctx.deps.settings.update({
          name: required(str(input.name)?.trim(), 'name'),
          company: text('company'),
          description: text('description'),
          adminContact: text('adminContact'),
          termsOfService: text('termsOfService'),
          inviteOnly: flag('inviteOnly'),
          guestModeEnabled: flag('guestModeEnabled'),
        })
        return true
      },
      serverInviteCreate: (_p: unknown, args: Args, ctx: GraphqlContext) =>
        inviteToServer(ctx, inviteInputs(args.input)),
      serverInviteBatchCreate: (_p: unknown, args: Args, ctx: GraphqlContext) =>
        inviteToServer(ctx, inviteInputs(args.input ?? [])),
    },
  }
}

export function accountsSlice(): GraphqlSlice {
  return { name: 'accounts', typeDefs, resolvers: resolvers() }
}
