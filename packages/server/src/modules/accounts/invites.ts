/**
 * Server invites: an admin (or a user holding `users:invite`) invites an email address; the mail links to
 * the registration page with the invite token, which registration consumes. Needed on invite-only servers.
 */
import type { Mailer } from '../../adapters/mail/types.js'
import type { Sql } from '../../adapters/sql/types.js'
import { BadUserInput, Conflict, NotFound } from '../../errors.js'
import { newId } from '../auth/ids.js'
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
  expiresAt: Date
  createdAt: Date
}

export interface ServerInvitesService {
  /** Create an invite and mail its link. Throws `BadUserInput` (bad email), `Conflict` (already a user). */
  createInvite(input: { email: string; inviterId: string }): Promise<ServerInvite>
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

function toInvite(row: ServerInviteRow): ServerInvite {
  return {
    id: row.id,
    email: row.email,
    inviterId: row.inviter_id,
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
    async createInvite({ email, inviterId }) {
      const address = normalizeEmail(email)
      if ((await users.getByEmail(address)) !== null) {
        throw new Conflict('This email is already associated with an account on this server')
      }
      const inviter = await users.getById(inviterId)
      if (inviter === null) throw new NotFound('user', inviterId)
      const { token, hash } = newLinkToken()
      const row = await insertServerInvite(sql, {
        id: newId(),
        tokenHash: hash,
        email: address,
        inviterId,
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
