/**
 * API tokens: 42 characters, a 10-character id then a 32-character secret (WIRE.md). Only the SHA-256 of
 * the secret is stored: the secret is random, so a password-grade hash would only slow every request
 * (DEPS.md). Verified tokens are cached in memory for a short TTL so a burst of requests costs one query.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Bus } from '../../adapters/bus/types.js'
import type { Sql } from '../../adapters/sql/types.js'
import { BadUserInput, NotFound } from '../../errors.js'
import { ID_LENGTH, randomAlphanumeric } from '../../ids.js'
import { isScope, SCOPES, type Principal } from '../../principal.js'
import {
  insertToken,
  revokeToken,
  selectActiveTokenOwner,
  selectAuthorizedAppIds,
  selectPersonalTokens,
  selectToken,
  selectTokenApp,
  touchToken,
} from './repository.js'

export const TOKEN_SECRET_LENGTH = 32
export const TOKEN_LENGTH = ID_LENGTH + TOKEN_SECRET_LENGTH
const TOKEN_FORMAT = new RegExp(`^[A-Za-z0-9]{${TOKEN_LENGTH}}$`)
const MAX_NAME_LENGTH = 512

export interface CreateTokenInput {
  userId: string
  name: string
  /** Speckle scope names (`streams:read`, …); at least one. */
  scopes: readonly string[]
  /** Omitted or null: the token never expires. */
  expiresAt?: Date | null
}

export interface CreateAppTokenInput extends CreateTokenInput {
  /** The app the token is issued to (`/auth/token`); it may carry any scope the app holds. */
  appId: string
}

/**
 * Bus topic on which revocations and users' role changes are announced, so every server drops the tokens
 * from its cache (the next use reads the database).
 */
export const TOKENS_REVOKED_TOPIC = 'tokens.revoked'

export interface TokensRevokedMessage {
  tokenIds: string[]
  /** Users whose every cached token is dropped (their server role changed). */
  userIds?: string[]
}

/** A personal token as listings show it (never the token itself). */
export interface TokenInfo {
  id: string
  name: string
  scopes: string[]
  /** The token's last 6 characters (null for tokens made before they were recorded). */
  lastChars: string | null
  createdAt: Date
  expiresAt: Date | null
  lastUsedAt: Date | null
}

export interface TokensService {
  /**
   * Create a token and return it (42 characters; shown once, only its hash is kept). Throws `BadUserInput`
   * for an empty name, no or unknown scopes or an expiry in the past; `NotFound` for an unknown user.
   */
  create(input: CreateTokenInput): Promise<string>
  /** Like `create`, for a token issued to an app through the app flow (recorded with the app's id). */
  createAppToken(input: CreateAppTokenInput): Promise<string>
  /** The principal a token stands for; null when it is malformed, unknown, wrong, expired or revoked. */
  verify(token: string): Promise<Principal | null>
  /**
   * Revoke a token by id; false when it is unknown or already revoked. This server stops accepting it at
   * once; other servers sharing the database stop within the cache TTL.
   */
  revoke(tokenId: string): Promise<boolean>
  /** The id of the user owning a usable token (by token id); null when unknown, revoked or expired. */
  ownerOf(tokenId: string): Promise<string | null>
  /** A user's usable personal tokens (app tokens excluded), newest first. */
  listPersonal(userId: string): Promise<TokenInfo[]>
  /** The app a token was issued to; null for a personal token. */
  appOf(tokenId: string): Promise<string | null>
  /** The ids of the apps the user holds usable tokens from. */
  authorizedAppIds(userId: string): Promise<string[]>
  /**
   * A user's server role changed (archived, promoted, …): drop their tokens from this server's cache and
   * announce it on the bus, so every server reads the new role on the next request.
   */
  refreshUser(userId: string): Promise<void>
  /** Drop a token from this server's cache (another server revoked it); the next use asks the database. */
  forget(tokenIds: readonly string[]): void
  /** Drop the users' tokens from this server's cache (their role changed on another server). */
  forgetUsers(userIds: readonly string[]): void
}

export interface TokensServiceOptions {
  sql: Sql
  /** When given, `revoke` announces the revocation on `TOKENS_REVOKED_TOPIC` (see `subscribeTokenRevocations`). */
  bus?: Pick<Bus, 'publish'>
  /** How long a verified (or refused) token is trusted without asking the database. Default 30 s. */
  cacheTtlMs?: number
  /** Cache size bound; the oldest entries go first. Default 10,000. */
  maxCacheEntries?: number
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number
}

// How often `last_used_at` is written for a token in use.
const TOUCH_INTERVAL_MS = 60_000

interface CacheEntry {
  /** SHA-256 of the secret; null when the id is unknown, expired or revoked (every secret is refused). */
  tokenHash: Buffer | null
  principal: Principal | null
  expiresAtMs: number | null
  lastUsedAtMs: number | null
  cachedAtMs: number
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

function validateScopes(scopes: readonly string[]): string[] {
  if (scopes.length === 0) throw new BadUserInput('A token needs at least one scope')
  const unknown = scopes.filter((scope) => !isScope(scope))
  if (unknown.length > 0) {
    throw new BadUserInput(
      `Unknown scope ${unknown.map((s) => `"${s}"`).join(', ')}; known scopes: ${SCOPES.join(', ')}`,
    )
  }
  return [...new Set(scopes)]
}

export function createTokensService(options: TokensServiceOptions): TokensService {
  const { sql } = options
  const cacheTtlMs = options.cacheTtlMs ?? 30_000
  const maxCacheEntries = options.maxCacheEntries ?? 10_000
  const now = options.now ?? Date.now
  const cache = new Map<string, CacheEntry>()
  // Concurrent first requests with one token share one query.
  const loading = new Map<string, Promise<CacheEntry>>()
  // Bumped by every revoke, so a lookup that raced a revocation is used once but not cached.
  let revocations = 0

  async function load(id: string): Promise<CacheEntry> {
    const revocationsBefore = revocations
    const row = await selectToken(sql, id)
    const at = now()
    const entry: CacheEntry =
      row === null || row.revoked_at !== null || (row.expires_at !== null && row.expires_at.getTime() <= at)
        ? { tokenHash: null, principal: null, expiresAtMs: null, lastUsedAtMs: null, cachedAtMs: at }
        : {
            tokenHash: Buffer.from(row.token_hash, 'hex'),
            principal: { userId: row.user_id, serverRole: row.server_role, scopes: new Set(row.scopes), tokenId: id },
            expiresAtMs: row.expires_at?.getTime() ?? null,
            lastUsedAtMs: row.last_used_at?.getTime() ?? null,
            cachedAtMs: at,
          }
    cache.delete(id)
    if (revocations !== revocationsBefore) return entry
    cache.set(id, entry)
    if (cache.size > maxCacheEntries) {
      const oldest = cache.keys().next()
      if (!oldest.done) cache.delete(oldest.value)
    }
    return entry
  }

  async function entryFor(id: string): Promise<CacheEntry> {
    const cached = cache.get(id)
    if (cached !== undefined && now() - cached.cachedAtMs < cacheTtlMs) return cached
    let pending = loading.get(id)
    if (pending === undefined) {
      pending = load(id).finally(() => loading.delete(id))
      loading.set(id, pending)
    }
    return pending
  }

  async function create(input: CreateTokenInput, appId: string | null): Promise<string> {
    const name = input.name.trim()
    if (name.length === 0) throw new BadUserInput('A token needs a name')
    if (name.length > MAX_NAME_LENGTH) {
      throw new BadUserInput(`Token name must be at most ${MAX_NAME_LENGTH} characters`)
    }
    const scopes = validateScopes(input.scopes)
    const expiresAt = input.expiresAt ?? null
    if (expiresAt !== null && !(expiresAt.getTime() > now())) {
      throw new BadUserInput('A token must expire in the future')
    }
    const id = randomAlphanumeric(ID_LENGTH)
    const secret = randomAlphanumeric(TOKEN_SECRET_LENGTH)
    const tokenHash = sha256(secret).toString('hex')
    const lastChars = secret.slice(-6)
    if (!(await insertToken(sql, { id, tokenHash, userId: input.userId, name, scopes, expiresAt, appId, lastChars }))) {
      throw new NotFound('user', input.userId)
    }
    return id + secret
  }

  function forget(tokenIds: readonly string[]): void {
    revocations += 1
    for (const id of tokenIds) cache.delete(id)
  }

  function forgetUsers(userIds: readonly string[]): void {
    revocations += 1
    const users = new Set(userIds)
    for (const [id, entry] of cache) {
      if (entry.principal !== null && users.has(entry.principal.userId)) cache.delete(id)
    }
  }

  return {
    create: (input) => create(input, null),

    createAppToken: (input) => create(input, input.appId),

    async verify(token) {
      if (typeof token !== 'string' || !TOKEN_FORMAT.test(token)) return null
      const id = token.slice(0, ID_LENGTH)
      const entry = await entryFor(id)
      if (entry.tokenHash === null || entry.principal === null) return null
      const at = now()
      if (entry.expiresAtMs !== null && entry.expiresAtMs <= at) return null
      const given = sha256(token.slice(ID_LENGTH))
      if (given.length !== entry.tokenHash.length || !timingSafeEqual(given, entry.tokenHash)) return null
      if (entry.lastUsedAtMs === null || at - entry.lastUsedAtMs >= TOUCH_INTERVAL_MS) {
        entry.lastUsedAtMs = at
        await touchToken(sql, id)
      }
      return entry.principal
    },

    async revoke(tokenId) {
      const revoked = await revokeToken(sql, tokenId)
      forget([tokenId])
      if (revoked && options.bus !== undefined) {
        const message: TokensRevokedMessage = { tokenIds: [tokenId] }
        await options.bus.publish(TOKENS_REVOKED_TOPIC, message)
      }
      return revoked
    },

    async ownerOf(tokenId) {
      if (!/^[A-Za-z0-9]+$/.test(tokenId) || tokenId.length !== ID_LENGTH) return null
      return selectActiveTokenOwner(sql, tokenId, new Date(now()))
    },

    async listPersonal(userId) {
      return (await selectPersonalTokens(sql, userId, new Date(now()))).map((r) => ({
        id: r.id,
        name: r.name,
        scopes: r.scopes,
        lastChars: r.last_chars,
        createdAt: r.created_at,
        expiresAt: r.expires_at,
        lastUsedAt: r.last_used_at,
      }))
    },

    appOf: (tokenId) => selectTokenApp(sql, tokenId),

    authorizedAppIds: (userId) => selectAuthorizedAppIds(sql, userId, new Date(now())),

    async refreshUser(userId) {
      forgetUsers([userId])
      if (options.bus !== undefined) {
        const message: TokensRevokedMessage = { tokenIds: [], userIds: [userId] }
        await options.bus.publish(TOKENS_REVOKED_TOPIC, message)
      }
    },

    forget,

    forgetUsers,
  }
}

/**
 * Drop tokens revoked on other servers (and tokens of users whose role changed there) from this server's
 * cache as soon as they are announced. Resolves once
 * subscribed; returns the unsubscribe function.
 */
export function subscribeTokenRevocations(
  bus: Pick<Bus, 'subscribe'>,
  tokens: Pick<TokensService, 'forget' | 'forgetUsers'>,
): Promise<() => Promise<void>> {
  const strings = (value: unknown): string[] =>
    Array.isArray(value) ? value.filter((id): id is string => typeof id === 'string') : []
  return bus.subscribe(TOKENS_REVOKED_TOPIC, (message) => {
    if (typeof message !== 'object' || message === null) return
    const { tokenIds, userIds } = message as { tokenIds?: unknown; userIds?: unknown }
    if (Array.isArray(tokenIds)) tokens.forget(strings(tokenIds))
    if (Array.isArray(userIds)) tokens.forgetUsers(strings(userIds))
  })
}
