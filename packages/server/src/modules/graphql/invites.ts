/** Project and server invites as the schema shows them (`PendingStreamCollaborator`) and makes them. */
import { BadUserInput, Conflict, NotFound } from '../../errors.js'
import type { ProjectInvite } from '../accounts/project-invites.js'
import type { User } from '../users/service.js'
import { requireServer } from '../policy/service.js'
import type { GraphqlContext } from './context.js'
import { authorize, limitedUser, loadProject, obj, required, str, type Args } from './helpers.js'

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

export async function inviteToServer(ctx: GraphqlContext, inputs: Args[]): Promise<boolean> {
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
