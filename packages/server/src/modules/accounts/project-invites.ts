/**
 * Project invites (Speckle's `projectMutations.invites`): a project owner invites a registered user or an
 * email address with a role; the invitee accepts (gaining the role) or declines with the invite's token; an
 * owner can cancel. An address with no account also gets a server invite, so it can register on an
 * invite-only server; the project invite then waits for the registered, verified address.
 */
import type { Mailer } from '../../adapters/mail/types.js'
import type { Sql, SqlExecutor } from '../../adapters/sql/types.js'
import { BadUserInput, NotFound } from '../../errors.js'
import type { ActivityService } from '../activity/service.js'
import { newId, randomAlphanumeric } from '../../ids.js'
import { isProjectRole, type ProjectRole, type ProjectsService } from '../projects/service.js'
import { normalizeEmail, type User, type UsersService } from '../users/service.js'
import { checkInviteServerRole, type ServerInvitesService } from './invites.js'
import {
  deleteProjectInvite,
  insertProjectInvite,
  selectInvitesForUser,
  selectProjectInviteByToken,
  selectProjectInvites,
  type ProjectInviteRow,
} from './repository.js'
import type { ServerSettingsService } from './settings.js'

export interface ProjectInvite {
  id: string
  /** What the invitee passes to `use`; shown only to the invitee. */
  token: string
  projectId: string
  role: ProjectRole
  /** Set when the invitee is a registered user. */
  userId: string | null
  /** Set when the invitee is an address without an account (yet). */
  email: string | null
  inviterId: string
  createdAt: Date
}

export interface CreateProjectInviteInput {
  projectId: string
  inviterId: string
  /** Exactly one of `email` and `userId`. */
  email?: string | null
  userId?: string | null
  /** Default `stream:contributor`. */
  role?: string | null
  /**
   * The server role an address without an account registers with (default `server:user`; see
   * `checkInviteServerRole`). Registered invitees keep theirs.
   */
  serverRole?: string | null
}

export interface ProjectInvitesService {
  /**
   * Invite and mail the invitee. Throws `BadUserInput` coded `INVITE_CREATE_ERROR` for a bad target, role, an
   * existing collaborator or a pending invite; `NotFound('user')` for an unknown user id.
   */
  create(input: CreateProjectInviteInput): Promise<ProjectInvite>
  /** Pending invites of each project. */
  forProjects(projectIds: readonly string[]): Promise<Map<string, ProjectInvite[]>>
  /** The pending invite to the project a token stands for, or null. */
  find(projectId: string, token: string): Promise<ProjectInvite | null>
  /** Pending invites for a user (by id, or by their verified address). */
  forUser(user: Pick<User, 'id' | 'email' | 'verified'>): Promise<ProjectInvite[]>
  /**
   * Accept (gaining the invite's role) or decline. Throws `NotFound` coded `INVITE_NOT_FOUND` when the token
   * is not an invite to the project for this user.
   */
  use(input: {
    projectId: string
    token: string
    accept: boolean
    user: Pick<User, 'id' | 'email' | 'verified'>
  }): Promise<void>
  /** Withdraw an invite; throws `NotFound` coded `INVITE_NOT_FOUND`. */
  cancel(input: { projectId: string; inviteId: string }): Promise<void>
}

export interface ProjectInvitesServiceOptions {
  sql: Sql
  /** Sending, accepting and declining an invite are logged in the transaction that makes the change. */
  activity: Pick<ActivityService, 'record'>
  users: Pick<UsersService, 'getById' | 'getByEmail'>
  projects: Pick<ProjectsService, 'getById' | 'rolesOf' | 'setRole'>
  serverInvites: Pick<ServerInvitesService, 'createInvite'>
  mailer: Mailer
  settings: Pick<ServerSettingsService, 'get'>
  publicUrl: string
}

const INVITE_TOKEN_LENGTH = 42

function toInvite(row: ProjectInviteRow): ProjectInvite {
  return {
    id: row.id,
    token: row.token,
    projectId: row.project_id,
    role: row.role as ProjectRole,
    userId: row.user_id,
    email: row.email,
    inviterId: row.inviter_id,
    createdAt: row.created_at,
  }
}

const createError = (message: string) => new BadUserInput(message, { graphqlCode: 'INVITE_CREATE_ERROR' })
const notFound = () => new NotFound('invite', undefined, { graphqlCode: 'INVITE_NOT_FOUND' })

function isFor(invite: ProjectInvite, user: Pick<User, 'id' | 'email' | 'verified'>): boolean {
  return invite.userId === user.id || (user.verified && invite.email !== null && invite.email === user.email)
}

export function createProjectInvitesService(options: ProjectInvitesServiceOptions): ProjectInvitesService {
  const { sql, users, projects, mailer, activity } = options

  return {
    async create(input) {
      const role = input.role ?? 'stream:contributor'
      if (!isProjectRole(role)) throw createError(`Unknown role ${role}`)
      const byEmail = typeof input.email === 'string' && input.email.trim() !== ''
      const byId = typeof input.userId === 'string' && input.userId !== ''
      if (byEmail === byId) throw createError('Give either an email address or a user id to invite')
      const invitee = byId ? await users.getById(input.userId!) : await users.getByEmail(normalizeEmail(input.email!))
      if (byId && invitee === null) throw new NotFound('user', input.userId!)
      if (invitee !== null && (await projects.rolesOf(invitee.id, [input.projectId])).has(input.projectId)) {
        throw createError('The target user is already a collaborator of the specified project')
      }
      const project = await projects.getById(input.projectId)
      if (project === null) throw new NotFound('project', input.projectId)
      const inviter = await users.getById(input.inviterId)
      if (inviter === null) throw new NotFound('user', input.inviterId)
      const { guestModeEnabled } = await options.settings.get()
      const serverRole = checkInviteServerRole(input.serverRole, inviter.serverRole, guestModeEnabled)
      // Speckle's rule: a guest (registered, or invited as one) cannot be made an owner.
      if ((invitee?.serverRole ?? serverRole) === 'server:guest' && role === 'stream:owner') {
        throw createError('Guest users cannot be owners of projects')
      }
      const email = invitee === null ? normalizeEmail(input.email!) : null
      const row = await sql.transaction(async (tx) => {
        const inserted = await insertProjectInvite(tx, {
          id: newId(),
          token: randomAlphanumeric(INVITE_TOKEN_LENGTH),
          projectId: input.projectId,
          role,
          userId: invitee?.id ?? null,
          email,
          inviterId: input.inviterId,
        })
        if (inserted === null) return null
        await activity.record(tx, {
          projectId: input.projectId,
          userId: input.inviterId,
          resourceType: 'stream',
          resourceId: input.projectId,
          actionType: 'stream_invite_sent',
          info: { targetId: invitee?.id ?? null, targetEmail: email, role },
        })
        return inserted
      })
      if (row === null) throw createError('This user has already been invited to the project')
      if (invitee === null) {
        // No account yet: the server invite's mail brings them to registration.
        await options.serverInvites.createInvite({ email: email!, inviterId: input.inviterId, serverRole })
      } else {
        const server = (await options.settings.get()).name
        const link = new URL(`projects/${project.id}`, `${options.publicUrl.replace(/\/+$/, '')}/`).href
        await mailer.send({
          to: invitee.email,
          subject: `${inviter.name} invited you to the project ${project.name}`,
          text: `${inviter.name} invited you to join the project "${project.name}" on ${server}.\n\nOpen it to accept or decline: ${link}\n`,
        })
      }
      return toInvite(row)
    },

    async forProjects(projectIds) {
      const out = new Map<string, ProjectInvite[]>(projectIds.map((id) => [id, []]))
      if (projectIds.length === 0) return out
      for (const row of await selectProjectInvites(sql, projectIds)) out.get(row.project_id)?.push(toInvite(row))
      return out
    },

    async find(projectId, token) {
      const row = await selectProjectInviteByToken(sql, projectId, token)
      return row === null ? null : toInvite(row)
    },

    async forUser(user) {
      return (await selectInvitesForUser(sql, user.id, user.verified ? user.email : null)).map(toInvite)
    },

    async use({ projectId, token, accept, user }) {
      const row = await selectProjectInviteByToken(sql, projectId, token)
      if (row === null || !isFor(toInvite(row), user)) throw notFound()
      // Two uses racing: only the one that deletes the invite changes anything.
      const consume = async (tx: SqlExecutor) => {
        if (!(await deleteProjectInvite(tx, projectId, row.id))) throw notFound()
      }
      if (accept) {
        await projects.setRole({
          projectId,
          userId: user.id,
          role: row.role as ProjectRole,
          actorId: row.inviter_id,
          fromInvite: { inviterId: row.inviter_id, consumeInvite: consume },
        })
        return
      }
      await sql.transaction(async (tx) => {
        await consume(tx)
        await activity.record(tx, {
          projectId,
          userId: user.id,
          resourceType: 'stream',
          resourceId: projectId,
          actionType: 'stream_invite_declined',
          info: { targetId: user.id, inviterId: row.inviter_id },
        })
      })
    },

    async cancel({ projectId, inviteId }) {
      if (!(await deleteProjectInvite(sql, projectId, inviteId))) throw notFound()
    },
  }
}
