/**
 * Apps and the app flow (WIRE.md "Auth: the app flow"): registered apps with a secret, redirect URL and
 * scopes; single-use access codes bound to an app, a user and the client's challenge; and the exchange of a
 * code (or a refresh token) for an API token carrying the app's scopes plus a new refresh token.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Sql } from '../../adapters/sql/types.js'
import { NotFound, Unauthenticated } from '../../errors.js'
import { ID_LENGTH, randomAlphanumeric } from '../../ids.js'
import type { TokensService } from '../tokens/service.js'
import { BUILT_IN_APPS, builtInRedirectUrl } from './builtin.js'
import {
  deleteExpiredAccessCodes,
  deleteRefreshToken,
  insertAccessCode,
  insertRefreshToken,
  selectApp,
  selectAppsAuthorizedBy,
  selectAppsByAuthor,
  selectRefreshToken,
  takeAccessCode,
  upsertApp,
  type AppRow,
} from './repository.js'

export interface App {
  id: string
  name: string
  description: string | null
  redirectUrl: string
  scopes: string[]
  trusted: boolean
  public: boolean
  authorId: string | null
  createdAt: Date
}

export interface TokenPair {
  token: string
  refreshToken: string
}

export interface AppsService {
  /** Create or update the built-in apps (idempotent; run at every start, `PUBLIC_URL` may have changed). */
  ensureBuiltInApps(publicUrl: string): Promise<void>
  get(appId: string): Promise<App | null>
  /** A 42-character single-use code for `appId`, valid for the access-code lifetime. Throws `NotFound('app')`. */
  createAccessCode(input: { appId: string; userId: string; challenge: string }): Promise<string>
  /**
   * Exchange an access code for a token pair. The code is deleted first, so it is used at most once even
   * when the exchange fails. Throws `Unauthenticated` with Speckle's messages.
   */
  exchangeAccessCode(input: {
    appId: string
    appSecret: string
    accessCode: string
    challenge: string
  }): Promise<TokenPair>
  /** A new token pair for a refresh token; the old refresh token stays valid (as Speckle). */
  refresh(input: { appId: string; appSecret: string; refreshToken: string }): Promise<TokenPair>
  /** The apps a user registered. */
  createdBy(userId: string): Promise<App[]>
  /** The apps a user authorized (holding one of the user's unexpired refresh tokens). */
  authorizedBy(userId: string): Promise<App[]>
  /** Delete a refresh token, if it is one; `userId` (when given) must own it. */
  revokeRefreshToken(refreshToken: string, userId?: string): Promise<boolean>
}

export interface AppsServiceOptions {
  sql: Sql
  tokens: Pick<TokensService, 'createAppToken'>
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number
  /** Default 10 minutes (Speckle's). */
  accessCodeTtlMs?: number
  /** Default about 6 months (Speckle's). */
  refreshTokenTtlMs?: number
  /** Lifetime of the API tokens apps get; default 2 weeks, the clients refresh them. */
  appTokenTtlMs?: number
}

const MINUTE_MS = 60_000
const DAY_MS = 24 * 60 * MINUTE_MS
const ACCESS_CODE_LENGTH = 42
const REFRESH_SECRET_LENGTH = 32

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex')
  const right = Buffer.from(b, 'hex')
  return left.length === right.length && timingSafeEqual(left, right)
}

function toApp(row: AppRow): App {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    redirectUrl: row.redirect_url,
    scopes: row.scopes,
    trusted: row.trusted,
    public: row.public,
    authorId: row.author_id,
    createdAt: row.created_at,
  }
}

export function createAppsService(options: AppsServiceOptions): AppsService {
  const { sql, tokens } = options
  const now = options.now ?? Date.now
  const accessCodeTtlMs = options.accessCodeTtlMs ?? 10 * MINUTE_MS
  const refreshTokenTtlMs = options.refreshTokenTtlMs ?? 180 * DAY_MS
  const appTokenTtlMs = options.appTokenTtlMs ?? 14 * DAY_MS

  /** The app when the secret is its secret, else null. */
  async function authenticateApp(appId: string, appSecret: string): Promise<App | null> {
    const row = await selectApp(sql, appId)
    if (row === null || !sameHash(sha256Hex(appSecret), row.secret_hash)) return null
    return toApp(row)
  }

  async function issue(app: App, userId: string): Promise<TokenPair> {
    const at = now()
    const token = await tokens.createAppToken({
      userId,
      appId: app.id,
      name: app.name,
      scopes: app.scopes,
      expiresAt: new Date(at + appTokenTtlMs),
    })
    const id = randomAlphanumeric(ID_LENGTH)
    const secret = randomAlphanumeric(REFRESH_SECRET_LENGTH)
    await insertRefreshToken(sql, {
      id,
      tokenHash: sha256Hex(secret),
      appId: app.id,
      userId,
      expiresAt: new Date(at + refreshTokenTtlMs),
    })
    return { token, refreshToken: id + secret }
  }

  return {
    createdBy: async (userId) => (await selectAppsByAuthor(sql, userId)).map(toApp),
    authorizedBy: async (userId) => (await selectAppsAuthorizedBy(sql, userId, new Date(now()))).map(toApp),

    async ensureBuiltInApps(publicUrl) {
      await sql.transaction(async (tx) => {
        for (const app of BUILT_IN_APPS) {
          await upsertApp(tx, {
            id: app.id,
            secretHash: sha256Hex(app.id),
            name: app.name,
            description: app.description,
            redirectUrl: builtInRedirectUrl(app, publicUrl),
            scopes: app.scopes,
            trusted: true,
            public: false,
          })
        }
      })
    },

    async get(appId) {
      const row = await selectApp(sql, appId)
      return row === null ? null : toApp(row)
    },

    async createAccessCode({ appId, userId, challenge }) {
      if ((await selectApp(sql, appId)) === null) throw new NotFound('app', appId)
      const code = randomAlphanumeric(ACCESS_CODE_LENGTH)
      const at = now()
      await deleteExpiredAccessCodes(sql, new Date(at))
      await insertAccessCode(sql, {
        codeHash: sha256Hex(code),
        appId,
        userId,
        challenge,
        expiresAt: new Date(at + accessCodeTtlMs),
      })
      return code
    },

    // Checks and messages in Speckle's order (server `modules/core/services/apps.js`).
    async exchangeAccessCode({ appId, appSecret, accessCode, challenge }) {
      const code = await takeAccessCode(sql, sha256Hex(accessCode))
      if (code === null) throw new Unauthenticated('Access code not found.')
      if (code.app_id !== appId || code.challenge !== challenge) throw new Unauthenticated('Invalid request')
      if (code.expires_at.getTime() <= now()) throw new Unauthenticated('Access code expired')
      const app = await authenticateApp(appId, appSecret)
      if (app === null) throw new Unauthenticated('Invalid app credentials')
      return issue(app, code.user_id)
    },

    async refresh({ appId, appSecret, refreshToken }) {
      const row = await selectRefreshToken(sql, refreshToken.slice(0, ID_LENGTH))
      if (row === null || row.app_id !== appId) throw new Unauthenticated('Invalid request')
      if (row.expires_at.getTime() <= now()) {
        await deleteRefreshToken(sql, row.id)
        throw new Unauthenticated('Refresh token expired')
      }
      if (!sameHash(sha256Hex(refreshToken.slice(ID_LENGTH)), row.token_hash)) {
        throw new Unauthenticated('Invalid token')
      }
      const app = await authenticateApp(appId, appSecret)
      if (app === null) throw new Unauthenticated('Invalid app credentials')
      return issue(app, row.user_id)
    },

    async revokeRefreshToken(refreshToken, userId) {
      const row = await selectRefreshToken(sql, refreshToken.slice(0, ID_LENGTH))
      if (row === null || !sameHash(sha256Hex(refreshToken.slice(ID_LENGTH)), row.token_hash)) return false
      if (userId !== undefined && row.user_id !== userId) return false
      return deleteRefreshToken(sql, row.id)
    },
  }
}
