/**
 * The tokens slice: personal API tokens (`apiTokenCreate`, `apiTokenRevoke`, `user.apiTokens`) and app tokens
 * (`appTokenCreate`, made by an app's token for its own app).
 */
import { BadUserInput, Forbidden, NotFound } from '../../errors.js'
import { ID_LENGTH } from '../../ids.js'
import type { GraphqlContext } from '../graphql/context.js'
import { obj, ownProfile, required, strs, type Args } from '../graphql/helpers.js'
import type { ResolverMap } from '../graphql/resolvers.js'
import type { GraphqlSlice } from '../graphql/schema.js'
import { requireServer } from '../policy/service.js'
import type { User } from '../users/service.js'
import { TOKEN_LENGTH, type TokenInfo } from './service.js'

const typeDefs = /* GraphQL */ `
  input ApiTokenCreateInput {
    scopes: [String!]!
    name: String!
    lifespan: BigInt
  }
  enum TokenResourceIdentifierType {
    project
    workspace
  }
  input TokenResourceIdentifierInput {
    id: String!
    type: TokenResourceIdentifierType!
  }
  input AppTokenCreateInput {
    scopes: [String!]!
    name: String!
    lifespan: BigInt
    limitResources: [TokenResourceIdentifierInput!]
  }
  type ApiToken {
    id: String!
    name: String!
    lastChars: String!
    scopes: [String]!
    createdAt: DateTime!
    lifespan: BigInt!
    lastUsed: DateTime!
  }

  extend type User {
    apiTokens: [ApiToken!]!
  }

  extend type Mutation {
    apiTokenCreate(token: ApiTokenCreateInput!): String!
    apiTokenRevoke(token: String!): Boolean!
    appTokenCreate(token: AppTokenCreateInput!): String!
  }
`

/** Speckle's lifespan for a token that never expires (about 100 years, in milliseconds). */
export const NO_EXPIRY_LIFESPAN_MS = 3_154_000_000_000

// A token id or a whole token: letters and digits.
const TOKEN_OR_ID = new RegExp(`^[A-Za-z0-9]{${ID_LENGTH}}(?:[A-Za-z0-9]{${TOKEN_LENGTH - ID_LENGTH}})?$`)

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

/** A token's `lifespan` (milliseconds, BigInt as a number or a string) as its expiry; none: never. */
export function lifespanToExpiry(v: unknown): Date | null {
  if (v === undefined || v === null) return null
  const ms = Number(v)
  if (!Number.isFinite(ms) || ms <= 0) throw new BadUserInput('lifespan must be a positive number of milliseconds')
  // Beyond what a Date can hold: it never expires.
  return ms >= NO_EXPIRY_LIFESPAN_MS ? null : new Date(Date.now() + ms)
}

/** The requested scopes, refused (coded) when there are none or `denied` names any. */
function grantableScopes(input: Args, denied: (scope: string) => boolean): string[] {
  const scopes = strs(input.scopes) ?? []
  const refused = scopes.filter(denied)
  if (scopes.length === 0 || refused.length > 0) {
    throw new BadUserInput(
      scopes.length === 0
        ? 'A token needs at least one scope'
        : `You cannot create a token with these scopes: ${refused.join(', ')}`,
      { graphqlCode: 'TOKEN_CREATE_ERROR' },
    )
  }
  return scopes
}

function resolvers(): ResolverMap {
  return {
    User: {
      apiTokens: async (u: User, _a: Args, ctx: GraphqlContext) => {
        ownProfile(ctx, u, 'readTokens')
        return (await ctx.deps.tokens.listPersonal(u.id)).map(apiToken)
      },
    },
    Mutation: {
      apiTokenCreate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const principal = requireServer(ctx.principal, 'createToken')
        const input = obj(args.token)
        const scopes = grantableScopes(input, (s) => s === 'tokens:write' || !principal.scopes.has(s))
        return ctx.deps.tokens.create({
          userId: principal.userId,
          name: required(input.name, 'name'),
          scopes,
          expiresAt: lifespanToExpiry(input.lifespan),
        })
      },
      apiTokenRevoke: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const principal = requireServer(ctx.principal, 'createToken')
        // The token itself or its id: only the first 10 characters (the id) count, a `Bearer ` prefix is dropped.
        const given = required(args.token, 'token')
          .trim()
          .replace(/^Bearer\s+/i, '')
        if (!TOKEN_OR_ID.test(given)) throw new BadUserInput('token must be an API token or its 10-character id')
        const tokenId = given.slice(0, ID_LENGTH)
        // Someone else's token, or one already revoked or expired, is "not found": nothing is said about it.
        if ((await ctx.deps.tokens.ownerOf(tokenId)) !== principal.userId) throw new NotFound('token', tokenId)
        return ctx.deps.tokens.revoke(tokenId)
      },
      appTokenCreate: async (_p: unknown, args: Args, ctx: GraphqlContext) => {
        const principal = requireServer(ctx.principal, 'createToken')
        const input = obj(args.token)
        // Only an app's token can make app tokens, for its own app, with scopes it holds itself.
        const appId = await ctx.deps.tokens.appOf(principal.tokenId)
        if (appId === null) {
          throw new Forbidden('Only an app can create app tokens: authenticate with a token issued to an app')
        }
        if (Array.isArray(input.limitResources) && input.limitResources.length > 0) {
          throw new BadUserInput('Tokens limited to resources (limitResources) are not supported by this server', {
            graphqlCode: 'TOKEN_CREATE_ERROR',
          })
        }
        const scopes = grantableScopes(input, (s) => !principal.scopes.has(s))
        return ctx.deps.tokens.createAppToken({
          userId: principal.userId,
          appId,
          name: required(input.name, 'name'),
          scopes,
          expiresAt: lifespanToExpiry(input.lifespan),
        })
      },
    },
  }
}

export function tokensSlice(): GraphqlSlice {
  return { name: 'tokens', typeDefs, resolvers: resolvers() }
}
