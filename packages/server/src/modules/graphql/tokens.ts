/** Tokens and apps as the schema shows them (`ApiToken`, `ServerAppListItem`, `ServerApp`). */
import { BadUserInput, Forbidden } from '../../errors.js'
import type { App } from '../apps/service.js'
import type { Principal } from '../auth/principal.js'
import { requireServer } from '../policy/service.js'
import type { TokenInfo } from '../tokens/service.js'
import type { User } from '../users/service.js'
import type { GraphqlContext } from './context.js'

/** Speckle's lifespan for a token that never expires (about 100 years, in milliseconds). */
export const NO_EXPIRY_LIFESPAN_MS = 3_154_000_000_000

export function apiToken(t: TokenInfo) {
  return {
    id: t.id,
    name: t.name,
    lastChars: t.lastChars ?? '',
    scopes: t.scopes,
    createdAt: t.createdAt,
    // The expiry is computed by this process and the creation time by the database: whole seconds hide the skew.
    lifespan:
      t.expiresAt === null
        ? NO_EXPIRY_LIFESPAN_MS
        : Math.round((t.expiresAt.getTime() - t.createdAt.getTime()) / 1000) * 1000,
    lastUsed: t.lastUsedAt ?? t.createdAt,
  }
}

export async function appAuthor(ctx: GraphqlContext, app: App) {
  if (app.authorId === null) return null
  const user = await ctx.loaders.users.load(app.authorId)
  return user === null ? null : { id: user.id, name: user.name, avatar: user.avatar }
}

export function appListItem(ctx: GraphqlContext, app: App) {
  return {
    id: app.id,
    name: app.name,
    description: app.description,
    redirectUrl: app.redirectUrl,
    termsAndConditionsLink: null,
    trustByDefault: app.trusted,
    logo: null,
    author: () => appAuthor(ctx, app),
  }
}

/** Only the signed-in user's own profile lists tokens and apps. */
export function ownProfile(ctx: GraphqlContext, user: User, action: 'readTokens' | 'readApps'): Principal {
  if (ctx.principal?.userId !== user.id) throw new Forbidden('You can only view your own tokens and apps')
  return requireServer(ctx.principal, action)
}

/** A token's `lifespan` (milliseconds, BigInt as a number or a string) as its expiry; none: never. */
export function lifespanToExpiry(v: unknown): Date | null {
  if (v === undefined || v === null) return null
  const ms = Number(v)
  if (!Number.isFinite(ms) || ms <= 0) throw new BadUserInput('lifespan must be a positive number of milliseconds')
  // Beyond what a Date can hold: it never expires.
  return ms >= NO_EXPIRY_LIFESPAN_MS ? null : new Date(Date.now() + ms)
}
