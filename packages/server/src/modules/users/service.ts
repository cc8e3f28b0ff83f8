/**
 * Users: accounts with an email, a name, an Argon2id password hash and a server role. The first user ever
 * created becomes `server:admin` (as Speckle).
 */
import { hash, verify } from '@node-rs/argon2'
import type { Sql } from '../../adapters/sql/types.js'
import { BadUserInput, Conflict, NotFound } from '../../errors.js'
import { newId } from '../../ids.js'
import { SERVER_ROLES, type ServerRole } from '../../principal.js'
import type { ActivityService } from '../activity/service.js'
import type { TokensService } from '../tokens/service.js'
import {
  anyUserExists,
  countAdmins,
  insertUser,
  lockUserCreation,
  selectUserByEmail,
  selectUserById,
  selectUserForUpdate,
  selectUsersByIds,
  selectUsersPage,
  updateEmail,
  updatePasswordHash,
  updateProfile,
  updateServerRole,
  updateVerified,
  type UserRow,
} from './repository.js'

export interface User {
  id: string
  email: string
  name: string
  serverRole: ServerRole
  verified: boolean
  company: string | null
  bio: string | null
  avatar: string | null
  createdAt: Date
}

export interface CreateUserInput {
  email: string
  password: string
  name: string
  company?: string | null
  /** Make the user a server admin (the first user is one regardless). */
  admin?: boolean
}

/** Profile fields a user edits (Speckle's `UserUpdateInput`); undefined leaves a field, null or '' clears it. */
export interface UserProfileUpdate {
  /** Cannot be cleared. */
  name?: string | null
  company?: string | null
  bio?: string | null
  /** An image as a `data:image/…;base64,` URL (what Speckle's web app sends) or an http(s) URL. */
  avatar?: string | null
}

export interface UsersService {
  /** Throws `BadUserInput` for a malformed email, short password or empty name; `Conflict` for a taken email. */
  create(input: CreateUserInput): Promise<User>
  getById(id: string): Promise<User | null>
  /** The users that exist among `ids` (one query; order not guaranteed). */
  getMany(ids: readonly string[]): Promise<User[]>
  /**
   * Change profile fields, logging a `user_update` activity entry with it. Throws `BadUserInput` (empty name,
   * too long, malformed avatar) or `NotFound`.
   */
  update(userId: string, changes: UserProfileUpdate): Promise<User>
  /** Case-insensitive. */
  getByEmail(email: string): Promise<User | null>
  /** The user when the email and password match, else null (also for users without a password). */
  checkPassword(email: string, password: string): Promise<User | null>
  /** Set a new password (validated like `create`). Throws `BadUserInput` or `NotFound`. */
  setPassword(userId: string, password: string): Promise<void>
  /** Mark the user's email address verified. Throws `NotFound`. */
  markVerified(userId: string): Promise<void>
  /**
   * Change the user's address; it reads unverified until verified again. Throws `BadUserInput` (malformed or
   * the same address), `Conflict` (taken) or `NotFound`.
   */
  changeEmail(userId: string, email: string): Promise<User>
  /**
   * Change the user's server role (e.g. archive them); their tokens carry the new role on the next request,
   * on every server. Throws `BadUserInput` (unknown role, or demoting the last admin) or `NotFound`.
   */
  setServerRole(userId: string, role: string): Promise<void>
  /** Users newest first, matching `query` on name or email; `cursor` from the previous page. */
  list(options: { query?: string | null; limit: number; cursor?: string | null }): Promise<{
    items: User[]
    totalCount: number
    cursor: string | null
  }>
}

export interface UsersServiceOptions {
  sql: Sql
  /** Told when a user's role changes, so cached tokens stop carrying the old one (every server). */
  tokens?: Pick<TokensService, 'refreshUser'>
  /** Profile updates are logged (Speckle's `user_update`, `{ old, new }`) in the transaction that makes them. */
  activity?: Pick<ActivityService, 'record'>
}

export const MIN_PASSWORD_LENGTH = 8
// Long enough for any passphrase; bounded so a request cannot make the hash arbitrarily expensive.
const MAX_PASSWORD_LENGTH = 1024
const MAX_EMAIL_LENGTH = 320
const MAX_NAME_LENGTH = 512
const MAX_BIO_LENGTH = 2000
// A resized avatar image as a data URL is a few tens of kB; this bound keeps a user row small.
export const MAX_AVATAR_LENGTH = 256 * 1024
/** The largest avatar image, decoded (Speckle's web app sends a small resized data URL). */
export const MAX_AVATAR_BYTES = 180 * 1024
const AVATAR_DATA_URL = /^data:(image\/[a-z0-9.+-]+);base64,([A-Za-z0-9+/]+={0,2})$/i
const AVATAR_URL = /^https?:\/\/[^\s"'<>]+$/i
/**
 * Raster formats an avatar may be, with their file signatures. No SVG: it can carry scripts, and avatars
 * are shown by clients that trust them.
 */
const AVATAR_TYPES: Record<string, (bytes: Buffer) => boolean> = {
  'image/png': (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/jpeg': (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  'image/gif': (b) =>
    b.subarray(0, 6).toString('latin1') === 'GIF87a' || b.subarray(0, 6).toString('latin1') === 'GIF89a',
  'image/webp': (b) =>
    b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP',
}

/**
 * An avatar as Speckle's clients send it: a base64 `data:` URL of a PNG, JPEG, GIF or WebP image (checked
 * against its declared type and size), or an http(s) URL (identity providers' pictures).
 */
function validAvatar(avatar: string): string {
  if (AVATAR_URL.test(avatar)) return avatar
  const match = AVATAR_DATA_URL.exec(avatar)
  if (match === null) throw new BadUserInput('Avatar must be a base64 data:image URL or an http(s) URL')
  const type = match[1]!.toLowerCase()
  const signature = AVATAR_TYPES[type === 'image/jpg' ? 'image/jpeg' : type]
  if (signature === undefined) {
    throw new BadUserInput(`Avatar images must be PNG, JPEG, GIF or WebP, not ${type}`)
  }
  const bytes = Buffer.from(match[2]!, 'base64')
  if (bytes.length > MAX_AVATAR_BYTES) {
    throw new BadUserInput(`Avatar image is too large (${bytes.length} > ${MAX_AVATAR_BYTES} bytes): resize it first`)
  }
  if (!signature(bytes)) throw new BadUserInput(`Avatar data is not a ${type} image`)
  return avatar
}
// Deliberately loose: one @, something on each side, a dot in the domain, no spaces.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

/** Lower-cased and trimmed; throws `BadUserInput` when it does not look like an email address. */
export function normalizeEmail(email: string): string {
  const normalized = email.trim().toLowerCase()
  if (normalized.length > MAX_EMAIL_LENGTH || !EMAIL.test(normalized)) {
    throw new BadUserInput(`"${email}" is not a valid email address`)
  }
  return normalized
}

function validatePassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new BadUserInput(`Password must be at least ${MIN_PASSWORD_LENGTH} characters long`)
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    throw new BadUserInput(`Password must be at most ${MAX_PASSWORD_LENGTH} characters long`)
  }
}

function validateName(name: string): string {
  const trimmed = name.trim()
  if (trimmed.length === 0) throw new BadUserInput('Name must not be empty')
  if (trimmed.length > MAX_NAME_LENGTH) throw new BadUserInput(`Name must be at most ${MAX_NAME_LENGTH} characters`)
  return trimmed
}

/** Trimmed; '' becomes null; throws `BadUserInput` past `max`. */
function optionalText(value: string | null | undefined, field: string, max: number): string | null | undefined {
  if (value === undefined) return undefined
  const trimmed = value?.trim() ?? ''
  if (trimmed.length > max) throw new BadUserInput(`${field} must be at most ${max} characters`)
  return trimmed === '' ? null : trimmed
}

function validateProfile(changes: UserProfileUpdate) {
  if (changes.name === null) throw new BadUserInput('Name must not be empty')
  const avatar = optionalText(changes.avatar, 'Avatar', MAX_AVATAR_LENGTH)
  if (typeof avatar === 'string') validAvatar(avatar)
  return {
    name: changes.name === undefined ? undefined : validateName(changes.name),
    company: optionalText(changes.company, 'Company', MAX_NAME_LENGTH),
    bio: optionalText(changes.bio, 'Bio', MAX_BIO_LENGTH),
    avatar,
  }
}

function toUser(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    serverRole: row.server_role,
    verified: row.verified,
    company: row.company,
    bio: row.bio,
    avatar: row.avatar,
    createdAt: row.created_at,
  }
}

export function createUsersService({ sql, tokens, activity }: UsersServiceOptions): UsersService {
  return {
    async create(input) {
      const email = normalizeEmail(input.email)
      const name = validateName(input.name)
      validatePassword(input.password)
      const company = input.company?.trim() || null
      if (company !== null && company.length > MAX_NAME_LENGTH) {
        throw new BadUserInput(`Company must be at most ${MAX_NAME_LENGTH} characters`)
      }
      // Argon2id is the library's default (its `Algorithm` is a const enum, unusable with verbatimModuleSyntax).
      // Hash before the transaction: ~50 ms of CPU that should not hold the first-user lock.
      const passwordHash = await hash(input.password)
      const row = await sql.transaction(async (tx) => {
        await lockUserCreation(tx)
        const first = !(await anyUserExists(tx))
        const serverRole: ServerRole = first || input.admin === true ? 'server:admin' : 'server:user'
        return insertUser(tx, { id: newId(), email, name, passwordHash, serverRole, company })
      })
      if (row === null) throw new Conflict(`A user with email ${email} already exists`)
      return toUser(row)
    },

    async getById(id) {
      const row = await selectUserById(sql, id)
      return row === null ? null : toUser(row)
    },

    async getMany(ids) {
      return (await selectUsersByIds(sql, [...new Set(ids)])).map(toUser)
    },

    async list({ query, limit, cursor }) {
      let after: { createdAt: Date; id: string } | null = null
      if (cursor) {
        const [time, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|')
        const createdAt = new Date(time ?? '')
        if (!id || Number.isNaN(createdAt.getTime())) throw new BadUserInput('The cursor is not one this list gave')
        after = { createdAt, id }
      }
      const q = query?.trim() ? query.trim() : null
      const { rows, total } = await selectUsersPage(sql, { query: q, limit, after })
      const last = rows.at(-1)
      return {
        items: rows.map(toUser),
        totalCount: total,
        cursor:
          last && rows.length === limit
            ? Buffer.from(`${last.created_at.toISOString()}|${last.id}`).toString('base64url')
            : null,
      }
    },

    async update(userId, changes) {
      const update = validateProfile(changes)
      const given = Object.fromEntries(Object.entries(update).filter(([, value]) => value !== undefined))
      const row = await sql.transaction(async (tx) => {
        const before = await selectUserForUpdate(tx, userId)
        if (before === null) return null
        const after = await updateProfile(tx, userId, update)
        if (after === null || Object.keys(given).length === 0) return after
        // As Speckle's `addUserUpdatedActivity`: the profile before, and the fields the update set.
        await activity?.record(tx, {
          projectId: null,
          userId,
          resourceType: 'user',
          resourceId: userId,
          actionType: 'user_update',
          info: {
            old: { name: before.name, company: before.company, bio: before.bio, avatar: before.avatar },
            new: given,
          },
        })
        return after
      })
      if (row === null) throw new NotFound('user', userId)
      return toUser(row)
    },

    async getByEmail(email) {
      const row = await selectUserByEmail(sql, email.trim().toLowerCase())
      return row === null ? null : toUser(row)
    },

    async checkPassword(email, password) {
      const row = await selectUserByEmail(sql, email.trim().toLowerCase())
      if (row === null || row.password_hash === null || password.length > MAX_PASSWORD_LENGTH) return null
      return (await verify(row.password_hash, password)) ? toUser(row) : null
    },

    async setPassword(userId, password) {
      validatePassword(password)
      if (!(await updatePasswordHash(sql, userId, await hash(password)))) throw new NotFound('user', userId)
    },

    async markVerified(userId) {
      if (!(await updateVerified(sql, userId))) throw new NotFound('user', userId)
    },

    async changeEmail(userId, email) {
      const normalized = normalizeEmail(email)
      const current = await selectUserById(sql, userId)
      if (current === null) throw new NotFound('user', userId)
      if (current.email === normalized) throw new BadUserInput('That is already your email address.')
      if ((await selectUserByEmail(sql, normalized)) !== null) {
        throw new Conflict(`A user with email ${normalized} already exists`)
      }
      // A concurrent taker of the address loses to the unique index (mapped to Conflict).
      const row = await updateEmail(sql, userId, normalized)
      if (row === null) throw new NotFound('user', userId)
      return toUser(row)
    },

    async setServerRole(userId, role) {
      if (!(SERVER_ROLES as readonly string[]).includes(role)) {
        throw new BadUserInput(`Server role must be one of ${SERVER_ROLES.join(', ')}`)
      }
      const changed = await sql.transaction(async (tx) => {
        // The first-user lock also serializes role changes, so two demotions cannot leave no admin.
        await lockUserCreation(tx)
        const current = await selectUserForUpdate(tx, userId)
        if (current === null) throw new NotFound('user', userId)
        if (current.server_role === role) return false
        if (current.server_role === 'server:admin' && (await countAdmins(tx)) <= 1) {
          throw new BadUserInput('Cannot remove the last admin role from the server')
        }
        await updateServerRole(tx, userId, role as ServerRole)
        return true
      })
      if (changed) await tokens?.refreshUser(userId)
    },
  }
}
