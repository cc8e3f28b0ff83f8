/**
 * Server invites: an admin (or a user holding `users:invite`) invites an email address; the mail links to
 * the registration page with the invite token, which registration consumes. Needed on invite-only servers.
 */
import type { Mailer } from '../../adapters/mail/types.js'
import type { Sql } from '../../adapters/sql/types.js'
import { BadUserInput, Conflict, NotFound } from '../../errors.js'
import { newId } from '../../ids.js'
import type { ServerRole } from '../../principal.js'
import { normalizeEmail, type UsersService } from '../users/service.js'
import {
  deleteServerInvite,
  insertServerInvite,
  selectServerInviteByToken,
  type ServerInviteRow,
} from './repository.js'
import { linkWithToken, newLinkToken, sha256Hex } from './secrets.js'
import type { ServerSettingsService } from './settings.js'

export interface ServerInvite {
  id: string
  email: string
  inviterId: string | null
  /** The role the invitee registers with. */
  serverRole: ServerRole
  expiresAt: Date
  createdAt: Date
}

export interface ServerInvitesService {
  /**
   * Create an invite and mail its link. Throws `BadUserInput` (bad email, or a server role the inviter may
   * not give: see `checkInviteServerRole`), `Conflict` (already a user).
   */
  createInvite(input: { email: string; inviterId: string; serverRole?: string | null }): Promise<ServerInvite>
  /** The unexpired invite a token stands for, or null. */
  find(token: string): Promise<ServerInvite | null>
  /** Use an invite for `email`; throws `BadUserInput` when it is unknown, expired or for another address. */
  accept(input: { token: string; email: string }): Promise<ServerInvite>
}

export interface ServerInvitesServiceOptions {
  sql: Sql
  users: Pick<UsersService, 'getByEmail' | 'getById'>
  mailer: Mailer
  publicUrl: string
  /** The server's name for the mail. */
  settings: Pick<ServerSettingsService, 'get'>
  now?: () => number
  /** Default 30 days. */
  inviteTtlMs?: number
}

const INVITE_SERVER_ROLES: readonly string[] = ['server:admin', 'server:user', 'server:guest']

/**
 * The server role an invite may carry (Speckle's rule, `serverinvites/services/creation`): default
 * `server:user`; `server:admin` only from an admin; `server:guest` only while guest mode is on. Throws
 * `BadUserInput` coded `INVITE_CREATE_ERROR` with Speckle's messages.
 */
export function checkInviteServerRole(
  role: string | null | undefined,
  inviterRole: ServerRole,
  guestModeEnabled: boolean,
): ServerRole {
  const refuse = (message: string) => new BadUserInput(message, { graphqlCode: 'INVITE_CREATE_ERROR' })
  const serverRole = role ?? 'server:user'
  // Speckle accepts `server:archived-user` too; inviting someone into an archived account makes no sense.
  if (!INVITE_SERVER_ROLES.includes(serverRole)) throw refuse('Invalid server role')
  if (serverRole === 'server:admin' && inviterRole !== 'server:admin') {
    throw refuse('Only server admins can assign the admin server role')
  }
  if (serverRole === 'server:guest' && !guestModeEnabled) throw refuse('Guest mode is not enabled on this server')
  return serverRole as ServerRole
}

function toInvite(row: ServerInviteRow): ServerInvite {
  return {
    id: row.id,
    email: row.email,
    inviterId: row.inviter_id,
    serverRole: row.server_role,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
  }
}

export function createServerInvitesService(options: ServerInvitesServiceOptions): ServerInvitesService {
  const { sql, users, mailer, publicUrl } = options
  const now = options.now ?? Date.now
  const inviteTtlMs = options.inviteTtlMs ?? 30 * 24 * 3_600_000

  async function find(token: string): Promise<ServerInvite | null> {
    const row = await selectServerInviteByToken(sql, sha256Hex(token))
    if (row === null || row.expires_at.getTime() <= now()) return null
    return toInvite(row)
  }

  return {
    async createInvite({ email, inviterId, serverRole }) {
      const address = normalizeEmail(email)
      if ((await users.getByEmail(address)) !== null) {
        throw new Conflict('This email is already associated with an account on this server')
      }
      const inviter = await users.getById(inviterId)
      if (inviter === null) throw new NotFound('user', inviterId)
      const { guestModeEnabled } = await options.settings.get()
      const role = checkInviteServerRole(serverRole, inviter.serverRole, guestModeEnabled)
      const { token, hash } = newLinkToken()
      const row = await insertServerInvite(sql, {
        id: newId(),
        tokenHash: hash,
        email: address,
        inviterId,
        serverRole: role,
        expiresAt: new Date(now() + inviteTtlMs),
      })
      const link = linkWithToken(publicUrl, '/authn/register', token)
      const server = (await options.settings.get()).name
      await mailer.send({
        to: address,
        subject: `${inviter.name} invited you to ${server}`,
        text: `${inviter.name} invited you to join ${server}.\n\nCreate your account here: ${link}\n\nThe invite is valid until ${row.expires_at.toISOString()}.\n`,
      })
      return toInvite(row)
    },

    find,

    async accept({ token, email }) {
      const invite = await find(token)
      if (invite === null) throw new BadUserInput('This invite is not valid (any more).')
      if (invite.email !== email.trim().toLowerCase()) {
        throw new BadUserInput('Invite email mismatch. Please use the original email the invite was sent to register.')
      }
      // Two registrations racing for one invite: only the one that deletes it gets it.
      if (!(await deleteServerInvite(sql, invite.id))) throw new BadUserInput('This invite is not valid (any more).')
      return invite
    },
  }
}
