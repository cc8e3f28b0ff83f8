/**
 * Accounts: registration and sign-in with a password (honouring invite-only servers), e-mail verification,
 * password reset and change. Links go out through the Mailer; their one-time tokens are stored hashed.
 */
import type { Mailer } from '../../adapters/mail/types.js'
import type { Sql } from '../../adapters/sql/types.js'
import { BadUserInput, Forbidden, NotFound } from '../../errors.js'
import { MIN_PASSWORD_LENGTH, type User, type UsersService } from '../users/service.js'
import type { ServerInvitesService } from './invites.js'
import {
  deleteEmailVerifications,
  deletePasswordResets,
  insertEmailVerification,
  insertPasswordReset,
  takeEmailVerification,
  takePasswordReset,
} from './repository.js'
import { linkWithToken, newLinkToken, sha256Hex } from './secrets.js'
import type { ServerSettingsService } from './settings.js'

export interface RegisterInput {
  email: string
  password: string
  name: string
  company?: string | null
  /** An invite token (`token`/`inviteId` query); required on an invite-only server. */
  inviteToken?: string | null
}

export interface AccountsService {
  /**
   * Create an account. Throws `BadUserInput` (bad fields, bad invite), `Forbidden` (invite-only server
   * without an invite) or `Conflict` (email taken). A user registered through an invite is verified.
   */
  register(input: RegisterInput): Promise<User>
  /** The user when the email and password match, else null. */
  login(email: string, password: string): Promise<User | null>
  /** Mail a verification link to the user's address. Throws `NotFound`, `BadUserInput` (already verified). */
  sendEmailVerification(userId: string): Promise<void>
  /** Mark the user a verification token was sent to verified. Throws `BadUserInput` for a bad token. */
  verifyEmail(token: string): Promise<User>
  /** Mail a reset link when the address belongs to a user; says nothing either way. */
  requestPasswordReset(email: string): Promise<void>
  /** Set a new password with a reset token. Throws `BadUserInput`. */
  finalizePasswordReset(token: string, password: string): Promise<void>
  /** Change a password, given the current one. Throws `BadUserInput`. */
  changePassword(userId: string, currentPassword: string, newPassword: string): Promise<void>
  /**
   * Change the address, given the password; the account reads unverified and a verification link goes to the
   * new address. Throws `BadUserInput` (wrong password, bad or same address) or `Conflict` (taken).
   */
  changeEmail(userId: string, password: string, newEmail: string): Promise<User>
}

export interface AccountsServiceOptions {
  sql: Sql
  users: UsersService
  mailer: Mailer
  settings: Pick<ServerSettingsService, 'get'>
  invites: ServerInvitesService
  /** The canonical URL links in mail start with. */
  publicUrl: string
  now?: () => number
  /** Default 7 days. */
  verificationTtlMs?: number
  /** Default 1 hour. */
  passwordResetTtlMs?: number
}

const HOUR_MS = 3_600_000

export function createAccountsService(options: AccountsServiceOptions): AccountsService {
  const { sql, users, mailer, settings, invites, publicUrl } = options
  const now = options.now ?? Date.now
  const verificationTtlMs = options.verificationTtlMs ?? 7 * 24 * HOUR_MS
  const passwordResetTtlMs = options.passwordResetTtlMs ?? HOUR_MS

  async function serverName(): Promise<string> {
    return (await settings.get()).name
  }

  const service: AccountsService = {
    async register(input) {
      const inviteToken = input.inviteToken ?? null
      if (inviteToken !== null) {
        const invite = await invites.find(inviteToken)
        if (invite === null) throw new BadUserInput('This invite is not valid (any more).')
        if (invite.email !== input.email.trim().toLowerCase()) {
          throw new BadUserInput(
            'Invite email mismatch. Please use the original email the invite was sent to register.',
          )
        }
      } else if ((await settings.get()).inviteOnly) {
        throw new Forbidden('This server is invite only. Please authenticate yourself through a valid invite link.')
      }
      const user = await users.create({
        email: input.email,
        password: input.password,
        name: input.name,
        company: input.company,
      })
      if (inviteToken === null) return user
      const invite = await invites.accept({ token: inviteToken, email: user.email })
      // The invite mail reached this address: that verifies it.
      await users.markVerified(user.id)
      // The invite's role, unless the user is the first one (an admin already). No token exists yet to refresh.
      if (user.serverRole === 'server:user' && invite.serverRole !== 'server:user') {
        await users.setServerRole(user.id, invite.serverRole)
        return { ...user, verified: true, serverRole: invite.serverRole }
      }
      return { ...user, verified: true }
    },

    login: (email, password) => users.checkPassword(email, password),

    async sendEmailVerification(userId) {
      const user = await users.getById(userId)
      if (user === null) throw new NotFound('user', userId)
      if (user.verified) throw new BadUserInput('Your email address is already verified.')
      const { token, hash } = newLinkToken()
      await insertEmailVerification(sql, {
        tokenHash: hash,
        userId,
        email: user.email,
        expiresAt: new Date(now() + verificationTtlMs),
      })
      const link = linkWithToken(publicUrl, '/verify-email', token)
      const server = await serverName()
      await mailer.send({
        to: user.email,
        subject: `Verify your email address for ${server}`,
        text: `Hello ${user.name},\n\nPlease verify your email address for ${server} by opening this link:\n${link}\n\nThe link is valid for ${Math.round(verificationTtlMs / HOUR_MS)} hours. If you did not create an account, ignore this message.\n`,
      })
    },

    async verifyEmail(token) {
      const row = await takeEmailVerification(sql, sha256Hex(token))
      if (row === null) throw new BadUserInput('This verification link is not valid (any more).')
      if (row.expires_at.getTime() <= now()) throw new BadUserInput('This verification link has expired.')
      const user = await users.getById(row.user_id)
      // The address changed since the link was sent: the link proves nothing about the new one.
      if (user === null || user.email !== row.email) {
        throw new BadUserInput('This verification link is not valid (any more).')
      }
      await users.markVerified(user.id)
      await deleteEmailVerifications(sql, user.id)
      return { ...user, verified: true }
    },

    async requestPasswordReset(email) {
      const user = await users.getByEmail(email)
      if (user === null) return
      const { token, hash } = newLinkToken()
      await insertPasswordReset(sql, {
        tokenHash: hash,
        userId: user.id,
        expiresAt: new Date(now() + passwordResetTtlMs),
      })
      const link = linkWithToken(publicUrl, '/reset-password', token)
      const server = await serverName()
      await mailer.send({
        to: user.email,
        subject: `Reset your password for ${server}`,
        text: `Hello ${user.name},\n\nSomeone asked to reset the password of your account on ${server}. To choose a new password, open this link:\n${link}\n\nThe link is valid for ${Math.round(passwordResetTtlMs / 60_000)} minutes. If you did not ask for this, ignore this message; your password stays as it is.\n`,
      })
    },

    async finalizePasswordReset(token, password) {
      // Checked before the token is used up, so a too-short password can be retried with the same link.
      if (password.length < MIN_PASSWORD_LENGTH) {
        throw new BadUserInput(`Password must be at least ${MIN_PASSWORD_LENGTH} characters long`)
      }
      const row = await takePasswordReset(sql, sha256Hex(token))
      if (row === null) throw new BadUserInput('This password reset link is not valid (any more).')
      if (row.expires_at.getTime() <= now()) throw new BadUserInput('This password reset link has expired.')
      await users.setPassword(row.user_id, password)
      await deletePasswordResets(sql, row.user_id)
    },

    async changePassword(userId, currentPassword, newPassword) {
      const user = await users.getById(userId)
      if (user === null) throw new NotFound('user', userId)
      if ((await users.checkPassword(user.email, currentPassword)) === null) {
        throw new BadUserInput('Your current password is not correct.')
      }
      await users.setPassword(userId, newPassword)
    },

    async changeEmail(userId, password, newEmail) {
      const user = await users.getById(userId)
      if (user === null) throw new NotFound('user', userId)
      if ((await users.checkPassword(user.email, password)) === null) {
        throw new BadUserInput('Your password is not correct.')
      }
      const changed = await users.changeEmail(userId, newEmail)
      // Links mailed to the old address must not verify the new one.
      await deleteEmailVerifications(sql, userId)
      await service.sendEmailVerification(userId)
      return changed
    },
  }
  return service
}
